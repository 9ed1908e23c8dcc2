//! Reports: what the validator found, as data first and text second.
//!
//! A [`Report`] carries a [`ReportKind`], the thread that triggered it, the
//! lock being acquired or released ([`LockInfo`]), the lock it conflicts with,
//! for a circular dependency the whole chain of [`ChainStep`]s (each with both
//! of its acquisition sites and the thread that first recorded it), and the
//! locks the thread held. `Display` renders the kernel's grammar.

use std::fmt;
use std::panic::Location;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::ThreadId;

use crate::class::Read;

/// The kinds of problem the validator reports.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ReportKind {
    /// A new dependency closes a cycle in the class graph: a possible deadlock.
    CircularDependency,
    /// A lock is acquired while a lock of the same class is held (AA).
    RecursiveLocking,
    /// A release (or downgrade, or re-class) of a lock the thread does not hold.
    UnlockImbalance,
    /// A lock was dropped (freed, re-initialised) while held.
    HeldLockFreed,
    /// A `nest_lock` acquisition whose nest lock is not held.
    NestLockNotHeld,
    /// A `lockdep_assert_*` failed.
    AssertionFailed,
    /// A thread exited while holding locks.
    HeldLocksAtThreadExit,
    /// A configured limit (classes, dependencies, chains, held depth) was exhausted.
    LimitExceeded,
    /// A subclass outside `0..8` was used.
    InvalidSubclass,
    /// A downgrade of a lock held for read.
    BadDowngrade,
}

impl ReportKind {
    /// The kernel's headline for this kind of report.
    pub fn headline(self) -> &'static str {
        match self {
            ReportKind::CircularDependency => "WARNING: possible circular locking dependency detected",
            ReportKind::RecursiveLocking => "WARNING: possible recursive locking detected",
            ReportKind::UnlockImbalance => "WARNING: bad unlock balance detected!",
            ReportKind::HeldLockFreed => "WARNING: held lock freed!",
            ReportKind::NestLockNotHeld => "WARNING: Nested lock was not taken",
            ReportKind::AssertionFailed => "WARNING: lock assertion failed",
            ReportKind::HeldLocksAtThreadExit => "WARNING: thread still has locks held at exit!",
            ReportKind::LimitExceeded => "BUG: lockdep limit exceeded",
            ReportKind::InvalidSubclass => "BUG: looking up invalid subclass",
            ReportKind::BadDowngrade => "WARNING: downgrading a read lock",
        }
    }
}

/// A thread as reports name it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ThreadInfo {
    pub(crate) name: Option<String>,
    pub(crate) id: ThreadId,
}

impl ThreadInfo {
    #[cfg_attr(not(lockdep_on), allow(dead_code))]
    pub(crate) fn current() -> Self {
        let t = std::thread::current();
        ThreadInfo { name: t.name().map(str::to_owned), id: t.id() }
    }

    /// The thread's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }
}

impl fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "\"{}\" ({:?})", n, self.id),
            None => write!(f, "<unnamed> ({:?})", self.id),
        }
    }
}

/// One lock as a report shows it: instance, class, mode and where it was taken.
#[derive(Clone, Debug)]
pub struct LockInfo {
    pub(crate) instance: &'static str,
    pub(crate) addr: usize,
    pub(crate) class: String,
    pub(crate) subclass: u32,
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    pub(crate) location: &'static Location<'static>,
}

impl LockInfo {
    /// The instance name (the map's name).
    pub fn instance(&self) -> &'static str {
        self.instance
    }
    /// The instance address.
    pub fn addr(&self) -> usize {
        self.addr
    }
    /// The class name, with `#version` when several keys share a name and
    /// `/subclass` when the subclass is not 0.
    pub fn class(&self) -> &str {
        &self.class
    }
    /// The subclass.
    pub fn subclass(&self) -> u32 {
        self.subclass
    }
    /// The mode it is (being) taken in.
    pub fn read(&self) -> Read {
        self.read
    }
    /// Whether it was (is being) taken with a trylock.
    pub fn trylock(&self) -> bool {
        self.trylock
    }
    /// Where it was acquired (or, for the lock a report is about, where the
    /// offending hook was called).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {}", self.instance, self.class, self.read)?;
        if self.trylock {
            f.write_str(", trylock")?;
        }
        write!(f, ") at {}", self.location)
    }
}

/// The dependency types an edge of the class graph carries (kernel EN/ER/SN/SR).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct DepTypes(pub(crate) u8);

