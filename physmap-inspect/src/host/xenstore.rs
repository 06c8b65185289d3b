//! Whether a xenstore daemon answers, and which one it is.

use super::XenstoreJson;
use physmap_hooks::xenstore::Xenstore;
use std::fs;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// How long xenstore may take to answer one read (a daemon that is not running behind the
/// xenbus device never answers).
const XENSTORE_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket `xs_open(0)` tries first (libxenstore 4.17's `xs_daemon_socket()`).
fn xenstore_socket() -> PathBuf {
    if let Some(path) = std::env::var_os("XENSTORED_PATH") {
        return PathBuf::from(path);
    }
    let rundir = std::env::var_os("XENSTORED_RUNDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/xenstored"));
    rundir.join("socket")
}

pub fn probe_xenstore() -> XenstoreJson {
    let socket = xenstore_socket();
    let mut x = XenstoreJson {
        socket: socket.display().to_string(),
        ..XenstoreJson::default()
    };
    // One read, as any client's first request. In a thread: behind the xenbus device, a
    // request to a daemon that is not running never returns.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = Xenstore::open()
            .and_then(|xs| xs.direct().read("/").map(|_| ()))
            .map_err(|e| e.to_string());
        let _ = tx.send(result);
    });
    match rx.recv_timeout(XENSTORE_TIMEOUT) {
        Ok(Ok(())) => x.answers = true,
        Ok(Err(e)) => x.error = Some(e),
        Err(_) => {
            x.error = Some(format!(
                "no answer within {} s (is the xenstore daemon running?)",
                XENSTORE_TIMEOUT.as_secs()
            ))
        }
    }
    if !x.answers {
        return x;
    }
    let found = peer_pid(&socket)
        .map(|pid| (pid, "socket peer"))
        .or_else(|| pid_file_pid().map(|pid| (pid, "/run/xenstore.pid")))
        .or_else(|| process_named(&["oxenstored", "xenstored"]).map(|pid| (pid, "process name")));
    if let Some((pid, by)) = found {
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok().map(|e| {
            let e = e.to_string_lossy().into_owned();
            e.strip_suffix(" (deleted)").map(str::to_owned).unwrap_or(e)
        });
        let comm = fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|c| c.trim().to_owned());
        x.daemon = exe
            .as_deref()
            .and_then(|e| Path::new(e).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .or(comm);
        x.pid = Some(pid);
        x.exe = exe;
        x.identified_by = Some(by);
    }
    x
}

/// The process at the other end of `socket`, from `SO_PEERCRED`.
fn peer_pid(socket: &Path) -> Option<u32> {
    let stream = UnixStream::connect(socket).ok()?;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a connected socket, a ucred-sized buffer and its length.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && cred.pid > 0).then_some(cred.pid as u32)
}

/// The pid Debian's `/etc/init.d/xen` records for the daemon it started, if it runs.
fn pid_file_pid() -> Option<u32> {
    let pid: u32 = fs::read_to_string("/run/xenstore.pid")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// The lowest pid whose process name is one of `names`.
fn process_named(names: &[&str]) -> Option<u32> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter().find(|pid| {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| names.contains(&c.trim()))
    })
}
