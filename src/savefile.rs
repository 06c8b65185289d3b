//! Walking an `xl save` file: the xl header, the libxl v2 stream, and the libxc stream that
//! a LIBXC_CONTEXT record is followed by, to find the EMULATOR_XENSTORE_DATA records.
//!
//! The walk reads headers and small record bodies only and seeks over everything else, so a
//! multi-GiB savefile is inspected in constant memory. Layouts: `tools/xl/xl.h` and
//! `tools/xl/xl_saverestore.c` (xl header), `docs/specs/libxl-migration-stream.pandoc` and
//! `docs/specs/libxc-migration-stream.pandoc` in xen-project/xen.

use crate::record::MAX_SECTION_BYTES;
use std::io::{self, BufReader, Read, Seek};

/// `savefileheader_magic` in `tools/xl/xl_saverestore.c`.
pub const XL_MAGIC: &[u8; 32] = b"Xen saved domain, xl format\n \0 \r";
/// `SAVEFILE_BYTEORDER_VALUE`, written in the writer's byte order.
const XL_BYTEORDER: u32 = 0x0102_0304;
/// `XL_MANDATORY_FLAG_JSON | XL_MANDATORY_FLAG_STREAMv2`: any other bit means "refuse".
const XL_MANDATORY_KNOWN: u32 = 0b11;
const XL_MANDATORY_STREAM_V2: u32 = 0b10;
/// "LibxlFmt", big-endian.
const LIBXL_IDENT: u64 = 0x4c69_6278_6c46_6d74;
const LIBXC_MARKER: u64 = u64::MAX;
/// "XENF".
const LIBXC_ID: u32 = 0x5845_4e46;
/// Record types with this bit may be skipped by a reader that does not know them.
const OPTIONAL: u32 = 0x8000_0000;

/// libxl stream record types.
pub const REC_END: u32 = 0;
pub const REC_LIBXC_CONTEXT: u32 = 1;
pub const REC_EMULATOR_XENSTORE_DATA: u32 = 2;

/// Largest EMULATOR_XENSTORE_DATA body read into memory: a section plus its sub-header.
const MAX_EMULATOR_BODY: u32 = MAX_SECTION_BYTES as u32 + 8;

/// A savefile that is not what the specifications describe.
#[derive(Debug, thiserror::Error)]
pub enum SavefileError {
    #[error("byte offset {offset}: {message}")]
    Invalid { offset: u64, message: String },
    #[error("byte offset {offset}: truncated: expected {expected} ({needed} bytes), {available} bytes left before the end of the file")]
    Truncated {
        offset: u64,
        expected: String,
        needed: u64,
        available: u64,
    },
    #[error("read error: {}", crate::error::Reason(.0))]
    Io(#[from] io::Error),
}

/// Which stream a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Libxl,
    Libxc,
}

/// One record of either stream, as met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInfo {
    /// Byte offset of the record header in the file.
    pub offset: u64,
    pub layer: Layer,
    pub rec_type: u32,
    pub length: u32,
}

impl RecordInfo {
    /// The specification's name of the record type.
    pub fn type_name(&self) -> &'static str {
        let names: &[&str] = match self.layer {
            Layer::Libxl => &[
                "END",
                "LIBXC_CONTEXT",
                "EMULATOR_XENSTORE_DATA",
                "EMULATOR_CONTEXT",
                "CHECKPOINT_END",
                "CHECKPOINT_STATE",
            ],
            Layer::Libxc => &[
                "END",
                "PAGE_DATA",
                "X86_PV_INFO",
                "X86_PV_P2M_FRAMES",
                "X86_PV_VCPU_BASIC",
                "X86_PV_VCPU_EXTENDED",
                "X86_PV_VCPU_XSAVE",
                "SHARED_INFO",
                "X86_TSC_INFO",
                "HVM_CONTEXT",
                "HVM_PARAMS",
                "TOOLSTACK",
                "X86_PV_VCPU_MSRS",
                "VERIFY",
                "CHECKPOINT",
                "CHECKPOINT_DIRTY_PFN_LIST",
                "STATIC_DATA_END",
                "X86_CPUID_POLICY",
                "X86_MSR_POLICY",
            ],
        };
        names
            .get(self.rec_type as usize)
            .copied()
            .unwrap_or("unknown (optional)")
    }
}

/// The fixed part of the xl header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlHeader {
    pub mandatory_flags: u32,
    pub optional_flags: u32,
    pub optional_data_len: u32,
}

