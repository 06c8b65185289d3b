//! A real xenstore daemon per test, without a hypervisor: either of the two Debian ships
//! (12: Xen 4.17, 13: 4.20; the newest installed), chosen by `XENSTORE_DAEMON` — `xenstored` (C, the default here) or `oxenstored`
//! (OCaml, what Debian's init script starts when `XENSTORED` is unset).
//!
//! Each `Sandbox` runs its own daemon in its own temp dir (`XENSTORED_RUNDIR`), with
//! `tests/sandbox/xenstored-shim.c` preloaded to stand in for the hypervisor interfaces that
//! the daemon needs to introduce dom0, and to move oxenstored's compiled-in socket directory
//! into the sandbox (see FACTS.md §5 and §8). Clients on its unix socket act as dom0. Tests
//! can run in parallel: nothing is shared between daemons, and each is killed by pid.
//!
//! Env overrides: `XENSTORE_DAEMON`, `PHYSMAP_XENSTORED` / `PHYSMAP_OXENSTORED` (daemon
//! binaries), `PHYSMAP_SANDBOX_SHIM` (prebuilt shim; otherwise it is built once per test
//! process into `<target>/sandbox/`).

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where Debian installs the daemons: `/usr/lib/xen-<version>/bin/` (4.17 on Debian 12,
/// 4.20 on Debian 13); the newest version installed is the default.
const XEN_LIB: &str = "/usr/lib";
/// Debian's configuration of oxenstored: the sandbox starts from it, so that its quotas and
/// conflict limits are the ones a Debian host runs with.
const DEBIAN_OXENSTORED_CONF: &str = "/etc/xen/oxenstored.conf";
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Which xenstore daemon a sandbox runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// The C `xenstored`: lists children in creation order, pages large directory
    /// listings (`XS_DIRECTORY_PART`), traces requests with `-T`.
    C,
    /// The OCaml `oxenstored`: lists children sorted, answers a directory in one reply of
    /// any size, merges transactions (see FACTS.md §8).
    OCaml,
}

impl Daemon {
    /// The daemon of this test run: `XENSTORE_DAEMON=oxenstored|xenstored` (default
    /// `xenstored`). Anything else is a mistake worth stopping on.
    pub fn from_env() -> Daemon {
        match std::env::var("XENSTORE_DAEMON").as_deref() {
            Err(_) | Ok("") | Ok("xenstored") => Daemon::C,
            Ok("oxenstored") => Daemon::OCaml,
            Ok(other) => panic!("XENSTORE_DAEMON={other}: expected xenstored or oxenstored"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Daemon::C => "xenstored",
            Daemon::OCaml => "oxenstored",
        }
    }

    /// The Xen version of the binary this daemon runs, from Debian's
    /// `/usr/lib/xen-<major>.<minor>/bin/` (4.17 when the path says nothing).
    pub fn xen_version(self) -> (u32, u32) {
        let bin = daemon_binary(self);
        bin.components()
            .filter_map(|c| c.as_os_str().to_str()?.strip_prefix("xen-"))
            .filter_map(|v| {
                let (major, minor) = v.split_once('.')?;
                Some((major.parse().ok()?, minor.parse().ok()?))
            })
            .next()
            .unwrap_or((4, 17))
    }

    /// Whether the path-length limit (`-M`, `quota-path-max`) applies to dom0's socket
    /// connections. oxenstored: yes (4.17 and 4.20). C xenstored: up to 4.17; from 4.18 on,
    /// its quotas, the path length included, exempt privileged connections, so nothing
    /// makes it refuse one of dom0's valid writes.
    pub fn limits_dom0_paths(self) -> bool {
        match self {
            Daemon::C => self.xen_version() < (4, 18),
            Daemon::OCaml => true,
        }
    }
}

/// Limits and switches of a sandboxed daemon, in terms both daemons understand.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Longest node path, counted from the connection's domain home for paths below it
    /// (C: `-M`, oxenstored: `quota-path-max`); both apply it to dom0.
    pub path_max: Option<u32>,
    /// oxenstored's `quota-maxsize` (longest value; applies to dom0 too). The C daemon's
    /// `-S` exempts dom0, so a test that needs this limit runs on oxenstored only.
    pub max_size: Option<u32>,
    /// Log every request (C: `-T` trace, oxenstored: its access log with read and
    /// transaction operations); read them with [`Sandbox::requests_since`].
    pub traced: bool,
    /// oxenstored's `test-eagain`: fail transaction commits with EAGAIN at random.
    pub test_eagain: bool,
}