impl DepTypes {
    /// Shared → recursive reader.
    pub const SR: u8 = 1 << 0;
    /// Exclusive → recursive reader.
    pub const ER: u8 = 1 << 1;
    /// Shared → writer or non-recursive reader.
    pub const SN: u8 = 1 << 2;
    /// Exclusive → writer or non-recursive reader.
    pub const EN: u8 = 1 << 3;

    /// The type of the dependency "`next` taken in mode `next` while `prev` is held in mode `prev`".
    pub fn of(prev: Read, next: Read) -> DepTypes {
        let idx = (prev == Read::Exclusive) as u8 + 2 * (next != Read::SharedRecursive) as u8;
        DepTypes(1 << idx)
    }
    /// The raw bit mask (`SR`, `ER`, `SN`, `EN`).
    pub fn bits(self) -> u8 {
        self.0
    }
    /// Whether every bit of `bits` is present.
    pub fn contains(self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

impl fmt::Display for DepTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (bit, name) in [(Self::EN, "EN"), (Self::ER, "ER"), (Self::SN, "SN"), (Self::SR, "SR")] {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// One dependency `from -> to` of a reported chain: `to` was taken while
/// `from` was held, first seen by `thread`.
#[derive(Clone, Debug)]
pub struct ChainStep {
    pub(crate) from: LockInfo,
    pub(crate) to: LockInfo,
    pub(crate) types: DepTypes,
    pub(crate) thread: ThreadInfo,
    pub(crate) is_new: bool,
    pub(crate) trace: Option<Trace>,
}

impl ChainStep {
    /// The earlier lock: held, with where it was taken.
    pub fn from(&self) -> &LockInfo {
        &self.from
    }
    /// The later lock: taken while `from` was held, with where.
    pub fn to(&self) -> &LockInfo {
        &self.to
    }
    /// The dependency types the edge carries.
    pub fn types(&self) -> DepTypes {
        self.types
    }
    /// The thread that first recorded the dependency.
    pub fn thread(&self) -> &ThreadInfo {
        &self.thread
    }
    /// Whether this is the dependency being added now (the one that closes the cycle).
    pub fn is_new(&self) -> bool {
        self.is_new
    }
    /// The stack where the dependency was first recorded (when capture is on).
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }
}

/// A stack trace, captured unresolved and resolved on demand. Clones share
/// the stored trace.
#[derive(Clone, PartialEq, Eq)]
pub struct Trace {
    pub(crate) ips: Arc<[usize]>,
}

/// One resolved frame of a [`Trace`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The demangled function name.
    pub function: String,
    /// The source file, when debug info has it.
    pub file: Option<String>,
    /// The line, when debug info has it.
    pub line: Option<u32>,
}

impl Trace {
    /// Number of captured frames (before trimming).
    pub fn len(&self) -> usize {
        self.ips.len()
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }

    /// Resolves the frames, trimming the validator's own frames at the top
    /// and the runtime's start-up frames at the bottom.
    pub fn frames(&self) -> Vec<Frame> {
        let mut out: Vec<Frame> = Vec::new();
        for &ip in self.ips.iter() {
            backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
                let function = sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| format!("{ip:#x}"));
                let file = sym.filename().map(|p| p.display().to_string());
                out.push(Frame { function, file, line: sym.lineno() });
            });
        }
        // The validator's own frames (and the std/core glue between them) sit
        // on top; the first frame outside them is the caller's.
        let internal = |f: &Frame| {
            let n = f.function.trim_start_matches('<');
            ["lockdep::", "backtrace::", "lock_api::", "parking_lot::", "core::", "std::", "alloc::"]
                .iter()
                .any(|p| n.starts_with(p))
        };
        let start = out.iter().position(|f| !internal(f)).unwrap_or(out.len());
        let mut frames: Vec<Frame> =
            out.drain(start..).filter(|f| !f.function.trim_start_matches('<').starts_with("lockdep::")).collect();
        if let Some(end) = frames.iter().position(|f| {
            f.function.contains("__rust_begin_short_backtrace")
                || f.function.starts_with("std::rt::")
                || f.function.starts_with("std::panicking::")
                || f.function.starts_with("test::run_test")
        }) {
            frames.truncate(end);
        }
        frames
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Trace({} frames)", self.ips.len())
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, fr) in self.frames().iter().enumerate().take(12) {
            write!(f, "         {i}: {}", fr.function)?;
            if let Some(file) = &fr.file {
                write!(f, "   {}", short_path(file))?;
                if let Some(l) = fr.line {
                    write!(f, ":{l}")?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A path relative to the current directory when it is inside it.
fn short_path(p: &str) -> String {
    if let Ok(cwd) = std::env::current_dir() {
        if let Some(rest) = p.strip_prefix(&*cwd.to_string_lossy()) {
            return rest.trim_start_matches('/').to_owned();
        }
    }
    p.to_owned()
}

/// The files a graph dump wrote for a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpFiles {
    /// The Graphviz file (cycle edges in red).
    pub dot: PathBuf,
    /// The text dump: classes, chains and statistics.
    pub text: PathBuf,
}

/// A problem the validator found.
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) kind: ReportKind,
    pub(crate) validator: String,
    pub(crate) one_shot: bool,
    pub(crate) thread: ThreadInfo,
    pub(crate) location: &'static Location<'static>,
    pub(crate) lock: Option<LockInfo>,
    pub(crate) other: Option<LockInfo>,
    pub(crate) other_thread: Option<ThreadInfo>,
    pub(crate) chain: Vec<ChainStep>,
    pub(crate) held: Vec<LockInfo>,
    pub(crate) message: String,
    pub(crate) backtrace: Option<Trace>,
    pub(crate) dump: Option<DumpFiles>,
    /// The cycle's edges as class-index pairs (for the graph dump).
    #[cfg_attr(not(lockdep_on), allow(dead_code))]
    pub(crate) cycle: Vec<(u32, u32)>,
}

