//! The C ABI that libxl calls (ABI version 1): `include/physmap_hooks.h` is generated from
//! this file by cbindgen, so the doc comments here are the header's documentation.
//!
//! Rules every exported function follows (modelled on rustls-ffi):
//! * its body runs inside [`ffi_panic_boundary!`]: a panic becomes `PHYSMAP_E_INTERNAL`;
//! * every pointer is checked before use, and outputs are written only on success;
//! * nothing is kept between calls: no per-domain or per-call global state.

#![allow(non_camel_case_types)]

use crate::error::Error;
use crate::format::Format;
use crate::hooks::{self, Domain};
use crate::logging::CallLog;
use crate::xenstore::Xenstore;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::{self, NonNull};

/// The ABI version this library implements; `physmap_hook_opts.abi_version` must equal it.
pub const PHYSMAP_ABI_VERSION: u32 = 1;

/// Restore: detect the format from the bytes. Save: same as PHYSMAP_FORMAT_XENSTORE_KV.
pub const PHYSMAP_FORMAT_AUTO: u32 = 0;
/// The data of libxl's EMULATOR_XENSTORE_DATA record (Xen >= 4.6): `key\0value\0` pairs.
pub const PHYSMAP_FORMAT_XENSTORE_KV: u32 = 1;
/// The toolstack chunk of libxl 4.2-4.5, x86_64 layout.
pub const PHYSMAP_FORMAT_LEGACY_V1: u32 = 2;
/// The same, 32-bit toolstack layout (restore only).
pub const PHYSMAP_FORMAT_LEGACY_V1_32: u32 = 3;

/// Success.
pub const PHYSMAP_OK: c_int = 0;
/// A NULL or out-of-range argument, unknown flag bits or an unknown format.
pub const PHYSMAP_E_INVALID_ARGUMENT: c_int = -1;
/// The section (or the records found in xenstore) breaks a format or validation rule.
pub const PHYSMAP_E_MALFORMED: c_int = -2;
/// The section exceeds a limit: 1 MiB, 1024 records, or a 255-byte name; or the physmap
/// directory is larger than the daemon can list (oxenstored 4.17: 4096 bytes of names).
pub const PHYSMAP_E_LIMIT: c_int = -3;
/// xenstore could not be reached, or refused a request.
pub const PHYSMAP_E_XENSTORE: c_int = -4;
/// The xenstore transaction kept conflicting with other writers and was given up.
pub const PHYSMAP_E_CONFLICT: c_int = -5;
/// Memory for the result could not be allocated.
pub const PHYSMAP_E_NOMEM: c_int = -6;
/// `physmap_hook_opts.abi_version` is not PHYSMAP_ABI_VERSION.
pub const PHYSMAP_E_ABI: c_int = -7;
/// A bug in the library (a caught panic); nothing was written.
pub const PHYSMAP_E_INTERNAL: c_int = -8;
// The codes below are returned only by a library built with the cargo feature
// `domain-checks` (docs/domain-checks.md); they are defined in every build so that the ABI
// does not depend on the build. Each refuses a restore before anything is written.
/// Restore (domain-checks build only): the target domain does not exist.
pub const PHYSMAP_E_NO_DOMAIN: c_int = -9;
/// Restore (domain-checks build only): the target domain is not an HVM guest.
pub const PHYSMAP_E_NOT_HVM: c_int = -10;
/// Restore (domain-checks build only): the target domain is dying.
pub const PHYSMAP_E_DOMAIN_DYING: c_int = -11;
/// Restore (domain-checks build only): a record's guest range reaches above the domain's
/// highest guest frame (`xc_domain_maximum_gpfn`).
pub const PHYSMAP_E_OUT_OF_RANGE: c_int = -12;
/// Restore (domain-checks build only): libxenctrl failed (no hypervisor interface, a
/// refused query).
pub const PHYSMAP_E_XENCTRL: c_int = -13;

/// Flag bits defined so far: none. Any bit set in `physmap_hook_opts.flags` is refused.
const KNOWN_FLAGS: u32 = 0;

