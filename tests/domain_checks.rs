//! The `domain-checks` build's restore against a real xenstored, with libxenctrl replaced by
//! `tests/sandbox/fake-xenctrl.c`.
//!
//! LD_PRELOAD works only from a process's start, so each case runs the restore hook in a
//! child: this test binary again, running only `child_restore` with the fake preloaded and
//! the fake's answers in its environment. The parent owns the sandbox, and compares the
//! whole store before and after: a refused restore must leave it byte-identical. The fake
//! logs every libxenctrl call, so the tests also see how often the interface was opened
//! and what was asked.
//!
//! `cargo test --features domain-checks --test domain_checks` (see docs/domain-checks.md).
#![cfg(feature = "domain-checks")]

mod common;

use common::sandbox::Sandbox;
use common::vectors::*;
use common::TempDir;
use physmap_hooks::ffi;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr;
use std::sync::OnceLock;

/// Set in a child: `<domid>:<section file>:<number of restore calls>`.
const CHILD_ENV: &str = "PHYSMAP_DC_CHILD";
/// Set in a child: unset PHYSMAP_FAKE_OPEN_ERRNO after the first call.
const CHILD_HEAL_ENV: &str = "PHYSMAP_DC_HEAL_OPEN";
const RC_PREFIX: &str = "physmap-dc-rc=";

const GUEST: u32 = 5;
const PHYSMAP_DIR: &str = "/local/domain/0/device-model/5/physmap";

/// The child's side: one or more restores through the C ABI, each code on stdout.
/// Ignored, so that a plain test run skips it; the parent runs it with `--ignored`.
#[test]
#[ignore = "run in a child process by the other tests"]
fn child_restore() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, ':');
    let domid: u32 = parts.next().unwrap().parse().unwrap();
    let calls: usize = parts.next().unwrap().parse().unwrap();
    let bytes = fs::read(parts.next().unwrap()).unwrap();
    for i in 0..calls {
        if i == 1 && std::env::var_os(CHILD_HEAL_ENV).is_some() {
            // SAFETY: the harness runs this one test; no other thread reads the environment.
            unsafe { std::env::remove_var("PHYSMAP_FAKE_OPEN_ERRNO") };
        }
        // NULL opts: xs_open(0) through XENSTORED_PATH, stderr logging.
        let rc = unsafe {
            ffi::physmap_restore_hook(domid, ptr::null(), bytes.as_ptr(), bytes.len() as u32)
        };
        // On a line of its own: the harness has printed "test child_restore ... " already.
        println!("\n{RC_PREFIX}{rc}");
    }
}

/// The fake, built at most once per test process (next to this binary).
fn fake_xenctrl() -> &'static Path {
    static FAKE: OnceLock<PathBuf> = OnceLock::new();
    FAKE.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox/fake-xenctrl.c");
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap();
        let out = dir.join("fake-xenctrl.so");
        let tmp = dir.join(format!("fake-xenctrl.so.{}.tmp", std::process::id()));
        let res = Command::new("gcc")
            .args([
                "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-O2", "-o",
            ])
            .arg(&tmp)
            .arg(&src)
            .output()
            .expect("run gcc");
        assert!(
            res.status.success(),
            "building fake-xenctrl.so failed:\n{}",
            String::from_utf8_lossy(&res.stderr)
        );
        // Atomic: a concurrent test binary never preloads a half-written file.
        fs::rename(&tmp, &out).unwrap();
        let s = out.to_str().unwrap();
        assert!(!s.contains([' ', ':']), "unusable in LD_PRELOAD: {s}");
        out
    })
}

/// What one child did.
struct Outcome {
    rcs: Vec<i32>,
    stderr: String,
    /// The fake's call log, without pids: "open", "getinfolist 5 1", ...
    xc_calls: Vec<String>,
}

/// A restore case: the fake's domains, extra fake settings, the domain restored and the
/// section.
struct Case<'a> {
    domains: &'a str,
    env: &'a [(&'a str, &'a str)],
    domid: u32,
    section: &'a [u8],
    calls: usize,
}

impl Default for Case<'_> {
    fn default() -> Self {
        Case {
            domains: "5:hvm",
            env: &[],
            domid: GUEST,
            section: VRAM_KV,
            calls: 1,
        }
    }
}

fn run(sb: &Sandbox, case: Case<'_>) -> Outcome {
    let tmp = TempDir::new();
    let section = tmp.file("section");
    fs::write(&section, case.section).unwrap();
    let xc_log = tmp.file("xc.log");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_restore",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(
        CHILD_ENV,
        format!("{}:{}:{}", case.domid, case.calls, section.display()),
    )
    .env("LD_PRELOAD", fake_xenctrl())
    .env("XENSTORED_PATH", sb.socket())
    .env("PHYSMAP_FAKE_DOMAINS", case.domains)
    .env("PHYSMAP_FAKE_XC_LOG", &xc_log)
    .env("PHYSMAP_LOG", "info")
    .env_remove("PHYSMAP_FAKE_OPEN_ERRNO")
    .env_remove("PHYSMAP_FAKE_GETINFO_ERRNO")
    .env_remove(CHILD_HEAL_ENV);
    for (k, v) in case.env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let rcs: Vec<i32> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(RC_PREFIX))
        .map(|rc| rc.parse().unwrap())
        .collect();
    assert_eq!(rcs.len(), case.calls, "child output:\n{stdout}\n{stderr}");
    let xc_calls = fs::read_to_string(&xc_log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    Outcome {
        rcs,
        stderr,
        xc_calls,
    }
}

