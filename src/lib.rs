//! physmap-hooks: carries QEMU's Xen *physmap* records across a domain save/restore.
//!
//! QEMU records each RAM-backed region it relocated for an HVM guest (the VGA framebuffer,
//! mostly) under `/local/domain/<dm_domid>/device-model/<domid>/physmap/<phys_offset>/`.
//! libxl copies these records into the savefile and writes them back before QEMU starts on
//! the destination. This crate does that job for libxl, through a C ABI, with the whole
//! section validated before anything is written and xenstore changed in one transaction.
//!
//! Layout: [`record`] (the model and its rules), [`format`] (the two wire formats),
//! [`xenstore`] (libxenstore access), [`hooks`] (save/restore), [`ffi`] (the C ABI),
//! [`logging`] (per-call log destination), [`error`].

// Only `ffi` is C ABI: the others are hidden from cbindgen, which would otherwise put their
// public constants into the header.
#[cfg(feature = "domain-checks")]
/// cbindgen:ignore
pub mod domain_checks;
/// cbindgen:ignore
pub mod error;
pub mod ffi;
/// cbindgen:ignore
pub mod format;
/// cbindgen:ignore
pub mod hooks;
/// cbindgen:ignore
pub mod logging;
/// cbindgen:ignore
pub mod record;
/// cbindgen:ignore
pub mod savefile;
/// cbindgen:ignore
pub mod xenstore;

pub use error::{Error, Location, SectionError};
pub use format::Format;
pub use hooks::Domain;
pub use record::{PhysmapRecord, RecordName, Section};
