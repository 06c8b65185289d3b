//! The record model: one physmap mapping, and a validated, ordered section of them.
//!
//! Every rule that does not depend on a wire format lives here, so that both decoders and the
//! xenstore reader apply exactly the same checks. A [`Section`] can only be built through
//! [`Section::new`] (or the crate-internal located variant), so holding one means holding
//! records that passed every rule: the encoders never have to re-check.

use crate::error::{Location, SectionError};
use std::fmt;

/// More records than this are refused. A guest has one (the VGA framebuffer), rarely a few.
pub const MAX_RECORDS: usize = 1024;
/// Sections larger than this are refused before any parsing.
pub const MAX_SECTION_BYTES: usize = 1 << 20;
/// Longest accepted region name, in bytes, without its terminating NUL.
pub const MAX_NAME_LEN: usize = 255;
/// QEMU relocates whole pages: every address and size is a multiple of this.
pub const PAGE_SIZE: u64 = 4096;

/// The name QEMU gives a memory region (`vga.vram`, ...): printable ASCII, at most 255 bytes.
///
/// A newtype so that a name held in a record is known to be valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordName(String);

impl RecordName {
    /// Checks `bytes` (without any NUL terminator) against the name rules.
    pub fn new(bytes: &[u8], at: Location) -> Result<Self, SectionError> {
        Self::check(bytes, || at)
    }

