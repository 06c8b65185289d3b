//! Micro-benchmark of the two wire formats on a full (1024-record) section.
//!
//!     cargo bench --bench codec [-- FILTER]
//!
//! std only (no criterion). Each operation is warmed up, then every call is timed on its own
//! (a call takes tens of microseconds or more, far above `Instant`'s resolution) for a fixed
//! time budget; the table gives the median and 99th percentile of those calls. The budget per
//! operation is `BENCH_SECONDS` (default 2), so the whole run takes about 15 s.
//! "decode" is decode + validation (`kv::decode`, `legacy::decode`, or `format::decode` with
//! detection), including freeing the decoded section.

use physmap_hooks::format::legacy::{self, Layout};
use physmap_hooks::format::{self, kv, Format};
use physmap_hooks::{Location, PhysmapRecord, RecordName, Section};
use std::hint::black_box;
use std::time::{Duration, Instant};

const RECORDS: usize = 1024;
const WARMUP: Duration = Duration::from_millis(300);

/// 1024 records: distinct page-aligned phys_offsets, non-overlapping guest ranges, and names
/// like `vga.vram.0042`. Given to `Section::new` in reverse order so that it has to sort.
fn section() -> Section {
    let records = (0..RECORDS as u64)
        .rev()
        .map(|i| {
            let name = format!("vga.vram.{i:04}");
            PhysmapRecord {
                phys_offset: 0xf000_0000 + i * 0x10_0000,
                start_addr: 0x1_0000_0000 + i * 0x20_0000,
                size: 0x1000 * (1 + i % 512), // 4 KiB .. 2 MiB: fits the 2 MiB stride
                name: Some(RecordName::new(name.as_bytes(), Location::Byte(0)).unwrap()),
            }
        })
        .collect();
    Section::new(records).expect("benchmark section is valid")
}

struct Row {
    operation: &'static str,
    format: &'static str,
    bytes: usize,
    iterations: usize,
    median: Duration,
    p99: Duration,
}

/// Warms `f` up, then times single calls for `budget`.
fn measure(budget: Duration, mut f: impl FnMut()) -> (usize, Duration, Duration) {
    let start = Instant::now();
    while start.elapsed() < WARMUP {
        f();
    }
    let mut samples = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 100 {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (samples.len(), at(0.5), at(0.99))
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters on "operation format".
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let budget = Duration::from_secs_f64(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2.0),
    );

    let section = section();
    let kv_bytes = kv::encode(&section);
    let legacy_bytes = legacy::encode(&section, Layout::X86_64);
    // The benchmark is only meaningful if the round trips hold.
    assert_eq!(kv::decode(&kv_bytes).unwrap(), section);
    assert_eq!(
        legacy::decode(&legacy_bytes, Layout::X86_64).unwrap(),
        section
    );
    assert_eq!(
        format::decode(&kv_bytes, None).unwrap(),
        (Format::XenstoreKv, section.clone())
    );
    assert_eq!(
        format::decode(&legacy_bytes, None).unwrap(),
        (Format::LegacyV1, section.clone())
    );

    type Op<'a> = (&'static str, &'static str, usize, Box<dyn FnMut() + 'a>);
    let ops: Vec<Op> = vec![
        (
            "decode",
            "kv",
            kv_bytes.len(),
            Box::new(|| {
                black_box(kv::decode(black_box(&kv_bytes)).unwrap());
            }),
        ),
        (
            "decode",
            "legacy",
            legacy_bytes.len(),
            Box::new(|| {
                black_box(legacy::decode(black_box(&legacy_bytes), Layout::X86_64).unwrap());
            }),
        ),
        (
            "decode-auto",
            "kv",
            kv_bytes.len(),
            Box::new(|| {
                black_box(format::decode(black_box(&kv_bytes), None).unwrap());
            }),
        ),
        (
            "decode-auto",
            "legacy",
            legacy_bytes.len(),
            Box::new(|| {
                black_box(format::decode(black_box(&legacy_bytes), None).unwrap());
            }),
        ),
        (
            "encode",
            "kv",
            kv_bytes.len(),
            Box::new(|| {
                black_box(kv::encode(black_box(&section)));
            }),
        ),
        (
            "encode",
            "legacy",
            legacy_bytes.len(),
            Box::new(|| {
                black_box(legacy::encode(black_box(&section), Layout::X86_64));
            }),
        ),
    ];

    let mut rows = Vec::new();
    for (operation, format, bytes, mut f) in ops {
        let label = format!("{operation} {format}");
        if filter.as_ref().is_some_and(|p| !label.contains(p.as_str())) {
            continue;
        }
        let (iterations, median, p99) = measure(budget, &mut f);
        rows.push(Row {
            operation,
            format,
            bytes,
            iterations,
            median,
            p99,
        });
    }

    println!(
        "physmap codec, {RECORDS}-record section (legacy = LEGACY_V1 x86_64 layout), {:.1} s per operation",
        budget.as_secs_f64()
    );
    println!(
        "{:<12} {:<7} {:>7} {:>10} {:>12} {:>12} {:>12}",
        "operation", "format", "bytes", "iterations", "median (µs)", "p99 (µs)", "ns/record"
    );
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for r in rows {
        println!(
            "{:<12} {:<7} {:>7} {:>10} {:>12.1} {:>12.1} {:>12.1}",
            r.operation,
            r.format,
            r.bytes,
            r.iterations,
            us(r.median),
            us(r.p99),
            r.median.as_nanos() as f64 / RECORDS as f64
        );
    }
}
