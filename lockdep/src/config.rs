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
    /// The unwinder that captures a trace: [`Unwinder::Cached`] (the
    /// default) or libgcc's ([`Unwinder::Libgcc`]). `LOCKDEP_UNWINDER` in
    /// [`from_env`](Config::from_env).
    pub unwinder: Unwinder,
    /// Where to write a graph dump (DOT + text) when a report fires; `None`: no dump.
    pub dump_dir: Option<std::path::PathBuf>,
    /// Construction sites whose locks may nest one level in each other: a
    /// lock made at a listed site, taken while the thread holds *another*
    /// lock of its class, is taken as subclass 1 — the kernel's
    /// `down_read_nested(lock, SINGLE_DEPTH_NESTING)`, for code that cannot
    /// say it (a dependency, through parking_lot's or std's API). Taking the
    /// same lock twice, or a third lock of the class under two, is still
    /// reported. See [`NestedSite`]; `LOCKDEP_NESTED_SITES` in
    /// [`from_env`](Config::from_env).
    pub nested_sites: Vec<NestedSite>,
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
            unwinder: Unwinder::Cached,
            dump_dir: None,
            nested_sites: Vec::new(),
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

    /// Sets the unwinder that captures traces ([`Config::unwinder`]).
    ///
    /// ```
    /// use lockdep::{Config, Unwinder};
    /// let config = Config::collect().with_unwinder(Unwinder::Libgcc);
    /// assert_eq!(config.unwinder, Unwinder::Libgcc);
    /// assert_eq!(Config::collect().unwinder, Unwinder::Cached);
    /// ```
    pub fn with_unwinder(mut self, unwinder: Unwinder) -> Self {
        self.unwinder = unwinder;
        self
    }

    /// Sets the directory graph dumps are written to when a report fires.
    pub fn with_dump_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.dump_dir = Some(dir.into());
        self
    }

    /// Adds a construction site whose locks may nest one level in each other
    /// (see [`nested_sites`](Config::nested_sites)).
    ///
    /// ```
    /// use lockdep::{Config, NestedSite, Validator};
    /// use lockdep::sync::RwLock;
    ///
    /// let waiter = || RwLock::new(0); // one construction site: one class
    /// let line = line!() - 1;
    /// let site: NestedSite = format!("{}:{line}", file!()).parse().unwrap();
    /// let v = Validator::new(Config::collect().with_nested_site(site));
    /// let (mine, theirs) = (waiter(), waiter());
    /// v.scope(|| {
    ///     let _mine = mine.write();
    ///     let _theirs = theirs.read(); // another lock of the class: one level down
    /// });
    /// assert!(v.reports().is_empty());
    /// ```
    pub fn with_nested_site(mut self, site: NestedSite) -> Self {
        self.nested_sites.push(site);
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
    /// | `LOCKDEP_UNWINDER` | `cached`, `libgcc`: the unwinder that captures traces ([`Config::unwinder`]) | `cached` |
    /// | `LOCKDEP_DUMP_DIR` | a directory for graph dumps on a report | none |
    /// | `LOCKDEP_MAX_DEPTH` | a number ≥ 1 | `48` |
    /// | `LOCKDEP_MAX_CLASSES` | a number ≥ 1 | `8192` |
    /// | `LOCKDEP_MAX_DEPENDENCIES` | a number ≥ 1 | `16384` |
    /// | `LOCKDEP_MAX_CHAINS` | a number ≥ 1 | `65536` |
    /// | `LOCKDEP_NESTED_SITES` | construction sites whose locks may nest one level in each other ([`Config::nested_sites`]): `file:line` or `file:line:column`, comma-separated, e.g. `src/sync/value_initializer.rs:98` (the file matches the end of the site's path, whole components) | none |
    /// | `LOCKDEP_SUMMARY` | a file: at exit (unix, validation compiled in), the process appends one JSON line with the global validator's counts and reports | none |
    /// | `LOCKDEP_SAVE` | a file, or a directory (one new file per process), to save the learned graph to at exit (feature `save`, unix; see `Validator::save`) | none |
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
        if let Some(v) = env_text("LOCKDEP_UNWINDER") {
            match v.as_str() {
                "cached" => c.unwinder = Unwinder::Cached,
                "libgcc" => c.unwinder = Unwinder::Libgcc,
                other => {
                    crate::output::say!("lockdep: ignoring LOCKDEP_UNWINDER={other:?} (expected cached or libgcc)")
                }
            }
        }
        if let Some(dir) = std::env::var_os("LOCKDEP_DUMP_DIR") {
            c.dump_dir = Some(dir.into());
        }
        env_switch("LOCKDEP_RECORD_EVENTS", &mut c.record_events);
        env_limit("LOCKDEP_MAX_DEPTH", &mut c.max_depth);
        env_limit("LOCKDEP_MAX_CLASSES", &mut c.max_classes);
        env_limit("LOCKDEP_MAX_DEPENDENCIES", &mut c.max_dependencies);
        env_limit("LOCKDEP_MAX_CHAINS", &mut c.max_chains);
        if let Some(v) = env_text("LOCKDEP_NESTED_SITES") {
            match NestedSite::parse_list(&v) {
                Ok(sites) => c.nested_sites = sites,
                Err(bad) => crate::output::say!(
                    "lockdep: ignoring LOCKDEP_NESTED_SITES={v:?} (expected file:line or file:line:column, \
                     comma-separated; {bad:?} is not)"
                ),
            }
        }
        c
    }
}

