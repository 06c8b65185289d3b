//! Save and restore against a real xenstored (tests/common/sandbox.rs): transactions,
//! permissions, conflicts, refused writes, and every rejection rule leaving the store as it
//! was.

mod common;

use common::qemu::*;
use common::sandbox::{Daemon, Options, Sandbox};
use common::vectors::*;
use physmap_hooks::ffi::{self, physmap_hook_opts};
use physmap_hooks::format::{self, Format};
use physmap_hooks::hooks::{self, CreatedDir, Domain};
use physmap_hooks::logging::CallLog;
use physmap_hooks::xenstore::{xs_permissions, Xenstore, XS_PERM_NONE, XS_PERM_READ};
use physmap_hooks::{Error, Location, Section, SectionError};

const GUEST: Domain = Domain {
    domid: 5,
    dm_domid: 0,
};

/// `xenstore-ls -f` of the domain's device-model directory.
fn listing(sb: &Sandbox, domain: Domain) -> String {
    let out = sb.tool("xenstore-ls", &["-f", &domain.device_model_dir()]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn save(xs: &Xenstore, domain: Domain, fmt: Format) -> Result<Vec<u8>, Error> {
    hooks::save(xs, domain, fmt, &CallLog::stderr(domain.domid))
}

fn restore(xs: &Xenstore, domain: Domain, bytes: &[u8]) -> Result<usize, Error> {
    hooks::restore(xs, domain, bytes, None, &CallLog::stderr(domain.domid))
}

#[test]
fn qemu_records_save_to_golden_bytes_and_restore_identically() {
    let source = Sandbox::start();
    let xs = connect(&source);
    xs.direct().mkdir(&GUEST.device_model_dir()).unwrap(); // as libxl does
    qemu_writes(&xs, GUEST, &vram());
    assert_eq!(save(&xs, GUEST, Format::XenstoreKv).unwrap(), VRAM_KV);
    assert_eq!(
        save(&xs, GUEST, Format::LegacyV1).unwrap(),
        vram_legacy_64()
    );
    let original = listing(&source, GUEST);
    assert!(
        original.contains("physmap/f0000000/name = \"vga.vram\""),
        "{original}"
    );

    for golden in [VRAM_KV.to_vec(), vram_legacy_64(), VRAM_LEGACY_32.to_vec()] {
        let dest = Sandbox::start();
        let xs = connect(&dest);
        assert_eq!(restore(&xs, GUEST, &golden).unwrap(), 1);
        assert_eq!(listing(&dest, GUEST), original);
    }
}

#[test]
fn no_physmap_or_empty_physmap_saves_nothing() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    assert_eq!(save(&xs, GUEST, Format::XenstoreKv).unwrap(), b"");
    xs.direct().mkdir(&GUEST.physmap_dir()).unwrap();
    assert_eq!(save(&xs, GUEST, Format::LegacyV1).unwrap(), b"");
    // An empty section writes nothing at all.
    let before = sb.dump();
    assert_eq!(
        restore(
            &xs,
            Domain {
                domid: 9,
                dm_domid: 0
            },
            b""
        )
        .unwrap(),
        0
    );
    assert_eq!(sb.dump(), before);
}

#[test]
fn entry_without_name_round_trips() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    let section = Section::new(vec![record(0x1000, 0xa0000, 0x20000, None)]).unwrap();
    qemu_writes(&xs, GUEST, &section);
    let bytes = save(&xs, GUEST, Format::XenstoreKv).unwrap();
    assert_eq!(bytes, format::encode(&section, Format::XenstoreKv));
    let dest = Sandbox::start();
    restore(&connect(&dest), GUEST, &bytes).unwrap();
    assert_eq!(listing(&dest, GUEST), listing(&sb, GUEST));
}