/// A store where the guest already has a record (as a previous restore would leave it).
fn sandbox_with_a_record() -> Sandbox {
    let sb = Sandbox::start();
    sb.write(&format!("{PHYSMAP_DIR}/1000/start_addr"), "a0000");
    sb.write(&format!("{PHYSMAP_DIR}/1000/size"), "20000");
    sb
}

/// Runs a case that must be refused with `code`, and checks that the store is unchanged
/// and that the log says `message`.
fn refused(case: Case<'_>, code: i32, message: &str) -> Outcome {
    let sb = sandbox_with_a_record();
    let before = sb.dump();
    let outcome = run(&sb, case);
    assert_eq!(outcome.rcs, [code], "{}", outcome.stderr);
    assert_eq!(sb.dump(), before, "a refused restore changed the store");
    assert!(
        outcome.stderr.contains(message),
        "expected {message:?} in:\n{}",
        outcome.stderr
    );
    outcome
}

fn assert_vram_restored(sb: &Sandbox) {
    assert_eq!(
        sb.read(&format!("{PHYSMAP_DIR}/f0000000/start_addr"))
            .as_deref(),
        Some("f1000000")
    );
    assert_eq!(
        sb.read(&format!("{PHYSMAP_DIR}/f0000000/size")).as_deref(),
        Some("800000")
    );
    assert_eq!(
        sb.read(&format!("{PHYSMAP_DIR}/f0000000/name")).as_deref(),
        Some("vga.vram")
    );
    // The directory was replaced: the earlier record is gone.
    assert_eq!(sb.read(&format!("{PHYSMAP_DIR}/1000/size")), None);
}

#[test]
fn a_running_hvm_guest_gets_its_records() {
    let sb = sandbox_with_a_record();
    // Two restores in one process: the xc_interface is opened once and kept.
    let outcome = run(
        &sb,
        Case {
            domains: "1:pv,5:hvm:maxgpfn=0xfffff,7:hvm",
            calls: 2,
            ..Case::default()
        },
    );
    assert_eq!(outcome.rcs, [ffi::PHYSMAP_OK; 2], "{}", outcome.stderr);
    assert_vram_restored(&sb);
    assert_eq!(
        outcome.xc_calls,
        [
            "open",
            "getinfolist 5 1",
            "maximum_gpfn 5",
            "getinfolist 5 1",
            "maximum_gpfn 5"
        ]
    );
}

#[test]
fn a_missing_domain_is_refused() {
    // The next domain up exists: getinfolist answers with domain 6.
    let outcome = refused(
        Case {
            domains: "4:hvm,6:hvm",
            ..Case::default()
        },
        ffi::PHYSMAP_E_NO_DOMAIN,
        "domain 5 does not exist",
    );
    assert_eq!(outcome.xc_calls, ["open", "getinfolist 5 1"]);
    // No domain at all at or above 5.
    refused(
        Case {
            domains: "0:pv,4:hvm",
            ..Case::default()
        },
        ffi::PHYSMAP_E_NO_DOMAIN,
        "domain 5 does not exist",
    );
    // A domid past domid_t: Xen would answer about domain 5 (65541 truncated to 16 bits).
    refused(
        Case {
            domid: 0x1_0005,
            ..Case::default()
        },
        ffi::PHYSMAP_E_NO_DOMAIN,
        "domain 65541 does not exist",
    );
    // The domain disappears between the two queries.
    refused(
        Case {
            domains: "5:hvm:gpfn_errno=3", // ESRCH
            ..Case::default()
        },
        ffi::PHYSMAP_E_NO_DOMAIN,
        "domain 5 does not exist",
    );
}

#[test]
fn a_pv_domain_is_refused() {
    let outcome = refused(
        Case {
            domains: "5:pv",
            ..Case::default()
        },
        ffi::PHYSMAP_E_NOT_HVM,
        "domain 5 is not an HVM guest",
    );
    assert_eq!(outcome.xc_calls, ["open", "getinfolist 5 1"]);
}

