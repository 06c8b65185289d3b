//! Golden vectors and the rejection table of the two section formats.
//!
//! The expected bytes (tests/common/vectors.rs and below) are written out by hand from the
//! format rules (README, "Formats"), not produced by the encoder under test.

mod common;

use common::vectors::*;
use physmap_hooks::format::{self, kv, legacy, legacy::Layout, Format};
use physmap_hooks::{Section, SectionError};

#[test]
fn one_record_with_name() {
    let s = vram();
    assert_eq!(kv::encode(&s), VRAM_KV);
    assert_eq!(legacy::encode(&s, Layout::X86_64), vram_legacy_64());
    assert_eq!(legacy::encode(&s, Layout::X86_32), VRAM_LEGACY_32);
    assert_eq!(kv::decode(VRAM_KV).unwrap(), s);
    assert_eq!(
        legacy::decode(&vram_legacy_64(), Layout::X86_64).unwrap(),
        s
    );
    assert_eq!(legacy::decode(VRAM_LEGACY_32, Layout::X86_32).unwrap(), s);
}

#[test]
fn one_record_without_name() {
    let s = Section::new(vec![record(0x1000, 0xa0000, 0x20000, None)]).unwrap();
    let kv_bytes = b"physmap/1000/start_addr\0a0000\0physmap/1000/size\x0020000\0";
    let legacy_bytes: Vec<u8> = [
        &[1, 0, 0, 0, 1, 0, 0, 0][..],
        &[0, 0x10, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0x0a, 0, 0, 0, 0, 0],
        &[0, 0, 0x02, 0, 0, 0, 0, 0],
        &[0, 0, 0, 0], // namelen 0: no name
        &[0, 0, 0, 0], // x86_64 padding
    ]
    .concat();
    assert_eq!(kv::encode(&s), kv_bytes);
    assert_eq!(legacy::encode(&s, Layout::X86_64), legacy_bytes);
    assert_eq!(kv::decode(kv_bytes).unwrap(), s);
    assert_eq!(legacy::decode(&legacy_bytes, Layout::X86_64).unwrap(), s);
    assert_eq!(
        legacy::decode(&legacy_bytes[..legacy_bytes.len() - 4], Layout::X86_32).unwrap(),
        s
    );
}

#[test]
fn three_records_given_out_of_order_encode_sorted() {
    let s = Section::new(vec![
        record(0x3000, 0xe000_0000, 0x1000, Some("c")),
        record(0x1000, 0xc000_0000, 0x1000, None),
        record(0x2000, 0xd000_0000, 0x2000, Some("b")),
    ])
    .unwrap();
    let expected: &[u8] = b"physmap/1000/start_addr\0c0000000\0physmap/1000/size\x001000\0\
physmap/2000/start_addr\0d0000000\0physmap/2000/size\x002000\0physmap/2000/name\0b\0\
physmap/3000/start_addr\0e0000000\0physmap/3000/size\x001000\0physmap/3000/name\0c\0";
    assert_eq!(kv::encode(&s), expected);
    // Pairs of a record may come in any order, records too: the same section.
    let shuffled: &[u8] = b"physmap/3000/name\0c\0physmap/2000/size\x002000\0\
physmap/3000/size\x001000\0physmap/1000/size\x001000\0physmap/2000/name\0b\0\
physmap/3000/start_addr\0e0000000\0physmap/1000/start_addr\0c0000000\0\
physmap/2000/start_addr\0d0000000\0";
    assert_eq!(kv::decode(shuffled).unwrap(), s);
    let legacy_bytes = legacy::encode(&s, Layout::X86_64);
    // 8 + (32) + (32 + 2) + (32 + 2): header, then records in phys_offset order.
    assert_eq!(legacy_bytes.len(), 8 + 32 + 34 + 34);
    assert_eq!(&legacy_bytes[8..16], &0x1000u64.to_le_bytes());
    assert_eq!(&legacy_bytes[40..48], &0x2000u64.to_le_bytes());
    assert_eq!(&legacy_bytes[64..68], &2u32.to_le_bytes());
    assert_eq!(&legacy_bytes[68..70], b"b\0");
    assert_eq!(&legacy_bytes[70..74], &[0, 0, 0, 0]);
    assert_eq!(&legacy_bytes[74..82], &0x3000u64.to_le_bytes());
}