/// One request as the daemon logged it, in the C daemon's names (`WRITE`, `DIRECTORY`,
/// `TRANSACTION_START`...), whichever daemon logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The connection it came on (C: its address in the daemon, oxenstored: `A<n>`).
    pub conn: String,
    pub op: String,
    /// The arguments as logged (path first; NULs shown as spaces), trimmed.
    pub args: String,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.op, self.args)
    }
}

pub struct Sandbox {
    daemon: Daemon,
    options: Options,
    dir: PathBuf,
    socket: PathBuf,
    trace: Option<PathBuf>,
    child: Option<Child>,
    pid: u32,
}

impl Sandbox {
    /// Starts the run's daemon ([`Daemon::from_env`]) with default limits.
    pub fn start() -> Sandbox {
        Self::start_with(Options::default())
    }

    /// Starts the run's daemon with the given limits.
    pub fn start_with(options: Options) -> Sandbox {
        Self::launch(Daemon::from_env(), options)
    }

    /// Starts a daemon that logs every request (see [`Sandbox::requests_since`]).
    /// A sandbox whose daemon refuses dom0's writes of paths longer than `path_max`
    /// (counted as [`Options::path_max`] says): this run's daemon when it limits dom0's
    /// paths, else oxenstored (C xenstored 4.18 and later exempt dom0, see
    /// [`Daemon::limits_dom0_paths`]); the note on stderr says which.
    pub fn start_path_limited(path_max: u32) -> Sandbox {
        let options = Options {
            path_max: Some(path_max),
            ..Options::default()
        };
        let daemon = Daemon::from_env();
        if daemon.limits_dom0_paths() {
            Sandbox::launch(daemon, options)
        } else {
            eprintln!(
                "note: {} {:?} does not limit dom0's paths; this test runs on oxenstored",
                daemon.name(),
                daemon.xen_version()
            );
            Sandbox::launch(Daemon::OCaml, options)
        }
    }

    pub fn start_traced() -> Sandbox {
        Self::start_with(Options {
            traced: true,
            ..Options::default()
        })
    }

    /// Starts a given daemon, whatever the run's choice (for tests of one daemon's
    /// behaviour, or of both side by side).
    pub fn launch(daemon: Daemon, options: Options) -> Sandbox {
        let dir = fresh_dir();
        let socket = dir.join("socket");
        // sockaddr_un.sun_path holds 108 bytes including the NUL.
        assert!(
            socket.as_os_str().len() < 108,
            "sandbox socket path too long for a unix socket: {} (use a shorter TMPDIR)",
            socket.display()
        );
        let trace = options.traced.then(|| dir.join("trace"));
        let mut sb = Sandbox {
            daemon,
            options,
            dir,
            socket,
            trace,
            child: None,
            pid: 0,
        };
        sb.spawn();
        sb
    }

    pub fn daemon(&self) -> Daemon {
        self.daemon
    }

    /// The daemon's command line: binary and arguments.
    fn command(&self) -> Command {
        let pidfile = self.dir.join("xenstored.pid");
        match self.daemon {
            Daemon::C => {
                let mut cmd = Command::new(daemon_binary(Daemon::C));
                // -N: no fork, so the child's pid is the daemon's pid.
                // -F: pid file inside the sandbox (none is written without -F).
                // The store lives in memory (default -I on): nothing outside `dir`.
                cmd.arg("-N").arg("-F").arg(&pidfile);
                if let Some(n) = self.options.path_max {
                    cmd.args(["-M", &n.to_string()]);
                }
                if let Some(t) = &self.trace {
                    cmd.arg("-T").arg(t);
                    // 4.18 and later trace requests only with the "io" switch on.
                    if Daemon::C.xen_version() >= (4, 18) {
                        cmd.arg("--trace-control=+io");
                    }
                }
                assert!(
                    self.options.max_size.is_none() && !self.options.test_eagain,
                    "max_size and test_eagain are oxenstored settings"
                );
                cmd
            }
            Daemon::OCaml => {
                let conf = self.dir.join("oxenstored.conf");
                fs::write(&conf, oxenstored_conf(&self.dir, &self.options))
                    .expect("write oxenstored.conf");
                let mut cmd = Command::new(daemon_binary(Daemon::OCaml));
                cmd.arg("--no-fork").arg("--config-file").arg(conf);
                cmd
            }
        }
    }

