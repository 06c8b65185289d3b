//! The optional target-domain checks of a restore (cargo feature `domain-checks`).
//!
//! Before the restore hook writes anything, it asks libxenctrl about the target domain:
//! it must exist, be an HVM guest and not be dying, and every record's guest range
//! `[start_addr, start_addr + size)` must lie at or below its highest guest frame
//! (`xc_domain_maximum_gpfn`, inclusive): the range's last frame `(end - 1) / 4096` must be
//! `<= max_gpfn`, i.e. `end <= (max_gpfn + 1) * 4096`. Each failed check has its own error
//! (and C code); checks are made in that order and the first failure is returned.
//!
//! libxenctrl is declared here by hand, for x86_64 and Xen 4.17's domctl interface
//! (`XEN_DOMCTL_INTERFACE_VERSION` 0x15): its ABI is versioned per Xen release (soname
//! `libxenctrl.so.4.17`), which the link pins. The `xenctrl-sys` crate is not used: it is
//! GPL-3.0-only, which cannot be combined with libxl. A test compares the struct layout with
//! the installed `<xenctrl.h>`. See `docs/domain-checks.md`.

use crate::error::{Error, Location};
use crate::logging::CallLog;
use crate::record::{Section, PAGE_SIZE};
use std::io;
use std::os::raw::{c_int, c_uint, c_ulong, c_void};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the `domain-checks` feature declares libxenctrl's x86_64 ABI only");

/// `xen_pfn_t` on x86 (`<xen/arch-x86/xen.h>`): `unsigned long`.
#[allow(non_camel_case_types)]
type xen_pfn_t = c_ulong;

/// `XEN_DOMINF_dying` (`<xen/domctl.h>`): the domain is scheduled to die.
const XEN_DOMINF_DYING: u32 = 1 << 0;
/// `XEN_DOMINF_hvm_guest`: an HVM (or PVH) guest, as opposed to a PV guest.
const XEN_DOMINF_HVM_GUEST: u32 = 1 << 1;

/// `xc_domaininfo_t`, i.e. `struct xen_domctl_getdomaininfo` of Xen 4.17 on x86_64
/// (112 bytes). Only `domain` and `flags` are read, but libxenctrl writes whole entries.
#[repr(C)]
#[derive(Clone, Copy)]
struct XcDomainInfo {
    domain: u16,
    _pad1: u16,
    flags: u32,
    _tot_pages: u64,
    _max_pages: u64,
    _outstanding_pages: u64,
    _shr_pages: u64,
    _paged_pages: u64,
    _shared_info_frame: u64,
    _cpu_time: u64,
    _nr_online_vcpus: u32,
    _max_vcpu_id: u32,
    _ssidref: u32,
    _handle: [u8; 16],
    _cpupool: u32,
    _gpaddr_bits: u8,
    _pad2: [u8; 7],
    /// `struct xen_arch_domainconfig` on x86: `emulation_flags`, `misc_flags`.
    _arch_config: [u32; 2],
}

const _: () = assert!(std::mem::size_of::<XcDomainInfo>() == 112);
const _: () = assert!(std::mem::align_of::<XcDomainInfo>() == 8);

impl XcDomainInfo {
    fn zeroed() -> Self {
        // SAFETY: plain integers and arrays; all zeros is a valid value.
        unsafe { std::mem::zeroed() }
    }
}

#[link(name = "xenctrl")]
extern "C" {
    fn xc_interface_open(
        logger: *mut c_void,
        dombuild_logger: *mut c_void,
        open_flags: c_uint,
    ) -> *mut c_void;
    fn xc_interface_close(xch: *mut c_void) -> c_int;
    fn xc_domain_getinfolist(
        xch: *mut c_void,
        first_domain: u32,
        max_domains: c_uint,
        info: *mut XcDomainInfo,
    ) -> c_int;
    fn xc_domain_maximum_gpfn(xch: *mut c_void, domid: u32, gpfns: *mut xen_pfn_t) -> c_int;
}

