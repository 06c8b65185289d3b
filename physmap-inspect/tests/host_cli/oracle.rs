//! The patched libxl's own loader, as the oracle of `physmap-inspect host`'s model:
//! `tests/c/loader_oracle.c` compiles the code of `xl-patches/4.17/0001` verbatim, cut as
//! the Makefile cuts it for `plugin_loader_test.c` (`LOADER_COPY`, and `LINUX_PART` with
//! `LINUX_COPY`), into a program that runs it once and a shared object that stands in
//! for a patched libxenlight.
//!
//! Two versions of the series: v4, the one in the tree, and v3, which patched
//! libxenlights built before it carry (read from this repository's history, at the commit
//! that made v3; a copy of the tree without that history skips what needs it).

use super::{gcc, run, stdout, workspace};
use crate::common::TempDir;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The commit that made v3 of the series (`xl-patches v3: one physmap_hook_opts_init()
/// ...`); its `xl-patches/4.17/0001` is the one the v3 builds were made from.
const V3_COMMIT: &str = "ed3d639643e7dfecc358be2206f01a04804f4fe5";
const PATCH_0001: &str = "0001-tools-libxl-add-a-loader-for-an-optional-physmap-plu.patch";

/// `xl-patches/4.17/0001` as it is in the tree (v4).
pub fn v4_patch() -> String {
    let path = workspace().join("xl-patches/4.17").join(PATCH_0001);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        text.contains("[PATCH v4 1/2]"),
        "{} is not v4",
        path.display()
    );
    text
}

/// `xl-patches/4.17/0001` of v3, from git; None without the repository's history.
pub fn v3_patch() -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(workspace())
        .arg("show")
        .arg(format!("{V3_COMMIT}:xl-patches/4.17/{PATCH_0001}"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).expect("a UTF-8 patch"))
}

/// The added lines of `patch` (`sed -n 's/^+//p'`), or with `file`, only those of that
/// file's diff (`LINUX_PART`).
fn added_lines<'a>(patch: &'a str, file: Option<&str>) -> Vec<&'a str> {
    let mut in_file = file.is_none();
    let mut lines = Vec::new();
    for line in patch.lines() {
        if let (Some(file), Some(header)) = (file, line.strip_prefix("diff --git ")) {
            in_file = header.split(' ').next() == Some(&format!("a/{file}"));
        }
        if let Some(added) = line.strip_prefix('+').filter(|_| in_file) {
            lines.push(added);
        }
    }
    lines
}

/// From the first line that `first` accepts to the end of the function whose definition
/// `last` accepts (its first line that starts with `}`), as the Makefile's awk cuts; None
/// if there is no such function.
fn cut(
    lines: &[&str],
    first: impl Fn(&str) -> bool,
    last: impl Fn(&str) -> bool,
) -> Option<String> {
    let start = lines.iter().position(|l| first(l))?;
    let def = start + lines[start..].iter().position(|l| last(l))?;
    let end = def + lines[def..].iter().position(|l| l.starts_with('}'))?;
    Some(
        lines[start..=end]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect(),
    )
}

/// A definition, not a declaration (`[^;]$` in the Makefile's patterns).
fn defines(line: &str, start: &str) -> bool {
    line.starts_with(start) && !line.ends_with(';')
}

/// The patch's loader, built with `default` as its compiled-in plugin path, in `dir/name/`.
pub struct Loader {
    /// A program that runs `libxl__physmap_plugin_prepare()` once.
    pub oracle: PathBuf,
    /// `libxenlight.so.4.17.0`: a shared object carrying the loader.
    pub libxenlight: PathBuf,
}

