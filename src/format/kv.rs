//! XENSTORE_KV: the data part of libxl's EMULATOR_XENSTORE_DATA record (Xen >= 4.6).
//!
//! A packed sequence of `key\0value\0` pairs, keys relative to the device-model directory:
//!
//! ```text
//! physmap/<off>/start_addr\0<hex>\0physmap/<off>/size\0<hex>\0[physmap/<off>/name\0<name>\0]
//! ```
//!
//! libxl 4.17 (`libxl__save_emulator_xenstore_data`) emits, per directory entry, the keys
//! `start_addr`, `size`, `name` in that order with the values exactly as QEMU wrote them
//! (`PRIx64`). The encoder reproduces those bytes; the decoder accepts the pairs of a record in
//! any order but only canonical numbers, and nothing outside `physmap/<hex>/{start_addr,size,
//! name}` — libxl's own restore writes *any* relative key it is given.

use crate::error::{Location, SectionError};
use crate::record::{
    parse_hex, PhysmapRecord, RecordName, Section, MAX_RECORDS, MAX_SECTION_BYTES,
};
use std::collections::BTreeMap;
use std::io::Write;

/// Encodes `section` as libxl 4.17 would for the same records in the same order.
pub fn encode(section: &Section) -> Vec<u8> {
    // 96 bytes covers a record with 8-digit numbers and a short name.
    let mut out = Vec::with_capacity(section.len() * 96);
    for r in section.records() {
        let off = r.phys_offset;
        // Writing into a Vec cannot fail.
        write!(out, "physmap/{off:x}/start_addr\0{:x}\0", r.start_addr).unwrap();
        write!(out, "physmap/{off:x}/size\0{:x}\0", r.size).unwrap();
        if let Some(name) = &r.name {
            write!(out, "physmap/{off:x}/name\0{name}\0").unwrap();
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    StartAddr,
    Size,
    Name,
}

/// The pairs seen so far for one `phys_offset`.
#[derive(Default)]
struct PartialRecord {
    /// Byte offset of the record's first key, for "record has no ..." errors.
    first_key: usize,
    start_addr: Option<u64>,
    size: Option<u64>,
    name: Option<RecordName>,
}

/// Decodes and validates a whole XENSTORE_KV section.
///
/// Error locations (which copy the key) are built only when there is an error.
pub fn decode(bytes: &[u8]) -> Result<Section, SectionError> {
    super::check_section_len(bytes)?;
    let mut partials: BTreeMap<u64, PartialRecord> = BTreeMap::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let key_offset = pos;
        let key = take_cstr(bytes, pos).ok_or(SectionError::KeyNotTerminated {
            at: Location::Byte(key_offset),
        })?;
        pos += key.len() + 1;
        let at = |offset| Location::Key {
            key: String::from_utf8_lossy(key).into_owned(),
            offset,
        };
        let (phys_offset, field) = parse_key(key, || at(key_offset))?;

        let value_offset = pos;
        let value = take_cstr(bytes, pos).ok_or_else(|| SectionError::ValueNotTerminated {
            at: at(value_offset),
        })?;
        pos += value.len() + 1;

        if !partials.contains_key(&phys_offset) && partials.len() == MAX_RECORDS {
            return Err(SectionError::TooManyRecords {
                at: at(key_offset),
                max: MAX_RECORDS,
            });
        }
        let partial = partials.entry(phys_offset).or_insert(PartialRecord {
            first_key: key_offset,
            ..PartialRecord::default()
        });
        let duplicate = match field {
            Field::StartAddr => partial.start_addr.is_some(),
            Field::Size => partial.size.is_some(),
            Field::Name => partial.name.is_some(),
        };
        if duplicate {
            return Err(SectionError::DuplicateKey { at: at(key_offset) });
        }
        let value_at = || at(value_offset);
        match field {
            Field::StartAddr => {
                partial.start_addr = Some(parse_hex(value, "start_addr", value_at)?);
            }
            Field::Size => partial.size = Some(parse_hex(value, "size", value_at)?),
            Field::Name => partial.name = Some(RecordName::check(value, value_at)?),
        }
    }

    let record_at = |phys_offset: u64, offset: usize| Location::Key {
        key: format!("physmap/{phys_offset:x}"),
        offset,
    };
    let mut located = Vec::with_capacity(partials.len());
    for (phys_offset, partial) in partials {
        let missing = |field| SectionError::MissingField {
            at: record_at(phys_offset, partial.first_key),
            field,
        };
        let record = PhysmapRecord {
            phys_offset,
            start_addr: partial.start_addr.ok_or_else(|| missing("start_addr"))?,
            size: partial.size.ok_or_else(|| missing("size"))?,
            name: partial.name,
        };
        located.push((record, partial.first_key));
    }
    Section::from_located(located, |r, &offset| record_at(r.phys_offset, offset))
}

/// The bytes from `pos` up to (not including) the next NUL, or None if there is none.
fn take_cstr(bytes: &[u8], pos: usize) -> Option<&[u8]> {
    let rest = &bytes[pos..];
    rest.iter().position(|&b| b == 0).map(|n| &rest[..n])
}

/// Splits `physmap/<hex>/<field>` into its phys_offset and field.
fn parse_key(key: &[u8], at: impl Fn() -> Location) -> Result<(u64, Field), SectionError> {
    let unexpected = || SectionError::UnexpectedKey { at: at() };
    match key.first() {
        None => return Err(SectionError::EmptyKey { at: at() }),
        Some(b'/') => return Err(SectionError::AbsoluteKey { at: at() }),
        Some(_) => {}
    }
    let rest = key.strip_prefix(b"physmap/").ok_or_else(unexpected)?;
    let slash = rest
        .iter()
        .position(|&b| b == b'/')
        .ok_or_else(unexpected)?;
    let (hex, field) = (&rest[..slash], &rest[slash + 1..]);
    let field = match field {
        b"start_addr" => Field::StartAddr,
        b"size" => Field::Size,
        b"name" => Field::Name,
        _ => return Err(unexpected()),
    };
    let phys_offset = parse_hex(hex, "phys_offset", at)?;
    Ok((phys_offset, field))
}

// Keep the limit in one place: a 1 MiB section is far above any valid encoding (1024 records
// with 255-byte names take under 400 KiB), so the encoder never produces more.
const _: () = assert!(MAX_RECORDS * (36 + 17 + 30 + 17 + 30 + 256) < MAX_SECTION_BYTES);