/// Options of one hook call. Pass NULL for the defaults: ABI 1, dm_domid 0, AUTO format,
/// no flags, a xenstore connection opened (and closed) by the call, messages to stderr.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct physmap_hook_opts {
    /// PHYSMAP_ABI_VERSION.
    pub abi_version: u32,
    /// The domain that runs the device model: 0 for dom0, else the stub domain's id.
    pub dm_domid: u32,
    /// PHYSMAP_FORMAT_*.
    pub format: u32,
    /// 0; unknown bits are an error.
    pub flags: u32,
    /// Borrowed `struct xs_handle *` used for the call, or NULL to open one with `xs_open(0)`.
    /// It must stay open for the duration of the call. The library only runs transactions,
    /// reads, writes, removals and permission changes on it: it sets no watch, lists no
    /// directory, never closes it and does not keep it after the call. What lists a
    /// directory (a save; the clean-up of a failed restore) runs on a connection the
    /// library opens with `xs_open(0)`, so that no content of a directory a device model
    /// controls can break this handle (oxenstored 4.17 answers a listing in one reply of
    /// any size, and libxenstore drops a connection that receives over 4096 bytes).
    pub xs_handle: *mut c_void,
    /// Borrowed `xentoollog_logger *` that receives every message, or NULL for stderr
    /// (filtered by the environment variable PHYSMAP_LOG, default "warn"). Used only during
    /// the call; never stored or destroyed.
    pub logger: *mut c_void,
}

impl Default for physmap_hook_opts {
    /// What a NULL `opts` means.
    fn default() -> Self {
        physmap_hook_opts {
            abi_version: PHYSMAP_ABI_VERSION,
            dm_domid: 0,
            format: PHYSMAP_FORMAT_AUTO,
            flags: 0,
            xs_handle: ptr::null_mut(),
            logger: ptr::null_mut(),
        }
    }
}

/// Runs a body, turning a panic into `$on_panic`: unwinding into C is undefined behaviour.
macro_rules! ffi_panic_boundary {
    ($on_panic:expr, $body:block) => {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $on_panic,
        }
    };
}

/// The code of each error category.
fn code_of(error: &Error) -> c_int {
    match error {
        Error::Section(e) if e.is_limit() => PHYSMAP_E_LIMIT,
        Error::Section(_) => PHYSMAP_E_MALFORMED,
        Error::Xenstore { .. } | Error::XenstoreConnect { .. } => PHYSMAP_E_XENSTORE,
        Error::Conflict { .. } => PHYSMAP_E_CONFLICT,
        Error::InvalidArgument(_) => PHYSMAP_E_INVALID_ARGUMENT,
        Error::AbiMismatch { .. } => PHYSMAP_E_ABI,
        Error::OutOfMemory(_) => PHYSMAP_E_NOMEM,
        Error::NoDomain { .. } => PHYSMAP_E_NO_DOMAIN,
        Error::NotHvm { .. } => PHYSMAP_E_NOT_HVM,
        Error::DomainDying { .. } => PHYSMAP_E_DOMAIN_DYING,
        Error::OutOfRange { .. } => PHYSMAP_E_OUT_OF_RANGE,
        Error::Xenctrl { .. } => PHYSMAP_E_XENCTRL,
    }
}

/// One exported call: its domain, options and log destination.
struct Call {
    domain: Domain,
    format: u32,
    xs_handle: *mut c_void,
    log: CallLog,
    op: &'static str,
}

