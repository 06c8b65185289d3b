//! XENSTORE_KV decoder: never panics, and every section it accepts survives
//! encode -> decode unchanged (and re-encodes to the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use physmap_hooks::format::kv;

fuzz_target!(|data: &[u8]| {
    let Ok(section) = kv::decode(data) else {
        return;
    };
    let encoded = kv::encode(&section);
    let again = kv::decode(&encoded).expect("kv::encode produced bytes kv::decode refuses");
    assert_eq!(again, section, "kv round trip changed the section");
    assert_eq!(
        kv::encode(&again),
        encoded,
        "kv::encode is not deterministic"
    );
});
