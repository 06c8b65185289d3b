//! A real xenstored (Debian 12's C daemon, 4.17) per test, without a hypervisor.
//!
//! Each `Sandbox` runs its own daemon in its own temp dir (`XENSTORED_RUNDIR`),
//! with `tests/sandbox/xenstored-shim.c` preloaded to stand in for the
//! hypervisor interfaces that xenstored needs to introduce dom0 (see
//! FACTS.md §5). Clients on its unix socket act as dom0. Tests can run in
//! parallel: nothing is shared between daemons, and each is killed by pid.
//!
//! Env overrides: `PHYSMAP_XENSTORED` (daemon binary), `PHYSMAP_SANDBOX_SHIM`
//! (prebuilt shim; otherwise it is built once per test process into
//! `<target>/sandbox/`).

use std::ffi::OsString;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEFAULT_XENSTORED: &str = "/usr/lib/xen-4.17/bin/xenstored";
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Sandbox {
    dir: PathBuf,
    socket: PathBuf,
    trace: Option<PathBuf>,
    args: Vec<String>,
    child: Option<Child>,
    pid: u32,
}

impl Sandbox {
    /// Starts a daemon with default limits.
    pub fn start() -> Sandbox {
        Self::launch(&[], false)
    }

    /// Starts a daemon with extra xenstored arguments, e.g. `["-M", "60"]`.
    pub fn start_with_args(args: &[&str]) -> Sandbox {
        Self::launch(args, false)
    }

    /// Starts a daemon that logs every request to `trace_path()`.
    pub fn start_traced() -> Sandbox {
        Self::launch(&[], true)
    }

    fn launch(extra: &[&str], traced: bool) -> Sandbox {
        let dir = fresh_dir();
        let socket = dir.join("socket");
        // sockaddr_un.sun_path holds 108 bytes including the NUL.
        assert!(
            socket.as_os_str().len() < 108,
            "sandbox socket path too long for a unix socket: {} (use a shorter TMPDIR)",
            socket.display()
        );
        let trace = traced.then(|| dir.join("trace"));
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if let Some(t) = &trace {
            args.extend([
                "-T".to_string(),
                t.to_str().expect("utf-8 temp dir").to_string(),
            ]);
        }
        let mut sb = Sandbox {
            dir,
            socket,
            trace,
            args,
            child: None,
            pid: 0,
        };
        sb.spawn();
        sb
    }