impl Call {
    /// Reads and checks `opts`. On failure, returns the code after logging why.
    ///
    /// # Safety
    /// `opts` is NULL or points to a readable `physmap_hook_opts` of the caller's ABI.
    unsafe fn begin(
        op: &'static str,
        domid: u32,
        opts: *const physmap_hook_opts,
    ) -> Result<Call, c_int> {
        let opts = if opts.is_null() {
            physmap_hook_opts::default()
        } else {
            // Only the version field is common to every ABI: read it alone first, since a
            // caller of another version may have a struct of another size.
            let abi_version = ptr::addr_of!((*opts).abi_version).read_unaligned();
            if abi_version != PHYSMAP_ABI_VERSION {
                let log = CallLog::stderr(domid);
                let e = Error::AbiMismatch {
                    found: abi_version,
                    expected: PHYSMAP_ABI_VERSION,
                };
                log.error(format_args!("{op} refused: {e}"));
                return Err(code_of(&e));
            }
            opts.read_unaligned()
        };
        let log = match NonNull::new(opts.logger) {
            // SAFETY: the caller lends a live logger for the call.
            Some(logger) => CallLog::xentoollog(logger, domid),
            None => CallLog::stderr(domid),
        };
        let call = Call {
            domain: Domain {
                domid,
                dm_domid: opts.dm_domid,
            },
            format: opts.format,
            xs_handle: opts.xs_handle,
            log,
            op,
        };
        if opts.flags & !KNOWN_FLAGS != 0 {
            return Err(call.fail(Error::InvalidArgument(format!(
                "unknown flags {:#x}",
                opts.flags & !KNOWN_FLAGS
            ))));
        }
        Ok(call)
    }

    /// Logs `error` and returns its code.
    fn fail(&self, error: Error) -> c_int {
        self.log.error(format_args!("{} failed: {error}", self.op));
        code_of(&error)
    }

    /// The caller's xenstore handle, or a new connection.
    fn xenstore(&self) -> Result<Xenstore, Error> {
        match NonNull::new(self.xs_handle) {
            // SAFETY: the caller lends a live handle for the call.
            Some(handle) => Ok(unsafe { Xenstore::borrow(handle) }),
            None => Xenstore::open(),
        }
    }
}

/// Copies `bytes` into a buffer from `malloc`, so that C can release it with `free`.
fn to_malloc(bytes: &[u8]) -> Result<*mut u8, Error> {
    // SAFETY: plain allocation; callers never pass an empty slice.
    let buf = unsafe { libc::malloc(bytes.len()) } as *mut u8;
    if buf.is_null() {
        return Err(Error::OutOfMemory(bytes.len()));
    }
    // SAFETY: `buf` has room for `bytes.len()` bytes and does not overlap `bytes`.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
    Ok(buf)
}

#[cfg(test)]
thread_local! {
    /// Set by tests to make the next hook call panic inside the boundary.
    pub(crate) static INJECT_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A place where tests can make a hook panic, to prove the boundary; nothing in other builds.
fn fault_point() {
    #[cfg(test)]
    if INJECT_PANIC.with(|p| p.replace(false)) {
        panic!("panic injected by a test");
    }
}

/// Saves the physmap records of domain `domid` from xenstore into a new section.
///
/// Reads `/local/domain/<dm_domid>/device-model/<domid>/physmap` in one xenstore
/// transaction (redone on conflict) on a connection of the library's own (`xs_open(0)`,
/// closed before returning; `opts->xs_handle` is not used), validates every record and
/// encodes them in
/// `opts->format` (AUTO and XENSTORE_KV: the data of an EMULATOR_XENSTORE_DATA record;
/// LEGACY_V1; LEGACY_V1_32 is refused). `opts` may be NULL for the defaults.
///
/// On success returns PHYSMAP_OK and sets `*buf` to a buffer from `malloc` owned by the
/// caller, who releases it with `physmap_free` (or `free`), and `*len` to its length; when
/// the domain has no records, `*buf` is NULL and `*len` is 0. On failure returns a negative
/// PHYSMAP_E_* code, logs why, and leaves `*buf` and `*len` untouched.
/// `buf` and `len` must not be NULL.
///
/// # Safety
/// `opts` is NULL or valid for reads; `buf` and `len` are valid for writes; the handle and
/// logger in `opts`, if any, are live for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn physmap_save_hook(
    domid: u32,
    opts: *const physmap_hook_opts,
    buf: *mut *mut u8,
    len: *mut u32,
) -> c_int {
    ffi_panic_boundary!(PHYSMAP_E_INTERNAL, {
        let call = match Call::begin("save", domid, opts) {
            Ok(call) => call,
            Err(rc) => return rc,
        };
        fault_point();
        if buf.is_null() || len.is_null() {
            return call.fail(Error::InvalidArgument(
                "buf and len must not be NULL".into(),
            ));
        }
        let format = match call.format {
            PHYSMAP_FORMAT_AUTO | PHYSMAP_FORMAT_XENSTORE_KV => Format::XenstoreKv,
            PHYSMAP_FORMAT_LEGACY_V1 => Format::LegacyV1,
            other => {
                return call.fail(Error::InvalidArgument(format!(
                    "format {other} cannot be saved; expected 0, 1 or 2"
                )))
            }
        };
        let result = call
            .xenstore()
            .and_then(|xs| hooks::save(&xs, call.domain, format, &call.log))
            .and_then(|bytes| {
                let out = if bytes.is_empty() {
                    ptr::null_mut()
                } else {
                    to_malloc(&bytes)?
                };
                Ok((out, bytes.len()))
            });
        match result {
            Ok((out, out_len)) => {
                *buf = out;
                // At most MAX_SECTION_BYTES (1 MiB).
                *len = out_len as u32;
                PHYSMAP_OK
            }
            Err(e) => call.fail(e),
        }
    })
}

