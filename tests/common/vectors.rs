//! Hand-written section vectors shared by the codec and xenstore tests: the golden
//! encodings of the README's format rules, and one input per rejection rule.

use physmap_hooks::format::Format;
use physmap_hooks::{Location, PhysmapRecord, RecordName, Section, SectionError};

pub fn name(text: &str) -> Option<RecordName> {
    Some(RecordName::new(text.as_bytes(), Location::Byte(0)).unwrap())
}

pub fn record(phys_offset: u64, start_addr: u64, size: u64, n: Option<&str>) -> PhysmapRecord {
    PhysmapRecord {
        phys_offset,
        start_addr,
        size,
        name: n.and_then(name),
    }
}

/// The VGA framebuffer: 8 MiB of `vga.vram` at 0xf1000000, QEMU RAM offset 0xf0000000.
pub fn vram() -> Section {
    Section::new(vec![record(
        0xf000_0000,
        0xf100_0000,
        0x80_0000,
        Some("vga.vram"),
    )])
    .unwrap()
}

pub const VRAM_KV: &[u8] = b"physmap/f0000000/start_addr\0f1000000\0\
physmap/f0000000/size\x00800000\0\
physmap/f0000000/name\0vga.vram\0";

/// version 1, count 1, then phys_offset, start_addr, size (u64 LE), namelen 9 (u32 LE),
/// "vga.vram\0" and, in the x86_64 layout, 4 padding bytes.
pub const VRAM_LEGACY_32: &[u8] = &[
    1, 0, 0, 0, 1, 0, 0, 0, // version, count
    0, 0, 0, 0xf0, 0, 0, 0, 0, // phys_offset
    0, 0, 0, 0xf1, 0, 0, 0, 0, // start_addr
    0, 0, 0x80, 0, 0, 0, 0, 0, // size
    9, 0, 0, 0, // namelen
    b'v', b'g', b'a', b'.', b'v', b'r', b'a', b'm', 0,
];

pub fn vram_legacy_64() -> Vec<u8> {
    [VRAM_LEGACY_32, &[0, 0, 0, 0]].concat()
}

/// KV bytes of one record with the given values (as text).
pub fn kv_record(off: &str, start: &str, size: &str) -> Vec<u8> {
    format!("physmap/{off}/start_addr\0{start}\0physmap/{off}/size\0{size}\0").into_bytes()
}

/// A legacy x86_64 record.
pub fn legacy_record(off: u64, start: u64, size: u64, namelen: u32, name: &[u8]) -> Vec<u8> {
    [
        &off.to_le_bytes()[..],
        &start.to_le_bytes(),
        &size.to_le_bytes(),
        &namelen.to_le_bytes(),
        name,
        &[0, 0, 0, 0],
    ]
    .concat()
}

pub fn legacy_section(count: u32, records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = [1u32.to_le_bytes(), count.to_le_bytes()].concat();
    for r in records {
        out.extend_from_slice(r);
    }
    out
}

/// 1024 records (the limit), 16-digit numbers, 255-byte names (the limit).
pub fn largest_section() -> Section {
    let records = (0..1024u64)
        .map(|i| PhysmapRecord {
            phys_offset: 0xffff_ffff_0000_0000 + i * 0x1000,
            start_addr: 0xffff_fff0_0000_0000 + i * 0x1000,
            size: 0x1000,
            name: name(&format!("{i:04}{}", "x".repeat(251))),
        })
        .collect();
    Section::new(records).unwrap()
}

pub type Check = fn(&SectionError) -> bool;

