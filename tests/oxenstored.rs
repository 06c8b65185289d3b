//! Tests of oxenstored alone, whichever daemon the run chose (`XENSTORE_DAEMON`): its fault
//! injector, `test-eagain`, which the C daemon does not have. `make check` runs this file
//! once. (Its quotas that apply to dom0 are tested in xenstore_hooks.rs.)

mod common;

use common::qemu::connect;
use common::sandbox::{Daemon, Options, Sandbox};
use common::vectors::record;
use physmap_hooks::format::Format;
use physmap_hooks::hooks::{self, Domain};
use physmap_hooks::logging::CallLog;
use physmap_hooks::xenstore::MAX_TRANSACTION_ATTEMPTS;
use physmap_hooks::Section;

/// Round trips (save, then restore of what was saved) under `test-eagain = true`.
const ROUND_TRIPS: u32 = 10_000;

/// oxenstored with `test-eagain = true` fails transaction commits with EAGAIN at random
/// (about one write transaction in eight here; never one that only read). 10 000 save /
/// restore round trips, half of them into a device-model directory that does not exist
/// yet: every one succeeds, with the conflicts absorbed by the retries, and restores
/// exactly what was saved. The distribution of retries per transaction is printed (run
/// with `--nocapture` to see it).
#[test]
fn round_trips_under_random_commit_failures() {
    let sb = Sandbox::launch(
        Daemon::OCaml,
        Options {
            test_eagain: true,
            ..Options::default()
        },
    );
    let xs = connect(&sb);
    let log = CallLog::stderr(0);
    // retries[n]: transactions that committed after n conflicts.
    let mut restore_retries = [0u32; MAX_TRANSACTION_ATTEMPTS as usize];
    let mut save_retries = [0u32; MAX_TRANSACTION_ATTEMPTS as usize];
    for i in 0..ROUND_TRIPS {
        let domain = Domain {
            domid: 1 + i % 64,
            dm_domid: 0,
        };
        let k = u64::from(i);
        let section = Section::new(vec![
            record(
                0xf000_0000,
                0xf100_0000 + (k % 16) * 0x100_0000,
                0x80_0000,
                Some("vga.vram"),
            ),
            record(0x1000, 0xa_0000, 0x1000 * (k % 7 + 1), None),
        ])
        .unwrap();
        // Every other pass over the 64 domains starts without their directories.
        if (i / 64) % 2 == 1 {
            xs.direct().rm(&domain.device_model_dir()).unwrap();
        }
        let conflicts = hooks::restore_section(&xs, domain, &section, Format::XenstoreKv, 0, &log)
            .unwrap_or_else(|e| panic!("round trip {i}: restore: {e}"));
        restore_retries[conflicts as usize] += 1;
        let saved = hooks::save_section(&xs, domain)
            .unwrap_or_else(|e| panic!("round trip {i}: save: {e}"));
        save_retries[saved.conflicts as usize] += 1;
        assert_eq!(saved.value, section, "round trip {i}");
    }
    let show = |h: &[u32]| {
        h.iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "{ROUND_TRIPS} round trips under test-eagain, 0 failures; retries per transaction \
         (retries: transactions): restores {{{}}}, saves {{{}}}",
        show(&restore_retries),
        show(&save_retries)
    );
    // The injector was on: some restores needed retries.
    assert!(restore_retries[1..].iter().sum::<u32>() > 0);
}