#[test]
fn largest_section_round_trips() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    let section = largest_section();
    // Not in phys_offset order, as a guest may map its regions.
    qemu_writes_in_order(&xs, GUEST, section.records().iter().rev());
    if sb.daemon() == Daemon::OCaml {
        // 1024 names of 16 hex digits: a 17 408-byte listing, which oxenstored 4.17 cannot
        // send (see listing_limit_at_its_boundary). The save fails on its own connection.
        let err = save(&xs, GUEST, Format::XenstoreKv).unwrap_err();
        assert!(
            matches!(err, Error::Section(SectionError::ListingTooLarge { .. })),
            "{err}"
        );
        // Restoring it works: writing lists nothing. Compared node by node, since
        // xenstore-ls cannot list it either.
        let bytes = format::encode(&section, Format::XenstoreKv);
        let dest = Sandbox::start();
        let dest_xs = connect(&dest);
        assert_eq!(restore(&dest_xs, GUEST, &bytes).unwrap(), 1024);
        let (a, b) = (connect(&sb), dest_xs.direct());
        for r in section.records() {
            for field in ["start_addr", "size", "name"] {
                let node = format!("{}/{:x}/{field}", GUEST.physmap_dir(), r.phys_offset);
                assert_eq!(a.direct().read(&node).unwrap(), b.read(&node).unwrap());
            }
        }
        return;
    }
    for fmt in [Format::XenstoreKv, Format::LegacyV1] {
        let bytes = save(&xs, GUEST, fmt).unwrap();
        assert_eq!(bytes, format::encode(&section, fmt));
        let dest = Sandbox::start();
        let dest_xs = connect(&dest);
        assert_eq!(restore(&dest_xs, GUEST, &bytes).unwrap(), 1024);
        // The C xenstored lists children in creation order, and restore creates them in
        // phys_offset order: the same nodes and values, listed in another order.
        let (original, restored) = (listing(&sb, GUEST), listing(&dest, GUEST));
        assert_ne!(original, restored);
        assert_eq!(sorted_lines(&restored), sorted_lines(&original));
        assert_eq!(save(&dest_xs, GUEST, fmt).unwrap(), bytes);
    }
}

/// Records without names whose `phys_offset`s take `eight` names of 8 hex digits and `nine`
/// of 9: a listing of `9 * eight + 10 * nine` bytes, NULs included.
fn listing_of(eight: u64, nine: u64) -> Section {
    let offsets = (0..eight)
        .map(|i| 0x1000_0000 + i * 0x1000)
        .chain((0..nine).map(|i| 0x1_0000_0000 + i * 0x1000));
    Section::new(
        offsets
            .enumerate()
            .map(|(k, off)| record(off, 0x10_0000_0000 + k as u64 * 0x1000, 0x1000, None))
            .collect(),
    )
    .unwrap()
}

/// Save through the C ABI with a borrowed handle, as patched libxl calls it.
fn abi_save(sb: &Sandbox, handle: &Xenstore, domid: u32) -> Result<Vec<u8>, i32> {
    let opts = physmap_hook_opts {
        xs_handle: handle.as_ptr(),
        ..Default::default()
    };
    let mut buf: *mut u8 = std::ptr::null_mut();
    let mut len = 0u32;
    // The save opens a connection of its own (xs_open(0)), as it would in libxl's process:
    // XENSTORED_PATH must name this sandbox meanwhile.
    let rc = sb.with_env(|| unsafe { ffi::physmap_save_hook(domid, &opts, &mut buf, &mut len) });
    if rc != ffi::PHYSMAP_OK {
        return Err(rc);
    }
    let bytes = unsafe { std::slice::from_raw_parts(buf, len as usize) }.to_vec();
    unsafe { ffi::physmap_free(buf.cast()) };
    Ok(bytes)
}

/// The borrowed handle still does everything libxl does with it: read, write, commit.
fn assert_alive(handle: &Xenstore, what: &str) {
    let tx = handle.direct();
    tx.write("/toolstack/alive", what.as_bytes())
        .unwrap_or_else(|e| panic!("{what}: the borrowed handle is dead: {e}"));
    assert_eq!(
        tx.read("/toolstack/alive").unwrap().as_deref(),
        Some(what.as_bytes())
    );
    handle
        .transaction(|tx| tx.write("/toolstack/tx", b"1"))
        .unwrap_or_else(|e| panic!("{what}: no transaction on the borrowed handle: {e}"));
}

