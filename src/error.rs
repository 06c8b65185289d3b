//! Error types shared by the codecs, the xenstore layer and the C ABI.
//!
//! [`SectionError`] is everything that can be wrong with a section's bytes or with the records
//! found in xenstore: each variant carries a [`Location`] so that a rejected restore can say
//! *where* the input is wrong. [`Error`] adds the failures of the environment (xenstore,
//! arguments, memory, and the target domain in a `domain-checks` build); `src/ffi.rs` maps
//! each of its variants to one `PHYSMAP_E_*` code.

use std::fmt;
use std::io;

/// Where in the input a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A byte offset into the section being decoded.
    Byte(usize),
    /// A byte offset into a XENSTORE_KV section, inside or at the start of `key`'s pair.
    Key { key: String, offset: usize },
    /// A node of a live xenstore (records read by the save hook).
    Path(String),
    /// A record given to [`crate::Section::new`] by Rust code.
    Record { phys_offset: u64 },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Byte(offset) => write!(f, "byte offset {offset}"),
            Location::Key { key, offset } => write!(f, "byte offset {offset} (key `{key}`)"),
            Location::Path(path) => write!(f, "xenstore node `{path}`"),
            Location::Record { phys_offset } => write!(f, "record phys_offset {phys_offset:#x}"),
        }
    }
}

/// A section (or the xenstore content it is made from) that breaks a format or validation rule.
///
/// The rules are listed in the README ("Validation rules"); each variant is one of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    #[error("section is {len} bytes; the limit is {max} bytes")]
    SectionTooLarge { len: usize, max: usize },
    #[error("{at}: more than {max} records")]
    TooManyRecords { at: Location, max: usize },
    #[error("{at}: truncated: expected {expected} ({needed} bytes), found {available} bytes")]
    Truncated {
        at: Location,
        expected: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("{at}: {count} trailing bytes after the last record")]
    TrailingBytes { at: Location, count: usize },
    #[error("{at}: legacy section version is {found}; expected 1")]
    UnsupportedVersion { at: Location, found: u32 },
    #[error(
        "{at}: record count {count} needs at least {needed} bytes; the section has {available}"
    )]
    CountPastEnd {
        at: Location,
        count: u32,
        needed: u64,
        available: usize,
    },
    #[error("{at}: name length {namelen} runs past the end of the section ({available} bytes remain after the record header)")]
    NameLenPastEnd {
        at: Location,
        namelen: u32,
        available: usize,
    },
    #[error(
        "{at}: name is not NUL-terminated: expected 0x00 as its last byte, found {found:#04x}"
    )]
    NameNotTerminated { at: Location, found: u8 },
    #[error("{at}: name has a NUL byte before its end")]
    NameContainsNul { at: Location },
    #[error("{at}: key is not NUL-terminated before the end of the section")]
    KeyNotTerminated { at: Location },
    #[error("{at}: value is not NUL-terminated before the end of the section")]
    ValueNotTerminated { at: Location },
    #[error("{at}: empty key")]
    EmptyKey { at: Location },
    #[error("{at}: absolute key; keys are relative to the device-model directory")]
    AbsoluteKey { at: Location },
    #[error("{at}: unexpected key; expected physmap/<hex>/start_addr, .../size or .../name")]
    UnexpectedKey { at: Location },
    #[error("{at}: duplicate key")]
    DuplicateKey { at: Location },
    #[error("{at}: second record with phys_offset {phys_offset:#x}")]
    DuplicateRecord { at: Location, phys_offset: u64 },
    #[error("{at}: record has no `{field}`")]
    MissingField { at: Location, field: &'static str },
    #[error(
        "{at}: {field} is {found:?}; expected 1 to 16 lowercase hex digits without leading zeros"
    )]
    BadNumber {
        at: Location,
        field: &'static str,
        found: String,
    },
    #[error("{at}: size is 0; expected a positive multiple of 4096")]
    ZeroSize { at: Location },
    #[error("{at}: {field} {value:#x} is not a multiple of 4096")]
    Unaligned {
        at: Location,
        field: &'static str,
        value: u64,
    },
    #[error("{at}: {field} + size overflows 64 bits ({base:#x} + {size:#x})")]
    RangeOverflow {
        at: Location,
        field: &'static str,
        base: u64,
        size: u64,
    },
    #[error("{at}: guest range [{start:#x}, {end:#x}) overlaps [{other_start:#x}, {other_end:#x}) of the record with phys_offset {other_phys_offset:#x}")]
    Overlap {
        at: Location,
        start: u64,
        end: u64,
        other_phys_offset: u64,
        other_start: u64,
        other_end: u64,
    },
    #[error("{at}: name is {len} bytes; the limit is {max}")]
    NameTooLong {
        at: Location,
        len: usize,
        max: usize,
    },
    #[error("{at}: name byte {index} is {byte:#04x}; expected printable ASCII (0x20 to 0x7e)")]
    NameNotPrintable {
        at: Location,
        index: usize,
        byte: u8,
    },
    /// The daemon could not send the directory's listing within one 4096-byte reply
    /// (oxenstored 4.17, which has no `XS_DIRECTORY_PART`): more names than the daemon can
    /// list, which only a writer of that directory can cause.
    #[error("{at}: the daemon cannot list this directory: its listing is over xenstore's 4096-byte reply payload ({cause}); oxenstored 4.17 lists at most 4096 bytes of names, each counted with its NUL")]
    ListingTooLarge { at: Location, cause: String },
    #[error("byte offset 0: neither a XENSTORE_KV nor a LEGACY_V1 section (starts with {prefix})")]
    UnknownFormat { prefix: String },
    #[error("byte offset 0: LEGACY_V1 section is valid in both the x86_64 and the 32-bit layout; name the layout explicitly")]
    AmbiguousLayout,
}