/// The unwinder that captures a stack trace ([`Config::unwinder`],
/// `LOCKDEP_UNWINDER`). Either way a trace is a list of return addresses,
/// resolved to names and lines only when a report or dump prints it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Unwinder {
    /// A cached unwinder (x86_64 and aarch64 Linux with glibc): each return
    /// address's unwind rule is computed from the module's `.eh_frame` once
    /// and reused (per thread), so a capture through frames seen before
    /// costs ~150–200 instructions a frame instead of libgcc's ~2,000 (a
    /// thread that captures keeps ~50 KiB of rules). It reads only the
    /// current thread's live stack, and gives way to libgcc's for a capture
    /// it cannot vouch for (a frame in no known module, a stack it does not
    /// know, a read out of bounds); on other platforms it is libgcc's.
    #[default]
    Cached,
    /// libgcc's `_Unwind_Backtrace`, through `backtrace::trace`: the DWARF
    /// CFI of every frame interpreted afresh at every capture.
    Libgcc,
}

/// A construction site named in [`Config::nested_sites`] (or
/// `LOCKDEP_NESTED_SITES`): `file:line`, or `file:line:column` to pick one
/// of several locks made on a line.
///
/// It matches the class of a lock made at that source location by a
/// constructor that records its caller (the lock types of
/// [`sync`](crate::sync) and [`std_sync`](crate::std_sync), the
/// parking_lot shims, [`LockdepMap::here`](crate::LockdepMap::here)); not
/// a class with an explicit key. `file` matches the end of the site's file
/// name in whole path components: `src/sync/value_initializer.rs` matches
/// the `src/sync/value_initializer.rs` the compiler names when the crate is
/// the one built, and the
/// `/home/me/.cargo/registry/src/…/moka-0.12.16/src/sync/value_initializer.rs`
/// it names when the crate is a dependency — give enough of the path to name
/// one file (`moka-0.12.16/src/…` if need be).
///
/// ```
/// use lockdep::NestedSite;
/// let site: NestedSite = "src/sync/value_initializer.rs:98".parse().unwrap();
/// assert_eq!((site.file.as_str(), site.line, site.column), ("src/sync/value_initializer.rs", 98, None));
/// assert!("value_initializer.rs".parse::<NestedSite>().is_err()); // no line
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NestedSite {
    /// The file, or the last components of its path.
    pub file: String,
    /// The line (from 1).
    pub line: u32,
    /// The column (from 1); `None`: any lock made on the line.
    pub column: Option<u32>,
}

impl NestedSite {
    /// The site `file:line` (any column).
    pub fn new(file: impl Into<String>, line: u32) -> NestedSite {
        NestedSite { file: file.into(), line, column: None }
    }

    /// The same site, at `column` only.
    pub fn at_column(mut self, column: u32) -> NestedSite {
        self.column = Some(column);
        self
    }

    /// Whether a lock made at `file:line:column` is made at this site.
    pub fn matches(&self, file: &str, line: u32, column: u32) -> bool {
        if line != self.line || self.column.is_some_and(|c| c != column) {
            return false;
        }
        match file.strip_suffix(self.file.as_str()) {
            Some("") => true,
            Some(rest) => rest.ends_with('/') || rest.ends_with('\\'),
            None => false,
        }
    }

    /// A comma-separated list (spaces around entries allowed, empty entries
    /// skipped); `Err` with the first entry that is not a site.
    pub(crate) fn parse_list(list: &str) -> Result<Vec<NestedSite>, String> {
        list.split(',').map(str::trim).filter(|e| !e.is_empty()).map(|e| e.parse().map_err(|_| e.to_owned())).collect()
    }
}

impl std::str::FromStr for NestedSite {
    type Err = String;

    /// `file:line` or `file:line:column` (numbers from 1; the file may
    /// itself contain `:`, as a Windows drive does).
    fn from_str(s: &str) -> Result<NestedSite, String> {
        let bad = || format!("a nested site is file:line or file:line:column, not {s:?}");
        let number = |t: &str| t.parse::<u32>().ok().filter(|&n| n > 0);
        let (head, last) = s.rsplit_once(':').ok_or_else(bad)?;
        let last = number(last).ok_or_else(bad)?;
        // `file:line:column` when what precedes the last number ends in one too.
        let site = match head.rsplit_once(':').and_then(|(file, line)| Some((file, number(line)?))) {
            Some((file, line)) if !file.is_empty() => NestedSite::new(file, line).at_column(last),
            _ => NestedSite::new(head, last),
        };
        if site.file.is_empty() || site.file.ends_with(['/', '\\']) {
            return Err(bad());
        }
        Ok(site)
    }
}

impl fmt::Display for NestedSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        Ok(())
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
