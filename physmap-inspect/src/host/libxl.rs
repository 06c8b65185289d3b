//! The model of the patched libxl's plugin loader (`libxl_physmap_plugin.c` of
//! `xl-patches/`): how to tell that a libxenlight carries it, and what its
//! `physmap_plugin_load()` does with a plugin path.

use super::elf::Elf;
use super::{PluginJson, PLUGIN_NAME};
use physmap_hooks::error::Reason;
use std::ffi::{CStr, CString};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// What the patched libxl's loader carries: the variable it reads and its log line.
const LOADER_STRINGS: [&str; 2] = ["LIBXL_PHYSMAP_PLUGIN", "loaded physmap plugin"];
/// `PHYSMAP_ABI_VERSION`, as the patch's private copy has it.
const ABI_VERSION: u32 = 1;

pub struct FoundLoader {
    pub present: bool,
    pub defaults: Vec<String>,
}

/// The loader's strings and default plugin path in the library's read-only data (the
/// whole file if it has no section headers).
pub fn find_loader(data: &[u8]) -> FoundLoader {
    let region = Elf::parse(data)
        .ok()
        .and_then(|e| e.section(".rodata"))
        .unwrap_or(data);
    let present = LOADER_STRINGS
        .iter()
        .all(|s| contains(region, s.as_bytes()));
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
    FoundLoader { present, defaults }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// `physmap_plugin_load()` of xl-patches' `libxl_physmap_plugin.c`, step by step, with its
/// messages. The only difference: a path that is neither a regular file nor a directory
/// (a FIFO, a device) is refused without `dlopen()`, which could block on it.
pub fn check_plugin(path: &str, p: &mut PluginJson) {
    let outcome = check_plugin_steps(path, p);
    p.passes_libxl_checks = outcome.is_ok();
    match outcome {
        Ok(()) => p.outcome = Some("loads"),
        Err((outcome, problem)) => {
            p.outcome = Some(outcome);
            p.problem = Some(problem);
        }
    }
}

fn check_plugin_steps(path: &str, p: &mut PluginJson) -> Result<(), (&'static str, String)> {
    let refuse = |m: String| Err(("refused", m));
    if path.is_empty() {
        return Err((
            "builtin",
            "physmap plugin path is empty, using built-in physmap code".into(),
        ));
    }
    if !path.starts_with('/') {
        return refuse(format!("physmap plugin path {path} is not absolute"));
    }
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Err((
                "builtin",
                format!("physmap plugin {path} not installed, using built-in code"),
            ));
        }
        Err(e) => return refuse(format!("cannot stat physmap plugin {path}: {}", Reason(&e))),
    };
    p.exists = true;
    p.file = fs::canonicalize(path).ok().map(|f| f.display().to_string());
    let mode = meta.mode() & 0o7777;
    p.mode = Some(format!("{mode:04o}"));
    p.owner_uid = Some(meta.uid());
    if mode & (libc::S_IWGRP | libc::S_IWOTH) != 0 {
        return refuse(format!(
            "physmap plugin {path} is writable by group or others (mode {mode:04o}), not \
             loading it"
        ));
    }
    // SAFETY: no arguments, cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != 0 && meta.uid() != euid {
        return refuse(format!(
            "physmap plugin {path} is owned by uid {}, not by root or the user running libxl, \
             not loading it",
            meta.uid()
        ));
    }
    let file_type = meta.file_type();
    if !file_type.is_file() && !file_type.is_dir() {
        let what = if file_type.is_fifo() {
            "a FIFO"
        } else if file_type.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        return refuse(format!(
            "physmap plugin {path} is {what}, not a library: libxl's dlopen() fails or \
             blocks on it"
        ));
    }
    let c_path = CString::new(path).map_err(|_| ("refused", format!("NUL in {path:?}")))?;
    let library = Library::open(&c_path).map_err(|e| ("refused", e))?;
    let Some(abi_version) = library.symbol(c"physmap_abi_version") else {
        return refuse(format!(
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
        return refuse(format!(
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
            return refuse(format!(
                "physmap plugin {path} lacks symbol {}",
                name.to_string_lossy()
            ));
        }
    }
    Ok(())
}

/// A `dlopen()`ed library, `dlclose()`d on drop.
struct Library(*mut libc::c_void);

impl Library {
    /// `dlopen(path, RTLD_NOW | RTLD_LOCAL)`; the error is libxl's message for it.
    fn open(path: &CStr) -> Result<Library, String> {
        // SAFETY: a NUL-terminated path. The library's initialisers run, as in libxl.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
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
            return Err(format!("cannot load physmap plugin: {text}"));
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
        // SAFETY: opened by `open`, closed once; no pointer into it outlives `self`.
        unsafe { libc::dlclose(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_are_whole_absolute_strings() {
        let data = b"\0x\0/usr/lib/x86_64-linux-gnu/libphysmap_hooks.so.1\0\
                     physmap plugin %s\0libphysmap_hooks.so.1\0/opt/a b/libphysmap_hooks.so.2\0\
                     /usr/lib/libphysmap_hooks.so.1x\0tail-merged/opt/p/libphysmap_hooks.so.12\0\
                     LIBXL_PHYSMAP_PLUGIN\0/x/libphysmap_hooks.so.";
        let found = find_loader(data);
        assert!(!found.present); // "loaded physmap plugin" is missing
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
}
