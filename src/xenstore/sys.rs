//! Hand-declared `libxenstore` entry points (`<xenstore.h>`, stable since Xen 4.2).
//!
//! Only what the hooks use. Declared by hand rather than through `xenstore-sys`, which is
//! GPL-3.0-only and so cannot be combined with libxl (LGPL-2.1).

#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_uint, c_void};

/// `struct xs_handle`: opaque.
#[repr(C)]
pub struct xs_handle {
    _private: [u8; 0],
}

/// `xs_transaction_t`; 0 (`XBT_NULL`) means "no transaction".
pub type xs_transaction_t = u32;
pub const XBT_NULL: xs_transaction_t = 0;

/// `struct xs_permissions` (`<xenstore_lib.h>`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct xs_permissions {
    pub id: c_uint,
    pub perms: c_uint,
}

pub const XS_PERM_NONE: c_uint = 0x00;
pub const XS_PERM_READ: c_uint = 0x01;
pub const XS_PERM_WRITE: c_uint = 0x02;

#[link(name = "xenstore")]
extern "C" {
    pub fn xs_open(flags: std::os::raw::c_ulong) -> *mut xs_handle;
    pub fn xs_close(h: *mut xs_handle);
    /// Returns one malloc'ed block holding the array and the strings; release with `free`.
    pub fn xs_directory(
        h: *mut xs_handle,
        t: xs_transaction_t,
        path: *const c_char,
        num: *mut c_uint,
    ) -> *mut *mut c_char;
    /// Returns a malloc'ed, NUL-terminated copy of the value; `*len` excludes the NUL.
    pub fn xs_read(
        h: *mut xs_handle,
        t: xs_transaction_t,
        path: *const c_char,
        len: *mut c_uint,
    ) -> *mut c_void;
    pub fn xs_write(
        h: *mut xs_handle,
        t: xs_transaction_t,
        path: *const c_char,
        data: *const c_void,
        len: c_uint,
    ) -> bool;
    pub fn xs_mkdir(h: *mut xs_handle, t: xs_transaction_t, path: *const c_char) -> bool;
    pub fn xs_rm(h: *mut xs_handle, t: xs_transaction_t, path: *const c_char) -> bool;
    /// Returns a malloc'ed array; release with `free`.
    pub fn xs_get_permissions(
        h: *mut xs_handle,
        t: xs_transaction_t,
        path: *const c_char,
        num: *mut c_uint,
    ) -> *mut xs_permissions;
    pub fn xs_set_permissions(
        h: *mut xs_handle,
        t: xs_transaction_t,
        path: *const c_char,
        perms: *mut xs_permissions,
        num: c_uint,
    ) -> bool;
    pub fn xs_transaction_start(h: *mut xs_handle) -> xs_transaction_t;
    /// `false` with `errno == EAGAIN` when the transaction conflicted and must be redone.
    pub fn xs_transaction_end(h: *mut xs_handle, t: xs_transaction_t, abort: bool) -> bool;
}