/// The process's `xc_interface`, and the process that opened it.
struct Shared {
    xch: NonNull<c_void>,
    pid: u32,
}

// SAFETY: the handle is opened without XC_OPENFLAG_NON_REENTRANT, so libxenctrl allows
// calls on it from any thread at the same time (as libxl does with its own handle).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// Opened on the first check, kept for the life of the process (never closed).
static SHARED: OnceLock<Shared> = OnceLock::new();

/// The handle one check uses.
enum Xc {
    /// The process's shared handle.
    Shared(NonNull<c_void>),
    /// A handle for this call only, closed on drop: in a child forked after the shared
    /// handle was opened, which libxenctrl forbids using.
    Owned(NonNull<c_void>),
}

impl Xc {
    /// The shared handle, opened on first use. A failed open is not remembered: the next
    /// call tries again. Two threads racing on the first call may both open one; the one
    /// that loses closes its own.
    fn get() -> Result<Xc, Error> {
        let pid = std::process::id();
        if let Some(shared) = SHARED.get() {
            return if shared.pid == pid {
                Ok(Xc::Shared(shared.xch))
            } else {
                open().map(Xc::Owned)
            };
        }
        let xch = open()?;
        match SHARED.set(Shared { xch, pid }) {
            Ok(()) => Ok(Xc::Shared(xch)),
            Err(lost) => {
                close(lost.xch);
                Xc::get()
            }
        }
    }

    fn as_ptr(&self) -> *mut c_void {
        match self {
            Xc::Shared(xch) | Xc::Owned(xch) => xch.as_ptr(),
        }
    }
}

impl Drop for Xc {
    fn drop(&mut self) {
        if let Xc::Owned(xch) = self {
            close(*xch);
        }
    }
}

/// `xc_interface_open(NULL, NULL, 0)`: libxenctrl logs its own errors to stderr.
fn open() -> Result<NonNull<c_void>, Error> {
    // SAFETY: NULL loggers are allowed; flags 0 is a reentrant handle.
    let xch = unsafe { xc_interface_open(ptr::null_mut(), ptr::null_mut(), 0) };
    NonNull::new(xch).ok_or_else(|| Error::Xenctrl {
        op: "xc_interface_open",
        source: io::Error::last_os_error(),
    })
}

fn close(xch: NonNull<c_void>) {
    // SAFETY: `xch` came from xc_interface_open and is not used afterwards.
    unsafe { xc_interface_close(xch.as_ptr()) };
}

/// The domain's `flags`, or `None` when it does not exist. `xc_domain_getinfolist` answers
/// with the first domain whose id is `>= domid`, so the id it returns is compared.
fn domain_flags(xc: &Xc, domid: u32) -> Result<Option<u32>, Error> {
    let mut info = XcDomainInfo::zeroed();
    // SAFETY: room for the one entry asked for.
    let n = unsafe { xc_domain_getinfolist(xc.as_ptr(), domid, 1, &mut info) };
    match n {
        n if n < 0 => Err(Error::Xenctrl {
            op: "xc_domain_getinfolist",
            source: io::Error::last_os_error(),
        }),
        0 => Ok(None),
        _ => Ok((u32::from(info.domain) == domid).then_some(info.flags)),
    }
}

/// The domain's highest guest frame number (inclusive).
fn maximum_gpfn(xc: &Xc, domid: u32) -> Result<u64, Error> {
    let mut gpfn: xen_pfn_t = 0;
    // SAFETY: `gpfn` is valid for the write.
    let rc = unsafe { xc_domain_maximum_gpfn(xc.as_ptr(), domid, &mut gpfn) };
    if rc < 0 {
        let source = io::Error::last_os_error();
        // The domain went away since it was looked up.
        if source.raw_os_error() == Some(libc::ESRCH) {
            return Err(Error::NoDomain { domid });
        }
        return Err(Error::Xenctrl {
            op: "xc_domain_maximum_gpfn",
            source,
        });
    }
    Ok(gpfn) // `unsigned long` is u64 on x86_64 (the only target declared)
}

