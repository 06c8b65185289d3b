//! Where one hook call's messages go: libxl's own logger, or stderr.
//!
//! libxl hands each call its `xentoollog_logger *`, so the destination is per call, not
//! per process: a [`CallLog`] is built for every exported call and passed down. Without a
//! logger, messages go through the `log` facade to `env_logger` on stderr, filtered by
//! `PHYSMAP_LOG` (default `warn`) and set up once per process. Every message names the domain.

use log::Level;
use std::ffi::CString;
use std::fmt;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::NonNull;
use std::sync::OnceLock;

/// Environment variable holding the `env_logger` filter for the stderr destination.
pub const LOG_ENV: &str = "PHYSMAP_LOG";

// `xentoollog_level` values from <xentoollog.h>.
const XTL_DEBUG: c_int = 1;
const XTL_INFO: c_int = 5;
const XTL_WARN: c_int = 7;
const XTL_ERROR: c_int = 8;

#[link(name = "xentoollog")]
extern "C" {
    fn xtl_log(
        logger: *mut c_void,
        level: c_int,
        errnoval: c_int,
        context: *const c_char,
        format: *const c_char,
        ...
    );
}

enum Sink {
    Stderr,
    /// A borrowed `xentoollog_logger *`.
    Xtl(NonNull<c_void>),
}

/// The log destination of one hook call, and the domain it is about.
pub struct CallLog {
    sink: Sink,
    domid: u32,
}

impl CallLog {
    /// Messages to stderr through `env_logger` (initialised on first use).
    pub fn stderr(domid: u32) -> Self {
        static INIT: OnceLock<()> = OnceLock::new();
        INIT.get_or_init(|| {
            // Fails only if the host process already installed a `log` logger; then messages
            // go to that one, which is what such a process wants.
            let _ =
                env_logger::Builder::from_env(env_logger::Env::new().filter_or(LOG_ENV, "warn"))
                    .target(env_logger::Target::Stderr)
                    // Writes through std's eprint!, which is stderr in any process and, in
                    // a Rust test, goes where the test harness captures output: the many
                    // tests that expect a failure stay quiet unless they fail.
                    .is_test(true)
                    .try_init();
        });
        CallLog {
            sink: Sink::Stderr,
            domid,
        }
    }

    /// Messages to a caller's `xentoollog_logger`.
    ///
    /// # Safety
    /// `logger` must be a live `xentoollog_logger *` for the lifetime of the returned value.
    pub unsafe fn xentoollog(logger: NonNull<c_void>, domid: u32) -> Self {
        CallLog {
            sink: Sink::Xtl(logger),
            domid,
        }
    }

    pub fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        match self.sink {
            Sink::Stderr => log::log!(target: "physmap", level, "domain {}: {}", self.domid, args),
            Sink::Xtl(logger) => {
                let xtl_level = match level {
                    Level::Error => XTL_ERROR,
                    Level::Warn => XTL_WARN,
                    Level::Info => XTL_INFO,
                    Level::Debug | Level::Trace => XTL_DEBUG,
                };
                // A NUL would cut the message short; our messages quote input, so escape it.
                let text = format!("domain {}: {}", self.domid, args).replace('\0', "\\0");
                let text = CString::new(text).expect("NULs escaped");
                // SAFETY: live logger (constructor contract); "%s" consumes exactly one
                // NUL-terminated string.
                unsafe {
                    xtl_log(
                        logger.as_ptr(),
                        xtl_level,
                        -1,
                        c"physmap".as_ptr(),
                        c"%s".as_ptr(),
                        text.as_ptr(),
                    )
                };
            }
        }
    }

    pub fn error(&self, args: fmt::Arguments<'_>) {
        self.log(Level::Error, args)
    }

    pub fn debug(&self, args: fmt::Arguments<'_>) {
        self.log(Level::Debug, args)
    }
}