/// The largest directory each daemon can list, at its boundary. oxenstored 4.17 sends a
/// listing in one reply, and libxenstore takes at most 4096 bytes of payload: names of 4096
/// bytes with their NULs list, 4097 do not. The C daemon pages a larger listing
/// (XS_DIRECTORY_PART), so there the library's own limit of 1024 records is the boundary.
/// Either way the caller's handle survives.
#[test]
fn listing_limit_at_its_boundary() {
    let sb = Sandbox::start();
    let toolstack = connect(&sb); // stands for libxl's CTX->xsh
    let writer = connect(&sb);
    let log = CallLog::stderr(0);
    let cases = [
        (11, listing_of(454, 1)),  // 4096 bytes of names: 455 records
        (12, listing_of(453, 2)),  // 4097 bytes
        (13, listing_of(1024, 0)), // the record limit: 9216 bytes
    ];
    for (domid, section) in &cases {
        let domain = Domain {
            domid: *domid,
            dm_domid: 0,
        };
        hooks::restore(
            &writer,
            domain,
            &format::encode(section, Format::XenstoreKv),
            None,
            &log,
        )
        .unwrap();
        let expected = format::encode(section, Format::XenstoreKv);
        let listed: usize = section
            .records()
            .iter()
            .map(|r| format!("{:x}", r.phys_offset).len() + 1)
            .sum();
        let saved = abi_save(&sb, &toolstack, *domid);
        match (sb.daemon(), listed <= 4096) {
            (Daemon::C, _) | (Daemon::OCaml, true) => {
                assert_eq!(saved, Ok(expected), "{listed}-byte listing")
            }
            (Daemon::OCaml, false) => {
                assert_eq!(saved, Err(ffi::PHYSMAP_E_LIMIT), "{listed}-byte listing")
            }
        }
        assert_alive(&toolstack, &format!("after a {listed}-byte listing"));
    }
    // One record more than the limit (only a writer of the directory can put it there).
    let domain = Domain {
        domid: 14,
        dm_domid: 0,
    };
    qemu_writes(&writer, domain, &listing_of(1024, 0));
    qemu_writes(&writer, domain, &listing_of(0, 1));
    assert_eq!(abi_save(&sb, &toolstack, 14), Err(ffi::PHYSMAP_E_LIMIT));
    let err = save(&writer, domain, Format::XenstoreKv).unwrap_err();
    match sb.daemon() {
        Daemon::C => assert!(
            matches!(err, Error::Section(SectionError::TooManyRecords { .. })),
            "{err}"
        ),
        Daemon::OCaml => assert!(
            matches!(err, Error::Section(SectionError::ListingTooLarge { .. })),
            "{err}"
        ),
    }
    assert_alive(&toolstack, "after 1025 records");
}

