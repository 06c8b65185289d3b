//! Format detection + decoding (`format::decode(data, None)`). Never panics; a section it
//! accepts as format F re-encodes in F and decodes (with F named) to the same section; and
//! `detect` names the same format the decoder chose.
#![no_main]

use libfuzzer_sys::fuzz_target;
use physmap_hooks::format;

fuzz_target!(|data: &[u8]| {
    let Ok((fmt, section)) = format::decode(data, None) else {
        return;
    };
    let encoded = format::encode(&section, fmt);
    match format::decode(&encoded, Some(fmt)) {
        Ok((got_fmt, got)) => {
            assert_eq!(got_fmt, fmt, "decode(.., Some(F)) reported another format");
            assert_eq!(got, section, "{fmt} round trip changed the section");
        }
        Err(e) => {
            panic!("format::encode({fmt}) produced bytes decode(.., Some({fmt})) refuses: {e}")
        }
    }
    // Empty input is an empty KV section for `decode` but has no format for `detect`.
    if !data.is_empty() {
        assert_eq!(
            format::detect(data),
            Ok(fmt),
            "detect disagrees with decode(.., None)"
        );
    }
});
