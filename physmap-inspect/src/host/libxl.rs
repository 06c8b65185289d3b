//! The model of the patched libxl's plugin loader (`libxl_physmap_plugin.c` and its
//! part of `libxl_linux.c` in `xl-patches/<series>/0001`): how to tell that a
//! libxenlight carries it, and which version, and what v4's `physmap_plugin_load()` does
//! with a plugin path.

use super::elf::Elf;
use super::{PluginJson, PLUGIN_NAME};
use physmap_hooks::error::Reason;
use std::ffi::{CStr, CString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;

/// What every version of the loader carries: the variable it reads and its log line.
const LOADER_STRINGS: [&str; 2] = ["LIBXL_PHYSMAP_PLUGIN", "loaded physmap plugin"];
/// Only v4 has these: its `dlopen()` failure with the path, its regular-file check, and
/// the path through which `libxl__dlopen_fd()` loads the open file on Linux.
const V4_STRINGS: [&str; 3] = [
    "cannot load physmap plugin %s: %s",
    "physmap plugin %s is not a regular file, not loading it",
    "/proc/self/fd/%d",
];
/// Only v3 has this: its `dlopen()` failure, without the path.
const V3_STRINGS: [&str; 1] = ["cannot load physmap plugin: %s"];
/// `PHYSMAP_ABI_VERSION`, as the patch's private copy has it.
const ABI_VERSION: u32 = 1;
/// What libxl returns when it refuses a plugin: `ERROR_INVAL` for a path that is not
/// absolute (a bad configuration), `ERROR_FAIL` for everything else.
const ERROR_FAIL: &str = "ERROR_FAIL";
const ERROR_INVAL: &str = "ERROR_INVAL";

/// The version of the series (`[PATCH vN]`) a libxenlight's loader was built from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PatchVersion {
    /// `stat()`, then `dlopen()` of the path (libxenlights patched before v4).
    V3,
    /// `open()`, `fstat()`, then `dlopen()` of that open file: what [`check_plugin`]
    /// models.
    V4,
}

impl PatchVersion {
    pub fn name(self) -> &'static str {
        match self {
            PatchVersion::V3 => "v3",
            PatchVersion::V4 => "v4",
        }
    }
}

pub struct FoundLoader {
    pub present: bool,
    /// None when the loader's strings match neither version.
    pub patch_version: Option<PatchVersion>,
    pub defaults: Vec<String>,
}