/// A device model controls its `physmap` directory (a stub domain's quota allows 1000
/// nodes; dom0 can write any number). No content of it may break the handle the caller
/// lent: on oxenstored 4.17 a listing over 4096 bytes makes libxenstore drop the
/// connection it came on, so the save must never list on the caller's handle.
#[test]
fn no_directory_content_breaks_the_borrowed_handle() {
    let sb = Sandbox::start();
    let toolstack = connect(&sb);
    let device_model = connect(&sb);
    let dir = GUEST.physmap_dir();
    let mut entries = 0u64;
    for total in [100u64, 455, 456, 1000, 1025, 3000] {
        // Bare entries with 8-digit names, as a hostile device model may create them.
        while entries < total {
            let node = format!("{dir}/{:x}", 0x1000_0000 + entries * 0x1000);
            device_model.direct().write(&node, b"").unwrap();
            entries += 1;
        }
        let listable = match sb.daemon() {
            Daemon::C => total <= 1024,
            Daemon::OCaml => 9 * total <= 4096,
        };
        let expected = if listable {
            ffi::PHYSMAP_E_MALFORMED // entries without start_addr
        } else {
            ffi::PHYSMAP_E_LIMIT
        };
        assert_eq!(
            abi_save(&sb, &toolstack, GUEST.domid),
            Err(expected),
            "{total} entries"
        );
        assert_alive(&toolstack, &format!("after a save of {total} entries"));
    }
    // The handle restores and saves as before: restore replaces the whole directory.
    let opts = physmap_hook_opts {
        xs_handle: toolstack.as_ptr(),
        ..Default::default()
    };
    let rc = unsafe {
        ffi::physmap_restore_hook(GUEST.domid, &opts, VRAM_KV.as_ptr(), VRAM_KV.len() as u32)
    };
    assert_eq!(rc, ffi::PHYSMAP_OK);
    assert_eq!(abi_save(&sb, &toolstack, GUEST.domid).unwrap(), VRAM_KV);
    assert_alive(&toolstack, "at the end");
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn stub_domain_device_model() {
    let stubdom = Domain {
        domid: 5,
        dm_domid: 7,
    };
    let sb = Sandbox::start();
    let xs = connect(&sb);
    qemu_writes(&xs, stubdom, &vram());
    // dom0's tree for the same guest is not the stub domain's.
    assert_eq!(save(&xs, GUEST, Format::XenstoreKv).unwrap(), b"");
    let bytes = save(&xs, stubdom, Format::XenstoreKv).unwrap();
    assert_eq!(bytes, VRAM_KV);

    // Restoring where the device-model directory does not exist yet creates it owned by
    // the stub domain, readable by the guest, as libxl__spawn_stub_dm does.
    let dest = Sandbox::start();
    let dest_xs = connect(&dest);
    restore(&dest_xs, stubdom, &bytes).unwrap();
    let expected = [
        xs_permissions {
            id: 7,
            perms: XS_PERM_NONE,
        },
        xs_permissions {
            id: 5,
            perms: XS_PERM_READ,
        },
    ];
    let tx = dest_xs.direct();
    for node in [
        "",
        "/physmap",
        "/physmap/f0000000",
        "/physmap/f0000000/name",
    ] {
        let path = format!("{}{node}", stubdom.device_model_dir());
        assert_eq!(tx.get_permissions(&path).unwrap(), expected, "{path}");
    }
    assert_eq!(
        dest.read("/local/domain/7/device-model/5/physmap/f0000000/start_addr")
            .as_deref(),
        Some("f1000000")
    );
}

#[test]
fn records_get_the_permissions_of_the_device_model_directory() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    let dm_dir = GUEST.device_model_dir();
    sb.write(&dm_dir, "");
    assert!(sb
        .tool("xenstore-chmod", &[&dm_dir, "n0", "r5", "w9"])
        .status
        .success());
    restore(&xs, GUEST, VRAM_KV).unwrap();
    let dump = sb.dump();
    for node in ["physmap", "physmap/f0000000", "physmap/f0000000/start_addr"] {
        let line = format!("{dm_dir}/{node} = ");
        let line = dump.lines().find(|l| l.starts_with(&line)).expect(node);
        assert!(line.ends_with("   (n0,r5,w9)"), "{line}");
    }
    // An empty default for dom0's device model: owned by dom0 only.
    let other = Domain {
        domid: 6,
        dm_domid: 0,
    };
    restore(&xs, other, VRAM_KV).unwrap();
    assert_eq!(
        xs.direct()
            .get_permissions(&format!(
                "{}/physmap/f0000000/size",
                other.device_model_dir()
            ))
            .unwrap(),
        [xs_permissions {
            id: 0,
            perms: XS_PERM_NONE
        }]
    );
}

#[test]
fn restore_replaces_stale_records() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    let stale = Section::new(vec![
        record(0x1000, 0xa0000, 0x1000, Some("old")),
        record(0xf000_0000, 0xe000_0000, 0x1000, None),
    ])
    .unwrap();
    qemu_writes(&xs, GUEST, &stale);
    sb.write(&format!("{}/state", GUEST.device_model_dir()), "running");
    restore(&xs, GUEST, VRAM_KV).unwrap();
    assert_eq!(save(&xs, GUEST, Format::XenstoreKv).unwrap(), VRAM_KV);
    // Only physmap is replaced: the rest of the device-model directory stays.
    assert_eq!(
        sb.read(&format!("{}/state", GUEST.device_model_dir()))
            .as_deref(),
        Some("running")
    );
}

#[test]
fn save_names_the_node_of_an_invalid_record() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    let dir = GUEST.physmap_dir();
    sb.write(&format!("{dir}/f0000000/size"), "800000");
    match save(&xs, GUEST, Format::XenstoreKv) {
        Err(Error::Section(SectionError::MissingField { at, field })) => {
            assert_eq!(field, "start_addr");
            assert_eq!(at, Location::Path(format!("{dir}/f0000000")));
        }
        other => panic!("{other:?}"),
    }
    sb.write(&format!("{dir}/f0000000/start_addr"), "0xf1000000");
    let err = save(&xs, GUEST, Format::XenstoreKv).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("xenstore node `{dir}/f0000000/start_addr`: start_addr is \"0xf1000000\"; expected 1 to 16 lowercase hex digits without leading zeros")
    );
    sb.write(&format!("{dir}/f0000000/start_addr"), "f1000000");
    sb.write(&format!("{dir}/F0/start_addr"), "0");
    assert!(matches!(
        save(&xs, GUEST, Format::XenstoreKv),
        Err(Error::Section(SectionError::BadNumber {
            field: "phys_offset",
            ..
        }))
    ));
}