/// An EMULATOR_XENSTORE_DATA record: its sub-header and the section it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorXenstoreData {
    /// Byte offset of the record header in the file.
    pub offset: u64,
    /// 0 unknown (converted legacy stream), 1 qemu-traditional, 2 qemu-upstream.
    pub emulator_id: u32,
    pub index: u32,
    /// The XENSTORE_KV section (what a save hook produced).
    pub data: Vec<u8>,
    /// Byte offset of `data` in the file, for locating errors.
    pub data_offset: u64,
}

/// What a walk found besides the records it reported one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Savefile {
    pub header: XlHeader,
    pub libxl_version: u32,
    pub emulator_xenstore: Vec<EmulatorXenstoreData>,
}

/// Walks the whole savefile in `file`, calling `on_record` for every record of both streams.
pub fn walk<R: Read + Seek>(
    file: R,
    mut on_record: impl FnMut(&RecordInfo),
) -> Result<Savefile, SavefileError> {
    let mut s = Reader::new(file)?;

    let magic = s.bytes(32, "the xl savefile magic")?;
    if magic != XL_MAGIC {
        return Err(s.invalid_at(0, "not an xl savefile (bad magic)".into()));
    }
    let byteorder = s.u32_le("the xl header byte order")?;
    if byteorder != XL_BYTEORDER {
        let message = if byteorder == XL_BYTEORDER.swap_bytes() {
            "written by a big-endian host: not supported".to_string()
        } else {
            format!("byte order marker is {byteorder:#010x}; expected 0x01020304")
        };
        return Err(s.invalid_at(32, message));
    }
    let header = XlHeader {
        mandatory_flags: s.u32_le("the xl mandatory flags")?,
        optional_flags: s.u32_le("the xl optional flags")?,
        optional_data_len: s.u32_le("the xl optional data length")?,
    };
    if header.mandatory_flags & !XL_MANDATORY_KNOWN != 0 {
        return Err(s.invalid_at(
            36,
            format!("unknown mandatory flags {:#x}", header.mandatory_flags),
        ));
    }
    if header.mandatory_flags & XL_MANDATORY_STREAM_V2 == 0 {
        return Err(s.invalid_at(
            36,
            "a libxl stream v1 (Xen < 4.6): convert it with convert-legacy-stream first".into(),
        ));
    }
    s.skip(
        u64::from(header.optional_data_len),
        "the xl optional data (domain config)",
    )?;

    let stream_start = s.offset;
    let ident = s.u64_be("the libxl stream ident")?;
    if ident != LIBXL_IDENT {
        return Err(s.invalid_at(stream_start, "no libxl stream header (\"LibxlFmt\")".into()));
    }
    let libxl_version = s.u32_be("the libxl stream version")?;
    if libxl_version != 2 {
        return Err(s.invalid_at(
            stream_start + 8,
            format!("libxl stream version {libxl_version}; expected 2"),
        ));
    }
    let options = s.u32_be("the libxl stream options")?;
    if options & 1 != 0 {
        return Err(s.invalid_at(
            stream_start + 12,
            "big-endian libxl stream: not supported".into(),
        ));
    }

    let mut emulator_xenstore = Vec::new();
    loop {
        let info = s.record_header(Layer::Libxl)?;
        on_record(&info);
        match info.rec_type {
            REC_END => {
                s.end_padding(&info)?;
                break;
            }
            REC_LIBXC_CONTEXT => {
                s.end_padding(&info)?;
                walk_libxc(&mut s, &mut on_record)?;
            }
            REC_EMULATOR_XENSTORE_DATA => {
                if info.length < 8 || info.length > MAX_EMULATOR_BODY {
                    return Err(s.invalid_at(
                        info.offset + 4,
                        format!(
                            "EMULATOR_XENSTORE_DATA length {}; expected 8 to {MAX_EMULATOR_BODY}",
                            info.length
                        ),
                    ));
                }
                let emulator_id = s.u32_le("the emulator id")?;
                let index = s.u32_le("the emulator index")?;
                let data_offset = s.offset;
                let data = s.bytes(info.length as usize - 8, "the emulator xenstore data")?;
                s.end_padding(&info)?;
                emulator_xenstore.push(EmulatorXenstoreData {
                    offset: info.offset,
                    emulator_id,
                    index,
                    data,
                    data_offset,
                });
            }
            3..=5 => s.skip_body(&info)?,
            t if t & OPTIONAL != 0 => s.skip_body(&info)?,
            t => return Err(s.invalid_at(info.offset, format!("unknown libxl record type {t:#x}"))),
        }
    }
    if s.offset != s.len {
        return Err(s.invalid_at(
            s.offset,
            format!("{} bytes after the END record", s.len - s.offset),
        ));
    }
    Ok(Savefile {
        header,
        libxl_version,
        emulator_xenstore,
    })
}