/// The loader's strings, its version and its default plugin path in the library's
/// read-only data (the whole file if it has no section headers).
pub fn find_loader(data: &[u8]) -> FoundLoader {
    let region = Elf::parse(data)
        .ok()
        .and_then(|e| e.section(".rodata"))
        .unwrap_or(data);
    let has_all = |strings: &[&str]| strings.iter().all(|s| contains(region, s.as_bytes()));
    let present = has_all(&LOADER_STRINGS);
    let patch_version = if !present {
        None
    } else if has_all(&V4_STRINGS) {
        Some(PatchVersion::V4)
    } else if has_all(&V3_STRINGS) {
        Some(PatchVersion::V3)
    } else {
        None
    };
    let mut defaults: Vec<String> = Vec::new();
    let needle = PLUGIN_NAME.as_bytes();
    let mut from = 0;
    while let Some(at) = find(&region[from..], needle).map(|i| from + i) {
        from = at + needle.len();
        // The digits after the name, up to the string's NUL.
        let end = region[at..]
            .iter()
            .position(|&b| b == 0)
            .map_or(region.len(), |i| at + i);
        let major = &region[from..end];
        if major.is_empty() || !major.iter().all(u8::is_ascii_digit) {
            continue;
        }
        // The whole C string back to the previous NUL; the path starts at its first '/'
        // (a linker may have merged it into the tail of a longer string).
        let start = region[..at]
            .iter()
            .rposition(|&b| b == 0)
            .map_or(0, |i| i + 1);
        let Some(slash) = region[start..at].iter().position(|&b| b == b'/') else {
            continue;
        };
        let path = &region[start + slash..end];
        if !path.iter().all(u8::is_ascii_graphic) {
            continue;
        }
        let path = String::from_utf8_lossy(path).into_owned();
        if !defaults.contains(&path) {
            defaults.push(path);
        }
    }
    FoundLoader {
        present,
        patch_version,
        defaults,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// Where the checks stopped: libxl's built-in code runs, or libxl refuses the plugin
/// with an error code and every save, restore and migration of an HVM guest fails.
enum Stop {
    Builtin(String),
    Refused(&'static str, String),
}

/// v4's `physmap_plugin_load()` on Linux, step by step, with its messages and return
/// codes. It differs in one step: a device is not opened (opening one can act: a
/// watchdog starts counting, a tape rewinds), and is refused as libxl refuses it once
/// opened, as not a regular file. In a message from `dlopen()`, the descriptor's number
/// is written N (`/proc/self/fd/N`): libxl's is another than this process's.
pub fn check_plugin(path: &str, p: &mut PluginJson) {
    match check_plugin_steps(path, p) {
        Ok(()) => {
            p.outcome = Some("loads");
            p.passes_libxl_checks = true;
        }
        Err(Stop::Builtin(problem)) => {
            p.outcome = Some("builtin");
            p.problem = Some(problem);
        }
        Err(Stop::Refused(error, problem)) => {
            p.outcome = Some("refused");
            p.libxl_error = Some(error);
            p.problem = Some(problem);
        }
    }
}

fn check_plugin_steps(path: &str, p: &mut PluginJson) -> Result<(), Stop> {
    let fail = |m: String| Err(Stop::Refused(ERROR_FAIL, m));
    if path.is_empty() {
        return Err(Stop::Builtin(
            "physmap plugin path is empty, using built-in physmap code".into(),
        ));
    }
    if !path.starts_with('/') {
        return Err(Stop::Refused(
            ERROR_INVAL,
            format!("physmap plugin path {path} is not absolute"),
        ));
    }
    let not_regular = || format!("physmap plugin {path} is not a regular file, not loading it");
    if let Ok(meta) = fs::metadata(path) {
        p.exists = true;
        let kind = meta.file_type();
        if kind.is_char_device() || kind.is_block_device() {
            describe_file(path, &meta, p);
            return fail(not_regular());
        }
    }
    // libxl's flags: O_NONBLOCK, so that opening a FIFO does not wait for a writer.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Err(Stop::Builtin(format!(
                "physmap plugin {path} not installed, using built-in code"
            )));
        }
        Err(e) => return fail(format!("cannot open physmap plugin {path}: {}", Reason(&e))),
    };
    let meta = match file.metadata() {
        Ok(meta) => meta,
        Err(e) => return fail(format!("cannot stat physmap plugin {path}: {}", Reason(&e))),
    };
    describe_file(path, &meta, p);
    if !meta.file_type().is_file() {
        return fail(not_regular());
    }
    let mode = meta.mode() & 0o7777;
    if mode & (libc::S_IWGRP | libc::S_IWOTH) != 0 {
        return fail(format!(
            "physmap plugin {path} is writable by group or others (mode {mode:04o}), not \
             loading it"
        ));
    }
    // SAFETY: no arguments, cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != 0 && meta.uid() != euid {
        return fail(format!(
            "physmap plugin {path} is owned by uid {}, not by root or the user running libxl, \
             not loading it",
            meta.uid()
        ));
    }
    let library = Library::open_fd(&file).map_err(|e| {
        Stop::Refused(
            ERROR_FAIL,
            format!("cannot load physmap plugin {path}: {e}"),
        )
    })?;
    let Some(abi_version) = library.symbol(c"physmap_abi_version") else {
        return fail(format!(
            "physmap plugin {path} lacks symbol physmap_abi_version"
        ));
    };
    // SAFETY: the plugin ABI's `uint32_t physmap_abi_version(void)`, called as libxl calls
    // it: a library that exports that name with another type breaks libxl the same way.
    let abi = unsafe {
        let f: extern "C" fn() -> u32 = std::mem::transmute(abi_version);
        f()
    };
    p.abi_version = Some(abi);
    if abi != ABI_VERSION {
        return fail(format!(
            "physmap plugin {path} has ABI version {abi}, libxl needs {ABI_VERSION}"
        ));
    }
    for name in [
        c"physmap_save_hook",
        c"physmap_restore_hook",
        c"physmap_free",
        c"physmap_strerror",
    ] {
        if library.symbol(name).is_none() {
            return fail(format!(
                "physmap plugin {path} lacks symbol {}",
                name.to_string_lossy()
            ));
        }
    }
    Ok(())
}

/// The file libxl looks at: its real path, mode and owner.
fn describe_file(path: &str, meta: &Metadata, p: &mut PluginJson) {
    p.file = fs::canonicalize(path).ok().map(|f| f.display().to_string());
    p.mode = Some(format!("{:04o}", meta.mode() & 0o7777));
    p.owner_uid = Some(meta.uid());
}

/// A `dlopen()`ed library, `dlclose()`d on drop.
struct Library(*mut libc::c_void);

