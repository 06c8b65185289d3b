//! Checks the xenstored sandbox itself (tests/common/sandbox.rs) and pins
//! down the daemon behaviour the other tests rely on.

mod common;

use common::sandbox::{daemon_binary, Daemon, Options, Sandbox};
use physmap_hooks::xenstore::Xenstore;
use std::path::Path;

const START_ADDR: &str = "/local/domain/0/device-model/1/physmap/f0000000/start_addr";

#[test]
fn write_read_dump() {
    let sb = Sandbox::start();
    sb.write(START_ADDR, "f0000000");
    let out = sb.tool("xenstore-read", &[START_ADDR]);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"f0000000\n");
    assert_eq!(sb.read(START_ADDR).as_deref(), Some("f0000000"));
    assert_eq!(sb.read("/nonexistent"), None);
    // Parents are created implicitly, empty, with the parent's perms.
    let dump = sb.dump();
    assert!(
        dump.contains(&format!("{START_ADDR} = \"f0000000\"   (n0)\n")),
        "{dump}"
    );
    assert!(
        dump.contains("/local/domain/0/device-model/1/physmap = \"\"   (n0)\n"),
        "{dump}"
    );
}

/// What a fresh store holds differs: oxenstored creates the special watch nodes, `/local`,
/// and names itself in `/tool/xenstored`.
#[test]
fn fresh_store_holds_only_the_daemons_own_nodes() {
    let sb = Sandbox::start();
    let expected = match sb.daemon() {
        Daemon::C => "/tool = \"\"   (n0)\n/tool/xenstored = \"\"   (n0)\n".to_string(),
        Daemon::OCaml => format!(
            "/@introduceDomain = \"\"   (n0)\n/@releaseDomain = \"\"   (n0)\n\
             /local = \"\"   (n0)\n/tool = \"\"   (n0)\n\
             /tool/xenstored = \"{}\"   (n0)\n",
            daemon_binary(Daemon::OCaml).display()
        ),
    };
    assert_eq!(sb.dump(), expected);
}

/// Both daemons run side by side, each in its own directory, whatever the run's choice.
#[test]
fn both_daemons_run_side_by_side() {
    let c = Sandbox::launch(Daemon::C, Options::default());
    let o = Sandbox::launch(Daemon::OCaml, Options::default());
    c.write("/who", "c");
    o.write("/who", "o");
    assert_eq!(c.read("/who").as_deref(), Some("c"));
    assert_eq!(o.read("/who").as_deref(), Some("o"));
    let oxenstored = daemon_binary(Daemon::OCaml);
    assert!(o
        .dump()
        .contains(&format!("/tool/xenstored = \"{}\"", oxenstored.display())));
    assert!(c.dump().contains("/tool/xenstored = \"\""));
    // oxenstored's compiled-in socket directory (/var/run/xenstored) was moved into its
    // sandbox: the writes above went through this socket, and it is a socket.
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(o.dir().join("socket")).unwrap();
    assert!(meta.file_type().is_socket());
}

/// The order in which `XS_DIRECTORY` lists children: C, creation order; oxenstored, sorted.
#[test]
fn children_order_differs_by_daemon() {
    let sb = Sandbox::start();
    for name in ["b", "c", "a"] {
        sb.write(&format!("/d/{name}"), "");
    }
    let out = sb.tool("xenstore-list", &["/d"]);
    let listed = String::from_utf8(out.stdout).unwrap();
    match sb.daemon() {
        Daemon::C => assert_eq!(listed, "b\nc\na\n"),
        Daemon::OCaml => assert_eq!(listed, "a\nb\nc\n"),
    }
}

#[test]
fn children_inherit_parent_permissions() {
    let sb = Sandbox::start();
    let dm = "/local/domain/0/device-model/5";
    sb.write(dm, "");
    assert!(sb
        .tool("xenstore-chmod", &[dm, "n0", "r5"])
        .status
        .success());
    sb.write(&format!("{dm}/physmap/f0000000/size"), "800000");
    let dump = sb.dump();
    assert!(dump.contains(&format!("{dm} = \"\"   (n0,r5)\n")), "{dump}");
    assert!(
        dump.contains(&format!("{dm}/physmap = \"\"   (n0,r5)\n")),
        "{dump}"
    );
    assert!(
        dump.contains(&format!(
            "{dm}/physmap/f0000000/size = \"800000\"   (n0,r5)\n"
        )),
        "{dump}"
    );
}

#[test]
fn parallel_sandboxes_are_independent() {
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let a = Sandbox::start();
                let b = Sandbox::start();
                assert_ne!(a.socket(), b.socket());
                a.write(START_ADDR, &format!("a{i}"));
                b.write(START_ADDR, &format!("b{i}"));
                assert_eq!(a.read(START_ADDR), Some(format!("a{i}")));
                assert_eq!(b.read(START_ADDR), Some(format!("b{i}")));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn drop_kills_daemon_and_removes_dir() {
    let sb = Sandbox::start();
    let pid = sb.pid();
    let dir = sb.dir().to_path_buf();
    let proc_dir = format!("/proc/{pid}");
    assert!(Path::new(&proc_dir).exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("xenstored.pid")).unwrap(),
        format!("{pid}\n")
    );
    drop(sb);
    assert!(
        !Path::new(&proc_dir).exists(),
        "xenstored {pid} still alive"
    );
    assert!(!dir.exists());
}