/// Restores the physmap records of domain `domid` from a section.
///
/// Decodes and validates all `len` bytes at `buf` in `opts->format` (AUTO detects it)
/// before touching xenstore; then, in one xenstore transaction (redone on conflict),
/// replaces `/local/domain/<dm_domid>/device-model/<domid>/physmap` with the records.
/// A rejected section leaves xenstore exactly as it was. `buf` NULL with `len` 0 is an
/// empty section: nothing is written. `opts` may be NULL for the defaults.
///
/// A library built with the `domain-checks` feature also checks, after validation and
/// before any xenstore access, that domain `domid` exists, is an HVM guest, is not dying,
/// and that every record's guest range lies at or below its highest guest frame; a failed
/// check returns PHYSMAP_E_NO_DOMAIN, _NOT_HVM, _DOMAIN_DYING, _OUT_OF_RANGE or
/// _XENCTRL and writes nothing.
///
/// Returns PHYSMAP_OK or a negative PHYSMAP_E_* code (and logs why, with the byte offset
/// or key of the first problem). `buf` is only borrowed for the call.
///
/// # Safety
/// `opts` is NULL or valid for reads; `buf` is valid for `len` bytes of reads; the handle
/// and logger in `opts`, if any, are live for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn physmap_restore_hook(
    domid: u32,
    opts: *const physmap_hook_opts,
    buf: *const u8,
    len: u32,
) -> c_int {
    ffi_panic_boundary!(PHYSMAP_E_INTERNAL, {
        let call = match Call::begin("restore", domid, opts) {
            Ok(call) => call,
            Err(rc) => return rc,
        };
        fault_point();
        let bytes: &[u8] = match (buf.is_null(), len) {
            (_, 0) => &[],
            (true, _) => {
                return call.fail(Error::InvalidArgument(format!("buf is NULL, len is {len}")))
            }
            // SAFETY: the caller lends `len` readable bytes.
            (false, _) => std::slice::from_raw_parts(buf, len as usize),
        };
        let format = match call.format {
            PHYSMAP_FORMAT_AUTO => None,
            PHYSMAP_FORMAT_XENSTORE_KV => Some(Format::XenstoreKv),
            PHYSMAP_FORMAT_LEGACY_V1 => Some(Format::LegacyV1),
            PHYSMAP_FORMAT_LEGACY_V1_32 => Some(Format::LegacyV1_32),
            other => {
                return call.fail(Error::InvalidArgument(format!(
                    "unknown format {other}; expected 0 to 3"
                )))
            }
        };
        let result =
            hooks::restore_connecting(|| call.xenstore(), call.domain, bytes, format, &call.log);
        match result {
            Ok(_) => PHYSMAP_OK,
            Err(e) => call.fail(e),
        }
    })
}