impl SectionError {
    /// True for the rules that are size limits rather than malformed input
    /// (`PHYSMAP_E_LIMIT` in the C ABI).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            SectionError::SectionTooLarge { .. }
                | SectionError::TooManyRecords { .. }
                | SectionError::ListingTooLarge { .. }
                | SectionError::NameTooLong { .. }
        )
    }
}

/// An OS error's reason as a user reads it: `No such file or directory`, without the
/// ` (os error 2)` that `io::Error`'s `Display` appends (the number says nothing more).
pub struct Reason<'a>(pub &'a io::Error);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        match self.0.raw_os_error() {
            Some(code) => {
                let suffix = format!(" (os error {code})");
                f.write_str(text.strip_suffix(&suffix).unwrap_or(&text))
            }
            None => f.write_str(&text),
        }
    }
}

/// ` of `path``, or nothing for an operation without a path (a transaction's start or end).
fn of_path(path: &Option<String>) -> String {
    path.as_ref()
        .map_or_else(String::new, |path| format!(" of `{path}`"))
}

/// Everything a save or restore can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Section(#[from] SectionError),
    #[error("xenstore {op}{} failed: {}", of_path(.path), Reason(.source))]
    Xenstore {
        op: &'static str,
        /// The node operated on; `None` for a transaction's start and end.
        path: Option<String>,
        #[source]
        source: io::Error,
    },
    /// `xs_open` found no daemon: `tried` says where libxenstore looked (see
    /// [`crate::xenstore::Xenstore::open`]).
    #[error("cannot connect to xenstore at {tried}: {}; is xenstored running?{hint}", Reason(.source))]
    XenstoreConnect {
        tried: String,
        hint: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("xenstore transaction still conflicting after {attempts} attempts")]
    Conflict { attempts: u32 },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("ABI version {found} requested; this library implements version {expected}")]
    AbiMismatch { found: u32, expected: u32 },
    #[error("out of memory allocating {0} bytes")]
    OutOfMemory(usize),
    // The failures of the optional `domain-checks` build (src/domain_checks.rs): defined in
    // every build so that the type and the C codes are the same; a default build never
    // returns them.
    #[error("domain {domid} does not exist")]
    NoDomain { domid: u32 },
    #[error("domain {domid} is not an HVM guest; physmap records belong to HVM guests")]
    NotHvm { domid: u32 },
    #[error("domain {domid} is dying")]
    DomainDying { domid: u32 },
    #[error("{at}: guest range [{start:#x}, {end:#x}) reaches frame {last_gpfn:#x}, above domain {domid}'s highest guest frame {max_gpfn:#x}")]
    OutOfRange {
        at: Location,
        domid: u32,
        start: u64,
        end: u64,
        last_gpfn: u64,
        max_gpfn: u64,
    },
    #[error("libxenctrl {op} failed: {}", Reason(.source))]
    Xenctrl {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_as_their_plain_reason() {
        let enoent = io::Error::from_raw_os_error(libc::ENOENT);
        assert!(enoent.to_string().ends_with("(os error 2)"));
        assert_eq!(Reason(&enoent).to_string(), "No such file or directory");
        let custom = io::Error::other("short read");
        assert_eq!(Reason(&custom).to_string(), "short read");
    }

    #[test]
    fn xenstore_errors_name_the_node_when_there_is_one() {
        let on_node = Error::Xenstore {
            op: "write",
            path: Some("/local/domain/0/device-model/4/physmap".into()),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(
            on_node.to_string(),
            "xenstore write of `/local/domain/0/device-model/4/physmap` failed: Permission denied"
        );
        let no_node = Error::Xenstore {
            op: "transaction_start",
            path: None,
            source: io::Error::from_raw_os_error(libc::EBADF),
        };
        assert_eq!(
            no_node.to_string(),
            "xenstore transaction_start failed: Bad file descriptor"
        );
    }

    #[test]
    fn a_failed_connection_says_where_it_looked() {
        let e = Error::XenstoreConnect {
            tried: "/tmp/xs/socket (from XENSTORED_PATH)".into(),
            hint: "",
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to xenstore at /tmp/xs/socket (from XENSTORED_PATH): \
             No such file or directory; is xenstored running?"
        );
    }
}