#[test]
fn a_dying_domain_is_refused() {
    refused(
        Case {
            domains: "5:hvm:dying",
            ..Case::default()
        },
        ffi::PHYSMAP_E_DOMAIN_DYING,
        "domain 5 is dying",
    );
    // Shut down but not dying is accepted: only `dying` is checked.
    let sb = sandbox_with_a_record();
    let outcome = run(
        &sb,
        Case {
            domains: "5:hvm:shutdown",
            ..Case::default()
        },
    );
    assert_eq!(outcome.rcs, [ffi::PHYSMAP_OK], "{}", outcome.stderr);
}

#[test]
fn a_range_above_the_highest_frame_is_refused() {
    // vga.vram covers [0xf1000000, 0xf1800000): its last frame is 0xf17ff.
    let outcome = refused(
        Case {
            domains: "5:hvm:maxgpfn=0xf17fe",
            ..Case::default()
        },
        ffi::PHYSMAP_E_OUT_OF_RANGE,
        "record phys_offset 0xf0000000: guest range [0xf1000000, 0xf1800000) reaches frame \
         0xf17ff, above domain 5's highest guest frame 0xf17fe",
    );
    assert_eq!(
        outcome.xc_calls,
        ["open", "getinfolist 5 1", "maximum_gpfn 5"]
    );
    // One bad record among good ones refuses the whole section.
    let two = [
        kv_record("1000", "a0000", "20000"),
        VRAM_KV.to_vec(),
        kv_record("f8000000", "fffff000", "2000"),
    ]
    .concat();
    refused(
        Case {
            domains: "5:hvm:maxgpfn=0xfffff",
            section: &two,
            ..Case::default()
        },
        ffi::PHYSMAP_E_OUT_OF_RANGE,
        "record phys_offset 0xf8000000",
    );
}

#[test]
fn a_range_ending_at_the_highest_frame_is_accepted() {
    let sb = sandbox_with_a_record();
    let outcome = run(
        &sb,
        Case {
            domains: "5:hvm:maxgpfn=0xf17ff",
            ..Case::default()
        },
    );
    assert_eq!(outcome.rcs, [ffi::PHYSMAP_OK], "{}", outcome.stderr);
    assert_vram_restored(&sb);
}

#[test]
fn libxenctrl_failures_are_refused() {
    refused(
        Case {
            env: &[("PHYSMAP_FAKE_OPEN_ERRNO", "13")], // EACCES
            ..Case::default()
        },
        ffi::PHYSMAP_E_XENCTRL,
        "libxenctrl xc_interface_open failed: Permission denied",
    );
    refused(
        Case {
            env: &[("PHYSMAP_FAKE_GETINFO_ERRNO", "1")], // EPERM
            ..Case::default()
        },
        ffi::PHYSMAP_E_XENCTRL,
        "libxenctrl xc_domain_getinfolist failed: Operation not permitted",
    );
    refused(
        Case {
            domains: "5:hvm:gpfn_errno=22", // EINVAL
            ..Case::default()
        },
        ffi::PHYSMAP_E_XENCTRL,
        "libxenctrl xc_domain_maximum_gpfn failed: Invalid argument",
    );
}

#[test]
fn a_failed_open_is_tried_again_on_the_next_call() {
    let sb = sandbox_with_a_record();
    let outcome = run(
        &sb,
        Case {
            env: &[("PHYSMAP_FAKE_OPEN_ERRNO", "2"), (CHILD_HEAL_ENV, "1")],
            calls: 2,
            ..Case::default()
        },
    );
    assert_eq!(
        outcome.rcs,
        [ffi::PHYSMAP_E_XENCTRL, ffi::PHYSMAP_OK],
        "{}",
        outcome.stderr
    );
    assert_eq!(
        outcome.xc_calls,
        ["open", "open", "getinfolist 5 1", "maximum_gpfn 5"]
    );
    assert_vram_restored(&sb);
}

#[test]
fn nothing_is_asked_before_the_section_is_valid_or_when_it_is_empty() {
    let outcome = refused(
        Case {
            section: b"physmap/1000/size\0",
            ..Case::default()
        },
        ffi::PHYSMAP_E_MALFORMED,
        "restore failed",
    );
    assert_eq!(outcome.xc_calls, Vec::<String>::new());
    // An empty section writes nothing, so there is nothing to check.
    let sb = sandbox_with_a_record();
    let before = sb.dump();
    let outcome = run(
        &sb,
        Case {
            domains: "",
            section: b"",
            ..Case::default()
        },
    );
    assert_eq!(outcome.rcs, [ffi::PHYSMAP_OK]);
    assert_eq!(sb.dump(), before);
    assert_eq!(outcome.xc_calls, Vec::<String>::new());
}

#[test]
fn every_check_has_its_own_code() {
    let codes = [
        ffi::PHYSMAP_E_NO_DOMAIN,
        ffi::PHYSMAP_E_NOT_HVM,
        ffi::PHYSMAP_E_DOMAIN_DYING,
        ffi::PHYSMAP_E_OUT_OF_RANGE,
        ffi::PHYSMAP_E_XENCTRL,
    ];
    assert_eq!(codes, [-9, -10, -11, -12, -13]);
}
