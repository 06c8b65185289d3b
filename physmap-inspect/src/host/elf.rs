//! The few things `host` reads from ELF files, without executing them: the class and
//! machine (the dynamic linker skips a library of another kind), the dynamic section
//! (`DT_NEEDED`, `DT_RPATH`, `DT_RUNPATH`, `DT_SONAME`) and one section's bytes by name.
//!
//! Both classes and both byte orders; every offset is bounds-checked, so a damaged or
//! hostile file gives an error, never a panic.

use std::fmt;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// What makes two ELF objects loadable into one process (as far as `ld.so` checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub class64: bool,
    pub little_endian: bool,
    pub machine: u16,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ELF{} {}-endian machine {}",
            if self.class64 { 64 } else { 32 },
            if self.little_endian { "little" } else { "big" },
            self.machine
        )
    }
}

/// The dynamic section's strings.
#[derive(Debug, Default)]
pub struct Dynamic {
    pub needed: Vec<String>,
    pub soname: Option<String>,
    pub rpath: Option<String>,
    pub runpath: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

pub struct Elf<'a> {
    data: &'a [u8],
    pub kind: Kind,
    segments: Vec<Segment>,
}

/// True if `data` starts like an ELF file.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// The kind of ELF file `data` starts with: its first 20 bytes are enough.
pub fn kind(data: &[u8]) -> Result<Kind, String> {
    if !is_elf(data) {
        return Err("not an ELF file".into());
    }
    let class64 = match data.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err("unknown ELF class".into()),
    };
    let little_endian = match data.get(5) {
        Some(1) => true,
        Some(2) => false,
        _ => return Err("unknown ELF byte order".into()),
    };
    let machine: [u8; 2] = data
        .get(18..20)
        .and_then(|b| b.try_into().ok())
        .ok_or("truncated ELF header")?;
    Ok(Kind {
        class64,
        little_endian,
        machine: if little_endian {
            u16::from_le_bytes(machine)
        } else {
            u16::from_be_bytes(machine)
        },
    })
}