impl Report {
    /// What kind of problem this is.
    pub fn kind(&self) -> ReportKind {
        self.kind
    }
    /// The thread whose hook found the problem.
    pub fn thread(&self) -> &ThreadInfo {
        &self.thread
    }
    /// Where the hook that found the problem was called.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
    /// The lock being acquired, released, freed or asserted on.
    pub fn lock(&self) -> Option<&LockInfo> {
        self.lock.as_ref()
    }
    /// The lock it conflicts with: for a cycle or recursion the lock already
    /// held; for a missing nest lock the nest lock.
    pub fn other(&self) -> Option<&LockInfo> {
        self.other.as_ref()
    }
    /// Another thread involved (e.g. the holder of a lock an assertion expected to be ours).
    pub fn other_thread(&self) -> Option<&ThreadInfo> {
        self.other_thread.as_ref()
    }
    /// For a circular dependency, the cycle: dependencies in order, the last
    /// one being the new dependency that closes it.
    pub fn chain(&self) -> &[ChainStep] {
        &self.chain
    }
    /// The locks the thread held when the problem was found, bottom first.
    pub fn held(&self) -> &[LockInfo] {
        &self.held
    }
    /// A sentence of detail (e.g. which limit, which subclass).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The name of the validator that produced the report.
    pub fn validator(&self) -> &str {
        &self.validator
    }
    /// The stack of the hook that found the problem (when capture is on).
    pub fn backtrace(&self) -> Option<&Trace> {
        self.backtrace.as_ref()
    }
    /// The graph dump written for this report (when a dump directory is configured).
    pub fn dump(&self) -> Option<&DumpFiles> {
        self.dump.as_ref()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(self, f)
    }
}

/// `lock(` for writers, `rlock(` for readers, as the scenario table writes them.
fn scenario_verb(read: Read) -> &'static str {
    if read.is_read() { "rlock" } else { "lock" }
}

fn lock_line(f: &mut fmt::Formatter<'_>, l: &LockInfo) -> fmt::Result {
    let mut what = format!("class {}", l.class);
    if l.subclass != 0 {
        what.push_str(&format!(", subclass {}", l.subclass));
    }
    what.push_str(", ");
    what.push_str(l.read.as_str());
    if l.trylock {
        what.push_str(", trylock");
    }
    let left = format!("{:<16} ({what})", format!("{}@{:#x}", l.instance, l.addr));
    writeln!(f, "  {left:<56} at {}", l.location)
}

fn held_list(f: &mut fmt::Formatter<'_>, r: &Report) -> fmt::Result {
    write_held(f, &r.held, &r.thread)
}

/// The kernel's `lockdep_print_held_locks`: `N locks held by <thread>:` and
/// one line a lock (reports and `Validator::dump_held`).
pub(crate) fn write_held(f: &mut dyn fmt::Write, held: &[LockInfo], thread: &ThreadInfo) -> fmt::Result {
    if held.is_empty() {
        return writeln!(f, "no locks held by {thread}.");
    }
    let n = held.len();
    writeln!(f, "{n} lock{} held by {thread}:", if n == 1 { "" } else { "s" })?;
    for (i, l) in held.iter().enumerate() {
        write!(f, " #{i}: {}@{:#x} ({}, {}", l.instance, l.addr, l.class, l.read.as_str())?;
        if l.trylock {
            f.write_str(", trylock")?;
        }
        writeln!(f, ") at {}", l.location)?;
    }
    Ok(())
}

