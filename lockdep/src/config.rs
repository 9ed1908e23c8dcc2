//! [`Config`]: a validator's configuration, read from code or from the
//! `LOCKDEP_*` environment ([`Config::from_env`]), and [`Action`]: what it
//! does with a report. Plain data, used by the validator's engine and by its
//! public face alike.

use std::fmt;
use std::sync::Arc;

use crate::report::Report;

/// What the validator does when it finds a problem (the report is also
/// stored and available from [`Validator::reports`](crate::Validator::reports) in every case).
#[derive(Clone)]
pub enum Action {
    /// Panic in the thread that found the problem, with the report as message.
    Panic,
    /// Print the report to stderr and emit a `tracing` warning event.
    Warn,
    /// Print the report to stderr and abort the process.
    Abort,
    /// Only store the report.
    Collect,
    /// Call a function with the report (after storing it). The callback runs
    /// with validation suspended on its thread: locks it takes are not tracked.
    Callback(Arc<dyn Fn(&Report) + Send + Sync>),
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Panic => "Panic",
            Action::Warn => "Warn",
            Action::Abort => "Abort",
            Action::Collect => "Collect",
            Action::Callback(_) => "Callback(..)",
        })
    }
}

/// A validator's configuration.
///
/// The default is *continue* mode with [`Action::Warn`]: a validator watching
/// a real program should tell about every distinct problem once and never take
/// the program down. [`Config::kernel`] is the kernel's behaviour: stop after
/// the first report, and only collect it.
#[derive(Clone, Debug)]
pub struct Config {
    /// A name shown in reports.
    pub name: String,
    /// Stop validating after the first report (kernel `debug_locks = 0`).
    /// When false, each distinct problem is reported once and validation goes on.
    pub one_shot: bool,
    /// What to do with a report.
    pub action: Action,
    /// Record every hook call in the validator's scopes ([`Validator::events`](crate::Validator::events)).
    pub record_events: bool,
    /// Held-lock depth limit per thread (kernel `MAX_LOCK_DEPTH` = 48).
    pub max_depth: usize,
    /// Class limit (kernel `MAX_LOCKDEP_KEYS` = 8192).
    pub max_classes: usize,
    /// Dependency limit (kernel: 16384 dependencies).
    pub max_dependencies: usize,
    /// Cached chain limit (kernel `MAX_LOCKDEP_CHAINS` = 65536).
    pub max_chains: usize,
    /// Capture a stack trace when a dependency is first recorded (resolved
    /// only when a report is printed). Off: reports show locations only.
    pub backtraces: bool,
    /// The most stack frames a captured trace keeps, counted from the
    /// capture itself (lockdep's own frames are among them and are trimmed
    /// when a trace is printed). The unwind stops there, and it is the
    /// unwind that costs (about 1,700 instructions a frame with libgcc's
    /// unwinder): a smaller value makes a new dependency cheaper with
    /// capture on, at the price of the outermost callers. Default
    /// [`Config::DEFAULT_BACKTRACE_FRAMES`]; at least 1.
    pub backtrace_frames: usize,
    /// Where to write a graph dump (DOT + text) when a report fires; `None`: no dump.
    pub dump_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "lockdep".to_owned(),
            one_shot: false,
            action: Action::Warn,
            record_events: false,
            max_depth: 48,
            max_classes: 8192,
            max_dependencies: 16384,
            max_chains: 65536,
            backtraces: true,
            backtrace_frames: Config::DEFAULT_BACKTRACE_FRAMES,
            dump_dir: None,
        }
    }
}

impl Config {
    /// The default of [`Config::backtrace_frames`]: 32 frames, enough for
    /// lockdep's own frames (about ten in a debug build) and the caller's
    /// innermost twenty or so.
    pub const DEFAULT_BACKTRACE_FRAMES: usize = 32;

    /// The kernel's behaviour: one-shot, collect only.
    pub fn kernel() -> Self {
        Config { name: "kernel".to_owned(), one_shot: true, action: Action::Collect, ..Config::default() }
    }

    /// Continue mode, collect only: what tests usually want.
    pub fn collect() -> Self {
        Config { action: Action::Collect, ..Config::default() }
    }