impl<'a> Elf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, String> {
        let mut elf = Elf {
            data,
            kind: kind(data)?,
            segments: Vec::new(),
        };
        let class64 = elf.kind.class64;
        let (phoff, phentsize, phnum) = if class64 {
            (elf.u64(32), elf.u16(54), elf.u16(56))
        } else {
            (elf.u32(28).map(u64::from), elf.u16(42), elf.u16(44))
        };
        let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
            return Err("truncated ELF header".into());
        };
        for i in 0..u64::from(phnum) {
            let at = phoff
                .checked_add(i * u64::from(phentsize))
                .ok_or("program header table out of range")?;
            let segment = if class64 {
                (|| {
                    Some(Segment {
                        kind: elf.u32(at)?,
                        offset: elf.u64(at + 8)?,
                        vaddr: elf.u64(at + 16)?,
                        filesz: elf.u64(at + 32)?,
                    })
                })()
            } else {
                (|| {
                    Some(Segment {
                        kind: elf.u32(at)?,
                        offset: elf.u32(at + 4)?.into(),
                        vaddr: elf.u32(at + 8)?.into(),
                        filesz: elf.u32(at + 16)?.into(),
                    })
                })()
            };
            elf.segments
                .push(segment.ok_or("program header table past the end of the file")?);
        }
        Ok(elf)
    }

    /// The dynamic section: its needed libraries, soname and search paths. A static
    /// executable has none (all empty).
    pub fn dynamic(&self) -> Result<Dynamic, String> {
        let mut dynamic = Dynamic::default();
        let Some(seg) = self.segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
            return Ok(dynamic);
        };
        let entry = if self.kind.class64 { 16 } else { 8 };
        let mut entries = Vec::new();
        let (mut strtab, mut strsz) = (None, None);
        for i in 0..seg.filesz / entry {
            let at = seg.offset + i * entry;
            let (tag, val) = if self.kind.class64 {
                (self.u64(at), self.u64(at + 8))
            } else {
                (self.u32(at).map(u64::from), self.u32(at + 4).map(u64::from))
            };
            let (Some(tag), Some(val)) = (tag, val) else {
                return Err("dynamic section past the end of the file".into());
            };
            match tag {
                DT_NULL => break,
                DT_STRTAB => strtab = Some(val),
                DT_STRSZ => strsz = Some(val),
                DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH => entries.push((tag, val)),
                _ => {}
            }
        }
        if entries.is_empty() {
            return Ok(dynamic);
        }
        let strtab = strtab.ok_or("dynamic section without DT_STRTAB")?;
        let start = self
            .file_offset(strtab)
            .ok_or("DT_STRTAB outside the file's loaded segments")?;
        let size = strsz.ok_or("dynamic section without DT_STRSZ")?;
        let table = usize::try_from(start)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(s, n)| self.data.get(s..s.checked_add(n)?))
            .ok_or("dynamic string table past the end of the file")?;
        for (tag, val) in entries {
            let s = usize::try_from(val)
                .ok()
                .and_then(|v| c_string(table.get(v..)?))
                .ok_or("dynamic string outside its table")?;
            match tag {
                DT_NEEDED => dynamic.needed.push(s),
                DT_SONAME => dynamic.soname = Some(s),
                DT_RPATH => dynamic.rpath = Some(s),
                _ => dynamic.runpath = Some(s),
            }
        }
        Ok(dynamic)
    }

    /// The bytes of the section called `name`, if the file has section headers and one of
    /// that name (a stripped library keeps them; only `sstrip` removes them).
    pub fn section(&self, name: &str) -> Option<&'a [u8]> {
        let class64 = self.kind.class64;
        let (shoff, shentsize, shnum, shstrndx) = if class64 {
            (self.u64(40)?, self.u16(58)?, self.u16(60)?, self.u16(62)?)
        } else {
            (
                self.u32(32)?.into(),
                self.u16(46)?,
                self.u16(48)?,
                self.u16(50)?,
            )
        };
        if shoff == 0 {
            return None;
        }
        // (name offset, file offset, size) of section `i`.
        let header = |i: u64| -> Option<(u64, u64, u64)> {
            let at = shoff.checked_add(i * u64::from(shentsize))?;
            if class64 {
                Some((self.u32(at)?.into(), self.u64(at + 24)?, self.u64(at + 32)?))
            } else {
                Some((
                    self.u32(at)?.into(),
                    self.u32(at + 16)?.into(),
                    self.u32(at + 20)?.into(),
                ))
            }
        };
        let (_, names_at, names_len) = header(shstrndx.into())?;
        let names = self.bytes(names_at, names_len)?;
        (0..u64::from(shnum)).find_map(|i| {
            let (name_at, at, len) = header(i)?;
            let this = c_string(names.get(usize::try_from(name_at).ok()?..)?)?;
            (this == name).then(|| self.bytes(at, len)).flatten()
        })
    }

    /// The file offset of virtual address `addr`, through the segment that loads it.
    fn file_offset(&self, addr: u64) -> Option<u64> {
        self.segments
            .iter()
            .filter(|s| s.kind == PT_LOAD)
            .find(|s| addr >= s.vaddr && addr - s.vaddr < s.filesz)
            .map(|s| s.offset + (addr - s.vaddr))
    }

    fn bytes(&self, at: u64, len: u64) -> Option<&'a [u8]> {
        let at = usize::try_from(at).ok()?;
        let len = usize::try_from(len).ok()?;
        self.data.get(at..at.checked_add(len)?)
    }

    fn array<const N: usize>(&self, at: u64) -> Option<[u8; N]> {
        self.bytes(at, N as u64)?.try_into().ok()
    }

    fn u16(&self, at: u64) -> Option<u16> {
        let b = self.array(at)?;
        Some(if self.kind.little_endian {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: u64) -> Option<u32> {
        let b = self.array(at)?;
        Some(if self.kind.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn u64(&self, at: u64) -> Option<u64> {
        let b = self.array(at)?;
        Some(if self.kind.little_endian {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
}

/// The NUL-terminated string at the start of `bytes` (lossy UTF-8), or `None` without a NUL.
fn c_string(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test program itself: a real ELF file of the build's kind, with a dynamic
    /// section that needs libc.
    fn own_binary() -> Vec<u8> {
        std::fs::read(std::env::current_exe().unwrap()).unwrap()
    }

    #[test]
    fn reads_its_own_executable() {
        let data = own_binary();
        let elf = Elf::parse(&data).unwrap();
        assert_eq!(elf.kind.class64, cfg!(target_pointer_width = "64"));
        assert_eq!(elf.kind.little_endian, cfg!(target_endian = "little"));
        let dynamic = elf.dynamic().unwrap();
        assert!(
            dynamic.needed.iter().any(|n| n.starts_with("libc.so.")),
            "{:?}",
            dynamic.needed
        );
        assert!(elf.section(".rodata").is_some());
        assert!(elf.section(".no-such-section").is_none());
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let data = own_binary();
        assert_eq!(Elf::parse(b"#!/bin/sh\n").err().unwrap(), "not an ELF file");
        // Every truncation of the first 8 KiB parses to an error or to something; none
        // panics (the program headers and dynamic section lie past most of the cuts).
        for len in (0..8192.min(data.len())).step_by(7) {
            if let Ok(elf) = Elf::parse(&data[..len]) {
                let _ = elf.dynamic();
                let _ = elf.section(".rodata");
            }
        }
        // Offsets pointing anywhere: errors, never panics.
        let mut bad = data[..4096.min(data.len())].to_vec();
        for b in bad.iter_mut().skip(24).take(40) {
            *b = 0xff;
        }
        if let Ok(elf) = Elf::parse(&bad) {
            let _ = elf.dynamic();
            let _ = elf.section(".rodata");
        }
    }
}