    /// [`RecordName::new`], building the location only when there is an error: decoders
    /// call this for every record, and a valid one should cost no allocation.
    pub(crate) fn check(bytes: &[u8], at: impl FnOnce() -> Location) -> Result<Self, SectionError> {
        if bytes.len() > MAX_NAME_LEN {
            return Err(SectionError::NameTooLong {
                at: at(),
                len: bytes.len(),
                max: MAX_NAME_LEN,
            });
        }
        if let Some(index) = bytes.iter().position(|b| !(0x20..=0x7e).contains(b)) {
            return Err(SectionError::NameNotPrintable {
                at: at(),
                index,
                byte: bytes[index],
            });
        }
        // Printable ASCII is valid UTF-8.
        Ok(RecordName(
            String::from_utf8(bytes.to_vec()).expect("ASCII"),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One mapping of a RAM-backed region into guest-physical space, as QEMU records it under
/// `.../device-model/<domid>/physmap/<phys_offset>/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhysmapRecord {
    /// Offset of the region in QEMU's RAM (the key of the xenstore directory).
    pub phys_offset: u64,
    /// Guest-physical address the guest mapped the region at.
    pub start_addr: u64,
    /// Length of the mapping in bytes.
    pub size: u64,
    /// Region name; QEMU writes it only for named regions.
    pub name: Option<RecordName>,
}

impl PhysmapRecord {
    /// First guest-physical address after the mapping (valid records cannot overflow).
    pub fn end_addr(&self) -> u64 {
        self.start_addr + self.size
    }

    /// Per-record rules: non-zero size, page alignment, no 64-bit overflow.
    fn check(&self, at: impl Fn() -> Location) -> Result<(), SectionError> {
        if self.size == 0 {
            return Err(SectionError::ZeroSize { at: at() });
        }
        for (field, value) in [
            ("phys_offset", self.phys_offset),
            ("start_addr", self.start_addr),
            ("size", self.size),
        ] {
            if value % PAGE_SIZE != 0 {
                return Err(SectionError::Unaligned {
                    at: at(),
                    field,
                    value,
                });
            }
        }
        for (field, base) in [
            ("start_addr", self.start_addr),
            ("phys_offset", self.phys_offset),
        ] {
            if base.checked_add(self.size).is_none() {
                return Err(SectionError::RangeOverflow {
                    at: at(),
                    field,
                    base,
                    size: self.size,
                });
            }
        }
        Ok(())
    }
}

/// All physmap records of one domain: validated, sorted by `phys_offset`, so the same
/// xenstore content always encodes to the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    records: Vec<PhysmapRecord>,
}

impl Section {
    /// Validates `records` (given in any order) and sorts them.
    pub fn new(records: Vec<PhysmapRecord>) -> Result<Self, SectionError> {
        Self::from_located(records.into_iter().map(|r| (r, ())).collect(), |r, ()| {
            Location::Record {
                phys_offset: r.phys_offset,
            }
        })
    }

    /// Like [`Section::new`], for records that came from somewhere: `locate` turns a record
    /// and what the caller kept of its origin (a byte offset, a path) into the location an
    /// error names. It runs only for the record at fault.
    pub(crate) fn from_located<T>(
        mut located: Vec<(PhysmapRecord, T)>,
        locate: impl Fn(&PhysmapRecord, &T) -> Location,
    ) -> Result<Self, SectionError> {
        if let Some((r, origin)) = located.get(MAX_RECORDS) {
            return Err(SectionError::TooManyRecords {
                at: locate(r, origin),
                max: MAX_RECORDS,
            });
        }
        for (record, origin) in &located {
            record.check(|| locate(record, origin))?;
        }
        // A stable sort keeps input order among equal keys, so the error names the later one.
        located.sort_by_key(|(r, _)| r.phys_offset);
        if let Some(pair) = located
            .windows(2)
            .find(|w| w[0].0.phys_offset == w[1].0.phys_offset)
        {
            let (later, origin) = &pair[1];
            return Err(SectionError::DuplicateRecord {
                at: locate(later, origin),
                phys_offset: later.phys_offset,
            });
        }
        let mut by_start: Vec<&(PhysmapRecord, T)> = located.iter().collect();
        by_start.sort_by_key(|(r, _)| r.start_addr);
        if let Some(pair) = by_start
            .windows(2)
            .find(|w| w[0].0.end_addr() > w[1].0.start_addr)
        {
            let (earlier, (later, origin)) = (&pair[0].0, pair[1]);
            return Err(SectionError::Overlap {
                at: locate(later, origin),
                start: later.start_addr,
                end: later.end_addr(),
                other_phys_offset: earlier.phys_offset,
                other_start: earlier.start_addr,
                other_end: earlier.end_addr(),
            });
        }
        Ok(Section {
            records: located.into_iter().map(|(r, _)| r).collect(),
        })
    }

    /// The records, ordered by `phys_offset`.
    pub fn records(&self) -> &[PhysmapRecord] {
        &self.records
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Parses a number the way QEMU writes it (`PRIx64`): 1 to 16 lowercase hex digits, no `0x`,
/// no leading zeros. Being strict makes the text form unique, so `physmap/f0000/` and
/// `physmap/0f0000/` can never name the same record twice.
///
/// `at` builds the error's location; it is called only on error.
pub fn parse_hex(
    text: &[u8],
    field: &'static str,
    at: impl FnOnce() -> Location,
) -> Result<u64, SectionError> {
    let canonical = (1..=16).contains(&text.len())
        && text
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && (text.len() == 1 || text[0] != b'0');
    if !canonical {
        return Err(SectionError::BadNumber {
            at: at(),
            field,
            found: String::from_utf8_lossy(text).into_owned(),
        });
    }
    let mut value = 0u64;
    for &b in text {
        let digit = if b.is_ascii_digit() {
            b - b'0'
        } else {
            b - b'a' + 10
        };
        value = (value << 4) | u64::from(digit);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(phys_offset: u64, start_addr: u64, size: u64) -> PhysmapRecord {
        PhysmapRecord {
            phys_offset,
            start_addr,
            size,
            name: None,
        }
    }

    #[test]
    fn parse_hex_accepts_only_qemu_form() {
        let at = || || Location::Byte(0);
        assert_eq!(parse_hex(b"0", "size", at()), Ok(0));
        assert_eq!(parse_hex(b"f0000000", "size", at()), Ok(0xf000_0000));
        assert_eq!(parse_hex(b"ffffffffffffffff", "size", at()), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"0x10",
            b"F0",
            b"010",
            b"1ffffffffffffffff",
            b"12 ",
            b"-1",
        ] {
            assert!(parse_hex(bad, "size", at()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn section_sorts_by_phys_offset() {
        let s = Section::new(vec![
            rec(0x3000, 0x30000, 0x1000),
            rec(0x1000, 0x10000, 0x1000),
            rec(0x2000, 0x20000, 0x1000),
        ])
        .unwrap();
        let offsets: Vec<u64> = s.records().iter().map(|r| r.phys_offset).collect();
        assert_eq!(offsets, [0x1000, 0x2000, 0x3000]);
    }

    #[test]
    fn adjacent_ranges_do_not_overlap() {
        Section::new(vec![rec(0, 0x1000, 0x1000), rec(0x1000, 0x2000, 0x1000)]).unwrap();
        let err =
            Section::new(vec![rec(0, 0x1000, 0x2000), rec(0x4000, 0x2000, 0x1000)]).unwrap_err();
        assert!(matches!(err, SectionError::Overlap { .. }), "{err}");
    }
}