    /// Sets the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the action.
    pub fn with_action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }

    /// Turns stack-trace capture on or off.
    pub fn with_backtraces(mut self, on: bool) -> Self {
        self.backtraces = on;
        self
    }

    /// Sets the most frames a captured trace keeps ([`Config::backtrace_frames`];
    /// 0 is taken as 1).
    pub fn with_backtrace_frames(mut self, frames: usize) -> Self {
        self.backtrace_frames = frames.max(1);
        self
    }

    /// Sets the directory graph dumps are written to when a report fires.
    pub fn with_dump_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.dump_dir = Some(dir.into());
        self
    }

    /// Turns event recording on or off.
    pub fn with_events(mut self, on: bool) -> Self {
        self.record_events = on;
        self
    }

    /// The global validator's configuration, read from the environment:
    ///
    /// | variable | values | default |
    /// |---|---|---|
    /// | `LOCKDEP_MODE` | `continue`, `kernel` (one-shot; also `one-shot`, `oneshot`) | `continue` |
    /// | `LOCKDEP_ACTION` | `warn`, `panic`, `abort`, `collect` | `warn` |
    /// | `LOCKDEP_RECORD_EVENTS` | `1`, `true`, `on` / `0`, `false`, `off` | off |
    /// | `LOCKDEP_BACKTRACE` | `1`, `true`, `on` / `0`, `false`, `off` (locations only) | on |
    /// | `LOCKDEP_BACKTRACE_FRAMES` | a number ≥ 1: the most frames a captured trace keeps (the unwind stops there; see [`Config::backtrace_frames`]) | `32` |
    /// | `LOCKDEP_DUMP_DIR` | a directory for graph dumps on a report | none |
    /// | `LOCKDEP_MAX_DEPTH` | a number ≥ 1 | `48` |
    /// | `LOCKDEP_MAX_CLASSES` | a number ≥ 1 | `8192` |
    /// | `LOCKDEP_MAX_DEPENDENCIES` | a number ≥ 1 | `16384` |
    /// | `LOCKDEP_MAX_CHAINS` | a number ≥ 1 | `65536` |
    /// | `LOCKDEP_SUMMARY` | a file: at exit (unix, validation compiled in), the process appends one JSON line with the global validator's counts and reports | none |
    /// | `LOCKDEP_SAVE` | a file, or a directory (one new file per process), to save the learned graph to at exit (feature `save`, unix; see [`Validator::save`](crate::Validator::save)) | none |
    /// | `LOCKDEP_SAVE_TRACES` | `1`, `true`, `on` / `0`, `false`, `off`: include the resolved stack traces in that file (loading the debug info costs up to a second a process) | off |
    ///
    /// The values are matched exactly (lowercase). Any other value — a
    /// misspelling, `0` for a limit, a value that is not UTF-8 — is ignored
    /// with one line on stderr, and the default stays. (Those lines never
    /// panic, even with stderr closed.)
    pub fn from_env() -> Self {
        let mut c = Config { name: "global".to_owned(), ..Config::default() };
        if let Some(v) = env_text("LOCKDEP_MODE") {
            match v.as_str() {
                "kernel" | "one-shot" | "oneshot" => c.one_shot = true,
                "continue" => c.one_shot = false,
                other => crate::output::say!("lockdep: ignoring LOCKDEP_MODE={other:?} (expected continue or kernel)"),
            }
        }
        if let Some(v) = env_text("LOCKDEP_ACTION") {
            match v.as_str() {
                "warn" => c.action = Action::Warn,
                "panic" => c.action = Action::Panic,
                "abort" => c.action = Action::Abort,
                "collect" => c.action = Action::Collect,
                other => {
                    crate::output::say!(
                        "lockdep: ignoring LOCKDEP_ACTION={other:?} (expected warn, panic, abort or collect)"
                    )
                }
            }
        }
        env_switch("LOCKDEP_BACKTRACE", &mut c.backtraces);
        env_limit("LOCKDEP_BACKTRACE_FRAMES", &mut c.backtrace_frames);
        if let Some(dir) = std::env::var_os("LOCKDEP_DUMP_DIR") {
            c.dump_dir = Some(dir.into());
        }
        env_switch("LOCKDEP_RECORD_EVENTS", &mut c.record_events);
        env_limit("LOCKDEP_MAX_DEPTH", &mut c.max_depth);
        env_limit("LOCKDEP_MAX_CLASSES", &mut c.max_classes);
        env_limit("LOCKDEP_MAX_DEPENDENCIES", &mut c.max_dependencies);
        env_limit("LOCKDEP_MAX_CHAINS", &mut c.max_chains);
        c
    }
}

/// The value of `name`, if set; a value that is not UTF-8 is ignored with a line.
fn env_text(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(v)) => {
            crate::output::say!("lockdep: ignoring {name}={v:?} (not UTF-8)");
            None
        }
    }
}

/// An on/off variable: `1`, `true`, `on` or `0`, `false`, `off`.
fn env_switch(name: &str, slot: &mut bool) {
    if let Some(v) = env_text(name) {
        match v.as_str() {
            "1" | "true" | "on" => *slot = true,
            "0" | "false" | "off" => *slot = false,
            other => crate::output::say!("lockdep: ignoring {name}={other:?} (expected 1, true, on, 0, false or off)"),
        }
    }
}

/// A limit: a number of at least 1 (0 would make the first lock exceed it).
fn env_limit(name: &str, slot: &mut usize) {
    if let Some(v) = env_text(name) {
        match v.parse() {
            Ok(0) | Err(_) => crate::output::say!("lockdep: ignoring {name}={v:?} (expected a number of at least 1)"),
            Ok(n) => *slot = n,
        }
    }
}