    /// Runs the daemon in `self.dir` and waits until its socket accepts a
    /// connection (it exists a moment before the daemon listens on it).
    fn spawn(&mut self) {
        let log_path = self.dir.join("xenstored.log");
        let pidfile = self.dir.join("xenstored.pid");
        // xenstored writes its pid file without truncating it.
        let _ = fs::remove_file(&pidfile);
        let _ = fs::remove_file(&self.socket);
        let log = fs::File::create(&log_path).expect("create xenstored.log");
        let mut cmd = self.command();
        let mut child = cmd
            .env("XENSTORED_RUNDIR", &self.dir)
            .env("LD_PRELOAD", preload())
            .env_remove("XENSTORED_PATH")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/bootstrap.sh)"));
        self.pid = child.id();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                break;
            }
            let exited = child.try_wait().expect("try_wait on the daemon");
            if exited.is_some() || Instant::now() > deadline {
                if exited.is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                panic!(
                    "{} ({:?}) {} in {}; log:\n{}",
                    self.daemon.name(),
                    self.options,
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

    /// The request log; panics unless started traced.
    pub fn trace_path(&self) -> &Path {
        self.trace
            .as_deref()
            .expect("sandbox not started with traced: true")
    }

    /// How many requests the daemon has answered with EAGAIN so far: transaction commits
    /// that conflicted (or that oxenstored's `test-eagain` failed). C trace:
    /// `OUT 0x... ERROR (EAGAIN )`; oxenstored access log: `A3.1  error  EAGAIN`.
    pub fn eagain_replies(&self) -> usize {
        let text = fs::read_to_string(self.trace_path()).expect("read the request log");
        text.lines()
            .filter(|l| match self.daemon {
                Daemon::C => {
                    // 4.18+: `io: OUT(START) ...` and `io: OUT(END) ...` per reply.
                    let l = l.strip_prefix("io: ").unwrap_or(l);
                    (l.starts_with("OUT ") || l.starts_with("OUT(START) "))
                        && l.contains(" ERROR (EAGAIN")
                }
                Daemon::OCaml => {
                    let mut words = l.split_whitespace().skip(2);
                    words.next() == Some("error") && words.next() == Some("EAGAIN")
                }
            })
            .count()
    }

    /// Every request logged so far.
    pub fn trace_requests(&self) -> Vec<Request> {
        self.requests_since(0).1
    }

    /// The offset just past the end of the request log, and the requests logged after
    /// offset `from` (an offset this returned before, or 0).
    ///
    /// C trace lines: `IN 0x55e0... 20240101 12:00:00 WRITE (/a/b value)`.
    /// oxenstored access-log lines: `[20240101T12:00:00.000Z]  A3.1         write     /a/b value`,
    /// next to lines that are no requests (`newconn`, `endconn`, `error`, `commit`...).
    pub fn requests_since(&self, from: u64) -> (u64, Vec<Request>) {
        let mut file = fs::File::open(self.trace_path()).expect("open the request log");
        let end = file.seek(SeekFrom::End(0)).unwrap();
        if end <= from {
            return (end, Vec::new());
        }
        file.seek(SeekFrom::Start(from)).unwrap();
        let mut requests = Vec::new();
        let mut read = from;
        for line in BufReader::new(file).split(b'\n') {
            let line = line.expect("read the request log");
            // A line still being written is read next time.
            if read + line.len() as u64 >= end {
                break;
            }
            read += line.len() as u64 + 1;
            let line = String::from_utf8_lossy(&line);
            if let Some(r) = match self.daemon {
                Daemon::C => parse_c_trace(&line),
                Daemon::OCaml => parse_access_log(&line),
            } {
                requests.push(r);
            }
        }
        (read, requests)
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

/// The binary a sandbox of `daemon` runs: `PHYSMAP_XENSTORED` / `PHYSMAP_OXENSTORED`, or
/// the daemon of the newest `/usr/lib/xen-<version>/bin/` (Debian's layout).
pub fn daemon_binary(daemon: Daemon) -> PathBuf {
    let var = match daemon {
        Daemon::C => "PHYSMAP_XENSTORED",
        Daemon::OCaml => "PHYSMAP_OXENSTORED",
    };
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let mut found: Vec<((u32, u32), PathBuf)> = fs::read_dir(XEN_LIB)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let (major, minor) = name.strip_prefix("xen-")?.split_once('.')?;
                let bin = e.path().join("bin").join(daemon.name());
                let version = (major.parse().ok()?, minor.parse().ok()?);
                bin.exists().then_some((version, bin))
            })
            .collect();
        found.sort();
        found
            .pop()
            .map(|(_, bin)| bin)
            .unwrap_or_else(|| PathBuf::from(format!("{XEN_LIB}/xen-4.17/bin/{}", daemon.name())))
    });
    assert!(
        p.exists(),
        "{} not found (run scripts/bootstrap.sh)",
        p.display()
    );
    p
}