#[test]
fn maximum_sizes() {
    let s = largest_section();
    let kv_bytes = kv::encode(&s);
    // Per record: "physmap/" + 16 + "/start_addr\0" (36) + 16 + NUL, "physmap/" + 16 +
    // "/size\0" (30) + "1000\0", "physmap/" + 16 + "/name\0" (30) + 255 + NUL.
    assert_eq!(kv_bytes.len(), 1024 * (36 + 17 + 30 + 5 + 30 + 256));
    assert!(kv_bytes.starts_with(
        b"physmap/ffffffff00000000/start_addr\0fffffff000000000\0physmap/ffffffff00000000/size\x001000\0physmap/ffffffff00000000/name\x000000xxx"
    ));
    assert_eq!(kv::decode(&kv_bytes).unwrap(), s);
    let wide = legacy::encode(&s, Layout::X86_64);
    assert_eq!(wide.len(), 8 + 1024 * (32 + 256));
    assert_eq!(legacy::decode(&wide, Layout::X86_64).unwrap(), s);
    let narrow = legacy::encode(&s, Layout::X86_32);
    assert_eq!(narrow.len(), 8 + 1024 * (28 + 256));
    assert_eq!(legacy::decode(&narrow, Layout::X86_32).unwrap(), s);
}

#[test]
fn detection_and_conversion() {
    assert_eq!(format::detect(VRAM_KV), Ok(Format::XenstoreKv));
    assert_eq!(format::detect(&vram_legacy_64()), Ok(Format::LegacyV1));
    assert_eq!(format::detect(VRAM_LEGACY_32), Ok(Format::LegacyV1_32));
    assert_eq!(
        format::decode(VRAM_LEGACY_32, None).unwrap(),
        (Format::LegacyV1_32, vram())
    );
    assert_eq!(
        format::decode(b"", None).unwrap(),
        (Format::XenstoreKv, Section::default())
    );
    // An empty legacy chunk (what libxl 4.5 wrote without physmap) reads the same either way.
    assert_eq!(
        format::decode(&[1, 0, 0, 0, 0, 0, 0, 0], None).unwrap(),
        (Format::LegacyV1, Section::default())
    );
    assert_eq!(
        format::convert(&vram_legacy_64(), None, Format::XenstoreKv).unwrap(),
        VRAM_KV
    );
    assert_eq!(
        format::convert(VRAM_KV, Some(Format::XenstoreKv), Format::LegacyV1).unwrap(),
        vram_legacy_64()
    );
    assert_eq!(
        format::convert(VRAM_LEGACY_32, Some(Format::LegacyV1_32), Format::LegacyV1).unwrap(),
        vram_legacy_64()
    );
}

#[test]
fn legacy_padding_content_is_ignored() {
    // libxl 4.2-4.5 left these 4 bytes uninitialised: any value must decode.
    let mut bytes = vram_legacy_64();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(legacy::decode(&bytes, Layout::X86_64).unwrap(), vram());
}

#[test]
fn every_rule_has_its_rejection() {
    for (what, fmt, bytes, check) in rejection_cases() {
        let err = format::decode(&bytes, Some(fmt)).expect_err(what);
        assert!(check(&err), "{what}: unexpected error {err:?}");
        // Auto-detection reaches the same verdict for every case it can classify.
        if !matches!(err, SectionError::EmptyKey { .. }) {
            let auto = format::decode(&bytes, None).expect_err(what);
            assert!(check(&auto), "{what} (auto): unexpected error {auto:?}");
        }
    }
}

#[test]
fn unknown_format_is_refused() {
    let err = format::detect(&[0xff, 0xfe, 0, 0]).unwrap_err();
    assert_eq!(
        err,
        SectionError::UnknownFormat {
            prefix: "ff fe 00 00".into()
        }
    );
    assert!(matches!(
        format::decode(b"\0x\0", None),
        Err(SectionError::UnknownFormat { .. })
    ));
}

#[test]
fn errors_say_where() {
    let err =
        kv::decode(b"physmap/1000/start_addr\0a0000\0physmap/1000/size\x000x1000\0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "byte offset 48 (key `physmap/1000/size`): size is \"0x1000\"; expected 1 to 16 lowercase hex digits without leading zeros"
    );
    let err = legacy::decode(
        &legacy_section(1, &[legacy_record(0x1000, 0xa0000, 0x1000, 3, b"vga")]),
        Layout::X86_64,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "byte offset 38: name is not NUL-terminated: expected 0x00 as its last byte, found 0x61"
    );
    let err = kv::decode(b"physmap/1000/size\x001000\0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "byte offset 0 (key `physmap/1000`): record has no `start_addr`"
    );
}

#[test]
fn limits_are_told_apart_from_malformed_input() {
    for (what, fmt, bytes, _) in rejection_cases() {
        let err = format::decode(&bytes, Some(fmt)).unwrap_err();
        let limit = what.contains("1 MiB") || what.contains("1024") || what.contains("256 bytes");
        assert_eq!(err.is_limit(), limit, "{what}: {err}");
    }
}