/// Every rejection case of the format rules, through the C ABI's restore: the right code,
/// and the whole store byte-identical before and after.
#[test]
fn rejected_sections_leave_the_store_untouched() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    // Something to lose: existing records of the same domain and a permission change.
    qemu_writes(&xs, GUEST, &vram());
    assert!(sb
        .tool("xenstore-chmod", &[&GUEST.device_model_dir(), "n0", "r5"])
        .status
        .success());
    let before = sb.dump();
    let opts = physmap_hook_opts {
        xs_handle: xs.as_ptr(),
        ..Default::default()
    };
    for (what, fmt, bytes, _) in rejection_cases() {
        let opts = physmap_hook_opts {
            format: match fmt {
                Format::XenstoreKv => ffi::PHYSMAP_FORMAT_XENSTORE_KV,
                Format::LegacyV1 => ffi::PHYSMAP_FORMAT_LEGACY_V1,
                Format::LegacyV1_32 => ffi::PHYSMAP_FORMAT_LEGACY_V1_32,
            },
            ..opts
        };
        let rc = unsafe { ffi::physmap_restore_hook(5, &opts, bytes.as_ptr(), bytes.len() as u32) };
        let limit = what.contains("1 MiB") || what.contains("1024") || what.contains("256 bytes");
        let expected = if limit {
            ffi::PHYSMAP_E_LIMIT
        } else {
            ffi::PHYSMAP_E_MALFORMED
        };
        assert_eq!(rc, expected, "{what}");
        assert_eq!(sb.dump(), before, "{what} changed the store");
    }
}

/// Xenstored started with `-M 45` must refuse a write of this section's second record, whose
/// paths are longer than the first's: "device-model/5/physmap/1000/start_addr" is 38 bytes
/// after /local/domain/0/; with offset fffffffff0000000 it is 50.
fn second_record_over_path_max() -> Vec<u8> {
    let section = Section::new(vec![
        record(0x1000, 0xa0000, 0x1000, Some("fits")),
        record(0xffff_ffff_f000_0000, 0xc0000, 0x1000, None),
    ])
    .unwrap();
    format::encode(&section, Format::XenstoreKv)
}

/// A write refused inside the restore transaction: xenstored's path-length limit (`-M`)
/// applies to dom0 too. The first record's paths fit, the second's longer offset does not.
#[test]
fn write_refused_mid_transaction_leaves_the_store_untouched() {
    let sb = Sandbox::start_path_limited(45);
    let xs = connect(&sb);
    let existing = Section::new(vec![record(0x2000, 0xb0000, 0x1000, Some("old"))]).unwrap();
    qemu_writes(&xs, GUEST, &existing);
    let before = sb.dump();
    let bytes = second_record_over_path_max();
    // xenstored answers EINVAL for a path over its -M limit.
    match restore(&xs, GUEST, &bytes) {
        Err(Error::Xenstore {
            op: "write",
            path,
            source,
        }) => {
            let path = path.expect("a write names its node");
            assert!(
                path.ends_with("/physmap/fffffffff0000000/start_addr"),
                "{path}"
            );
            assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
        }
        other => panic!("expected a refused write, got {other:?}"),
    }
    assert_eq!(sb.dump(), before);
}

/// The same refusal where the device-model directory did not exist: the restore created it
/// (with one mkdir, see `hooks::restore_section`) and removes it again.
#[test]
fn refused_restore_removes_the_directory_it_created() {
    let sb = Sandbox::start_path_limited(45);
    let xs = connect(&sb);
    sb.write("/local/domain/0/device-model", "");
    let before = sb.dump();
    let bytes = second_record_over_path_max();
    assert!(matches!(
        restore(&xs, GUEST, &bytes),
        Err(Error::Xenstore { op: "write", .. })
    ));
    assert_eq!(sb.dump(), before);
}

