//! Where glibc's dynamic linker finds a program's `DT_NEEDED` library, without running the
//! program: its `DT_RPATH` (when it has no `DT_RUNPATH`), `LD_LIBRARY_PATH`, its
//! `DT_RUNPATH`, `/etc/ld.so.cache`, then the default directories (`ld.so --help` lists
//! them), skipping files of another ELF class or machine as `ld.so` does.
//!
//! Not followed: the `glibc-hwcaps/` and legacy hwcap subdirectories (a library installed
//! only there is not found), `$LIB` and `$PLATFORM` in search paths (those entries are
//! skipped), and `LD_PRELOAD`. Debian installs libxenlight in none of these ways.

use super::elf::{self, Kind};
use std::fs;
use std::path::{Path, PathBuf};

pub const LD_SO_CACHE: &str = "/etc/ld.so.cache";

/// Where a library was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Rpath,
    LdLibraryPath,
    Runpath,
    Cache,
    DefaultDir,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Rpath => "DT_RPATH",
            Source::LdLibraryPath => "LD_LIBRARY_PATH",
            Source::Runpath => "DT_RUNPATH",
            Source::Cache => "ld.so.cache",
            Source::DefaultDir => "default directory",
        }
    }
}

/// A library the search found: the path the dynamic linker opens.
#[derive(Debug)]
pub struct Found {
    pub path: PathBuf,
    pub source: Source,
}

/// What the search needs to know about the program.
pub struct Program<'a> {
    /// The program's own path (for `$ORIGIN`).
    pub path: &'a Path,
    pub kind: Kind,
    pub rpath: Option<&'a str>,
    pub runpath: Option<&'a str>,
}

/// Finds `needed` for `program` as `ld.so` would, with `ld_library_path` as the program's
/// environment has it. `None` if the dynamic linker would not find it.
pub fn find(program: &Program, needed: &str, ld_library_path: Option<&str>) -> Option<Found> {
    if needed.contains('/') {
        let path = PathBuf::from(needed);
        return loadable(&path, program.kind).then_some(Found {
            path,
            source: Source::DefaultDir,
        });
    }
    let in_dirs = |dirs: Vec<PathBuf>, source| {
        dirs.into_iter()
            .map(|d| d.join(needed))
            .find(|p| loadable(p, program.kind))
            .map(|path| Found { path, source })
    };
    let origin = program.path.parent().unwrap_or(Path::new("/"));
    if program.runpath.is_none() {
        if let Some(rpath) = program.rpath {
            if let Some(f) = in_dirs(search_path(rpath, Some(origin)), Source::Rpath) {
                return Some(f);
            }
        }
    }
    if let Some(lp) = ld_library_path {
        // ld.so splits LD_LIBRARY_PATH at ':' and ';'; an empty element is the current
        // directory.
        let dirs = lp
            .split([':', ';'])
            .map(|d| PathBuf::from(if d.is_empty() { "." } else { d }))
            .collect();
        if let Some(f) = in_dirs(dirs, Source::LdLibraryPath) {
            return Some(f);
        }
    }
    if let Some(runpath) = program.runpath {
        if let Some(f) = in_dirs(search_path(runpath, Some(origin)), Source::Runpath) {
            return Some(f);
        }
    }
    if let Ok(cache) = fs::read(LD_SO_CACHE) {
        if let Some(path) = cache_lookup(&cache, needed, program.kind) {
            if loadable(&path, program.kind) {
                return Some(Found {
                    path,
                    source: Source::Cache,
                });
            }
        }
    }
    in_dirs(default_dirs(program.kind), Source::DefaultDir)
}

/// The directories of a `DT_RPATH` / `DT_RUNPATH`, with `$ORIGIN` expanded; entries with
/// other dynamic string tokens are skipped.
fn search_path(value: &str, origin: Option<&Path>) -> Vec<PathBuf> {
    value
        .split(':')
        .filter(|d| !d.is_empty())
        .filter_map(|d| {
            let origin = origin?.to_string_lossy();
            let d = d.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin);
            (!d.contains('$')).then(|| PathBuf::from(d))
        })
        .collect()
}

