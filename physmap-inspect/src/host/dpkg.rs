//! Which Debian package owns a file, and whether the file is still the package's.

use std::path::Path;
use std::process::{Command, Stdio};

/// A file's Debian package.
pub struct Owner {
    pub package: String,
    pub version: Option<String>,
    /// The file's path as dpkg records it.
    path: String,
}

/// The Debian package owning `real` (a resolved path) and its version, if dpkg knows the
/// file. dpkg records a path as the package ships it, so on a merged-/usr system the file
/// may be known under its /lib or /bin alias.
pub fn dpkg_owner(real: &Path) -> Option<Owner> {
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
pub fn dpkg_modified(owner: &Owner) -> Option<bool> {
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
