//! Safe access to xenstore through `libxenstore`: a connection that is either borrowed from
//! the caller (libxl passes its own `struct xs_handle *`) or opened and closed here, and
//! transactions that are retried as a whole when xenstored reports a conflict.
//!
//! Every buffer libxenstore returns is copied and freed before a method returns.
//!
//! **No directory listing on a borrowed handle.** `XS_DIRECTORY` is the one request whose
//! reply grows with what others wrote: oxenstored 4.17 answers it in one reply of any size
//! (it has no `XS_DIRECTORY_PART`), and libxenstore drops a connection that receives a reply
//! over the protocol's 4096-byte payload. On libxl's handle (`CTX->xsh`, shared by
//! everything a long-lived libxl user does) that would let a device model cut the
//! toolstack's connection by filling its own directory. So [`Tx::directory`] refuses to run
//! on a borrowed handle, and listings go over [`Xenstore::own_connection`].
//!
//! **No sleeping for a caller who lent its handle.** libxl calls the hooks with its ctx
//! lock held. A conflicting transaction is then retried at once, as libxl retries its own,
//! on the lent handle and on any connection the call opens for itself ([`Retry`]); only
//! calls that lent nothing pause between retries.

mod sys;

pub use sys::{xs_permissions, XS_PERM_NONE, XS_PERM_READ, XS_PERM_WRITE};

use crate::error::{Error, Location, SectionError};
use std::ffi::CString;
use std::io;
use std::os::raw::{c_uint, c_void};
use std::ptr::NonNull;
use std::time::Duration;

/// Attempts of one transaction before a save or restore gives up with
/// [`Error::Conflict`]: the first try and up to 15 retries.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 16;

/// How a transaction whose commit conflicted (`EAGAIN`) is tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// At once, the way libxl retries its own transactions (`libxl__xs_transaction_commit`
    /// and its callers' loops): for a call that works for a caller who lent its handle.
    /// libxl calls the hooks with its ctx lock held, so the library never sleeps there; the
    /// bound of [`MAX_TRANSACTION_ATTEMPTS`] keeps the time under the lock bounded too.
    AtOnce,
    /// After a short random pause ([`backoff`]): on the library's own connections, when
    /// no caller lent a handle (and so holds no lock of its own around the call).
    BackOff,
}

impl Retry {
    /// The pause before retry `n` (1-based), if any.
    pub fn pause_before(self, n: u32) -> Option<Duration> {
        match self {
            Retry::AtOnce => None,
            Retry::BackOff => Some(backoff(n)),
        }
    }
}

/// Pause before retry `n` (1-based): a random time between half and all of 0.5 ms doubling
/// up to 32 ms (at most about 0.35 s over all 15 retries). Short, because a conflict means another writer
/// just committed and is likely done; random, so that transactions that conflicted with
/// each other do not retry in lockstep and conflict again.
fn backoff(retry: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling_us = 500u64 << retry.clamp(1, 7).saturating_sub(1);
    // RandomState is std's randomly keyed hasher: a random number without a dependency.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(retry);
    Duration::from_micros(ceiling_us / 2 + hasher.finish() % (ceiling_us / 2 + 1))
}

/// A connection to xenstored.
pub struct Xenstore {
    handle: NonNull<sys::xs_handle>,
    owned: bool,
    retry: Retry,
}

// libxenstore serialises requests on one handle with its own mutexes (it is built with
// pthreads on every distribution Xen supports), and libxl shares CTX->xsh between threads.
unsafe impl Send for Xenstore {}
unsafe impl Sync for Xenstore {}

impl Xenstore {
    /// Opens a connection with `xs_open(0)`, which honours `XENSTORED_PATH`; closed on drop.
    pub fn open() -> Result<Self, Error> {
        // SAFETY: no pointer arguments.
        let handle = unsafe { sys::xs_open(0) };
        NonNull::new(handle)
            .map(|handle| Xenstore {
                handle,
                owned: true,
                retry: Retry::BackOff,
            })
            .ok_or_else(|| {
                let source = io::Error::last_os_error();
                let (tried, hint) = where_xs_open_looks();
                Error::XenstoreConnect {
                    tried,
                    hint,
                    source,
                }
            })
    }