/// True if `path` is a file the dynamic linker would take for a program of `kind`: an ELF
/// object of the same class, byte order and machine (it skips others and searches on).
pub fn loadable(path: &Path, kind: Kind) -> bool {
    let mut header = [0u8; 64];
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let n = std::io::Read::read(&mut file, &mut header).unwrap_or(0);
    elf::kind(&header[..n]) == Ok(kind)
}

/// The dynamic linker's built-in directories for `kind`: Debian's multiarch directories,
/// then the lib64 directories of other distributions, then /lib and /usr/lib.
fn default_dirs(kind: Kind) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(triplet) = multiarch(kind) {
        dirs.push(format!("/lib/{triplet}"));
        dirs.push(format!("/usr/lib/{triplet}"));
    }
    if kind.class64 {
        dirs.push("/lib64".into());
        dirs.push("/usr/lib64".into());
    }
    dirs.push("/lib".into());
    dirs.push("/usr/lib".into());
    dirs.into_iter().map(PathBuf::from).collect()
}

const EM_386: u16 = 3;
const EM_PPC64: u16 = 21;
const EM_S390: u16 = 22;
const EM_ARM: u16 = 40;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;

fn multiarch(kind: Kind) -> Option<&'static str> {
    Some(match (kind.machine, kind.class64) {
        (EM_X86_64, true) => "x86_64-linux-gnu",
        (EM_386, false) => "i386-linux-gnu",
        (EM_AARCH64, true) => "aarch64-linux-gnu",
        (EM_ARM, false) => "arm-linux-gnueabihf",
        (EM_PPC64, true) if kind.little_endian => "powerpc64le-linux-gnu",
        (EM_S390, true) => "s390x-linux-gnu",
        (EM_RISCV, true) => "riscv64-linux-gnu",
        _ => return None,
    })
}

/// ld.so.cache's flags for libraries of `kind` (glibc's `_DL_CACHE_DEFAULT_ID`): the type
/// `FLAG_ELF_LIBC6` (3) with the architecture bits. `None` for machines not listed here,
/// whose entries are then taken by type only and checked by `loadable`.
fn cache_flags(kind: Kind) -> Option<i32> {
    Some(match (kind.machine, kind.class64) {
        (EM_X86_64, true) => 0x0303,
        (EM_386, false) => 0x0003,
        (EM_AARCH64, true) => 0x0a03,
        (EM_ARM, false) => 0x0903,
        (EM_PPC64, true) => 0x0503,
        (EM_S390, true) => 0x0403,
        _ => return None,
    })
}

/// The entry of glibc's ld.so.cache (`glibc-ld.so.cache1.1`, possibly after the old
/// `ld.so-1.7.0` table) for `name` and `kind`: the first one with the right flags and no
/// hwcap subdirectory. `None` if there is none or the cache is not in a format read here.
pub fn cache_lookup(cache: &[u8], name: &str, kind: Kind) -> Option<PathBuf> {
    cache_entries(cache)?
        .into_iter()
        .find(|e| {
            e.key == name
                && e.hwcap == 0
                && match cache_flags(kind) {
                    Some(f) => e.flags == f,
                    None => e.flags & 0xff == 3,
                }
        })
        .map(|e| PathBuf::from(e.value))
}

/// One library of ld.so.cache.
#[derive(Debug)]
pub struct CacheEntry {
    pub flags: i32,
    pub key: String,
    pub value: String,
    pub hwcap: u64,
}

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";