/// The libxc stream inside a LIBXC_CONTEXT record: image header, domain header, records
/// up to its END.
fn walk_libxc<R: Read + Seek>(
    s: &mut Reader<R>,
    on_record: &mut impl FnMut(&RecordInfo),
) -> Result<(), SavefileError> {
    let start = s.offset;
    if s.u64_be("the libxc image header marker")? != LIBXC_MARKER
        || s.u32_be("the libxc image id")? != LIBXC_ID
    {
        return Err(s.invalid_at(start, "no libxc image header after LIBXC_CONTEXT".into()));
    }
    let version = s.u32_be("the libxc stream version")?;
    if !(2..=3).contains(&version) {
        return Err(s.invalid_at(
            start + 12,
            format!("libxc stream version {version}; expected 2 or 3"),
        ));
    }
    let options = s.bytes(2, "the libxc options")?;
    if u16::from_be_bytes([options[0], options[1]]) & 1 != 0 {
        return Err(s.invalid_at(start + 16, "big-endian libxc stream: not supported".into()));
    }
    s.skip(6, "the libxc image header")?;
    s.skip(16, "the libxc domain header")?;
    loop {
        let info = s.record_header(Layer::Libxc)?;
        on_record(&info);
        let known = info.rec_type <= 0x12 || info.rec_type & OPTIONAL != 0;
        if !known {
            return Err(s.invalid_at(
                info.offset,
                format!("unknown libxc record type {:#x}", info.rec_type),
            ));
        }
        s.skip_body(&info)?;
        if info.rec_type == REC_END {
            return Ok(());
        }
    }
}

/// A reader that knows its byte offset and the file length, so that every truncation and
/// skip past the end is reported where it happens.
struct Reader<R> {
    inner: BufReader<R>,
    offset: u64,
    len: u64,
}

impl<R: Read + Seek> Reader<R> {
    fn new(mut file: R) -> io::Result<Self> {
        let len = file.seek(io::SeekFrom::End(0))?;
        file.rewind()?;
        Ok(Reader {
            inner: BufReader::new(file),
            offset: 0,
            len,
        })
    }

    fn invalid_at(&self, offset: u64, message: String) -> SavefileError {
        SavefileError::Invalid { offset, message }
    }

    fn need(&self, n: u64, what: &str) -> Result<(), SavefileError> {
        if self.len - self.offset < n {
            return Err(SavefileError::Truncated {
                offset: self.offset,
                expected: what.to_string(),
                needed: n,
                available: self.len - self.offset,
            });
        }
        Ok(())
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result<Vec<u8>, SavefileError> {
        self.need(n as u64, what)?;
        let mut buf = vec![0; n];
        self.inner.read_exact(&mut buf)?;
        self.offset += n as u64;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], SavefileError> {
        self.need(N as u64, what)?;
        let mut buf = [0; N];
        self.inner.read_exact(&mut buf)?;
        self.offset += N as u64;
        Ok(buf)
    }

    fn u32_le(&mut self, what: &str) -> Result<u32, SavefileError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u32_be(&mut self, what: &str) -> Result<u32, SavefileError> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn u64_be(&mut self, what: &str) -> Result<u64, SavefileError> {
        self.array(what).map(u64::from_be_bytes)
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), SavefileError> {
        self.need(n, what)?;
        self.inner.seek_relative(n as i64)?;
        self.offset += n;
        Ok(())
    }

    /// `u32 type`, `u32 length`, in host (little-endian) order in both streams.
    fn record_header(&mut self, layer: Layer) -> Result<RecordInfo, SavefileError> {
        let offset = self.offset;
        let rec_type = self.u32_le("a record header")?;
        let length = self.u32_le("a record header")?;
        Ok(RecordInfo {
            offset,
            layer,
            rec_type,
            length,
        })
    }

    fn skip_body(&mut self, info: &RecordInfo) -> Result<(), SavefileError> {
        self.skip(u64::from(info.length), "the record body")?;
        self.end_padding(info)
    }

    /// Reads the zero padding that rounds a record up to 8 bytes, and checks it.
    fn end_padding(&mut self, info: &RecordInfo) -> Result<(), SavefileError> {
        let pad = (8 - info.length % 8) % 8;
        let at = self.offset;
        let padding = self.bytes(pad as usize, "the record padding")?;
        if let Some(i) = padding.iter().position(|&b| b != 0) {
            return Err(self.invalid_at(
                at + i as u64,
                format!("record padding byte is {:#04x}; expected 0", padding[i]),
            ));
        }
        Ok(())
    }
}