/// Releases a buffer returned by `physmap_save_hook`. NULL is ignored.
///
/// # Safety
/// `buf` is NULL or a buffer from `physmap_save_hook` not released before.
#[no_mangle]
pub unsafe extern "C" fn physmap_free(buf: *mut c_void) {
    ffi_panic_boundary!((), {
        // SAFETY: allocated with malloc by physmap_save_hook (caller's contract).
        libc::free(buf)
    })
}

/// A static, NUL-terminated description of a return code (including unknown codes).
/// The string must not be freed or modified.
#[no_mangle]
pub extern "C" fn physmap_strerror(rc: c_int) -> *const c_char {
    let text: &'static [u8] = match rc {
        PHYSMAP_OK => b"success\0",
        PHYSMAP_E_INVALID_ARGUMENT => b"invalid argument\0",
        PHYSMAP_E_MALFORMED => b"malformed physmap section\0",
        PHYSMAP_E_LIMIT => b"physmap section exceeds a limit\0",
        PHYSMAP_E_XENSTORE => b"xenstore error\0",
        PHYSMAP_E_CONFLICT => b"xenstore transaction conflict, retries exhausted\0",
        PHYSMAP_E_NOMEM => b"out of memory\0",
        PHYSMAP_E_ABI => b"ABI version mismatch\0",
        PHYSMAP_E_INTERNAL => b"internal error in physmap-hooks\0",
        PHYSMAP_E_NO_DOMAIN => b"target domain does not exist\0",
        PHYSMAP_E_NOT_HVM => b"target domain is not an HVM guest\0",
        PHYSMAP_E_DOMAIN_DYING => b"target domain is dying\0",
        PHYSMAP_E_OUT_OF_RANGE => b"physmap range above the domain's highest guest frame\0",
        PHYSMAP_E_XENCTRL => b"libxenctrl error\0",
        _ => b"unknown physmap-hooks error code\0",
    };
    text.as_ptr().cast()
}

/// The ABI version this library implements (PHYSMAP_ABI_VERSION). libxl checks it right
/// after `dlopen`.
#[no_mangle]
pub extern "C" fn physmap_abi_version() -> u32 {
    PHYSMAP_ABI_VERSION
}

#[cfg(test)]
mod tests {
    //! Argument checking and the panic boundary. These fail before any xenstore access, so
    //! they need no daemon; the C test (tests/c/abi_test.c) covers the rest from C.
    use super::*;
    use std::ffi::CStr;

    fn opts() -> physmap_hook_opts {
        physmap_hook_opts::default()
    }

    const UNTOUCHED: *mut u8 = 0x5a5a as *mut u8;

    /// Runs the save hook with outputs preset to sentinels; returns the code and whether
    /// the outputs were left alone.
    fn save(opts: *const physmap_hook_opts) -> (c_int, bool) {
        let (mut buf, mut len) = (UNTOUCHED, 0x5a5a_u32);
        let rc = unsafe { physmap_save_hook(5, opts, &mut buf, &mut len) };
        (rc, buf == UNTOUCHED && len == 0x5a5a)
    }

    #[test]
    fn a_panic_comes_back_as_internal_error() {
        INJECT_PANIC.with(|p| p.set(true));
        assert_eq!(save(ptr::null()), (PHYSMAP_E_INTERNAL, true));
        INJECT_PANIC.with(|p| p.set(true));
        let rc = unsafe { physmap_restore_hook(5, ptr::null(), ptr::null(), 0) };
        assert_eq!(rc, PHYSMAP_E_INTERNAL);
    }

