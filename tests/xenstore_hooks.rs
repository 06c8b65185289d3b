//! Save and restore against a real xenstored (tests/common/sandbox.rs): transactions,
//! permissions, conflicts, refused writes, and every rejection rule leaving the store as it
//! was.

mod common;

use common::qemu::*;
use common::sandbox::{Daemon, Options, Sandbox};
use common::vectors::*;
use physmap_hooks::ffi::{self, physmap_hook_opts};
use physmap_hooks::format::{self, Format};
use physmap_hooks::hooks::{self, Domain};
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

fn path_max(n: u32) -> Options {
    Options {
        path_max: Some(n),
        ..Options::default()
    }
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
    for fmt in [Format::XenstoreKv, Format::LegacyV1] {
        let bytes = save(&xs, GUEST, fmt).unwrap();
        assert_eq!(bytes, format::encode(&section, fmt));
        let dest = Sandbox::start();
        let dest_xs = connect(&dest);
        assert_eq!(restore(&dest_xs, GUEST, &bytes).unwrap(), 1024);
        // xenstored lists children in creation order, and restore creates them in
        // phys_offset order: the same nodes and values, listed in another order.
        let (original, restored) = (listing(&sb, GUEST), listing(&dest, GUEST));
        assert_ne!(original, restored);
        assert_eq!(sorted_lines(&restored), sorted_lines(&original));
        assert_eq!(save(&dest_xs, GUEST, fmt).unwrap(), bytes);
    }
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
    let sb = Sandbox::start_with(path_max(45));
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
/// (in a transaction of its own, see `hooks::restore_section`) and removes it again.
#[test]
fn refused_restore_removes_the_directory_it_created() {
    let sb = Sandbox::start_with(path_max(45));
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

/// Another connection rewrites the physmap while a save transaction is open: the commit
/// conflicts, the whole read is redone, and the result is the new state, never a mix.
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
    assert_eq!(attempts, 2);
    assert_eq!(committed.conflicts, 1);
    assert_eq!(committed.value, second);
}

/// A transaction that conflicts on every attempt is given up after the bound.
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