    /// Uses the caller's `struct xs_handle *` without taking ownership (never closed here).
    /// Its transactions are retried [`Retry::AtOnce`]: a caller that lends its handle (libxl)
    /// holds its lock during the call.
    ///
    /// # Safety
    /// `handle` must be a live handle from `xs_open` that outlives the returned value.
    pub unsafe fn borrow(handle: NonNull<c_void>) -> Self {
        Xenstore {
            handle: handle.cast(),
            owned: false,
            retry: Retry::AtOnce,
        }
    }

    /// How this connection's transactions are retried after a conflict.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// Runs `f` on a connection of the library's own: this one when the library (or a Rust
    /// caller) opened it, else a new one from `xs_open(0)`, which reaches the daemon that
    /// libxl's `xs_open(0)` reached (the same `XENSTORED_PATH`), closed when `f` returns.
    /// What `f` does there cannot harm the caller's handle. The new connection retries as
    /// this one does: the work is still done for the caller who lent the handle.
    pub fn own_connection<T>(
        &self,
        f: impl FnOnce(&Xenstore) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.owned {
            f(self)
        } else {
            let mut own = Xenstore::open()?;
            own.retry = self.retry;
            f(&own)
        }
    }

    /// Operations outside any transaction, each one atomic on its own (as QEMU writes).
    pub fn direct(&self) -> Tx<'_> {
        Tx {
            xs: self,
            id: sys::XBT_NULL,
        }
    }

    /// Runs `body` in a transaction and commits it. When the commit fails with `EAGAIN`
    /// (another connection changed a node this transaction touched), `body` runs again in a
    /// new transaction, as [`Xenstore::retry`] says, at most [`MAX_TRANSACTION_ATTEMPTS`]
    /// times in all. An error from `body` aborts the transaction: nothing it wrote becomes
    /// visible.
    pub fn transaction<T>(
        &self,
        mut body: impl FnMut(&Tx<'_>) -> Result<T, Error>,
    ) -> Result<Committed<T>, Error> {
        for attempt in 1..=MAX_TRANSACTION_ATTEMPTS {
            if let Some(pause) = self.retry.pause_before(attempt - 1) {
                std::thread::sleep(pause);
            }
            // SAFETY: the handle is live for &self.
            let id = unsafe { sys::xs_transaction_start(self.handle.as_ptr()) };
            if id == sys::XBT_NULL {
                return Err(Error::Xenstore {
                    op: "transaction_start",
                    path: None,
                    source: io::Error::last_os_error(),
                });
            }
            let tx = Tx { xs: self, id };
            let value = match body(&tx) {
                Ok(value) => value,
                Err(e) => {
                    // SAFETY: as above; the result is irrelevant, the transaction is dropped
                    // by xenstored either way.
                    unsafe { sys::xs_transaction_end(self.handle.as_ptr(), id, true) };
                    return Err(e);
                }
            };
            // SAFETY: as above.
            if unsafe { sys::xs_transaction_end(self.handle.as_ptr(), id, false) } {
                return Ok(Committed {
                    value,
                    conflicts: attempt - 1,
                });
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EAGAIN) {
                return Err(Error::Xenstore {
                    op: "transaction_end",
                    path: None,
                    source: err,
                });
            }
        }
        Err(Error::Conflict {
            attempts: MAX_TRANSACTION_ATTEMPTS,
        })
    }

    /// The raw handle, for callers that pass it on.
    pub fn as_ptr(&self) -> *mut c_void {
        self.handle.as_ptr().cast()
    }
}

impl Drop for Xenstore {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: opened by us in `open`, closed exactly once.
            unsafe { sys::xs_close(self.handle.as_ptr()) };
        }
    }
}

/// The result of a committed transaction and how many conflicts it took.
#[derive(Debug)]
pub struct Committed<T> {
    pub value: T,
    pub conflicts: u32,
}

/// Operations within one transaction (or outside any, from [`Xenstore::direct`]).
pub struct Tx<'a> {
    xs: &'a Xenstore,
    id: sys::xs_transaction_t,
}

