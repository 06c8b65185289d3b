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
//!    library's read-only data, which also tell v4 of the series from v3 ([`libxl`]), and
//!    the default plugin path compiled into it (configure's `--with-physmap-plugin`, an
//!    absolute path ending in `libphysmap_hooks.so.<N>`).
//! 3. **The plugin**: `LIBXL_PHYSMAP_PLUGIN` (unless `xl` is setuid, setgid or has file
//!    capabilities, where libxl ignores it), else the compiled-in default, put through
//!    exactly the checks of v4's `physmap_plugin_load()`, in its order, with its messages
//!    and return codes: empty path (built-in code), absolute path (else `ERROR_INVAL`),
//!    `open()` (nothing there: built-in code), `fstat()` of that descriptor: a regular
//!    file, not writable by group or others, owned by root or the effective user; then
//!    `dlopen("/proc/self/fd/N", RTLD_NOW | RTLD_LOCAL)` of that very file,
//!    `physmap_abi_version() == 1`, the other four functions. Its version (real file name
//!    `libphysmap_hooks.so.X.Y.Z`, else its package's) is compared with this tool's.
//! 4. **xenstore**: a connection as the library makes it (`xs_open(0)`) and one read; the
//!    daemon is the peer of the socket (`SO_PEERCRED`), else the one in
//!    `/run/xenstore.pid`, else a process called `oxenstored` or `xenstored`.
//!
//! Exit status: 0 the library would run, 1 it would not, 2 usage or the tool's own error.

mod dpkg;
mod elf;
mod ldso;
mod libxl;
mod xenstore;
mod xl;

use dpkg::{dpkg_modified, dpkg_owner};
use elf::Elf;
use libxl::{check_plugin, find_loader, PatchVersion};
use physmap_hooks::error::Reason;
use serde::Serialize;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xenstore::probe_xenstore;
use xl::{find_xl, is_secure_program, XlSearch};

const PLUGIN_NAME: &str = "libphysmap_hooks.so.";
const PLUGIN_VAR: &str = "LIBXL_PHYSMAP_PLUGIN";
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
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
    /// The version of xl-patches it was built from, `v4` or `v3`, as its strings tell; null
    /// when they match neither (or there is no loader).
    patch_version: Option<&'static str>,
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
    /// What libxl returns for `refused`: `ERROR_INVAL` (a path that is not absolute) or
    /// `ERROR_FAIL`.
    libxl_error: Option<&'static str>,
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
        loader.patch_version = found_loader.patch_version.map(PatchVersion::name);
        loader.default_plugin = found_loader.defaults.first().cloned();
        let lib_name = real.display();
        match (found_loader.present, found_loader.patch_version) {
            (false, _) | (true, Some(PatchVersion::V4)) => {}
            (true, Some(PatchVersion::V3)) => warnings.push(format!(
                "libxenlight {lib_name} carries v3 of the physmap loader, and the checks here \
                 are v4's: v3 stat()s the path, then dlopen()s the path rather than the file \
                 it checked, so it refuses a file that is not regular only when dlopen() \
                 fails on it (and blocks on a FIFO); it returns ERROR_FAIL for a relative \
                 path, and words some refusals differently"
            )),
            (true, None) => warnings.push(format!(
                "libxenlight {lib_name} carries a physmap loader that is neither v3 nor v4 of \
                 xl-patches (its messages differ from both): the checks here are v4's"
            )),
        }
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
                (true, default) => format!(
                    "yes ({}), {}",
                    r.loader.patch_version.unwrap_or("version unknown"),
                    match default {
                        Some(d) => format!("default plugin {d}"),
                        None => "no default plugin path found".to_owned(),
                    }
                ),
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
            (_, Some(problem)) => match p.libxl_error {
                Some(error) => format!("fail ({error}): {problem}"),
                None => format!("fail: {problem}"),
            },
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
}