/// oxenstored's configuration for a sandbox in `dir`: Debian's file, with everything that
/// names a path moved into `dir` and the test's settings. Keys given twice: the last wins.
fn oxenstored_conf(dir: &Path, options: &Options) -> String {
    let debian = fs::read_to_string(DEBIAN_OXENSTORED_CONF).unwrap_or_else(|e| {
        panic!("{DEBIAN_OXENSTORED_CONF}: {e} (run scripts/bootstrap.sh: xen-utils-common)")
    });
    // The ring page and event channel that dom0's introduction reads: a zeroed page, and
    // "1" without a newline (oxenstored's int_of_string refuses one).
    let kva = dir.join("xsd_kva");
    let port = dir.join("xsd_port");
    fs::write(&kva, [0u8; 4096]).expect("write xsd_kva");
    fs::write(&port, "1").expect("write xsd_port");
    let d = dir.display();
    let mut conf = format!(
        "{debian}\n# physmap-hooks sandbox\n\
         pid-file = {d}/xenstored.pid\n\
         persistent = false\n\
         xenstored-log-file = {d}/oxenstored.log\n\
         xenstored-kva = {}\n\
         xenstored-port = {}\n\
         test-eagain = {}\n",
        kva.display(),
        port.display(),
        options.test_eagain
    );
    if options.traced {
        conf.push_str(&format!(
            "access-log-file = {d}/trace\n\
             access-log-read-ops = true\n\
             access-log-transactions-ops = true\n\
             access-log-special-ops = true\n\
             access-log-nb-chars = 8192\n\
             access-log-nb-lines = 1000000000\n"
        ));
    } else {
        // In the sandbox: Debian's default would write under /var/log. Never /dev/null:
        // oxenstored rotates a log by renaming it (/dev/null.1, ...) and creating a new
        // regular file, which destroys the host's /dev/null.
        conf.push_str(&format!("access-log-file = {d}/access.log\n"));
    }
    if let Some(n) = options.path_max {
        conf.push_str(&format!("quota-path-max = {n}\n"));
    }
    if let Some(n) = options.max_size {
        conf.push_str(&format!("quota-maxsize = {n}\n"));
    }
    conf
}

/// 4.17: `IN 0x55e0... 20240101 12:00:00 WRITE (/a/b value)`; 4.18 and later prefix the
/// switch and add the domain: `io: IN 0x55e0... (d0) 20240101 12:00:00 WRITE (/a/b value)`.
fn parse_c_trace(line: &str) -> Option<Request> {
    let line = line.strip_prefix("io: ").unwrap_or(line);
    let (conn, rest) = line.strip_prefix("IN ")?.split_once(' ')?;
    let conn = conn.to_string();
    let rest = match rest.strip_prefix("(d") {
        Some(r) => r.split_once(") ")?.1,
        None => rest,
    };
    let request = rest.splitn(3, ' ').nth(2)?;
    let (op, args) = request.split_once(" (")?;
    Some(Request {
        conn,
        op: op.to_string(),
        args: args.strip_suffix(')').unwrap_or(args).trim().to_string(),
    })
}

fn parse_access_log(line: &str) -> Option<Request> {
    let rest = line.split_once("]  ")?.1;
    let (conn, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start();
    // The operation is padded to 10 columns ("t start   ", "write     ").
    let (op, args) = rest.split_at(rest.len().min(10));
    let op = match op.trim() {
        "read" => "READ",
        "write" => "WRITE",
        "directory" => "DIRECTORY",
        "mkdir" => "MKDIR",
        "rm" => "RM",
        "getperms" => "GET_PERMS",
        "setperms" => "SET_PERMS",
        "t start" => "TRANSACTION_START",
        "t end" => "TRANSACTION_END",
        "watch" => "WATCH",
        "unwatch" => "UNWATCH",
        // newconn, endconn, error, commit, conflict...: not requests.
        _ => return None,
    };
    // The connection without the transaction (`A3.1` -> `A3`).
    let conn = conn.split('.').next().unwrap_or(conn).to_string();
    Some(Request {
        conn,
        op: op.to_string(),
        args: args.trim().to_string(),
    })
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
        // The workspace root: the package itself, or the parent of physmap-inspect/, whose
        // tests include this file too.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .find(|d| d.join("tests/sandbox/xenstored-shim.c").is_file())
            .expect("tests/sandbox/xenstored-shim.c above CARGO_MANIFEST_DIR");
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