#[test]
fn kill_is_idempotent_and_restart_starts_empty() {
    let mut sb = Sandbox::start();
    sb.write("/a", "1");
    let old = sb.pid();
    sb.restart();
    assert_ne!(sb.pid(), old);
    assert_eq!(sb.read("/a"), None);
    sb.kill();
    sb.kill();
    assert!(!sb.tool("xenstore-read", &["/tool"]).status.success());
}

/// `-M N` (oxenstored: `quota-path-max`) limits the node path length for dom0 too. Below
/// `/local/domain/<any domid>/` only the part after that prefix counts;
/// elsewhere the whole path does. Too long: EINVAL (reads too).
/// C xenstored 4.18 and later exempt dom0 from it (and from every quota): the write goes
/// through there.
#[test]
fn path_max_applies_to_dom0_relative_to_domain_home() {
    let sb = Sandbox::start_with(Options {
        path_max: Some(20),
        ..Options::default()
    });
    if !sb.daemon().limits_dom0_paths() {
        let long = format!("/local/domain/0/{}", "a".repeat(40));
        sb.write(&long, "v");
        assert_eq!(sb.read(&long).as_deref(), Some("v"));
        return;
    }
    let twenty = "a".repeat(20);
    for home in ["/local/domain/0/", "/local/domain/7/"] {
        sb.write(&format!("{home}{twenty}"), "v");
        let out = sb.tool("xenstore-write", &[&format!("{home}{twenty}b"), "v"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("xenstore-write: could not write path /local/domain/"),
            "{err}"
        );
    }
    sb.write(&format!("/{}", "b".repeat(19)), "v"); // 20 bytes in all
    assert!(!sb
        .tool("xenstore-write", &[&format!("/{}", "b".repeat(20)), "v"])
        .status
        .success());
    // What the physmap hooks write: 42 bytes after /local/domain/0/.
    assert!(!sb
        .tool("xenstore-write", &[START_ADDR, "f0000000"])
        .status
        .success());
}

#[test]
fn trace_logs_requests() {
    let sb = Sandbox::start_traced();
    sb.write("/a", "b");
    let requests: Vec<String> = sb.trace_requests().iter().map(|r| r.to_string()).collect();
    assert_eq!(requests, ["WRITE (/a b)"]);
}

/// One read through libxenstore's `xs_open(0)`, the way the hooks connect.
fn xs_read_once(path: &str) -> Option<String> {
    let xs = Xenstore::open().expect("xs_open");
    let value = xs.direct().read(path).expect("xs_read");
    value.map(|v| String::from_utf8(v).unwrap())
}

#[test]
fn with_env_points_libxenstore_at_the_sandbox() {
    let a = Sandbox::start();
    let b = Sandbox::start();
    a.write("/who", "a");
    b.write("/who", "b");
    let before = std::env::var_os("XENSTORED_PATH");
    for _ in 0..20 {
        assert_eq!(a.with_env(|| xs_read_once("/who")).as_deref(), Some("a"));
        assert_eq!(b.with_env(|| xs_read_once("/who")).as_deref(), Some("b"));
    }
    assert_eq!(std::env::var_os("XENSTORED_PATH"), before);
    // Restored even when the closure panics.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.with_env(|| panic!("x"))));
    assert!(r.is_err());
    assert_eq!(std::env::var_os("XENSTORED_PATH"), before);
}

/// The script's daemon listens in its own DIR even when the caller's shell still has
/// `XENSTORED_PATH` from an earlier sandbox (the C daemon reads that variable too).
#[test]
fn sandbox_script_ignores_a_callers_xenstored_path() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sandbox/xenstored-sandbox.sh"
    );
    let earlier = common::TempDir::new();
    let dir = common::TempDir::new();
    let dir = dir.file("xs");
    let daemon = Daemon::from_env().name();
    let run = |cmd: &str| {
        std::process::Command::new(script)
            .args([cmd, dir.to_str().unwrap()])
            .env("XENSTORE_DAEMON", daemon)
            .env("XENSTORED_PATH", earlier.file("socket"))
            .output()
            .expect("run xenstored-sandbox.sh")
    };
    let started = run("start");
    let stderr = String::from_utf8_lossy(&started.stderr).into_owned();
    let stopped = run("stop");
    assert!(started.status.success(), "{daemon}: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&started.stdout),
        format!("export XENSTORED_PATH={}/socket\n", dir.display())
    );
    assert!(stopped.status.success());
    assert!(!earlier.file("socket").exists());
}
