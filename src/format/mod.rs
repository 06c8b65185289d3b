//! The two wire formats of a physmap section, format detection, and conversion.
//!
//! * [`kv`]: XENSTORE_KV, the data of libxl's EMULATOR_XENSTORE_DATA record (Xen >= 4.6).
//! * [`legacy`]: LEGACY_V1, libxl 4.2-4.5's toolstack chunk, in its x86_64 or 32-bit layout.

pub mod kv;
pub mod legacy;

use crate::error::SectionError;
use crate::record::{Section, MAX_SECTION_BYTES};
use legacy::Layout;
use std::fmt;
use std::str::FromStr;

/// A section's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `key\0value\0` pairs (EMULATOR_XENSTORE_DATA, Xen >= 4.6).
    XenstoreKv,
    /// Toolstack chunk of libxl 4.2-4.5 written by an x86_64 toolstack.
    LegacyV1,
    /// The same, written by a 32-bit toolstack.
    LegacyV1_32,
}

impl Format {
    /// Short name used on the command line and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Format::XenstoreKv => "kv",
            Format::LegacyV1 => "legacy",
            Format::LegacyV1_32 => "legacy32",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kv" => Ok(Format::XenstoreKv),
            "legacy" => Ok(Format::LegacyV1),
            "legacy32" => Ok(Format::LegacyV1_32),
            _ => Err(format!(
                "unknown format `{s}`; expected kv, legacy or legacy32"
            )),
        }
    }
}

/// Encodes `section` in `format`.
pub fn encode(section: &Section, format: Format) -> Vec<u8> {
    match format {
        Format::XenstoreKv => kv::encode(section),
        Format::LegacyV1 => legacy::encode(section, Layout::X86_64),
        Format::LegacyV1_32 => legacy::encode(section, Layout::X86_32),
    }
}

/// Decodes and validates `bytes` in `format`, or detects the format when it is `None`.
/// Returns the format the bytes were decoded as. Empty input is an empty section in the
/// key/value format (libxl writes no record at all when there is nothing to carry).
pub fn decode(bytes: &[u8], format: Option<Format>) -> Result<(Format, Section), SectionError> {
    let section = match format {
        None if bytes.is_empty() => return Ok((Format::XenstoreKv, Section::default())),
        None => match family(bytes)? {
            Family::Kv => (Format::XenstoreKv, kv::decode(bytes)?),
            Family::Legacy => decode_legacy_any_layout(bytes)?,
        },
        Some(Format::XenstoreKv) => (Format::XenstoreKv, kv::decode(bytes)?),
        Some(Format::LegacyV1) => (Format::LegacyV1, legacy::decode(bytes, Layout::X86_64)?),
        Some(Format::LegacyV1_32) => (Format::LegacyV1_32, legacy::decode(bytes, Layout::X86_32)?),
    };
    Ok(section)
}

/// Tells the formats apart (and for a legacy chunk, its layout) without judging the rest.
///
/// A key/value section starts with a key (`physmap/...`, printable ASCII); a legacy chunk
/// starts with its little-endian `u32` version, whose upper three bytes are zero. The two
/// never overlap. A legacy chunk's layout is the one it decodes in (see
/// [`decode_legacy_any_layout`]); a chunk valid in neither is reported as x86_64, the layout
/// of nearly every toolstack that wrote one, and decoding it then says what is wrong.
pub fn detect(bytes: &[u8]) -> Result<Format, SectionError> {
    match family(bytes)? {
        Family::Kv => Ok(Format::XenstoreKv),
        Family::Legacy => match decode_legacy_any_layout(bytes) {
            Ok((format, _)) => Ok(format),
            Err(SectionError::AmbiguousLayout) => Err(SectionError::AmbiguousLayout),
            Err(_) => Ok(Format::LegacyV1),
        },
    }
}

enum Family {
    Kv,
    Legacy,
}

fn family(bytes: &[u8]) -> Result<Family, SectionError> {
    check_section_len(bytes)?;
    match bytes {
        [first, ..] if (0x20..0x7f).contains(first) => Ok(Family::Kv),
        [first, 0, 0, 0, ..] if *first != 0 => Ok(Family::Legacy),
        _ => Err(SectionError::UnknownFormat {
            prefix: bytes
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        }),
    }
}

/// A legacy chunk valid in exactly one layout is that one; valid in both with different
/// records (possible only for crafted input) is refused as ambiguous; valid in neither gets
/// the x86_64 error. A chunk with no records reads the same in both and is x86_64.
fn decode_legacy_any_layout(bytes: &[u8]) -> Result<(Format, Section), SectionError> {
    match (
        legacy::decode(bytes, Layout::X86_64),
        legacy::decode(bytes, Layout::X86_32),
    ) {
        (Ok(wide), Ok(narrow)) if wide == narrow => Ok((Format::LegacyV1, wide)),
        (Ok(_), Ok(_)) => Err(SectionError::AmbiguousLayout),
        (Ok(section), Err(_)) => Ok((Format::LegacyV1, section)),
        (Err(_), Ok(section)) => Ok((Format::LegacyV1_32, section)),
        (Err(e), Err(_)) => Err(e),
    }
}

/// Re-encodes a section from one format (or a detected one, when `from` is `None`) into
/// another, validating it on the way.
pub fn convert(bytes: &[u8], from: Option<Format>, to: Format) -> Result<Vec<u8>, SectionError> {
    let (_, section) = decode(bytes, from)?;
    Ok(encode(&section, to))
}

/// The 1 MiB limit, checked before any parsing.
fn check_section_len(bytes: &[u8]) -> Result<(), SectionError> {
    if bytes.len() > MAX_SECTION_BYTES {
        return Err(SectionError::SectionTooLarge {
            len: bytes.len(),
            max: MAX_SECTION_BYTES,
        });
    }
    Ok(())
}
