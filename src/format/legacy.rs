//! LEGACY_V1: the "toolstack" chunk of libxl 4.2-4.5 (`libxl__toolstack_save`), carried by
//! libxc as `XC_SAVE_ID_TOOLSTACK` and decoded by Xen's `convert-legacy-stream`.
//!
//! Host byte order (little-endian on x86):
//!
//! ```text
//! u32 version (= 1), u32 count, then count times:
//!   u64 phys_offset, u64 start_addr, u64 size, u32 namelen, name[namelen], padding
//! ```
//!
//! libxl copied `struct libxl__physmap_info` whose `name` is a flexible array: the name starts
//! at offset 28, but each record is `sizeof(struct) + namelen` long — 32 + namelen on x86_64
//! (4 trailing bytes the compiler pads the struct with, never initialised by libxl) and
//! 28 + namelen for a 32-bit toolstack. `namelen` counts the name's NUL; 0 means no name.
//! The encoder zeroes the padding; the decoder ignores its content.

use crate::error::{Location, SectionError};
use crate::record::{PhysmapRecord, RecordName, Section, MAX_RECORDS};

/// `TOOLSTACK_SAVE_VERSION` in libxl 4.5.
pub const VERSION: u32 = 1;
/// `u32 version` + `u32 count`.
const HEADER_LEN: usize = 8;
/// The fixed part of a record up to the name: three u64 and `namelen`.
const FIXED_LEN: usize = 28;

/// Which C ABI wrote the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// x86_64: `sizeof(struct libxl__physmap_info)` is 32; 4 padding bytes follow the name.
    X86_64,
    /// i386: the struct is 28 bytes; nothing follows the name.
    X86_32,
}

impl Layout {
    /// Bytes that follow the name of each record.
    fn padding(self) -> usize {
        match self {
            Layout::X86_64 => 4,
            Layout::X86_32 => 0,
        }
    }
}

/// Encodes `section`, with zeroed padding.
pub fn encode(section: &Section, layout: Layout) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + section.len() * (FIXED_LEN + 4 + 16));
    out.extend_from_slice(&VERSION.to_le_bytes());
    // A Section holds at most MAX_RECORDS records.
    out.extend_from_slice(&(section.len() as u32).to_le_bytes());
    for r in section.records() {
        out.extend_from_slice(&r.phys_offset.to_le_bytes());
        out.extend_from_slice(&r.start_addr.to_le_bytes());
        out.extend_from_slice(&r.size.to_le_bytes());
        match &r.name {
            Some(name) => {
                let namelen = name.as_str().len() as u32 + 1; // <= 256
                out.extend_from_slice(&namelen.to_le_bytes());
                out.extend_from_slice(name.as_str().as_bytes());
                out.push(0);
            }
            None => out.extend_from_slice(&0u32.to_le_bytes()),
        }
        out.resize(out.len() + layout.padding(), 0);
    }
    out
}

/// Decodes and validates a whole LEGACY_V1 section in the given layout.
pub fn decode(bytes: &[u8], layout: Layout) -> Result<Section, SectionError> {
    super::check_section_len(bytes)?;
    if bytes.len() < HEADER_LEN {
        return Err(SectionError::Truncated {
            at: Location::Byte(0),
            expected: "the version and count header",
            needed: HEADER_LEN,
            available: bytes.len(),
        });
    }
    let version = read_u32(bytes, 0);
    if version != VERSION {
        return Err(SectionError::UnsupportedVersion {
            at: Location::Byte(0),
            found: version,
        });
    }
    let count = read_u32(bytes, 4);
    if count as usize > MAX_RECORDS {
        return Err(SectionError::TooManyRecords {
            at: Location::Byte(4),
            max: MAX_RECORDS,
        });
    }
    // Check the count against the length before trusting it for anything (u64: no overflow).
    let min_record = (FIXED_LEN + layout.padding()) as u64;
    let needed = HEADER_LEN as u64 + u64::from(count) * min_record;
    if needed > bytes.len() as u64 {
        return Err(SectionError::CountPastEnd {
            at: Location::Byte(4),
            count,
            needed,
            available: bytes.len(),
        });
    }

    let mut located = Vec::with_capacity(count as usize);
    let mut pos = HEADER_LEN;
    for _ in 0..count {
        let start = pos;
        if bytes.len() - start < FIXED_LEN {
            return Err(SectionError::Truncated {
                at: Location::Byte(start),
                expected: "a record header",
                needed: FIXED_LEN,
                available: bytes.len() - start,
            });
        }
        let phys_offset = read_u64(bytes, start);
        let start_addr = read_u64(bytes, start + 8);
        let size = read_u64(bytes, start + 16);
        let namelen = read_u32(bytes, start + 24);
        let name_start = start + FIXED_LEN;
        let after_header = bytes.len() - name_start;
        if namelen as usize > after_header {
            return Err(SectionError::NameLenPastEnd {
                at: Location::Byte(start + 24),
                namelen,
                available: after_header,
            });
        }
        let name_end = name_start + namelen as usize;
        if bytes.len() - name_end < layout.padding() {
            return Err(SectionError::Truncated {
                at: Location::Byte(name_end),
                expected: "the record's padding after the name",
                needed: layout.padding(),
                available: bytes.len() - name_end,
            });
        }
        let name = match &bytes[name_start..name_end] {
            [] => None,
            [text @ .., last] => {
                if *last != 0 {
                    return Err(SectionError::NameNotTerminated {
                        at: Location::Byte(name_end - 1),
                        found: *last,
                    });
                }
                if let Some(i) = text.iter().position(|&b| b == 0) {
                    return Err(SectionError::NameContainsNul {
                        at: Location::Byte(name_start + i),
                    });
                }
                Some(RecordName::check(text, || Location::Byte(name_start))?)
            }
        };
        located.push((
            PhysmapRecord {
                phys_offset,
                start_addr,
                size,
                name,
            },
            start,
        ));
        pos = name_end + layout.padding();
    }
    if pos != bytes.len() {
        return Err(SectionError::TrailingBytes {
            at: Location::Byte(pos),
            count: bytes.len() - pos,
        });
    }
    Section::from_located(located, |_, &start| Location::Byte(start))
}

fn read_u32(bytes: &[u8], pos: usize) -> u32 {
    u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8], pos: usize) -> u64 {
    u64::from_le_bytes(bytes[pos..pos + 8].try_into().expect("8 bytes"))
}
