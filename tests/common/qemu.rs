//! Writing records the way QEMU does, and connecting to a sandbox, for the tests that drive
//! the hooks against a real xenstored.

use super::sandbox::Sandbox;
use physmap_hooks::hooks::Domain;
use physmap_hooks::xenstore::Xenstore;
use physmap_hooks::{PhysmapRecord, Section};

/// A connection to the sandbox's daemon, as the hooks open one (`xs_open(0)`).
pub fn connect(sb: &Sandbox) -> Xenstore {
    sb.with_env(Xenstore::open).expect("connect to the sandbox")
}

/// Writes `section` the way QEMU does: three independent writes per record, no transaction.
pub fn qemu_writes(xs: &Xenstore, domain: Domain, section: &Section) {
    qemu_writes_in_order(xs, domain, section.records().iter());
}

/// The same, in a given order: QEMU records a mapping when the guest makes it.
pub fn qemu_writes_in_order<'a>(
    xs: &Xenstore,
    domain: Domain,
    records: impl Iterator<Item = &'a PhysmapRecord>,
) {
    let tx = xs.direct();
    for r in records {
        let base = format!("{}/{:x}", domain.physmap_dir(), r.phys_offset);
        tx.write(
            &format!("{base}/start_addr"),
            format!("{:x}", r.start_addr).as_bytes(),
        )
        .unwrap();
        tx.write(&format!("{base}/size"), format!("{:x}", r.size).as_bytes())
            .unwrap();
        if let Some(name) = &r.name {
            tx.write(&format!("{base}/name"), name.as_str().as_bytes())
                .unwrap();
        }
    }
}