/// The "possible unsafe locking scenario" table: one column per dependency of
/// the cycle, each thread first taking the earlier lock of its dependency,
/// then the later one.
fn scenario(f: &mut fmt::Formatter<'_>, chain: &[ChainStep]) -> fmt::Result {
    let distinct =
        chain.iter().map(|s| s.thread.id).collect::<std::collections::HashSet<ThreadId>>().len() == chain.len();
    let labels: Vec<String> = chain
        .iter()
        .enumerate()
        .map(|(i, s)| match (&s.thread.name, distinct) {
            (Some(n), true) => n.clone(),
            (None, true) => format!("{:?}", s.thread.id),
            _ => format!("Thread {}", (b'A' + (i % 26) as u8) as char),
        })
        .collect();
    let cell = |s: &ChainStep, later: bool| {
        let l = if later { &s.to } else { &s.from };
        format!("{}({});", scenario_verb(l.read), l.class)
    };
    let width = chain
        .iter()
        .zip(&labels)
        .map(|(s, l)| l.len().max(cell(s, false).len()).max(cell(s, true).len()))
        .max()
        .unwrap_or(8)
        + 4;
    writeln!(f, " Possible unsafe locking scenario:")?;
    writeln!(f)?;
    let mut head = String::from("       ");
    let mut rule = String::from("       ");
    for l in &labels {
        head.push_str(&format!("{l:<width$}"));
        rule.push_str(&format!("{:<width$}", "-".repeat(l.len())));
    }
    writeln!(f, "{}", head.trim_end())?;
    writeln!(f, "{}", rule.trim_end())?;
    for later in [false, true] {
        for (col, s) in chain.iter().enumerate() {
            let indent = if col == 0 { 2 } else { 7 + col * width };
            writeln!(f, "{:indent$}{}", "", cell(s, later))?;
        }
    }
    writeln!(f)?;
    writeln!(f, " *** DEADLOCK ***")?;
    writeln!(f)
}