    #[test]
    fn save_checks_its_arguments() {
        let mut len = 0u32;
        let mut buf = ptr::null_mut();
        assert_eq!(
            unsafe { physmap_save_hook(5, ptr::null(), ptr::null_mut(), &mut len) },
            PHYSMAP_E_INVALID_ARGUMENT
        );
        assert_eq!(
            unsafe { physmap_save_hook(5, ptr::null(), &mut buf, ptr::null_mut()) },
            PHYSMAP_E_INVALID_ARGUMENT
        );
        for format in [PHYSMAP_FORMAT_LEGACY_V1_32, 4, u32::MAX] {
            let o = physmap_hook_opts { format, ..opts() };
            assert_eq!(
                save(&o),
                (PHYSMAP_E_INVALID_ARGUMENT, true),
                "format {format}"
            );
        }
        let o = physmap_hook_opts {
            flags: 1 << 7,
            ..opts()
        };
        assert_eq!(save(&o), (PHYSMAP_E_INVALID_ARGUMENT, true));
        for abi_version in [0, 2, u32::MAX] {
            let o = physmap_hook_opts {
                abi_version,
                ..opts()
            };
            assert_eq!(save(&o), (PHYSMAP_E_ABI, true), "abi {abi_version}");
        }
    }

    #[test]
    fn restore_checks_its_arguments() {
        let restore = |o: &physmap_hook_opts, buf: *const u8, len| unsafe {
            physmap_restore_hook(5, o, buf, len)
        };
        assert_eq!(restore(&opts(), ptr::null(), 1), PHYSMAP_E_INVALID_ARGUMENT);
        // NULL with length 0 is an empty section: nothing to write, no xenstore needed.
        assert_eq!(restore(&opts(), ptr::null(), 0), PHYSMAP_OK);
        let o = physmap_hook_opts {
            format: 4,
            ..opts()
        };
        assert_eq!(restore(&o, b"x".as_ptr(), 1), PHYSMAP_E_INVALID_ARGUMENT);
        let o = physmap_hook_opts {
            flags: u32::MAX,
            ..opts()
        };
        assert_eq!(restore(&o, ptr::null(), 0), PHYSMAP_E_INVALID_ARGUMENT);
        let o = physmap_hook_opts {
            abi_version: 2,
            ..opts()
        };
        assert_eq!(restore(&o, ptr::null(), 0), PHYSMAP_E_ABI);
        // Malformed input is refused before any connection is made.
        assert_eq!(restore(&opts(), b"x".as_ptr(), 1), PHYSMAP_E_MALFORMED);
        let huge = vec![b'p'; (1 << 20) + 1];
        assert_eq!(
            restore(&opts(), huge.as_ptr(), huge.len() as u32),
            PHYSMAP_E_LIMIT
        );
    }

    #[test]
    fn every_code_has_a_distinct_static_description() {
        let codes = [
            PHYSMAP_OK,
            PHYSMAP_E_INVALID_ARGUMENT,
            PHYSMAP_E_MALFORMED,
            PHYSMAP_E_LIMIT,
            PHYSMAP_E_XENSTORE,
            PHYSMAP_E_CONFLICT,
            PHYSMAP_E_NOMEM,
            PHYSMAP_E_ABI,
            PHYSMAP_E_INTERNAL,
            PHYSMAP_E_NO_DOMAIN,
            PHYSMAP_E_NOT_HVM,
            PHYSMAP_E_DOMAIN_DYING,
            PHYSMAP_E_OUT_OF_RANGE,
            PHYSMAP_E_XENCTRL,
        ];
        let texts: Vec<&str> = codes
            .iter()
            .map(|&rc| {
                unsafe { CStr::from_ptr(physmap_strerror(rc)) }
                    .to_str()
                    .unwrap()
            })
            .collect();
        let mut unique = texts.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "{texts:?}");
        for unknown in [1, -14, i32::MIN, i32::MAX] {
            let text = unsafe { CStr::from_ptr(physmap_strerror(unknown)) };
            assert_eq!(text.to_str().unwrap(), "unknown physmap-hooks error code");
        }
        assert_eq!(physmap_abi_version(), PHYSMAP_ABI_VERSION);
    }

    #[test]
    fn abi_version_matches_the_crate_major_version() {
        // The soname (build.rs) is derived from the crate's major version.
        assert_eq!(
            env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap(),
            PHYSMAP_ABI_VERSION
        );
    }
}