/// A failed restore leaves xenstore as it was, every node: when `device-model`, the device
/// model domain's home or `/local/domain` itself did not exist, the `mkdir` of the domain's
/// directory created them too, and they go again. Through the C ABI with a borrowed handle.
#[test]
fn failed_restore_removes_every_parent_it_created() {
    for dm_domid in [0, 7] {
        let domain = Domain { domid: 5, dm_domid };
        for existing in ["", "/local/domain", "/local/domain/0", "/local/domain/7"] {
            let sb = Sandbox::start_path_limited(45);
            let xs = connect(&sb);
            if !existing.is_empty() {
                sb.write(existing, "");
            }
            let before = sb.dump();
            let opts = physmap_hook_opts {
                xs_handle: xs.as_ptr(),
                dm_domid,
                ..Default::default()
            };
            let bytes = second_record_over_path_max();
            // The clean-up lists directories on a connection of its own (xs_open(0)).
            let rc = sb.with_env(|| unsafe {
                ffi::physmap_restore_hook(5, &opts, bytes.as_ptr(), bytes.len() as u32)
            });
            assert_eq!(rc, ffi::PHYSMAP_E_XENSTORE, "{domain:?} with {existing:?}");
            assert_eq!(sb.dump(), before, "{domain:?} with {existing:?}");
            // And the same restore that fits succeeds there afterwards.
            restore(&xs, domain, VRAM_KV).unwrap();
            assert_eq!(save(&xs, domain, Format::XenstoreKv).unwrap(), VRAM_KV);
        }
    }
}

/// The clean-up removes only what is still empty: another restore may have created its own
/// domain's directory under the `device-model` this one created, between this one's
/// `mkdir` and its failure.
#[test]
fn clean_up_keeps_what_another_restore_created_meanwhile() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    let other = connect(&sb);
    let log = CallLog::stderr(GUEST.domid);
    let created = CreatedDir::probe(&xs, GUEST)
        .unwrap()
        .expect("no directory yet");
    xs.direct().mkdir(&GUEST.device_model_dir()).unwrap();
    other
        .direct()
        .write("/local/domain/0/device-model/6/physmap/1000/size", b"1000")
        .unwrap();
    created.remove(&xs, &log);
    assert_eq!(xs.direct().read(&GUEST.device_model_dir()).unwrap(), None);
    assert_eq!(
        sb.read("/local/domain/0/device-model/6/physmap/1000/size")
            .as_deref(),
        Some("1000")
    );
    // With nothing else there, everything it created goes.
    sb.tool("xenstore-rm", &["/local/domain/0/device-model/6"]);
    let before = sb.dump();
    let created = CreatedDir::probe(&xs, GUEST)
        .unwrap()
        .expect("no directory");
    xs.direct().mkdir(&GUEST.device_model_dir()).unwrap();
    created.remove(&xs, &log);
    assert_eq!(sb.dump(), before);
}

/// A value over oxenstored's `quota-maxsize` (which, unlike the C daemon's `-S`, applies to
/// dom0 too) refused mid-transaction, into a store without `/local/domain`: nothing stays.
#[test]
fn oxenstored_value_quota_refusal_leaves_no_parents() {
    let sb = Sandbox::launch(
        Daemon::OCaml,
        Options {
            max_size: Some(100),
            ..Options::default()
        },
    );
    let xs = connect(&sb);
    let before = sb.dump();
    let section = Section::new(vec![
        record(0x1000, 0xa0000, 0x1000, Some("short")),
        record(0x2000, 0xb0000, 0x1000, Some(&"n".repeat(200))),
    ])
    .unwrap();
    let err = restore(&xs, GUEST, &format::encode(&section, Format::XenstoreKv)).unwrap_err();
    assert!(
        matches!(&err, Error::Xenstore { op: "write", path: Some(path), .. } if path.ends_with("/2000/name")),
        "{err}"
    );
    assert_eq!(sb.dump(), before);
}

/// Requests a restore of three records makes (libxl's built-in code: 9 writes), from the
/// daemon's own log. Where the device-model directory does not exist yet (what `xl restore`
/// always hits): two probes (the directory, then its parent, for the clean-up of a failed
/// restore), one mkdir, one transaction (start, 9 writes, commit) = 14; one more for a stub
/// domain, whose directory's permissions are not the ones a new node inherits.
#[test]
fn request_count_of_a_restore() {
    let sb = Sandbox::start_traced();
    let xs = connect(&sb);
    sb.write("/local/domain/0/device-model", "");
    sb.write("/local/domain/7/device-model", "");
    let three = Section::new(vec![
        record(0xf000_0000, 0xf100_0000, 0x80_0000, Some("vga.vram")),
        record(0x1000, 0xa_0000, 0x2_0000, Some("rom")),
        record(0x2000, 0xc_0000, 0x1000, Some("bios")),
    ])
    .unwrap();
    let bytes = format::encode(&three, Format::XenstoreKv);
    let stubdom = Domain {
        domid: 5,
        dm_domid: 7,
    };
    for (what, domain, expected) in [
        ("new directory, dom0 device model", GUEST, 14),
        ("new directory, stub domain", stubdom, 15),
        ("existing directory", GUEST, 13), // a probe, start, rm physmap, 9 writes, commit
    ] {
        let (from, _) = sb.requests_since(0);
        restore(&xs, domain, &bytes).unwrap();
        let (_, requests) = sb.requests_since(from);
        let list: Vec<String> = requests.iter().map(|r| r.to_string()).collect();
        assert_eq!(requests.len(), expected, "{what}: {list:#?}");
    }
}