fn chain_text(f: &mut fmt::Formatter<'_>, chain: &[ChainStep]) -> fmt::Result {
    writeln!(f, "which lock already depends on the new lock.")?;
    writeln!(f)?;
    writeln!(f, "the existing dependency chain (in reverse order) is:")?;
    writeln!(
        f,
        "([XY]: X = how the earlier lock was held, E exclusive or S shared; Y = how the later one was taken, \
         N blocking or R recursive read)"
    )?;
    writeln!(f)?;
    let n = chain.len();
    for (k, step) in chain.iter().enumerate() {
        let idx = n - 1 - k;
        let head = format!("-> #{idx} ({}){{{}}}:", step.to.class, step.to.read.as_str());
        let when = if step.is_new { "now, in thread" } else { "first seen in thread" };
        writeln!(f, "{head:<28} {when} {}   [{}]", step.thread, step.types)?;
        let w = step.from.class.len().max(step.to.class.len());
        writeln!(f, "       {:<w$} ({}) held since  {}", step.from.class, step.from.read.as_str(), step.from.location)?;
        writeln!(f, "       {:<w$} ({}) taken at    {}", step.to.class, step.to.read.as_str(), step.to.location)?;
        if let Some(t) = &step.trace {
            write!(f, "{t}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}

/// Renders a report in the kernel's grammar, with both ends of every
/// dependency and a scenario column per thread.
fn render(r: &Report, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let headline = r.kind.headline();
    let width = headline.len().max(54);
    writeln!(f)?;
    writeln!(f, "{}", "=".repeat(width))?;
    writeln!(f, "{headline}")?;
    writeln!(
        f,
        "lockdep {} - validator: {}, mode: {}",
        env!("CARGO_PKG_VERSION"),
        r.validator,
        if r.one_shot { "kernel (one-shot)" } else { "continue" }
    )?;
    writeln!(f, "{}", "-".repeat(width))?;
    match r.kind {
        ReportKind::CircularDependency | ReportKind::RecursiveLocking => {
            writeln!(f, "thread {} is trying to acquire lock:", r.thread)?;
            if let Some(l) = &r.lock {
                lock_line(f, l)?;
            }
            writeln!(f)?;
            writeln!(f, "but this thread already holds lock:")?;
            if let Some(l) = &r.other {
                lock_line(f, l)?;
            }
            writeln!(f)?;
            if !r.chain.is_empty() {
                chain_text(f, &r.chain)?;
            }
            writeln!(f, "other info that might help us debug this:")?;
            writeln!(f)?;
            if r.chain.len() > 2 {
                let mut names: Vec<&str> = r.chain.iter().map(|s| s.from.class.as_str()).collect();
                names.push(&r.chain[0].from.class);
                writeln!(f, "Chain exists of:")?;
                writeln!(f, "  {}", names.join(" --> "))?;
                writeln!(f)?;
            }
            if r.chain.is_empty() {
                if let (Some(l), Some(o)) = (&r.lock, &r.other) {
                    writeln!(f, " Possible unsafe locking scenario:")?;
                    writeln!(f)?;
                    let label = r.thread.name.as_deref().unwrap_or("Thread A");
                    writeln!(f, "       {label}")?;
                    writeln!(f, "       {}", "-".repeat(label.len()))?;
                    writeln!(f, "  {}({});", scenario_verb(o.read), o.class)?;
                    writeln!(f, "  {}({});", scenario_verb(l.read), l.class)?;
                    writeln!(f)?;
                    writeln!(f, " *** DEADLOCK ***")?;
                    writeln!(f)?;
                    if l.addr != o.addr {
                        writeln!(f, " May be due to missing lock nesting notation")?;
                    } else if l.read.is_read() && o.read.is_read() {
                        writeln!(
                            f,
                            " This is the same lock, read twice: it deadlocks as soon as a writer queues between \
                             the two reads."
                        )?;
                    } else {
                        writeln!(f, " This is the same lock: this thread will deadlock on itself now.")?;
                        if o.read.is_read() {
                            writeln!(
                                f,
                                " To write under a read lock, take it upgradable (`upgradable_read`, then \
                                 `upgrade`), or release the read lock first."
                            )?;
                        } else {
                            writeln!(f, " Release it before taking it again, or restructure so it is taken once.")?;
                        }
                    }
                    writeln!(f)?;
                }
            } else {
                scenario(f, &r.chain)?;
            }
        }
        ReportKind::UnlockImbalance => {
            let name = r.lock.as_ref().map_or("?", |l| l.instance);
            writeln!(f, "thread {} is trying to release lock ({name}) at:", r.thread)?;
            writeln!(f, "  {}", r.location)?;
            writeln!(f, "but there are no more locks to release!")?;
            writeln!(f)?;
            if !r.message.is_empty() {
                writeln!(f, "{}", r.message)?;
                writeln!(f)?;
            }
        }
        ReportKind::NestLockNotHeld => {
            writeln!(f, "thread {} is trying to lock:", r.thread)?;
            if let Some(l) = &r.lock {
                lock_line(f, l)?;
            }
            writeln!(f, "but this thread is not holding:")?;
            if let Some(o) = &r.other {
                writeln!(f, "  {}@{:#x}", o.instance, o.addr)?;
            }
            writeln!(f)?;
        }
        ReportKind::HeldLockFreed => {
            writeln!(f, "thread {}: {}", r.thread, r.message)?;
            if let Some(l) = &r.lock {
                lock_line(f, l)?;
            }
            if let Some(t) = &r.other_thread {
                writeln!(f, "held by thread {t}")?;
            }
            writeln!(f)?;
        }
        _ => {
            writeln!(f, "thread {}: {}", r.thread, r.message)?;
            if let Some(l) = &r.lock {
                lock_line(f, l)?;
            }
            if let Some(o) = &r.other {
                writeln!(f, "other lock:")?;
                lock_line(f, o)?;
            }
            if let Some(t) = &r.other_thread {
                writeln!(f, "held by thread {t}")?;
            }
            writeln!(f, "called at {}", r.location)?;
            writeln!(f)?;
        }
    }
    held_list(f, r)?;
    if let Some(t) = &r.backtrace {
        writeln!(f)?;
        writeln!(f, "stack backtrace:")?;
        write!(f, "{t}")?;
        if t.frames().iter().take(12).any(|fr| fr.file.is_none()) {
            writeln!(
                f,
                " (frames without file:line: build with `debug = \"line-tables-only\"` in the profile, e.g. \
                 [profile.release])"
            )?;
        }
    }
    if let Some(d) = &r.dump {
        writeln!(f)?;
        let red = if r.cycle.is_empty() { "" } else { ", the cycle in red" };
        let text = d.text.file_name().map_or_else(|| d.text.display().to_string(), |n| n.to_string_lossy().into());
        writeln!(
            f,
            "graph dump: {} (render with `dot -Tsvg`{red}); classes, chains and stats beside it in {text}",
            d.dot.display()
        )?;
    }
    Ok(())
}