pub fn build(dir: &TempDir, name: &str, patch: &str, default: &str) -> Loader {
    let out = dir.file(name);
    fs::create_dir(&out).unwrap();
    let loader = cut(
        &added_lines(patch, None),
        |l| l == "#define PHYSMAP_ABI_VERSION 1",
        |l| l.starts_with("int libxl__physmap_plugin_restore"),
    )
    .expect("the loader in the patch");
    assert!(
        loader.contains("static int physmap_plugin_load("),
        "{loader}"
    );
    let loader_file = out.join("libxl_physmap_plugin.c");
    fs::write(&loader_file, &loader).unwrap();
    let mut flags = vec![
        format!("-DLOADER_COPY=\"{}\"", loader_file.display()),
        format!("-DLIBXL_PHYSMAP_PLUGIN_PATH=\"{default}\""),
    ];
    // v4's OS-specific functions; v3 had none (its loader called secure_getenv()).
    let linux = cut(
        &added_lines(patch, Some("tools/libs/light/libxl_linux.c")),
        |l| defines(l, "const char *libxl__secure_getenv"),
        |l| defines(l, "void *libxl__dlopen_fd"),
    );
    assert_eq!(
        linux.is_some(),
        loader.contains("libxl__dlopen_fd("),
        "the loader calls libxl__dlopen_fd() exactly when the patch defines it"
    );
    if let Some(linux) = linux {
        let linux_file = out.join("libxl_linux.c");
        fs::write(&linux_file, linux).unwrap();
        flags.push(format!("-DLINUX_COPY=\"{}\"", linux_file.display()));
    }
    let src = workspace().join("tests/c/loader_oracle.c");
    let oracle = out.join("loader_oracle");
    let libxenlight = out.join("libxenlight.so.4.17.0");
    let mut args: Vec<&OsStr> = flags.iter().map(|d| d.as_ref()).collect();
    args.extend(["-o".as_ref(), oracle.as_os_str(), src.as_os_str()]);
    gcc(&args);
    let mut args: Vec<&OsStr> = flags.iter().map(|d| d.as_ref()).collect();
    args.extend([
        "-shared".as_ref(),
        "-fPIC".as_ref(),
        "-DORACLE_LIBRARY".as_ref(),
        "-o".as_ref(),
        libxenlight.as_os_str(),
        src.as_os_str(),
    ]);
    gcc(&args);
    Loader {
        oracle,
        libxenlight,
    }
}

/// What the loader did: `loaded`, `builtin` or `refused`; for `refused`, the code it
/// returned (`ERROR_FAIL`, `ERROR_INVAL`); its log line (DEBUG for `builtin`, ERROR for
/// `refused`), with the number of a descriptor in `/proc/self/fd/` written N, as the
/// tool writes it (the number is the process's own).
#[derive(Debug)]
pub struct Said {
    pub did: String,
    pub error: Option<String>,
    pub message: String,
}

/// What the loader does with `LIBXL_PHYSMAP_PLUGIN=plugin`, or unset with None.
pub fn says(oracle: &Path, plugin: Option<&OsStr>) -> Said {
    let mut cmd = Command::new(oracle);
    match plugin {
        Some(p) => cmd.env("LIBXL_PHYSMAP_PLUGIN", p),
        None => cmd.env_remove("LIBXL_PHYSMAP_PLUGIN"),
    };
    let line = stdout(&run(&mut cmd)).trim_end().to_owned();
    let (did, rest) = line.split_once(' ').unwrap_or((&line, ""));
    let (error, message) = match did {
        "refused" => {
            let (error, message) = rest.split_once(' ').expect(&line);
            (Some(error.to_owned()), message)
        }
        "loaded" | "builtin" => (None, rest),
        _ => panic!("the oracle said {line:?}"),
    };
    Said {
        did: did.to_owned(),
        error,
        message: fd_number_as_n(message),
    }
}

/// `/proc/self/fd/<digits>` written `/proc/self/fd/N`.
fn fd_number_as_n(text: &str) -> String {
    const FD: &str = "/proc/self/fd/";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(FD) {
        let after = &rest[at + FD.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at + FD.len()]);
        out.push_str(if digits > 0 { "N" } else { "" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}