impl Library {
    /// `libxl__dlopen_fd()` of v4 on Linux: `dlopen("/proc/self/fd/<fd>", RTLD_NOW |
    /// RTLD_LOCAL)`, which loads the file open at `file`, whatever its path names by now.
    /// The error is `dlerror()`'s text, with the descriptor's number written N.
    fn open_fd(file: &File) -> Result<Library, String> {
        let name = format!("/proc/self/fd/{}", file.as_raw_fd());
        let c_name = CString::new(name.as_str()).expect("no NUL in a /proc path");
        // SAFETY: a NUL-terminated path. The library's initialisers run, as in libxl.
        let handle = unsafe { libc::dlopen(c_name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            // SAFETY: dlerror() returns NULL or a string valid until the next dl call.
            let text = unsafe {
                let e = libc::dlerror();
                if e.is_null() {
                    "unknown error".to_owned()
                } else {
                    CStr::from_ptr(e).to_string_lossy().into_owned()
                }
            };
            return Err(fd_number_as_n(&text, &name));
        }
        Ok(Library(handle))
    }

    fn symbol(&self, name: &CStr) -> Option<*mut libc::c_void> {
        // SAFETY: a live handle and a NUL-terminated name.
        let sym = unsafe { libc::dlsym(self.0, name.as_ptr()) };
        (!sym.is_null()).then_some(sym)
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: opened by `open_fd`, closed once; no pointer into it outlives `self`.
        unsafe { libc::dlclose(self.0) };
    }
}

/// `text` with `/proc/self/fd/<this process's number>` (`fd_path`) written
/// `/proc/self/fd/N`, as the patches' documentation writes libxl's message: libxl's
/// descriptor has a number of its own.
fn fd_number_as_n(text: &str, fd_path: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(fd_path) {
        let after = &rest[at + fd_path.len()..];
        out.push_str(&rest[..at]);
        // "/proc/self/fd/3" must not match the start of "/proc/self/fd/31".
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(fd_path);
        } else {
            out.push_str("/proc/self/fd/N");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_are_whole_absolute_strings() {
        let data = b"\0x\0/usr/lib/x86_64-linux-gnu/libphysmap_hooks.so.1\0\
                     physmap plugin %s\0libphysmap_hooks.so.1\0/opt/a b/libphysmap_hooks.so.2\0\
                     /usr/lib/libphysmap_hooks.so.1x\0tail-merged/opt/p/libphysmap_hooks.so.12\0\
                     LIBXL_PHYSMAP_PLUGIN\0/proc/self/fd/%d\0/x/libphysmap_hooks.so.";
        let found = find_loader(data);
        assert!(!found.present); // "loaded physmap plugin" is missing
        assert_eq!(found.patch_version, None);
        assert_eq!(
            found.defaults,
            [
                "/usr/lib/x86_64-linux-gnu/libphysmap_hooks.so.1",
                "/opt/p/libphysmap_hooks.so.12"
            ]
        );
        let mut with_log = data.to_vec();
        with_log.extend_from_slice(b"\0loaded physmap plugin %s\0");
        assert!(find_loader(&with_log).present);
    }

    /// The version from the strings only it has (those of the real builds: v3's from
    /// `make e2e`'s libxenlight, v4's from the series' code); a loader with neither set is
    /// still a loader.
    #[test]
    fn the_loaders_version_comes_from_its_own_strings() {
        let common = b"\0LIBXL_PHYSMAP_PLUGIN\0loaded physmap plugin %s\0\
                       /usr/lib/x86_64-linux-gnu/libphysmap_hooks.so.1\0";
        let v3 = [&common[..], b"cannot load physmap plugin: %s\0"].concat();
        let v4_with = |proc_path: &[u8]| {
            [
                &common[..],
                proc_path,
                b"\0physmap plugin %s is not a regular file, not loading it\0\
                  cannot load physmap plugin %s: %s\0",
            ]
            .concat()
        };
        let v4 = v4_with(b"/proc/self/fd/%d");
        let v4_without_proc = v4_with(b"/proc/self/fd/%u");
        for (data, present, version) in [
            (&v3, true, Some(PatchVersion::V3)),
            (&v4, true, Some(PatchVersion::V4)),
            (&v4_without_proc, true, None),
            (&common[..].to_vec(), true, None),
            (&v4[common.len()..].to_vec(), false, None),
        ] {
            let found = find_loader(data);
            let text = String::from_utf8_lossy(data);
            assert_eq!(found.present, present, "{text:?}");
            assert_eq!(found.patch_version, version, "{text:?}");
        }
    }

    #[test]
    fn the_descriptors_number_is_written_n() {
        let fd = "/proc/self/fd/3";
        assert_eq!(
            fd_number_as_n("/proc/self/fd/3: invalid ELF header", fd),
            "/proc/self/fd/N: invalid ELF header"
        );
        assert_eq!(
            fd_number_as_n("/proc/self/fd/31: x; /proc/self/fd/3", fd),
            "/proc/self/fd/31: x; /proc/self/fd/N"
        );
        assert_eq!(
            fd_number_as_n("libfoo.so.1: cannot open shared object file", fd),
            "libfoo.so.1: cannot open shared object file"
        );
    }
}