/// One case per rejection rule: (what, format, input, expected variant).
pub fn rejection_cases() -> Vec<(&'static str, Format, Vec<u8>, Check)> {
    use SectionError as E;
    let ok_legacy = legacy_record(0x1000, 0xa0000, 0x1000, 0, b"");
    let many_kv: Vec<u8> = (0..1025u64)
        .flat_map(|i| {
            kv_record(
                &format!("{:x}", (i + 1) * 0x1000),
                &format!("{:x}", (i + 1) * 0x10000),
                "1000",
            )
        })
        .collect();
    vec![
        (
            "section over 1 MiB",
            Format::XenstoreKv,
            vec![b'p'; (1 << 20) + 1],
            |e| matches!(e, E::SectionTooLarge { .. }),
        ),
        (
            "more than 1024 records (kv)",
            Format::XenstoreKv,
            many_kv,
            |e| matches!(e, E::TooManyRecords { .. }),
        ),
        (
            "more than 1024 records (legacy)",
            Format::LegacyV1,
            legacy_section(1025, &[]),
            |e| matches!(e, E::TooManyRecords { .. }),
        ),
        (
            "key without NUL",
            Format::XenstoreKv,
            b"physmap/1000/size".to_vec(),
            |e| matches!(e, E::KeyNotTerminated { .. }),
        ),
        (
            "value without NUL",
            Format::XenstoreKv,
            b"physmap/1000/size\x001000".to_vec(),
            |e| matches!(e, E::ValueNotTerminated { .. }),
        ),
        ("empty key", Format::XenstoreKv, b"\0x\0".to_vec(), |e| {
            matches!(e, E::EmptyKey { .. })
        }),
        (
            "absolute key",
            Format::XenstoreKv,
            b"/local/domain/0/x\0y\0".to_vec(),
            |e| matches!(e, E::AbsoluteKey { .. }),
        ),
        (
            "key outside physmap",
            Format::XenstoreKv,
            b"state\0running\0".to_vec(),
            |e| matches!(e, E::UnexpectedKey { .. }),
        ),
        (
            "unknown physmap field",
            Format::XenstoreKv,
            b"physmap/1000/owner\0x\0".to_vec(),
            |e| matches!(e, E::UnexpectedKey { .. }),
        ),
        (
            "key too deep",
            Format::XenstoreKv,
            b"physmap/1000/size/x\x001000\0".to_vec(),
            |e| matches!(e, E::UnexpectedKey { .. }),
        ),
        (
            "key without field",
            Format::XenstoreKv,
            b"physmap/1000\x001000\0".to_vec(),
            |e| matches!(e, E::UnexpectedKey { .. }),
        ),
        (
            "offset not hex",
            Format::XenstoreKv,
            kv_record("10g0", "a0000", "1000"),
            |e| {
                matches!(
                    e,
                    E::BadNumber {
                        field: "phys_offset",
                        ..
                    }
                )
            },
        ),
        (
            "missing start_addr",
            Format::XenstoreKv,
            b"physmap/1000/size\x001000\0".to_vec(),
            |e| {
                matches!(
                    e,
                    E::MissingField {
                        field: "start_addr",
                        ..
                    }
                )
            },
        ),
        (
            "missing size",
            Format::XenstoreKv,
            b"physmap/1000/start_addr\0a0000\0physmap/1000/name\0v\0".to_vec(),
            |e| matches!(e, E::MissingField { field: "size", .. }),
        ),
        (
            "duplicate key",
            Format::XenstoreKv,
            [
                kv_record("1000", "a0000", "1000"),
                b"physmap/1000/size\x002000\0".to_vec(),
            ]
            .concat(),
            |e| matches!(e, E::DuplicateKey { .. }),
        ),
        (
            "0x prefix",
            Format::XenstoreKv,
            kv_record("1000", "0xa0000", "1000"),
            |e| {
                matches!(
                    e,
                    E::BadNumber {
                        field: "start_addr",
                        ..
                    }
                )
            },
        ),
        (
            "uppercase hex",
            Format::XenstoreKv,
            kv_record("1000", "A0000", "1000"),
            |e| matches!(e, E::BadNumber { .. }),
        ),
        (
            "leading zero",
            Format::XenstoreKv,
            kv_record("1000", "a0000", "01000"),
            |e| matches!(e, E::BadNumber { field: "size", .. }),
        ),
        (
            "empty number",
            Format::XenstoreKv,
            kv_record("1000", "", "1000"),
            |e| matches!(e, E::BadNumber { .. }),
        ),
        (
            "17 hex digits",
            Format::XenstoreKv,
            kv_record("1000", "10000000000000000", "1000"),
            |e| matches!(e, E::BadNumber { .. }),
        ),
        (
            "size 0",
            Format::XenstoreKv,
            kv_record("1000", "a0000", "0"),
            |e| matches!(e, E::ZeroSize { .. }),
        ),
        (
            "start_addr + size overflows",
            Format::XenstoreKv,
            kv_record("1000", "fffffffffffff000", "2000"),
            |e| {
                matches!(
                    e,
                    E::RangeOverflow {
                        field: "start_addr",
                        ..
                    }
                )
            },
        ),
        (
            "phys_offset + size overflows",
            Format::XenstoreKv,
            kv_record("fffffffffffff000", "1000", "2000"),
            |e| {
                matches!(
                    e,
                    E::RangeOverflow {
                        field: "phys_offset",
                        ..
                    }
                )
            },
        ),
        (
            "start_addr unaligned",
            Format::XenstoreKv,
            kv_record("1000", "a0800", "1000"),
            |e| {
                matches!(
                    e,
                    E::Unaligned {
                        field: "start_addr",
                        ..
                    }
                )
            },
        ),
        (
            "size unaligned",
            Format::XenstoreKv,
            kv_record("1000", "a0000", "fff"),
            |e| matches!(e, E::Unaligned { field: "size", .. }),
        ),
        (
            "phys_offset unaligned",
            Format::XenstoreKv,
            kv_record("1001", "a0000", "1000"),
            |e| {
                matches!(
                    e,
                    E::Unaligned {
                        field: "phys_offset",
                        ..
                    }
                )
            },
        ),
        (
            "guest ranges overlap",
            Format::XenstoreKv,
            [
                kv_record("1000", "a0000", "2000"),
                kv_record("2000", "a1000", "1000"),
            ]
            .concat(),
            |e| matches!(e, E::Overlap { .. }),
        ),
        (
            "name of 256 bytes",
            Format::XenstoreKv,
            [
                kv_record("1000", "a0000", "1000"),
                format!("physmap/1000/name\0{}\0", "n".repeat(256)).into_bytes(),
            ]
            .concat(),
            |e| matches!(e, E::NameTooLong { .. }),
        ),
        (
            "name not printable",
            Format::XenstoreKv,
            [
                kv_record("1000", "a0000", "1000"),
                b"physmap/1000/name\0vga\x01\0".to_vec(),
            ]
            .concat(),
            |e| {
                matches!(
                    e,
                    E::NameNotPrintable {
                        index: 3,
                        byte: 1,
                        ..
                    }
                )
            },
        ),
        (
            "name not ASCII",
            Format::XenstoreKv,
            [
                kv_record("1000", "a0000", "1000"),
                "physmap/1000/name\0vgä\0".as_bytes().to_vec(),
            ]
            .concat(),
            |e| matches!(e, E::NameNotPrintable { .. }),
        ),
        (
            "legacy shorter than its header",
            Format::LegacyV1,
            vec![1, 0, 0, 0, 0],
            |e| matches!(e, E::Truncated { .. }),
        ),
        (
            "legacy version 2",
            Format::LegacyV1,
            [2u32.to_le_bytes(), 0u32.to_le_bytes()].concat(),
            |e| matches!(e, E::UnsupportedVersion { found: 2, .. }),
        ),
        (
            "count past the end",
            Format::LegacyV1,
            legacy_section(2, std::slice::from_ref(&ok_legacy)),
            |e| matches!(e, E::CountPastEnd { count: 2, .. }),
        ),
        (
            "namelen past the end",
            Format::LegacyV1,
            legacy_section(
                1,
                &[legacy_record(0x1000, 0xa0000, 0x1000, 0xffff_fff0, b"")],
            ),
            |e| matches!(e, E::NameLenPastEnd { .. }),
        ),
        (
            "second record header truncated",
            Format::LegacyV1,
            {
                let mut v = legacy_section(
                    2,
                    &[legacy_record(0x1000, 0xa0000, 0x1000, 20, &[b'a'; 20])],
                );
                v[8 + 28 + 19] = 0;
                v.extend_from_slice(&[0; 16]);
                v
            },
            |e| matches!(e, E::Truncated { .. }),
        ),
        (
            "padding missing",
            Format::LegacyV1,
            {
                let mut v = vram_legacy_64();
                v.truncate(v.len() - 1);
                v
            },
            |e| {
                matches!(
                    e,
                    E::Truncated {
                        expected: "the record's padding after the name",
                        ..
                    }
                )
            },
        ),
        (
            "name without its NUL",
            Format::LegacyV1,
            legacy_section(1, &[legacy_record(0x1000, 0xa0000, 0x1000, 3, b"vga")]),
            |e| matches!(e, E::NameNotTerminated { .. }),
        ),
        (
            "name with a NUL inside",
            Format::LegacyV1,
            legacy_section(1, &[legacy_record(0x1000, 0xa0000, 0x1000, 4, b"v\0a\0")]),
            |e| matches!(e, E::NameContainsNul { .. }),
        ),
        (
            "trailing bytes",
            Format::LegacyV1,
            {
                let mut v = legacy_section(1, std::slice::from_ref(&ok_legacy));
                v.push(0);
                v
            },
            |e| matches!(e, E::TrailingBytes { count: 1, .. }),
        ),
        (
            "duplicate phys_offset",
            Format::LegacyV1,
            legacy_section(
                2,
                &[
                    ok_legacy.clone(),
                    legacy_record(0x1000, 0xb0000, 0x1000, 0, b""),
                ],
            ),
            |e| {
                matches!(
                    e,
                    E::DuplicateRecord {
                        phys_offset: 0x1000,
                        ..
                    }
                )
            },
        ),
        (
            "legacy size 0",
            Format::LegacyV1,
            legacy_section(1, &[legacy_record(0x1000, 0xa0000, 0, 0, b"")]),
            |e| matches!(e, E::ZeroSize { .. }),
        ),
        (
            "legacy name of 256 bytes",
            Format::LegacyV1,
            legacy_section(
                1,
                &[legacy_record(
                    0x1000,
                    0xa0000,
                    0x1000,
                    257,
                    &[[b'n'; 256].as_slice(), &[0]].concat(),
                )],
            ),
            |e| matches!(e, E::NameTooLong { len: 256, .. }),
        ),
    ]
}
