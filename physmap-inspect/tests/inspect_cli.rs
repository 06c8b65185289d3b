//! physmap-inspect end to end: sections, conversion, live records on a real xenstored, and
//! savefiles built here from the stream specifications (checked against Xen's own
//! `verify-stream-v2`), including damaged ones and a 2 GiB sparse one read in bounded memory.

// The integration-test helpers of the workspace root, shared with the library's tests.
#[path = "../../tests/common/mod.rs"]
mod common;

use common::sandbox::{daemon_binary, Daemon, Sandbox};
use common::vectors::*;
use common::TempDir;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Output};

fn inspect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_physmap-inspect"))
        .args(args)
        .output()
        .expect("run physmap-inspect")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn section_prints_a_table_or_json() {
    let dir = TempDir::new();
    let kv = dir.file("vram.kv");
    fs::write(&kv, VRAM_KV).unwrap();
    let out = inspect(&["section", path(&kv)]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("kv section, 97 bytes, 1 records"), "{text}");
    assert!(
        text.contains("0xf0000000           0xf1000000           0x800000             vga.vram"),
        "{text}"
    );
    let out = inspect(&["section", path(&kv), "--json"]);
    assert_eq!(
        stdout(&out),
        "{\"format\":\"kv\",\"bytes\":97,\"records\":[{\"phys_offset\":\"0xf0000000\",\"start_addr\":\"0xf1000000\",\"size\":\"0x800000\",\"name\":\"vga.vram\"}]}\n"
    );
    let legacy = dir.file("vram.legacy32");
    fs::write(&legacy, VRAM_LEGACY_32).unwrap();
    let out = inspect(&["section", path(&legacy), "--format", "legacy32"]);
    assert!(stdout(&out).contains("legacy32 section, 45 bytes, 1 records"));
}