/// Another connection rewrites the physmap while a save transaction is open. Either way the
/// save returns one whole state, never a mix; how differs by daemon. The C daemon fails the
/// commit of a transaction whose reads changed: the whole read is redone and returns the
/// new state. oxenstored runs a transaction on a snapshot and commits one that only read
/// (FACTS.md §8): the save returns the state at its start, in one attempt.
#[test]
fn conflicting_writer_makes_save_retry_and_return_one_state() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    let writer = connect(&sb);
    let first = Section::new(vec![record(0x1000, 0xa0000, 0x1000, Some("one"))]).unwrap();
    let second = Section::new(vec![record(0x1000, 0xd0000, 0x2000, Some("two"))]).unwrap();
    qemu_writes(&xs, GUEST, &first);

    let mut attempts = 0;
    let committed = xs
        .transaction(|tx| {
            attempts += 1;
            let seen = hooks::read_section(tx, GUEST)?;
            if attempts == 1 {
                assert_eq!(seen, first);
                qemu_writes(&writer, GUEST, &second);
                // Inside the transaction the store still reads as it was: no mix.
                assert_eq!(hooks::read_section(tx, GUEST)?, first);
            }
            Ok(seen)
        })
        .unwrap();
    let (want_attempts, want_value) = match sb.daemon() {
        Daemon::C => (2, &second),
        Daemon::OCaml => (1, &first),
    };
    assert_eq!(attempts, want_attempts);
    assert_eq!(committed.conflicts, want_attempts - 1);
    assert_eq!(&committed.value, want_value);
    assert_eq!(hooks::save_section(&xs, GUEST).unwrap().value, second);
}

/// A transaction that conflicts on every attempt is given up after the bound. It reads the
/// records another connection keeps rewriting and writes a node of its own: both daemons
/// fail such a commit (oxenstored commits a transaction that only read).
#[test]
fn endless_conflicts_are_bounded() {
    let sb = Sandbox::start();
    let xs = connect(&sb);
    let writer = connect(&sb);
    qemu_writes(&xs, GUEST, &vram());
    let mut attempts = 0;
    let result = xs.transaction(|tx| {
        attempts += 1;
        hooks::read_section(tx, GUEST)?;
        tx.write(&format!("{}/state", GUEST.device_model_dir()), b"saving")?;
        writer.direct().write(
            &format!("{}/f0000000/name", GUEST.physmap_dir()),
            format!("v{attempts}").as_bytes(),
        )?;
        Ok(())
    });
    assert!(
        matches!(result, Err(Error::Conflict { attempts: 16 })),
        "{result:?}"
    );
    assert_eq!(attempts, 16);
}

/// A caller that lends its handle (libxl, under its ctx lock) gets transactions retried at
/// once, also on the connection a save opens for its listing; only connections the library
/// opened for a caller who lent nothing pause between retries.
#[test]
fn no_sleeping_retries_for_a_lent_handle() {
    use physmap_hooks::xenstore::Retry;
    let sb = Sandbox::start();
    let own = connect(&sb);
    assert_eq!(own.retry(), Retry::BackOff);
    own.own_connection(|c| {
        assert_eq!(c.retry(), Retry::BackOff);
        Ok(())
    })
    .unwrap();
    let lent = unsafe { Xenstore::borrow(std::ptr::NonNull::new(own.as_ptr()).unwrap()) };
    assert_eq!(lent.retry(), Retry::AtOnce);
    sb.with_env(|| {
        lent.own_connection(|c| {
            // A connection of its own, not the lent one, and retrying as for the lender.
            assert_ne!(c.as_ptr(), lent.as_ptr());
            assert_eq!(c.retry(), Retry::AtOnce);
            Ok(())
        })
    })
    .unwrap();
}
