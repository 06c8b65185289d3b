//! Property tests of the codecs: round trips for every valid section, and no panic on any
//! input.

use physmap_hooks::format::{self, kv, legacy, legacy::Layout, Format};
use physmap_hooks::{Location, PhysmapRecord, RecordName, Section};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

const PAGE: u64 = 4096;

fn record_name() -> impl Strategy<Value = Option<RecordName>> {
    proptest::option::of("[ -~]{0,255}")
        .prop_map(|n| n.map(|n| RecordName::new(n.as_bytes(), Location::Byte(0)).unwrap()))
}

/// Any valid section: distinct page-aligned phys_offsets, guest ranges laid out without
/// overlap (with gaps) in an order unrelated to phys_offset, sizes up to 4 GiB, addresses
/// up to the top of the 64-bit space.
fn valid_section() -> impl Strategy<Value = Section> {
    (0usize..24)
        .prop_flat_map(|n| {
            (
                btree_set(0u64..(1 << 51), n),
                vec((1u64..(1 << 20), 0u64..(1 << 20), record_name()), n),
                0u64..(1 << 51),
                Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
            )
        })
        .prop_map(|(offset_pages, shapes, base_page, seed)| {
            let mut next_start = base_page * PAGE;
            let mut records: Vec<PhysmapRecord> = offset_pages
                .into_iter()
                .zip(shapes)
                .map(|(offset_page, (size_pages, gap_pages, name))| {
                    let start_addr = next_start + gap_pages * PAGE;
                    let size = size_pages * PAGE;
                    next_start = start_addr + size;
                    PhysmapRecord {
                        phys_offset: offset_page * PAGE,
                        start_addr,
                        size,
                        name,
                    }
                })
                .collect();
            // Decouple guest-address order from phys_offset order.
            let n = records.len();
            if n > 1 {
                records.rotate_left((seed % n as u64) as usize);
            }
            Section::new(records).expect("generated section is valid")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(section in valid_section()) {
        for fmt in [Format::XenstoreKv, Format::LegacyV1, Format::LegacyV1_32] {
            let bytes = format::encode(&section, fmt);
            let (got_fmt, got) = format::decode(&bytes, Some(fmt)).unwrap();
            prop_assert_eq!(got_fmt, fmt);
            prop_assert_eq!(&got, &section);
            // Detection finds the format it was written in.
            let (auto_fmt, auto) = format::decode(&bytes, None).unwrap();
            prop_assert_eq!(&auto, &section);
            if !section.is_empty() {
                prop_assert_eq!(auto_fmt, fmt);
            }
        }
    }

    #[test]
    fn kv_to_legacy_to_kv_is_identity(section in valid_section()) {
        let kv_bytes = kv::encode(&section);
        for to in [Format::LegacyV1, Format::LegacyV1_32] {
            let legacy_bytes = format::convert(&kv_bytes, Some(Format::XenstoreKv), to).unwrap();
            let back = format::convert(&legacy_bytes, Some(to), Format::XenstoreKv).unwrap();
            prop_assert_eq!(&back, &kv_bytes);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..600)) {
        let _ = format::decode(&bytes, None);
        let _ = kv::decode(&bytes);
        let _ = legacy::decode(&bytes, Layout::X86_64);
        let _ = legacy::decode(&bytes, Layout::X86_32);
    }

    /// Random bytes rarely get past the first check; damaged valid sections reach every
    /// rule. Whatever decodes must be valid, i.e. encode and decode again unchanged.
    #[test]
    fn decoding_damaged_sections_never_panics(
        section in valid_section(),
        fmt in prop_oneof![Just(Format::XenstoreKv), Just(Format::LegacyV1), Just(Format::LegacyV1_32)],
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = format::encode(&section, fmt);
        if bytes.is_empty() {
            return Ok(());
        }
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        for candidate in [None, Some(fmt)] {
            if let Ok((got_fmt, got)) = format::decode(&bytes, candidate) {
                let again = format::decode(&format::encode(&got, got_fmt), Some(got_fmt)).unwrap();
                prop_assert_eq!(again.1, got);
            }
        }
    }
}