#[test]
fn exit_codes_tell_bad_input_from_bad_usage() {
    let dir = TempDir::new();
    let kv = dir.file("vram.kv");
    fs::write(&kv, VRAM_KV).unwrap();
    // Invalid input: 1, with the place.
    let out = inspect(&["section", path(&kv), "--format", "legacy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("byte offset 0: legacy section version is"),
        "{}",
        stderr(&out)
    );
    let out = inspect(&["section", path(&dir.file("missing"))]);
    assert_eq!(out.status.code(), Some(1));
    // Usage errors: 2.
    for args in [
        &[][..],
        &["frobnicate"],
        &["section"],
        &["section", "a", "b"],
        &["section", path(&kv), "--format", "yaml"],
        &["section", path(&kv), "--bogus"],
        &["convert", "--from", "kv", "a", "b"],
        &["xenstore"],
        &["xenstore", "--domid", "x"],
    ] {
        assert_eq!(inspect(args).status.code(), Some(2), "{args:?}");
    }
    for command in ["section", "savefile", "convert", "xenstore"] {
        for help in ["--help", "-h"] {
            let out = inspect(&[command, help]);
            assert!(out.status.success());
            assert!(
                stdout(&out).contains(&format!("Usage: physmap-inspect {command}")),
                "{}",
                stdout(&out)
            );
        }
    }
    let out = inspect(&["--help"]);
    assert!(out.status.success());
    for command in ["section", "savefile", "convert", "xenstore"] {
        assert!(stdout(&out).contains(command), "{}", stdout(&out));
    }
}

#[test]
fn version_is_printed() {
    for flag in ["--version", "-V"] {
        let out = inspect(&[flag]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            stdout(&out),
            format!("physmap-inspect {}\n", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(stderr(&out), "");
    }
}

/// A usage error is one line and a hint at the right `--help`, not the whole usage.
#[test]
fn usage_errors_are_one_line_and_a_hint() {
    for (args, hint) in [
        (&[][..], "see 'physmap-inspect --help'"),
        (&["frobnicate"], "see 'physmap-inspect --help'"),
        (&["section"], "see 'physmap-inspect section --help'"),
        (
            &["section", "a", "--bogus"],
            "see 'physmap-inspect section --help'",
        ),
        (
            &["savefile", "a", "b"],
            "see 'physmap-inspect savefile --help'",
        ),
        (
            &["convert", "a", "b"],
            "see 'physmap-inspect convert --help'",
        ),
        (
            &["xenstore", "--domid", "x"],
            "see 'physmap-inspect xenstore --help'",
        ),
    ] {
        let out = inspect(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {err}");
        assert!(lines[0].starts_with("physmap-inspect: "), "{err}");
        assert!(!lines[0].contains("error:"), "{err}");
        assert_eq!(lines[1], hint, "{args:?}");
    }
    let out = inspect(&["section", "a"]);
    assert_eq!(out.status.code(), Some(1)); // a missing file is input, not usage
    let out = inspect(&["convert", "--to", "kv"]);
    assert!(
        stderr(&out).contains("required arguments were not provided: <IN>, <OUT>"),
        "{}",
        stderr(&out)
    );
}

/// The formats a command accepts are listed by the error, `auto` included where it applies.
#[test]
fn a_bad_format_lists_the_accepted_ones() {
    let out = inspect(&["section", "f", "--format", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'nope' for '--format <FORMAT>'; possible values: auto, kv, legacy, legacy32"),
        "{}",
        stderr(&out)
    );
    let out = inspect(&["convert", "--from", "nope", "--to", "kv", "a", "b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("possible values: auto, kv, legacy, legacy32"),
        "{}",
        stderr(&out)
    );
    // A conversion needs a concrete target format.
    let out = inspect(&["convert", "--to", "auto", "a", "b"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("possible values: kv, legacy, legacy32"),
        "{err}"
    );
    assert!(!err.contains("auto,"), "{err}");
}

/// An empty file is a valid section of 0 records, and the tool says so.
#[test]
fn an_empty_section_is_reported_as_such() {
    let dir = TempDir::new();
    let empty = dir.file("empty");
    fs::write(&empty, b"").unwrap();
    let out = inspect(&["section", path(&empty)]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!("{}: empty section (0 bytes, 0 records)\n", path(&empty))
    );
    let out = inspect(&["section", path(&empty), "--json"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        "{\"format\":\"kv\",\"bytes\":0,\"records\":[]}\n"
    );
    let converted = dir.file("converted");
    let out = inspect(&["convert", "--to", "kv", path(&empty), path(&converted)]);
    assert!(out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} is empty: an empty section (0 records)",
            path(&empty)
        )),
        "{err}"
    );
    assert_eq!(fs::read(&converted).unwrap(), b"");
    // An empty legacy section still has its header, so it is not 0 bytes.
    let out = inspect(&["convert", "--to", "legacy", path(&empty), path(&converted)]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(&converted).unwrap().len(), 8);
}

/// Every command names the path of an unreadable input the same way, with the plain reason.
#[test]
fn unreadable_inputs_are_named_the_same_way() {
    let dir = TempDir::new();
    let sub = dir.file("subdir");
    fs::create_dir(&sub).unwrap();
    let out_file = dir.file("out");
    for (what, expected) in [
        (
            &sub,
            format!(
                "physmap-inspect: {}: cannot read: Is a directory\n",
                path(&sub)
            ),
        ),
        (
            &dir.file("missing"),
            format!(
                "physmap-inspect: {}: cannot read: No such file or directory\n",
                path(&dir.file("missing"))
            ),
        ),
    ] {
        for args in [
            vec!["section", path(what)],
            vec!["savefile", path(what)],
            vec!["savefile", path(what), "--records", "--json"],
            vec!["convert", "--to", "kv", path(what), path(&out_file)],
        ] {
            let out = inspect(&args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert_eq!(stderr(&out), expected, "{args:?}");
        }
    }
    // The output of convert too.
    let kv = dir.file("vram.kv");
    fs::write(&kv, VRAM_KV).unwrap();
    let out = inspect(&["convert", "--to", "legacy", path(&kv), path(&sub)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "physmap-inspect: {}: cannot write: Is a directory\n",
            path(&sub)
        )
    );
}

/// Without a daemon, the tool says which socket it tried and what to do.
#[test]
fn an_unreachable_xenstore_names_the_socket() {
    let dir = TempDir::new();
    let socket = dir.file("socket");
    // `physmap-inspect xenstore` with `env` applied; exit 1, stderr without Rust's
    // `(os error N)`.
    let unreachable = |env: &dyn Fn(&mut Command) -> &mut Command| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_physmap-inspect"));
        let out = env(cmd.args(["xenstore", "--domid", "5"]))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(!err.contains("(os error"), "{err}");
        err
    };
    let err = unreachable(&|cmd| cmd.env("XENSTORED_PATH", &socket));
    assert_eq!(
        err,
        format!(
            "physmap-inspect: cannot connect to xenstore at {} (from XENSTORED_PATH): No such \
             file or directory; is xenstored running?\n",
            path(&socket)
        )
    );

    // Without XENSTORED_PATH: libxenstore's socket (under XENSTORED_RUNDIR, here a directory
    // without one), then the xenbus device.
    let err = unreachable(&|cmd| {
        cmd.env_remove("XENSTORED_PATH")
            .env("XENSTORED_RUNDIR", dir.file(""))
    });
    let device = if Path::new("/dev/xen/xenbus").exists() {
        "/dev/xen/xenbus"
    } else {
        "/proc/xen/xenbus"
    };
    assert!(
        err.starts_with(&format!(
            "physmap-inspect: cannot connect to xenstore at {}/socket (XENSTORED_RUNDIR), then \
             {device}: ",
            dir.file("").display()
        )),
        "{err}"
    );
    assert!(
        err.ends_with("; is xenstored running? (XENSTORED_PATH=<socket> selects another daemon)\n"),
        "{err}"
    );
}

#[test]
fn convert_between_formats() {
    let dir = TempDir::new();
    let (legacy, kv, back) = (dir.file("in"), dir.file("kv"), dir.file("back"));
    fs::write(&legacy, vram_legacy_64()).unwrap();
    let legacy_to_kv = |output: &Path| {
        inspect(&[
            "convert",
            "--from",
            "legacy",
            "--to",
            "kv",
            path(&legacy),
            path(output),
        ])
    };
    let out = legacy_to_kv(&kv);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(&kv).unwrap(), VRAM_KV);
    let out = inspect(&["convert", "--to", "legacy", path(&kv), path(&back)]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(&back).unwrap(), vram_legacy_64());
    // Invalid input is not converted.
    fs::write(&legacy, &vram_legacy_64()[..40]).unwrap();
    let out = legacy_to_kv(&dir.file("x"));
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.file("x").exists());
}

#[test]
fn xenstore_shows_live_records() {
    let sb = Sandbox::start();
    let dm = "/local/domain/7/device-model/5/physmap/f0000000";
    sb.write(&format!("{dm}/start_addr"), "f1000000");
    sb.write(&format!("{dm}/size"), "800000");
    sb.write(&format!("{dm}/name"), "vga.vram");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_physmap-inspect"))
            .args(args)
            .env("XENSTORED_PATH", sb.socket())
            .output()
            .unwrap()
    };
    let out = run(&["xenstore", "--domid", "5", "--dm-domid", "7"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("/local/domain/7/device-model/5/physmap: 1 records"));
    assert!(stdout(&out).contains("vga.vram"));
    let out = run(&["xenstore", "--domid", "5"]);
    assert!(stdout(&out).contains("/local/domain/0/device-model/5/physmap: 0 records"));
    sb.write(&format!("{dm}/size"), "0");
    let out = run(&["xenstore", "--domid", "5", "--dm-domid", "7", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("size is 0"), "{}", stderr(&out));
}

// ---- savefiles, built from docs/specs/{libxl,libxc}-migration-stream.pandoc -----------

/// A record of either stream: type, length (host order), body, zero padding to 8 bytes.
fn record(rec_type: u32, body: &[u8]) -> Vec<u8> {
    let mut out = [rec_type.to_le_bytes(), (body.len() as u32).to_le_bytes()].concat();
    out.extend_from_slice(body);
    out.resize(out.len().next_multiple_of(8), 0);
    out
}

fn xl_header(config: &[u8]) -> Vec<u8> {
    let mut out = b"Xen saved domain, xl format\n \0 \r".to_vec();
    for word in [
        0x0102_0304u32,
        0b11,
        0,
        4 + config.len() as u32,
        config.len() as u32,
    ] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(config);
    out
}

/// "LibxlFmt", version 2, options 0 (little-endian), all big-endian.
fn libxl_header() -> Vec<u8> {
    [&b"LibxlFmt"[..], &2u32.to_be_bytes(), &0u32.to_be_bytes()].concat()
}

/// Image header (big-endian) and domain header of an x86 HVM guest from Xen 4.17.
fn libxc_headers() -> Vec<u8> {
    let mut out = [&u64::MAX.to_be_bytes()[..], b"XENF", &3u32.to_be_bytes()].concat();
    out.extend_from_slice(&[0; 8]); // options (little-endian), reserved
    for (v, width) in [(2u32, 4), (12, 2), (0, 2), (4, 4), (17, 4)] {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// A minimal HVM libxc stream: one page, TSC info, HVM context and params, END.
fn libxc_stream() -> Vec<u8> {
    let mut page_data = [1u32.to_le_bytes(), 0u32.to_le_bytes()].concat();
    page_data.extend_from_slice(&0x100u64.to_le_bytes()); // pfn 0x100, type 0: normal page
    page_data.extend((0..4096u32).map(|i| i as u8));
    let hvm_params = [
        &1u32.to_le_bytes()[..],
        &0u32.to_le_bytes(),
        &0x20u64.to_le_bytes(),
        &1u64.to_le_bytes(),
    ]
    .concat();
    [
        libxc_headers(),
        record(0x10, &[]),         // STATIC_DATA_END
        record(0x01, &page_data),  // PAGE_DATA
        record(0x08, &[0; 24]),    // X86_TSC_INFO
        record(0x09, &[0x5a; 20]), // HVM_CONTEXT
        record(0x0a, &hvm_params), // HVM_PARAMS
        record(0x00, &[]),         // END
    ]
    .concat()
}

fn emulator(body: &[u8]) -> Vec<u8> {
    [&2u32.to_le_bytes()[..], &0u32.to_le_bytes(), body].concat() // qemu-upstream, index 0
}

/// The parts of an `xl save` file, in order, so tests can drop or damage one.
fn savefile_parts(with_physmap: bool) -> Vec<Vec<u8>> {
    let mut parts = vec![
        xl_header(b"{\"c_info\": {\"type\": \"hvm\"}}"),
        libxl_header(),
        record(1, &[]), // LIBXC_CONTEXT, then the libxc stream inline
        libxc_stream(),
    ];
    if with_physmap {
        parts.push(record(2, &emulator(VRAM_KV))); // EMULATOR_XENSTORE_DATA
    }
    parts.push(record(3, &emulator(b"QEVM device state"))); // EMULATOR_CONTEXT
    parts.push(record(0, &[])); // END
    parts
}

/// Xen's own stream verifier (Debian's xen-utils-4.17 or -4.20: the Xen of the daemons
/// the tests run, `/usr/lib/xen-<version>/`), on an xl savefile.
fn xen_verify(file: &Path) -> Output {
    let bin = daemon_binary(Daemon::C);
    let xen = bin
        .parent()
        .and_then(Path::parent)
        .expect("/usr/lib/xen-<version>/bin");
    Command::new("/usr/bin/python3")
        .arg(xen.join("bin/verify-stream-v2"))
        .args(["-f", "xl", "-i", path(file)])
        .env("PYTHONPATH", xen.join("lib/python"))
        .output()
        .expect("run verify-stream-v2 (scripts/bootstrap.sh installs it)")
}

#[test]
fn built_savefiles_follow_the_specification() {
    let dir = TempDir::new();
    let plain = dir.file("plain.xl");
    fs::write(&plain, savefile_parts(false).concat()).unwrap();
    let out = xen_verify(&plain);
    assert!(
        out.status.success(),
        "verify-stream-v2 rejects our savefile: {out:?}"
    );
    // With a physmap record it trips over the verifier's known Python 3 bug
    // (FACTS.md §2): every non-empty EMULATOR_XENSTORE_DATA is "not NUL terminated".
    let with = dir.file("with.xl");
    fs::write(&with, savefile_parts(true).concat()).unwrap();
    let out = xen_verify(&with);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Data not NUL terminated"), "{out:?}");
}

#[test]
fn savefile_shows_records_and_physmap() {
    let dir = TempDir::new();
    let file = dir.file("guest.xl");
    let parts = savefile_parts(true);
    fs::write(&file, parts.concat()).unwrap();
    let out = inspect(&["savefile", path(&file), "--records"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let emu_offset: usize = parts[..4].iter().map(Vec::len).sum();
    for expected in [
        "libxl stream v2, mandatory flags 0x3, 31 bytes of optional data (domain config)",
        "libxl  LIBXC_CONTEXT",
        "libxc  PAGE_DATA                  0x00000001  length 4112",
        "libxc  HVM_PARAMS",
        "libxl  EMULATOR_CONTEXT",
        &format!("EMULATOR_XENSTORE_DATA at byte offset {emu_offset}: emulator 2 (qemu-upstream), index 0, 1 records"),
        "0xf0000000           0xf1000000           0x800000             vga.vram",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(text.matches("  libxc  ").count(), 6, "{text}");
    let out = inspect(&["savefile", path(&file), "--json"]);
    assert!(stdout(&out).ends_with(&format!("\"emulator_xenstore_data\":[{{\"offset\":{emu_offset},\"emulator_id\":2,\"index\":0,\"records\":[{{\"phys_offset\":\"0xf0000000\",\"start_addr\":\"0xf1000000\",\"size\":\"0x800000\",\"name\":\"vga.vram\"}}]}}]}}\n")), "{}", stdout(&out));

    let plain = dir.file("plain.xl");
    fs::write(&plain, savefile_parts(false).concat()).unwrap();
    let out = inspect(&["savefile", path(&plain)]);
    assert!(
        stdout(&out).contains("no EMULATOR_XENSTORE_DATA record"),
        "{out:?}"
    );
}

/// Runs `savefile` on `bytes` and returns its error output, asserting exit status 1.
fn rejected(dir: &TempDir, bytes: &[u8]) -> String {
    let file = dir.file("bad.xl");
    fs::write(&file, bytes).unwrap();
    let out = inspect(&["savefile", path(&file)]);
    assert_eq!(out.status.code(), Some(1), "accepted: {}", stdout(&out));
    stderr(&out)
}

#[test]
fn damaged_savefiles_are_refused_with_the_offset() {
    let dir = TempDir::new();
    let good = savefile_parts(true).concat();
    // Every truncation point (a cut inside any header, body or padding).
    for len in 0..good.len() {
        let err = rejected(&dir, &good[..len]);
        assert!(
            err.contains("truncated") || err.contains("not an xl savefile"),
            "cut at {len}: {err}"
        );
    }
    let parts = savefile_parts(true);
    let offset_of = |i: usize| parts[..i].iter().map(Vec::len).sum::<usize>();

    let mut bad = good.clone();
    let pad = offset_of(5) - 1; // last padding byte of EMULATOR_XENSTORE_DATA
    bad[pad] = 0xff;
    assert!(
        rejected(&dir, &bad).contains(&format!("byte offset {pad}: record padding byte is 0xff"))
    );

    let mut bad = good.clone();
    let options = offset_of(1) + 15; // libxl header options, bit 0: big-endian
    bad[options] = 1;
    assert!(rejected(&dir, &bad).contains("big-endian libxl stream"));

    let mut bad = good.clone();
    bad[offset_of(5)] = 0x42; // EMULATOR_CONTEXT becomes type 0x42
    assert!(rejected(&dir, &bad).contains(&format!(
        "byte offset {}: unknown libxl record type 0x42",
        offset_of(5)
    )));

    let mut bad = parts.clone();
    bad[4] = record(2, &emulator(b"physmap/f0000000/size\x000x800000\0"));
    let err = rejected(&dir, &bad.concat());
    assert!(
        err.contains(&format!(
            "EMULATOR_XENSTORE_DATA at byte offset {}",
            offset_of(4)
        )),
        "{err}"
    );
    assert!(
        err.contains("byte offset 22 (key `physmap/f0000000/size`)"),
        "{err}"
    );

    let mut bad = good.clone();
    bad.extend_from_slice(&[0; 8]);
    assert!(rejected(&dir, &bad).contains("8 bytes after the END record"));

    let mut bad = good.clone();
    bad[36] = 0; // mandatory flags without STREAMv2
    assert!(rejected(&dir, &bad).contains("stream v1"));
}

/// Peak resident memory of a child process, from wait4(2).
fn run_measuring_peak_rss(args: &[&str]) -> (Output, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_physmap-inspect"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let output = std::thread::spawn(move || {
        let mut child = child;
        let mut out = Vec::new();
        let mut err = Vec::new();
        use std::io::Read;
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        child.stderr.take().unwrap().read_to_end(&mut err).unwrap();
        // Leave the reaping to wait4 below.
        std::mem::forget(child);
        (out, err)
    })
    .join()
    .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let output = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout: output.0,
        stderr: output.1,
    };
    (output, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_2_gib_savefile_is_walked_in_bounded_memory() {
    let dir = TempDir::new();
    let file_path = dir.file("big.xl");
    let mut file = File::create(&file_path).unwrap();
    let parts = savefile_parts(true);
    file.write_all(&[parts[0].as_slice(), &parts[1], &parts[2]].concat())
        .unwrap();
    let stream = &parts[3];
    file.write_all(&stream[..40]).unwrap(); // libxc image and domain headers
                                            // Two PAGE_DATA records of 256 Ki pages each (1 GiB of page data plus the pfn
                                            // arrays), left as holes in a sparse file.
    let pages: u32 = 256 * 1024;
    let body_len = 8 + pages as u64 * 8 + pages as u64 * 4096;
    for _ in 0..2 {
        file.write_all(&1u32.to_le_bytes()).unwrap();
        file.write_all(&(body_len as u32).to_le_bytes()).unwrap();
        file.write_all(&pages.to_le_bytes()).unwrap();
        file.seek(SeekFrom::Current(body_len as i64 - 4)).unwrap(); // 8-aligned already
    }
    file.write_all(&stream[40..]).unwrap();
    for part in &parts[4..] {
        file.write_all(part).unwrap();
    }
    drop(file);
    let size = fs::metadata(&file_path).unwrap().len();
    assert!(size > 2 << 30, "{size}");

    let (out, peak_rss) = run_measuring_peak_rss(&["savefile", path(&file_path), "--records"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("PAGE_DATA").count(), 3, "{text}");
    assert!(text.contains("vga.vram"), "{text}");
    assert!(peak_rss < 64 << 20, "peak RSS {peak_rss} bytes");
    eprintln!("2 GiB savefile: peak RSS {} KiB", peak_rss / 1024);
}
