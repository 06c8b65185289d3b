//! `physmap-inspect host`: would this host's toolstack run the library?
//!
//! Answered from files, without a guest and without running `xl`:
//!
//! 1. **libxenlight**: the `xl` that `$PATH` finds (through Debian's `xen-utils-wrapper`,
//!    which runs `/usr/lib/xen-<running Xen>/bin/xl`), its `DT_NEEDED` libxenlight found
//!    the way the dynamic linker finds it ([`ldso`]), or `--libxenlight PATH`. Its version
//!    comes from its real file name (`libxenlight.so.4.17.0`) and the Debian package that
//!    owns it.
//! 2. **The loader** of `xl-patches/` (`libxl_physmap_plugin.c`): its strings in the
//!    library's read-only data, and the default plugin path compiled into it (configure's
//!    `--with-physmap-plugin`, an absolute path ending in `libphysmap_hooks.so.<N>`).
//! 3. **The plugin**: `LIBXL_PHYSMAP_PLUGIN` (unless `xl` is setuid, setgid or has file
//!    capabilities, where libxl ignores it), else the compiled-in default, put through
//!    exactly the checks of the patch's `physmap_plugin_load()`, in its order and with its
//!    messages: empty path (built-in code), absolute path, `stat()` (nothing there:
//!    built-in code), not writable by group or others, owned by root or the effective
//!    user, `dlopen(RTLD_NOW | RTLD_LOCAL)`, `physmap_abi_version() == 1`, the other four
//!    functions. Its version (real file name `libphysmap_hooks.so.X.Y.Z`, else its
//!    package's) is compared with this tool's.
//! 4. **xenstore**: a connection as the library makes it (`xs_open(0)`) and one read; the
//!    daemon is the peer of the socket (`SO_PEERCRED`), else the one in
//!    `/run/xenstore.pid`, else a process called `oxenstored` or `xenstored`.
//!
//! Exit status: 0 the library would run, 1 it would not, 2 usage or the tool's own error.

mod elf;
mod ldso;

