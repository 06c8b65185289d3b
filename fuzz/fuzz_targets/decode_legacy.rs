//! LEGACY_V1 decoder. The first input byte picks the layout (even: x86_64, odd: 32-bit), the
//! rest is the chunk. Never panics, and every section it accepts survives encode -> decode
//! in the same layout unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use physmap_hooks::format::legacy::{self, Layout};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, chunk)) = data.split_first() else {
        return;
    };
    let layout = if selector & 1 == 0 {
        Layout::X86_64
    } else {
        Layout::X86_32
    };
    let Ok(section) = legacy::decode(chunk, layout) else {
        return;
    };
    let encoded = legacy::encode(&section, layout);
    let again = legacy::decode(&encoded, layout).unwrap_or_else(|e| {
        panic!("legacy::encode ({layout:?}) produced bytes decode refuses: {e}")
    });
    assert_eq!(
        again, section,
        "legacy round trip ({layout:?}) changed the section"
    );
    assert_eq!(
        legacy::encode(&again, layout),
        encoded,
        "legacy::encode is not deterministic"
    );
});