    /// Runs the daemon in `self.dir` and waits until its socket accepts a
    /// connection (it exists a moment before xenstored listens on it).
    fn spawn(&mut self) {
        let xenstored = xenstored_path();
        let log_path = self.dir.join("xenstored.log");
        let pidfile = self.dir.join("xenstored.pid");
        // xenstored writes its pid file without truncating it.
        let _ = fs::remove_file(&pidfile);
        let log = fs::File::create(&log_path).expect("create xenstored.log");
        // -N: no fork, so the child's pid is the daemon's pid.
        // -F: pid file inside the sandbox (none is written without -F).
        // The store lives in memory (default -I on): nothing outside `dir`.
        let mut child = Command::new(&xenstored)
            .arg("-N")
            .arg("-F")
            .arg(&pidfile)
            .args(&self.args)
            .env("XENSTORED_RUNDIR", &self.dir)
            .env("LD_PRELOAD", preload())
            .env_remove("XENSTORED_PATH")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (run scripts/bootstrap.sh)",
                    xenstored.display()
                )
            });
        self.pid = child.id();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                break;
            }
            let exited = child.try_wait().expect("try_wait on xenstored");
            if exited.is_some() || Instant::now() > deadline {
                if exited.is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                panic!(
                    "xenstored (args {:?}) {} in {}; log:\n{}",
                    self.args,
                    match exited {
                        Some(st) => format!("exited at start-up ({st})"),
                        None => format!("did not accept connections within {START_TIMEOUT:?}"),
                    },
                    self.dir.display(),
                    fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The trace file; panics unless started with `start_traced()`.
    pub fn trace_path(&self) -> &Path {
        self.trace
            .as_deref()
            .expect("sandbox not started with start_traced()")
    }

    /// Requests logged in the trace so far, one per request, as
    /// `"TYPE (args)"`, e.g. `"WRITE (/a/b value)"` or `"DIRECTORY (/a )"`.
    /// Trace lines look like `IN 0x55e0... 20240101 12:00:00 WRITE (/a/b value)`.
    pub fn trace_requests(&self) -> Vec<String> {
        let text = fs::read_to_string(self.trace_path()).expect("read trace");
        text.lines()
            .filter(|l| l.starts_with("IN "))
            .filter_map(|l| l.splitn(5, ' ').nth(4).map(str::to_string))
            .collect()
    }

    /// Runs `f` with `XENSTORED_PATH` pointing at this sandbox, for code
    /// that opens libxenstore in-process (`xs_open(0)`), which finds the
    /// socket only through the process environment. Tests are threads of
    /// one process, so the variable is shared: a global lock keeps one
    /// sandbox's value in place for the whole of `f`, and the previous value
    /// is restored afterwards (even if `f` panics). Every in-process xenstore
    /// use in tests must go through here, or it may see another test's
    /// socket (or race with setenv, which C's getenv does not tolerate).
    #[allow(unused_unsafe)] // set_var is unsafe only from edition 2024 on
    pub fn with_env<T>(&self, f: impl FnOnce() -> T) -> T {
        static ENV_LOCK: Mutex<()> = Mutex::new(());
        struct Restore(Option<OsString>);
        impl Drop for Restore {
            fn drop(&mut self) {
                // SAFETY: ENV_LOCK is held (dropped after this guard).
                unsafe {
                    match self.0.take() {
                        Some(v) => std::env::set_var("XENSTORED_PATH", v),
                        None => std::env::remove_var("XENSTORED_PATH"),
                    }
                }
            }
        }
        let _lock = ENV_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _restore = Restore(std::env::var_os("XENSTORED_PATH"));
        // SAFETY: environment writers and in-process readers hold ENV_LOCK.
        unsafe { std::env::set_var("XENSTORED_PATH", &self.socket) };
        f()
    }

    /// Runs a xenstore-utils tool (xenstore-read, -write, -ls, -rm,
    /// -chmod...) against this sandbox; the process env is left alone.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Output {
        Command::new(tool)
            .args(args)
            .env("XENSTORED_PATH", &self.socket)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e} (install xenstore-utils)"))
    }

    /// `xenstore-write path value`; panics on failure. Note that
    /// xenstore-write unescapes the value (`\n`, `\\`, `\xNN`).
    pub fn write(&self, path: &str, value: &str) {
        let out = self.tool("xenstore-write", &[path, value]);
        assert!(
            out.status.success(),
            "xenstore-write {path} failed: {}",
            stderr(&out)
        );
    }

    /// `xenstore-read -R path`: the stored bytes as they are (without -R
    /// they come back escaped, with a newline added); `None` if the read
    /// fails (e.g. no such node).
    pub fn read(&self, path: &str) -> Option<String> {
        let out = self.tool("xenstore-read", &["-R", path]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `xenstore-ls -f -p /`: one line per node below `/`, formatted as
    /// `/full/path = "value"   (n0,r5)`; values escaped as by xenstore-read
    /// (`\n`, `\t`, `\\`, octal `\001`; `"` is not escaped).
    pub fn dump(&self) -> String {
        let out = self.tool("xenstore-ls", &["-f", "-p", "/"]);
        assert!(out.status.success(), "xenstore-ls failed: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGKILLs the daemon (by pid) and reaps it; idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the daemon and starts a new one with the same arguments in the
    /// same dir. The store is in memory: the new daemon starts empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A new, empty directory under the system temp dir, unique in this machine.
pub fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!(
        "physmap-sandbox-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    ));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

fn xenstored_path() -> PathBuf {
    let p = std::env::var_os("PHYSMAP_XENSTORED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_XENSTORED));
    assert!(
        p.exists(),
        "{} not found (run scripts/bootstrap.sh)",
        p.display()
    );
    p
}

/// LD_PRELOAD splits its value at spaces and colons.
fn preload() -> &'static Path {
    let shim = shim_path();
    let s = shim.to_str().unwrap_or("");
    assert!(
        !s.is_empty() && !s.contains([' ', ':']),
        "shim path unusable in LD_PRELOAD: {}",
        shim.display()
    );
    shim
}

/// The shim, built at most once per test process. Test binaries may run
/// at the same time, so each compiles to a private name and renames it
/// into place (atomic): nobody ever preloads a half-written file.
fn shim_path() -> &'static Path {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        if let Some(p) = std::env::var_os("PHYSMAP_SANDBOX_SHIM") {
            return PathBuf::from(p);
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = manifest.join("tests/sandbox/xenstored-shim.c");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(|t| manifest.join(t)) // tests run in the package root
            .unwrap_or_else(|| manifest.join("target"));
        let dir = target.join("sandbox");
        let out = dir.join("xenstored-shim.so");
        let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
        if mtime(&out).is_some() && mtime(&out) >= mtime(&src) {
            return out;
        }
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let tmp = dir.join(format!("xenstored-shim.so.{}.tmp", std::process::id()));
        let res = Command::new("gcc")
            .args([
                "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-O2", "-o",
            ])
            .arg(&tmp)
            .arg(&src)
            .arg("-ldl")
            .output()
            .unwrap_or_else(|e| panic!("cannot run gcc: {e} (run scripts/bootstrap.sh)"));
        assert!(
            res.status.success(),
            "building the xenstored shim failed:\n{}",
            stderr(&res)
        );
        fs::rename(&tmp, &out).unwrap_or_else(|e| panic!("rename to {}: {e}", out.display()));
        out
    })
}