impl Tx<'_> {
    /// Children of `path`, or `None` if it does not exist. Only on a connection of the
    /// library's own (see the module documentation): on a borrowed handle it is refused.
    ///
    /// A listing that the daemon cannot send within one 4096-byte reply (oxenstored 4.17;
    /// the C daemon pages it with `XS_DIRECTORY_PART`) kills this connection and is
    /// reported as [`SectionError::ListingTooLarge`].
    pub fn directory(&self, path: &str) -> Result<Option<Vec<String>>, Error> {
        if !self.xs.owned {
            return Err(Error::InvalidArgument(format!(
                "listing {path} on a borrowed xenstore handle (a bug: use own_connection)"
            )));
        }
        let c_path = c_path(path)?;
        let mut num: c_uint = 0;
        // SAFETY: live handle, NUL-terminated path, valid out-pointer.
        let list = unsafe { sys::xs_directory(self.handle(), self.id, c_path.as_ptr(), &mut num) };
        let Some(list) = NonNull::new(list) else {
            // libxenstore refuses the oversized reply (E2BIG), drops the connection, and
            // its XS_DIRECTORY_PART fallback then fails on the closed descriptor (EBADF).
            let err = io::Error::last_os_error();
            if matches!(err.raw_os_error(), Some(libc::E2BIG) | Some(libc::EBADF)) {
                return Err(SectionError::ListingTooLarge {
                    at: Location::Path(path.to_owned()),
                    cause: err.to_string(),
                }
                .into());
            }
            return absent_or_error("directory", path);
        };
        let entries = (0..num as usize)
            .map(|i| {
                // SAFETY: libxenstore returns `num` valid C strings inside the block.
                unsafe { std::ffi::CStr::from_ptr(*list.as_ptr().add(i)) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        // SAFETY: one malloc'ed block, released once.
        unsafe { libc::free(list.as_ptr().cast()) };
        Ok(Some(entries))
    }

    /// The value of `path`, or `None` if it does not exist.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let c_path = c_path(path)?;
        let mut len: c_uint = 0;
        // SAFETY: live handle, NUL-terminated path, valid out-pointer.
        let value = unsafe { sys::xs_read(self.handle(), self.id, c_path.as_ptr(), &mut len) };
        let Some(value) = NonNull::new(value) else {
            return absent_or_error("read", path);
        };
        // SAFETY: libxenstore returns `len` readable bytes (plus a NUL we do not copy).
        let bytes =
            unsafe { std::slice::from_raw_parts(value.as_ptr() as *const u8, len as usize) }
                .to_vec();
        // SAFETY: malloc'ed by libxenstore, released once.
        unsafe { libc::free(value.as_ptr()) };
        Ok(Some(bytes))
    }

    /// Creates or overwrites `path` (and any missing parent) with `value`.
    pub fn write(&self, path: &str, value: &[u8]) -> Result<(), Error> {
        let c_path = c_path(path)?;
        let len = c_uint::try_from(value.len())
            .map_err(|_| Error::InvalidArgument(format!("value for {path} too long")))?;
        // SAFETY: live handle, NUL-terminated path, `len` readable bytes.
        let ok = unsafe {
            sys::xs_write(
                self.handle(),
                self.id,
                c_path.as_ptr(),
                value.as_ptr().cast(),
                len,
            )
        };
        ok.then_some(()).ok_or_else(|| xs_error("write", path))
    }

    /// Creates `path` (and any missing parent) with an empty value.
    pub fn mkdir(&self, path: &str) -> Result<(), Error> {
        let c_path = c_path(path)?;
        // SAFETY: live handle, NUL-terminated path.
        let ok = unsafe { sys::xs_mkdir(self.handle(), self.id, c_path.as_ptr()) };
        ok.then_some(()).ok_or_else(|| xs_error("mkdir", path))
    }

    /// Removes `path` and everything below it; a missing `path` is not an error.
    pub fn rm(&self, path: &str) -> Result<(), Error> {
        let c_path = c_path(path)?;
        // SAFETY: live handle, NUL-terminated path.
        if unsafe { sys::xs_rm(self.handle(), self.id, c_path.as_ptr()) } {
            return Ok(());
        }
        absent_or_error("rm", path).map(|_: Option<()>| ())
    }

    /// The permissions of `path`, or `None` if it does not exist.
    pub fn permissions(&self, path: &str) -> Result<Option<Vec<xs_permissions>>, Error> {
        match self.get_permissions(path) {
            Ok(perms) => Ok(Some(perms)),
            Err(Error::Xenstore { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The permissions of `path`: owner (with the default for everyone else) first.
    pub fn get_permissions(&self, path: &str) -> Result<Vec<xs_permissions>, Error> {
        let c_path = c_path(path)?;
        let mut num: c_uint = 0;
        // SAFETY: live handle, NUL-terminated path, valid out-pointer.
        let perms =
            unsafe { sys::xs_get_permissions(self.handle(), self.id, c_path.as_ptr(), &mut num) };
        let perms = NonNull::new(perms).ok_or_else(|| xs_error("get_permissions", path))?;
        // SAFETY: libxenstore returns `num` entries in one malloc'ed block, released once.
        let list = unsafe { std::slice::from_raw_parts(perms.as_ptr(), num as usize) }.to_vec();
        unsafe { libc::free(perms.as_ptr().cast()) };
        Ok(list)
    }

    /// Replaces the permissions of `path`; the first entry names the owner.
    pub fn set_permissions(&self, path: &str, perms: &[xs_permissions]) -> Result<(), Error> {
        let c_path = c_path(path)?;
        let mut perms = perms.to_vec();
        // SAFETY: live handle, NUL-terminated path, `perms.len()` entries (libxenstore does
        // not write through the pointer despite its non-const type).
        let ok = unsafe {
            sys::xs_set_permissions(
                self.handle(),
                self.id,
                c_path.as_ptr(),
                perms.as_mut_ptr(),
                perms.len() as c_uint,
            )
        };
        ok.then_some(())
            .ok_or_else(|| xs_error("set_permissions", path))
    }

    fn handle(&self) -> *mut sys::xs_handle {
        self.xs.handle.as_ptr()
    }
}

/// Where `xs_open(0)` looked, as libxenstore 4.17 does it (tools/xenstore/xs_lib.c): the
/// socket `XENSTORED_PATH` names (for both attempts), else `$XENSTORED_RUNDIR/socket`
/// (default `/var/run/xenstored/socket`) and then the xenbus device, `/dev/xen/xenbus` when
/// it exists, else `/proc/xen/xenbus`. The errno is the last attempt's. The second value
/// is a hint for the message.
fn where_xs_open_looks() -> (String, &'static str) {
    if let Some(path) = std::env::var_os("XENSTORED_PATH") {
        return (
            format!("{} (from XENSTORED_PATH)", path.to_string_lossy()),
            "",
        );
    }
    let socket = match std::env::var_os("XENSTORED_RUNDIR") {
        Some(dir) => format!("{}/socket (XENSTORED_RUNDIR)", dir.to_string_lossy()),
        None => "/var/run/xenstored/socket".to_owned(),
    };
    let device = if std::path::Path::new("/dev/xen/xenbus").exists() {
        "/dev/xen/xenbus"
    } else {
        "/proc/xen/xenbus"
    };
    (
        format!("{socket}, then {device}"),
        " (XENSTORED_PATH=<socket> selects another daemon)",
    )
}

fn c_path(path: &str) -> Result<CString, Error> {
    CString::new(path).map_err(|_| Error::InvalidArgument(format!("NUL in xenstore path {path:?}")))
}

/// The error of the libxenstore call that just failed, from `errno`.
fn xs_error(op: &'static str, path: &str) -> Error {
    Error::Xenstore {
        op,
        path: Some(path.to_owned()),
        source: io::Error::last_os_error(),
    }
}

/// `Ok(None)` when the call that just failed did so because the node does not exist.
fn absent_or_error<T>(op: &'static str, path: &str) -> Result<Option<T>, Error> {
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ENOENT) {
        return Ok(None);
    }
    Err(Error::Xenstore {
        op,
        path: Some(path.to_owned()),
        source: err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_for_a_lent_handle_never_sleep() {
        for n in 0..=MAX_TRANSACTION_ATTEMPTS {
            assert_eq!(Retry::AtOnce.pause_before(n), None, "retry {n}");
        }
    }

    #[test]
    fn back_off_is_bounded() {
        let mut total = Duration::ZERO;
        for n in 1..MAX_TRANSACTION_ATTEMPTS {
            let pause = Retry::BackOff.pause_before(n).expect("a pause");
            let ceiling = Duration::from_micros(500 << (n.min(7) - 1));
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "retry {n}: {pause:?}"
            );
            total += pause;
        }
        assert!(total <= Duration::from_micros(352_000), "{total:?}");
    }
}