use elf::Elf;
use physmap_hooks::error::Reason;
use physmap_hooks::xenstore::Xenstore;
use serde::Serialize;
use std::ffi::{CStr, CString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What the patched libxl's loader carries: the variable it reads and its log line.
const LOADER_STRINGS: [&str; 2] = ["LIBXL_PHYSMAP_PLUGIN", "loaded physmap plugin"];
const PLUGIN_NAME: &str = "libphysmap_hooks.so.";
const PLUGIN_VAR: &str = "LIBXL_PHYSMAP_PLUGIN";
/// `PHYSMAP_ABI_VERSION`, as the patch's private copy has it.
const ABI_VERSION: u32 = 1;
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long xenstore may take to answer one read (a daemon that is not running behind the
/// xenbus device never answers).
const XENSTORE_TIMEOUT: Duration = Duration::from_secs(5);
/// Larger files are not libraries (a mistaken `--libxenlight` naming a disk image).
const MAX_LIBRARY_BYTES: u64 = 256 << 20;

#[derive(Serialize)]
struct Report {
    uses_library: bool,
    /// Why not: empty when `uses_library`.
    reasons: Vec<String>,
    /// What does not change the answer but may matter (versions, the environment).
    warnings: Vec<String>,
    tool_version: &'static str,
    /// The `xl` whose libxenlight this is; null with `--libxenlight` or without `xl`.
    xl: Option<XlJson>,
    libxenlight: LibxenlightJson,
    loader: LoaderJson,
    plugin: PluginJson,
    xenstore: XenstoreJson,
}

#[derive(Serialize)]
struct XlJson {
    /// What `$PATH` finds (`/usr/sbin/xl`, on Debian a wrapper script).
    command: String,
    /// The program that runs (`/usr/lib/xen-4.17/bin/xl`).
    binary: String,
    /// setuid, setgid or file capabilities: libxl then ignores `LIBXL_PHYSMAP_PLUGIN`.
    ignores_environment: bool,
}

#[derive(Serialize, Default)]
struct LibxenlightJson {
    /// The real file (symlinks resolved).
    path: Option<String>,
    /// From the real file name (`libxenlight.so.4.17.0`: `4.17.0`), else its soname.
    version: Option<String>,
    /// The Debian package owning it (`libxenmisc4.17:amd64`), if dpkg knows the file.
    package: Option<String>,
    package_version: Option<String>,
    /// The file differs from the one its package installed (`dpkg --verify`: a patched
    /// libxenlight copied over Debian's); null without a package.
    modified_since_package: Option<bool>,
    /// `xl`'s `DT_NEEDED` entry.
    needed: Option<String>,
    /// The path the dynamic linker opens, before symlinks.
    found: Option<String>,
    /// `DT_RPATH`, `LD_LIBRARY_PATH`, `DT_RUNPATH`, `ld.so.cache`, `default directory`,
    /// or `--libxenlight`.
    found_via: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct LoaderJson {
    present: bool,
    /// The plugin path compiled in, if one ending in `libphysmap_hooks.so.<N>` is there.
    default_plugin: Option<String>,
}

#[derive(Serialize, Default)]
struct PluginJson {
    path: Option<String>,
    /// `LIBXL_PHYSMAP_PLUGIN` or `default`; null when there is no path to check.
    source: Option<&'static str>,
    /// `stat()` finds something there (false for an empty or relative path: libxl does
    /// not look).
    exists: bool,
    /// What libxl does with it: `loads`, `builtin` (nothing there, or an empty path: its
    /// built-in code runs) or `refused` (HVM saves, restores and migrations fail).
    outcome: Option<&'static str>,
    /// libxl's own message for `builtin` and `refused`.
    problem: Option<String>,
    passes_libxl_checks: bool,
    /// What `physmap_abi_version()` returned (only called when libxl would call it).
    abi_version: Option<u32>,
    /// The real file (symlinks resolved), its mode and owner.
    file: Option<String>,
    mode: Option<String>,
    owner_uid: Option<u32>,
    /// From the real file name `libphysmap_hooks.so.X.Y.Z`, else from its package.
    version: Option<String>,
    version_from: Option<&'static str>,
    package: Option<String>,
    same_version_as_tool: bool,
}

#[derive(Serialize, Default)]
struct XenstoreJson {
    answers: bool,
    /// `oxenstored` or `xenstored` (the daemon's program name).
    daemon: Option<String>,
    pid: Option<u32>,
    exe: Option<String>,
    /// `socket peer`, `/run/xenstore.pid` or `process name`.
    identified_by: Option<&'static str>,
    /// The socket libxenstore tries first.
    socket: String,
    error: Option<String>,
}

/// The tool could not answer (exit 2).
struct ToolError(String);

pub fn run(libxenlight: Option<&str>, json: bool) -> ExitCode {
    match inspect(libxenlight) {
        Ok(report) => {
            if json {
                crate::print_json(&report);
            } else {
                print!("{}", human(&report));
            }
            ExitCode::from(if report.uses_library { 0 } else { 1 })
        }
        Err(ToolError(message)) => {
            eprintln!("{}: {message}", crate::NAME);
            ExitCode::from(2)
        }
    }
}

fn inspect(libxenlight: Option<&str>) -> Result<Report, ToolError> {
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let mut xl = None;
    let mut lib = LibxenlightJson::default();
    let mut loader = LoaderJson::default();
    let mut library_data = None;

    match libxenlight {
        Some(given) => {
            let data = read_library(Path::new(given))?;
            Elf::parse(&data).map_err(|e| ToolError(format!("{given}: {e}")))?;
            lib.found = Some(given.to_owned());
            lib.found_via = Some("--libxenlight");
            library_data = Some((PathBuf::from(given), data));
        }
        None => match find_xl()? {
            XlSearch::Missing(why) => reasons.push(why),
            XlSearch::Found(found) => {
                if let Some(note) = &found.note {
                    warnings.push(note.clone());
                }
                let binary = found.binary.display().to_string();
                let data = read_library(&found.binary)?;
                let elf = Elf::parse(&data).map_err(|e| ToolError(format!("{binary}: {e}")))?;
                let dynamic = elf
                    .dynamic()
                    .map_err(|e| ToolError(format!("{binary}: {e}")))?;
                xl = Some(XlJson {
                    command: found.command.display().to_string(),
                    binary: binary.clone(),
                    ignores_environment: is_secure_program(&found.binary),
                });
                match dynamic
                    .needed
                    .iter()
                    .find(|n| n.starts_with("libxenlight.so") || n.contains("/libxenlight.so"))
                {
                    None => reasons.push(format!("{binary} does not link libxenlight")),
                    Some(needed) => {
                        lib.needed = Some(needed.clone());
                        let program = ldso::Program {
                            path: &found.binary,
                            kind: elf.kind,
                            rpath: dynamic.rpath.as_deref(),
                            runpath: dynamic.runpath.as_deref(),
                        };
                        let ld_library_path = std::env::var("LD_LIBRARY_PATH").ok();
                        match ldso::find(&program, needed, ld_library_path.as_deref()) {
                            None => reasons.push(format!(
                                "{binary} needs {needed}, which the dynamic linker would not find"
                            )),
                            Some(f) => {
                                lib.found = Some(f.path.display().to_string());
                                lib.found_via = Some(f.source.name());
                                let data = read_library(&f.path)?;
                                library_data = Some((f.path, data));
                            }
                        }
                    }
                }
            }
        },
    }

    if let Some((found, data)) = &library_data {
        let real = fs::canonicalize(found).unwrap_or_else(|_| found.clone());
        let real_name = real.file_name().map(|n| n.to_string_lossy().into_owned());
        let soname = Elf::parse(data)
            .ok()
            .and_then(|e| e.dynamic().ok())
            .and_then(|d| d.soname);
        lib.version = real_name
            .as_deref()
            .and_then(|n| n.strip_prefix("libxenlight.so."))
            .or_else(|| soname.as_deref()?.strip_prefix("libxenlight.so."))
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        if let Some(owner) = dpkg_owner(&real) {
            lib.modified_since_package = dpkg_modified(&owner);
            lib.package = Some(owner.package);
            lib.package_version = owner.version;
        }
        lib.path = Some(real.display().to_string());
        let found_loader = find_loader(data);
        loader.present = found_loader.present;
        loader.default_plugin = found_loader.defaults.first().cloned();
        if found_loader.defaults.len() > 1 {
            warnings.push(format!(
                "{} carries several plugin paths ({}); taking the first as the default",
                real.display(),
                found_loader.defaults.join(", ")
            ));
        }
    }
    let lib_path = lib.path.clone().unwrap_or_default();

    // The path libxl would use.
    let ignores_environment = xl.as_ref().is_some_and(|x| x.ignores_environment);
    let from_env = std::env::var_os(PLUGIN_VAR).map(|v| v.to_string_lossy().into_owned());
    let (plugin_path, source) = match (&from_env, ignores_environment) {
        (Some(p), false) => (Some(p.clone()), Some(PLUGIN_VAR)),
        _ => (
            loader.default_plugin.clone().filter(|_| loader.present),
            loader.present.then_some("default"),
        ),
    };
    if from_env.is_some() && ignores_environment {
        warnings.push(format!(
            "{PLUGIN_VAR} is set, but xl is setuid, setgid or has file capabilities: libxl \
             ignores it there"
        ));
    }
    if library_data.is_some() && !loader.present && from_env.is_some() {
        warnings.push(format!(
            "{PLUGIN_VAR} is set, but {lib_path} has no loader and ignores it"
        ));
    }
    if loader.present && source == Some(PLUGIN_VAR) {
        warnings.push(format!(
            "{PLUGIN_VAR} overrides the compiled-in default {} in this environment only: an \
             xl or libvirtd started elsewhere may not have it",
            loader.default_plugin.as_deref().unwrap_or("(none found)")
        ));
    }

    let mut plugin = PluginJson {
        source: source.filter(|_| plugin_path.is_some()),
        ..PluginJson::default()
    };
    if let Some(path) = &plugin_path {
        check_plugin(path, &mut plugin);
        plugin_version(path, &mut plugin);
        plugin.path = Some(path.clone());
        if plugin.exists && !plugin.same_version_as_tool {
            warnings.push(match &plugin.version {
                Some(v) => format!("plugin version {v} differs from this tool's {TOOL_VERSION}"),
                None => format!(
                    "plugin version unknown (its real file name is not {PLUGIN_NAME}X.Y.Z and \
                     no libphysmap-hooks package owns it); this tool is {TOOL_VERSION}"
                ),
            });
        }
        if plugin.passes_libxl_checks && plugin.owner_uid != Some(0) {
            warnings.push(format!(
                "the plugin passes the owner check only because this tool runs as its owner, \
                 uid {}: libxl run by root would refuse it",
                plugin.owner_uid.unwrap_or_default()
            ));
        }
    }

    if library_data.is_some() {
        if !loader.present {
            reasons.push(format!(
                "libxenlight {lib_path} has no physmap loader (stock libxl)"
            ));
        } else if plugin_path.is_none() {
            reasons.push(format!(
                "libxenlight {lib_path} carries the physmap loader, but no compiled-in plugin \
                 path ending in {PLUGIN_NAME}<N> (built with --with-physmap-plugin=no or \
                 another name), and {PLUGIN_VAR} is not set"
            ));
        }
    }
    if let Some(problem) = &plugin.problem {
        let consequence = match (loader.present, plugin.outcome) {
            (true, Some("refused")) => {
                ": libxl refuses it and fails every save, restore and migration of an HVM guest"
            }
            (true, _) => "",
            (false, _) => " (a patched libxl would say so)",
        };
        reasons.push(format!("{problem}{consequence}"));
    }

    let xenstore = probe_xenstore();
    let uses_library = reasons.is_empty();
    debug_assert_eq!(
        uses_library,
        loader.present && plugin.outcome == Some("loads"),
        "{reasons:?}"
    );
    Ok(Report {
        uses_library,
        reasons,
        warnings,
        tool_version: TOOL_VERSION,
        xl,
        libxenlight: lib,
        loader,
        plugin,
        xenstore,
    })
}

/// The aligned text output: one line per finding, the verdict last.
fn human(r: &Report) -> String {
    let mut lines: Vec<(&str, String)> = Vec::new();
    if let Some(xl) = &r.xl {
        let via = if xl.command == xl.binary {
            String::new()
        } else {
            format!(" (run by {})", xl.command)
        };
        lines.push(("xl", format!("{}{via}", xl.binary)));
    }
    let lib = &r.libxenlight;
    if let Some(path) = &lib.path {
        let how = match (&lib.needed, &lib.found, lib.found_via) {
            (Some(needed), Some(found), Some(via)) => {
                format!(" ({needed} from {via}: {found})")
            }
            _ => String::new(),
        };
        lines.push(("libxenlight", format!("{path}{how}")));
        let modified = if lib.modified_since_package == Some(true) {
            " (the file differs from the package's)"
        } else {
            ""
        };
        let package = match (&lib.package, &lib.package_version) {
            (Some(p), Some(v)) => format!(", package {p} {v}{modified}"),
            (Some(p), None) => format!(", package {p}{modified}"),
            _ => ", no Debian package owns it".to_owned(),
        };
        lines.push((
            "version",
            format!("{}{package}", lib.version.as_deref().unwrap_or("unknown")),
        ));
        lines.push((
            "loader",
            match (r.loader.present, &r.loader.default_plugin) {
                (false, _) => "none (stock libxl)".to_owned(),
                (true, Some(d)) => format!("yes, default plugin {d}"),
                (true, None) => "yes, no default plugin path found".to_owned(),
            },
        ));
    }
    let p = &r.plugin;
    if let Some(path) = &p.path {
        let source = match p.source {
            Some("default") => "the compiled-in default".to_owned(),
            Some(s) => format!("from {s}"),
            None => String::new(),
        };
        let shown = if path.is_empty() { "\"\"" } else { path };
        lines.push(("plugin", format!("{shown} ({source})")));
        let checks = match (p.outcome, &p.problem) {
            (Some("loads"), _) => format!(
                "pass: mode {}, owner uid {}, ABI version {}, all five functions",
                p.mode.as_deref().unwrap_or("?"),
                p.owner_uid.unwrap_or_default(),
                p.abi_version.unwrap_or_default()
            ),
            (Some("builtin"), Some(problem)) => format!("none apply: {problem}"),
            (_, Some(problem)) => format!("fail: {problem}"),
            _ => String::new(),
        };
        lines.push(("checks", checks));
        if p.exists {
            let version = match (&p.version, p.version_from) {
                (Some(v), Some(from)) => format!("{v} (from its {from})"),
                _ => "unknown".to_owned(),
            };
            let same = if p.same_version_as_tool {
                "the same as this tool"
            } else {
                "this tool is"
            };
            let tail = if p.same_version_as_tool {
                String::new()
            } else {
                format!(" {TOOL_VERSION}")
            };
            lines.push(("plugin ver", format!("{version}, {same}{tail}")));
        }
    }
    let x = &r.xenstore;
    lines.push((
        "xenstore",
        if x.answers {
            let who = match (&x.daemon, x.pid, x.identified_by) {
                (Some(d), Some(pid), Some(by)) => format!(
                    "{d} (pid {pid}{}; {by})",
                    x.exe
                        .as_deref()
                        .map(|e| format!(", {e}"))
                        .unwrap_or_default()
                ),
                _ => "daemon not identified".to_owned(),
            };
            format!("answers: {who}")
        } else {
            format!(
                "does not answer: {}",
                x.error.as_deref().unwrap_or("unknown error")
            )
        },
    ));
    for w in &r.warnings {
        lines.push(("warning", w.clone()));
    }
    lines.push((
        "verdict",
        if r.uses_library {
            format!(
                "yes: libxl loads {} for the saves, restores and migrations of HVM guests",
                p.path.as_deref().unwrap_or_default()
            )
        } else {
            format!("no: {}", r.reasons.join("; "))
        },
    ));
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 2;
    lines
        .iter()
        .map(|(label, text)| format!("{label:<width$}{text}\n"))
        .collect()
}

fn read_library(path: &Path) -> Result<Vec<u8>, ToolError> {
    let fail = |e: &io::Error| ToolError(format!("{}: cannot read: {}", path.display(), Reason(e)));
    let mut file = fs::File::open(path).map_err(|e| fail(&e))?;
    let meta = file.metadata().map_err(|e| fail(&e))?;
    if meta.is_dir() {
        return Err(ToolError(format!(
            "{}: cannot read: Is a directory",
            path.display()
        )));
    }
    if meta.len() > MAX_LIBRARY_BYTES {
        return Err(ToolError(format!(
            "{}: {} bytes: too large for a library",
            path.display(),
            meta.len()
        )));
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(|e| fail(&e))?;
    Ok(data)
}

struct XlFound {
    command: PathBuf,
    binary: PathBuf,
    note: Option<String>,
}

enum XlSearch {
    Found(XlFound),
    /// No toolstack to run anything: a reason for "no".
    Missing(String),
}

/// The `xl` an operator runs: the first in `$PATH`, then in the sbin directories that a
/// user's `$PATH` may lack. Debian's `/usr/sbin/xl` is `xen-utils-wrapper`, a script that
/// runs `/usr/lib/xen-<major>.<minor>/bin/xl` for the running hypervisor's version.
fn find_xl() -> Result<XlSearch, ToolError> {
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
fn is_secure_program(path: &Path) -> bool {
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

struct FoundLoader {
    present: bool,
    defaults: Vec<String>,
}

/// The loader's strings and default plugin path in the library's read-only data (the
/// whole file if it has no section headers).
fn find_loader(data: &[u8]) -> FoundLoader {
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// `physmap_plugin_load()` of xl-patches' `libxl_physmap_plugin.c`, step by step, with its
/// messages. The only difference: a path that is neither a regular file nor a directory
/// (a FIFO, a device) is refused without `dlopen()`, which could block on it.
fn check_plugin(path: &str, p: &mut PluginJson) {
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

/// The plugin's version: from its real file name `libphysmap_hooks.so.X.Y.Z`, else from
/// the upstream part of the version of its Debian package, `libphysmap-hooks<N>`.
fn plugin_version(path: &str, p: &mut PluginJson) {
    if path.is_empty() || !path.starts_with('/') {
        return;
    }
    let Ok(real) = fs::canonicalize(path) else {
        return;
    };
    let from_name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .and_then(|n| n.strip_prefix(PLUGIN_NAME).map(str::to_owned))
        .filter(|v| v.split('.').count() >= 3 && v.split('.').all(is_number));
    let owner = dpkg_owner(&real);
    p.package = owner.as_ref().map(|o| o.package.clone());
    // Only this project's package says which version of the library a file is.
    let package_version = owner
        .filter(|o| o.package.starts_with("libphysmap-hooks"))
        .and_then(|o| o.version);
    if let Some(v) = from_name {
        p.version = Some(v);
        p.version_from = Some("file name");
    } else if let Some(v) = package_version {
        p.version = Some(upstream_version(&v).to_owned());
        p.version_from = Some("package");
    }
    p.same_version_as_tool = p.version.as_deref() == Some(TOOL_VERSION);
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `1:1.0.0-1+b1` → `1.0.0`: without epoch and Debian revision.
fn upstream_version(v: &str) -> &str {
    let v = v.split_once(':').map_or(v, |(_, rest)| rest);
    v.rsplit_once('-').map_or(v, |(upstream, _)| upstream)
}

/// A file's Debian package.
struct Owner {
    package: String,
    version: Option<String>,
    /// The file's path as dpkg records it.
    path: String,
}

/// The Debian package owning `real` (a resolved path) and its version, if dpkg knows the
/// file. dpkg records a path as the package ships it, so on a merged-/usr system the file
/// may be known under its /lib or /bin alias.
fn dpkg_owner(real: &Path) -> Option<Owner> {
    let real = real.to_str()?;
    if real.contains(['*', '?', '[', '\\']) {
        return None; // dpkg-query -S would take it for a pattern
    }
    let mut candidates = vec![real.to_owned()];
    for (merged, alias) in [
        ("/usr/lib/", "/lib/"),
        ("/usr/lib64/", "/lib64/"),
        ("/usr/bin/", "/bin/"),
        ("/usr/sbin/", "/sbin/"),
    ] {
        if let Some(rest) = real.strip_prefix(merged) {
            candidates.push(format!("{alias}{rest}"));
        } else if let Some(rest) = real.strip_prefix(alias) {
            candidates.push(format!("{merged}{rest}"));
        }
    }
    candidates.iter().find_map(|path| {
        let out = Command::new("dpkg-query")
            .arg("-S")
            .arg(path)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        // "pkg:arch[, pkg2:arch]: /path"; diversions have lines of their own.
        let package = text.lines().find_map(|line| {
            let (packages, p) = line.split_once(": ")?;
            (p == path && !line.starts_with("diversion by"))
                .then(|| packages.split(", ").next().unwrap_or(packages).to_owned())
        })?;
        let version = Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", &package])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|v| !v.is_empty());
        Some(Owner {
            package,
            version,
            path: path.clone(),
        })
    })
}

/// Whether `dpkg --verify` reports the owner's file as changed (its checksum, or missing).
fn dpkg_modified(owner: &Owner) -> Option<bool> {
    let out = Command::new("dpkg")
        .args(["--verify", &owner.package])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    // "??5??????   /usr/lib/...": one line per file that fails a check.
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .any(|line| line.ends_with(&format!(" {}", owner.path))),
    )
}

/// The socket `xs_open(0)` tries first (libxenstore 4.17's `xs_daemon_socket()`).
fn xenstore_socket() -> PathBuf {
    if let Some(path) = std::env::var_os("XENSTORED_PATH") {
        return PathBuf::from(path);
    }
    let rundir = std::env::var_os("XENSTORED_RUNDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/xenstored"));
    rundir.join("socket")
}

fn probe_xenstore() -> XenstoreJson {
    let socket = xenstore_socket();
    let mut x = XenstoreJson {
        socket: socket.display().to_string(),
        ..XenstoreJson::default()
    };
    // One read, as any client's first request. In a thread: behind the xenbus device, a
    // request to a daemon that is not running never returns.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = Xenstore::open()
            .and_then(|xs| xs.direct().read("/").map(|_| ()))
            .map_err(|e| e.to_string());
        let _ = tx.send(result);
    });
    match rx.recv_timeout(XENSTORE_TIMEOUT) {
        Ok(Ok(())) => x.answers = true,
        Ok(Err(e)) => x.error = Some(e),
        Err(_) => {
            x.error = Some(format!(
                "no answer within {} s (is the xenstore daemon running?)",
                XENSTORE_TIMEOUT.as_secs()
            ))
        }
    }
    if !x.answers {
        return x;
    }
    let found = peer_pid(&socket)
        .map(|pid| (pid, "socket peer"))
        .or_else(|| pid_file_pid().map(|pid| (pid, "/run/xenstore.pid")))
        .or_else(|| process_named(&["oxenstored", "xenstored"]).map(|pid| (pid, "process name")));
    if let Some((pid, by)) = found {
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok().map(|e| {
            let e = e.to_string_lossy().into_owned();
            e.strip_suffix(" (deleted)").map(str::to_owned).unwrap_or(e)
        });
        let comm = fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|c| c.trim().to_owned());
        x.daemon = exe
            .as_deref()
            .and_then(|e| Path::new(e).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .or(comm);
        x.pid = Some(pid);
        x.exe = exe;
        x.identified_by = Some(by);
    }
    x
}

/// The process at the other end of `socket`, from `SO_PEERCRED`.
fn peer_pid(socket: &Path) -> Option<u32> {
    let stream = UnixStream::connect(socket).ok()?;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a connected socket, a ucred-sized buffer and its length.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && cred.pid > 0).then_some(cred.pid as u32)
}

/// The pid Debian's `/etc/init.d/xen` records for the daemon it started, if it runs.
fn pid_file_pid() -> Option<u32> {
    let pid: u32 = fs::read_to_string("/run/xenstore.pid")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// The lowest pid whose process name is one of `names`.
fn process_named(names: &[&str]) -> Option<u32> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter().find(|pid| {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| names.contains(&c.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions() {
        assert_eq!(upstream_version("1.0.0-1"), "1.0.0");
        assert_eq!(upstream_version("1:1.0.0-1+b1"), "1.0.0");
        assert_eq!(upstream_version("1.0.0"), "1.0.0");
        assert_eq!(
            upstream_version("4.17.5+72-g01140da4e8-1+physmap1"),
            "4.17.5+72-g01140da4e8"
        );
    }

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