/// Every entry of the cache's new-format table (native byte order), or `None`.
pub fn cache_entries(cache: &[u8]) -> Option<Vec<CacheEntry>> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(cache.get(at..at + 4)?.try_into().ok()?))
    };
    let mut base = 0;
    if cache.starts_with(OLD_MAGIC) {
        // struct cache_file: magic and version (11 bytes), nlibs at 12, 12-byte entries;
        // the new table follows, aligned to 8.
        let nlibs = u32_at(12)? as usize;
        base = (16 + nlibs.checked_mul(12)?).checked_add(7)? & !7;
    }
    if !cache.get(base..)?.starts_with(NEW_MAGIC) {
        return None;
    }
    // struct cache_file_new: magic (20), nlibs, len_strings, flags (1 + 3),
    // extension_offset, 3 unused: 48 bytes; then 24-byte entries. Strings are offsets
    // from the start of this header.
    let nlibs = u32_at(base + 20)? as usize;
    let string_at = |off: u32| -> Option<String> {
        let bytes = cache.get(base.checked_add(off as usize)?..)?;
        let end = bytes.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    };
    (0..nlibs)
        .map(|i| {
            let at = base + 48 + i * 24;
            Some(CacheEntry {
                flags: u32_at(at)? as i32,
                key: string_at(u32_at(at + 4)?)?,
                value: string_at(u32_at(at + 8)?)?,
                hwcap: u64::from_ne_bytes(cache.get(at + 16..at + 24)?.try_into().ok()?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_kind() -> Kind {
        let data = fs::read(std::env::current_exe().unwrap()).unwrap();
        elf::kind(&data).unwrap()
    }

    /// The host's real cache, read here and by `ldconfig -p` (which prints its entries in
    /// the cache's order): for every library name of this machine's kind, the first entry
    /// ldconfig prints is the one the lookup returns. x86-64 only (ldconfig's label for
    /// it is the one compared); debian/control also builds for arm64 and armhf, whose
    /// `dh_auto_test` runs these unit tests.
    #[test]
    #[cfg_attr(
        not(target_arch = "x86_64"),
        ignore = "compares ldconfig's x86-64 entries"
    )]
    fn the_cache_reads_as_ldconfig_prints_it() {
        let kind = own_kind();
        assert_eq!(
            kind.machine, EM_X86_64,
            "this test knows ldconfig's x86-64 label"
        );
        let cache = fs::read(LD_SO_CACHE).expect("read /etc/ld.so.cache");
        let ldconfig = ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("ldconfig");
        let out = std::process::Command::new(ldconfig)
            .arg("-p")
            .output()
            .expect("run ldconfig -p");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let mut seen = std::collections::HashSet::new();
        // "\tlibfoo.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libfoo.so.1", between a
        // count and a "Cache generated by" line.
        for line in text.lines().filter(|l| l.starts_with('\t')) {
            let (left, path) = line.trim().split_once(" => ").expect(line);
            let (name, flags) = left.split_once(' ').expect(line);
            if flags != "(libc6,x86-64)" || !seen.insert(name.to_owned()) {
                continue;
            }
            assert_eq!(
                cache_lookup(&cache, name, kind).as_deref(),
                Some(Path::new(path)),
                "{line}"
            );
        }
        assert!(
            seen.len() > 10,
            "only {} names compared:\n{text}",
            seen.len()
        );
        assert_eq!(cache_lookup(&cache, "libno-such-library.so.0", kind), None);
    }

    #[test]
    fn damaged_caches_are_none_not_panics() {
        let cache = fs::read(LD_SO_CACHE).unwrap();
        for len in [0, 5, 20, 47, 48, 100, cache.len() / 2] {
            let _ = cache_entries(&cache[..len.min(cache.len())]);
        }
        assert!(cache_entries(b"not a cache").is_none());
    }

    #[test]
    fn search_paths_expand_origin() {
        let origin = Path::new("/opt/xen/bin");
        assert_eq!(
            search_path("$ORIGIN/../lib:/x:${ORIGIN}:$LIB/y:", Some(origin)),
            [
                PathBuf::from("/opt/xen/bin/../lib"),
                PathBuf::from("/x"),
                PathBuf::from("/opt/xen/bin"),
            ]
        );
    }
}