/// Existence, type and state of the domain, from its `flags` (`None`: no such domain).
fn check_state(domid: u32, flags: Option<u32>) -> Result<(), Error> {
    let Some(flags) = flags else {
        return Err(Error::NoDomain { domid });
    };
    if flags & XEN_DOMINF_HVM_GUEST == 0 {
        return Err(Error::NotHvm { domid });
    }
    if flags & XEN_DOMINF_DYING != 0 {
        return Err(Error::DomainDying { domid });
    }
    Ok(())
}

/// Every record's guest range ends at or below frame `max_gpfn` (inclusive).
fn check_ranges(domid: u32, section: &Section, max_gpfn: u64) -> Result<(), Error> {
    for r in section.records() {
        // A valid record has size > 0 and no overflow (record.rs): end >= 1.
        let last_gpfn = (r.end_addr() - 1) / PAGE_SIZE;
        if last_gpfn > max_gpfn {
            return Err(Error::OutOfRange {
                at: Location::Record {
                    phys_offset: r.phys_offset,
                },
                domid,
                start: r.start_addr,
                end: r.end_addr(),
                last_gpfn,
                max_gpfn,
            });
        }
    }
    Ok(())
}

/// Checks that domain `domid` exists, is an HVM guest, is not dying, and that every
/// record of `section` lies below its highest guest frame. Makes no xenstore request.
pub fn check(domid: u32, section: &Section, log: &CallLog) -> Result<(), Error> {
    let xc = Xc::get()?;
    check_state(domid, domain_flags(&xc, domid)?)?;
    let max_gpfn = maximum_gpfn(&xc, domid)?;
    check_ranges(domid, section, max_gpfn)?;
    log.debug(format_args!(
        "domain checks passed: HVM, not dying, {} records at or below frame {max_gpfn:#x}",
        section.len()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PhysmapRecord;
    use std::mem::offset_of;
    use std::process::Command;

    fn section(ranges: &[(u64, u64)]) -> Section {
        Section::new(
            ranges
                .iter()
                .enumerate()
                .map(|(i, &(start_addr, size))| PhysmapRecord {
                    phys_offset: (i as u64) << 32,
                    start_addr,
                    size,
                    name: None,
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn state_checks_in_order() {
        let hvm = XEN_DOMINF_HVM_GUEST;
        assert!(check_state(5, Some(hvm)).is_ok());
        // Shut down, paused, running...: only `dying` is refused.
        assert!(check_state(5, Some(hvm | 0xfffc)).is_ok());
        assert!(matches!(
            check_state(5, None),
            Err(Error::NoDomain { domid: 5 })
        ));
        assert!(matches!(
            check_state(5, Some(0)),
            Err(Error::NotHvm { domid: 5 })
        ));
        assert!(matches!(
            check_state(5, Some(XEN_DOMINF_DYING)),
            Err(Error::NotHvm { .. })
        ));
        assert!(matches!(
            check_state(5, Some(hvm | XEN_DOMINF_DYING)),
            Err(Error::DomainDying { domid: 5 })
        ));
    }

    #[test]
    fn ranges_end_at_or_below_the_highest_frame() {
        // max_gpfn 0xfffff: addresses below 0x1_0000_0000 (4 GiB).
        let max = 0xfffff;
        assert!(check_ranges(5, &section(&[(0xf100_0000, 0x80_0000)]), max).is_ok());
        assert!(check_ranges(5, &section(&[(0xffff_f000, 0x1000)]), max).is_ok());
        assert!(check_ranges(5, &section(&[(0, 0x1_0000_0000)]), max).is_ok());
        let err = check_ranges(
            5,
            &section(&[(0xa0000, 0x1000), (0xffff_f000, 0x2000)]),
            max,
        )
        .unwrap_err();
        match err {
            Error::OutOfRange {
                at,
                start,
                end,
                last_gpfn,
                max_gpfn,
                ..
            } => {
                assert_eq!(
                    at,
                    Location::Record {
                        phys_offset: 1 << 32
                    }
                );
                assert_eq!((start, end), (0xffff_f000, 0x1_0000_1000));
                assert_eq!((last_gpfn, max_gpfn), (0x100000, max));
            }
            other => panic!("{other}"),
        }
        // The extremes: no overflow at the top of the address space, frame 0 alone.
        let top = section(&[(u64::MAX - 0xfff - 0x1000, 0x1000)]);
        assert!(check_ranges(5, &top, u64::MAX).is_ok());
        assert!(check_ranges(5, &top, u64::MAX / PAGE_SIZE - 2).is_err());
        assert!(check_ranges(5, &section(&[(0, 0x1000)]), 0).is_ok());
        assert!(check_ranges(5, &section(&[(0, 0x2000)]), 0).is_err());
        assert!(check_ranges(5, &Section::default(), 0).is_ok());
    }

    /// The declared layout is the one of the installed `<xenctrl.h>` (libxen-dev), field by
    /// field: a C program prints sizeof, alignof and every offsetof.
    #[test]
    fn layout_matches_the_installed_xenctrl_h() {
        let dir = std::env::temp_dir().join(format!("physmap-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("layout.c");
        let exe = dir.join("layout");
        let fields = [
            "domain",
            "pad1",
            "flags",
            "tot_pages",
            "max_pages",
            "outstanding_pages",
            "shr_pages",
            "paged_pages",
            "shared_info_frame",
            "cpu_time",
            "nr_online_vcpus",
            "max_vcpu_id",
            "ssidref",
            "handle",
            "cpupool",
            "gpaddr_bits",
            "pad2",
            "arch_config",
        ];
        let mut c = String::from(
            "#include <stdio.h>\n#include <stddef.h>\n#include <xenctrl.h>\nint main(void) {\n\
             printf(\"%zu %zu %zu %d %u %u\", sizeof(xc_domaininfo_t), \
             _Alignof(xc_domaininfo_t), sizeof(xen_pfn_t), XEN_DOMCTL_INTERFACE_VERSION, \
             XEN_DOMINF_dying, XEN_DOMINF_hvm_guest);\n",
        );
        for f in fields {
            c += &format!("printf(\" %zu\", offsetof(xc_domaininfo_t, {f}));\n");
        }
        c += "printf(\"\\n\");\nreturn 0;\n}\n";
        std::fs::write(&src, c).unwrap();
        let built = Command::new("gcc")
            .args(["-Wall", "-Werror", "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("run gcc");
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let out = Command::new(&exe).output().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let c_says: Vec<u64> = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        type I = XcDomainInfo;
        let rust_says: Vec<u64> = [
            std::mem::size_of::<I>(),
            std::mem::align_of::<I>(),
            std::mem::size_of::<xen_pfn_t>(),
            0x15, // the domctl interface version this declaration is for (Xen 4.17)
            XEN_DOMINF_DYING as usize,
            XEN_DOMINF_HVM_GUEST as usize,
            offset_of!(I, domain),
            offset_of!(I, _pad1),
            offset_of!(I, flags),
            offset_of!(I, _tot_pages),
            offset_of!(I, _max_pages),
            offset_of!(I, _outstanding_pages),
            offset_of!(I, _shr_pages),
            offset_of!(I, _paged_pages),
            offset_of!(I, _shared_info_frame),
            offset_of!(I, _cpu_time),
            offset_of!(I, _nr_online_vcpus),
            offset_of!(I, _max_vcpu_id),
            offset_of!(I, _ssidref),
            offset_of!(I, _handle),
            offset_of!(I, _cpupool),
            offset_of!(I, _gpaddr_bits),
            offset_of!(I, _pad2),
            offset_of!(I, _arch_config),
        ]
        .iter()
        .map(|&n| n as u64)
        .collect();
        assert_eq!(
            c_says, rust_says,
            "sizeof, alignof, sizeof(xen_pfn_t), XEN_DOMCTL_INTERFACE_VERSION, flags, offsets"
        );
    }
}
