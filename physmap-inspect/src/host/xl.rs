//! The `xl` an operator runs, and whether it runs with `AT_SECURE`.

use super::elf;
use super::libxl::contains;
use super::ToolError;
use physmap_hooks::error::Reason;
use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct XlFound {
    pub command: PathBuf,
    pub binary: PathBuf,
    pub note: Option<String>,
}

pub enum XlSearch {
    Found(XlFound),
    /// No toolstack to run anything: a reason for "no".
    Missing(String),
}

/// The `xl` an operator runs: the first in `$PATH`, then in the sbin directories that a
/// user's `$PATH` may lack. Debian's `/usr/sbin/xl` is `xen-utils-wrapper`, a script that
/// runs `/usr/lib/xen-<major>.<minor>/bin/xl` for the running hypervisor's version.
pub fn find_xl() -> Result<XlSearch, ToolError> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path_var)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .collect();
    let Some(command) = dirs.iter().map(|d| d.join("xl")).find(|p| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }) else {
        return Ok(XlSearch::Missing(
            "no xl in PATH, /usr/local/sbin, /usr/sbin or /sbin: no Xen toolstack here".into(),
        ));
    };
    let mut head = [0u8; 4];
    let n = fs::File::open(&command)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| {
            ToolError(format!(
                "{}: cannot read: {}",
                command.display(),
                Reason(&e)
            ))
        })?;
    if elf::is_elf(&head[..n]) {
        return Ok(XlSearch::Found(XlFound {
            binary: command.clone(),
            command,
            note: None,
        }));
    }
    let script = fs::read(&command).unwrap_or_default();
    let real = fs::canonicalize(&command).unwrap_or_else(|_| command.clone());
    let is_debian_wrapper = real.file_name() == Some("xen-utils-wrapper".as_ref())
        || contains(&script, b"/usr/lib/xen-$VERSION/bin");
    if !is_debian_wrapper {
        return Err(ToolError(format!(
            "{} is neither a program nor Debian's xen-utils-wrapper: name the library with \
             --libxenlight",
            command.display()
        )));
    }
    let wrapper = command.display();
    let read_sys = |f: &str| fs::read_to_string(format!("/sys/hypervisor/version/{f}")).ok();
    if let (Some(major), Some(minor)) = (read_sys("major"), read_sys("minor")) {
        let version = format!("{}.{}", major.trim(), minor.trim());
        let binary = PathBuf::from(format!("/usr/lib/xen-{version}/bin/xl"));
        if !binary.is_file() {
            return Ok(XlSearch::Missing(format!(
                "the running Xen is {version}, and {} is not installed: Debian's wrapper \
                 {wrapper} fails",
                binary.display()
            )));
        }
        return Ok(XlSearch::Found(XlFound {
            command,
            binary,
            note: None,
        }));
    }
    // No hypervisor (this is not dom0, or Xen is not running yet): the wrapper would stop
    // with "Can't find hypervisor information in sysfs!". Answer for the xl installed.
    let mut installed: Vec<(Vec<u64>, PathBuf)> = fs::read_dir("/usr/lib")
        .map(|entries| {
            entries
                .filter_map(|e| {
                    let name = e.ok()?.file_name().to_string_lossy().into_owned();
                    let version = name.strip_prefix("xen-")?;
                    let key = version
                        .split('.')
                        .map(|p| p.parse().ok())
                        .collect::<Option<Vec<u64>>>()?;
                    let binary = PathBuf::from(format!("/usr/lib/{name}/bin/xl"));
                    binary.is_file().then_some((key, binary))
                })
                .collect()
        })
        .unwrap_or_default();
    installed.sort();
    let Some((_, binary)) = installed.last().cloned() else {
        return Ok(XlSearch::Missing(format!(
            "{wrapper} is Debian's wrapper, and no /usr/lib/xen-*/bin/xl is installed"
        )));
    };
    let which = if installed.len() == 1 {
        "the only one installed".to_owned()
    } else {
        format!("the newest of {} installed", installed.len())
    };
    let note = format!(
        "no Xen hypervisor is running (no /sys/hypervisor/version): Debian's wrapper {wrapper} \
         runs the xl of the running Xen; this is about {}, {which}",
        binary.display()
    );
    Ok(XlSearch::Found(XlFound {
        command,
        binary,
        note: Some(note),
    }))
}

/// True if the program runs with `AT_SECURE` (setuid, setgid or file capabilities), where
/// libxl's `secure_getenv()` returns NULL.
pub fn is_secure_program(path: &Path) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    if meta.mode() & (libc::S_ISUID | libc::S_ISGID) != 0 {
        return true;
    }
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: NUL-terminated strings; a NULL buffer of size 0 asks for the size only.
    let size = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}
