//! Reports: what the validator found, as data first and text second.
//!
//! A [`Report`] carries a [`ReportKind`], the thread that triggered it, the
//! lock being acquired or released ([`LockInfo`]), the lock it conflicts with,
//! for a circular dependency the whole chain of [`ChainStep`]s (each with both
//! of its acquisition sites and the thread that first recorded it), and the
//! locks the thread held. `Display` renders the kernel's grammar.
//!
//! * this file — the data: [`Report`], [`ReportKind`], [`LockInfo`],
//!   [`ChainStep`], [`DepTypes`], [`ThreadInfo`], [`DumpFiles`];
//! * `render` — the text (the kernel's `print_circular_bug`,
//!   `print_deadlock_bug`, `lockdep_print_held_locks`, …);
//! * `trace` — stack traces, captured unresolved and resolved on demand.

use std::fmt;
use std::panic::Location;
use std::path::PathBuf;
use std::thread::ThreadId;

use crate::class::Read;

mod render;
mod trace;

#[cfg(feature = "save")]
pub(crate) use render::scenario_table;
#[cfg(lockdep_on)]
pub(crate) use render::{EVENT_MESSAGE, write_held};
pub use trace::{Frame, Trace};

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
    /// An instrumented task returned `Pending` (awaited) while holding a
    /// synchronous lock (see [`task`](crate::task); `tokio` feature).
    HeldAcrossAwait,
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
            ReportKind::HeldAcrossAwait => "BUG: awaiting while holding a synchronous lock",
        }
    }
}

/// A thread as reports name it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ThreadInfo {
    /// Shared, not copied: every new dependency records its thread.
    pub(crate) name: Option<std::sync::Arc<str>>,
    pub(crate) id: ThreadId,
    /// The instrumented task the thread was polling (see [`crate::task`]).
    pub(crate) task: Option<TaskInfo>,
}

impl ThreadInfo {
    #[cfg_attr(not(lockdep_on), allow(dead_code))]
    pub(crate) fn current() -> Self {
        let t = std::thread::current();
        ThreadInfo { name: t.name().map(Into::into), id: t.id(), task: None }
    }

    /// The instrumented task ([`lockdep::task`](crate::task)) this thread
    /// was polling, if any: its locks, not the thread's, are the ones a
    /// report shows.
    pub fn task(&self) -> Option<&TaskInfo> {
        self.task.as_ref()
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
            Some(n) => write!(f, "\"{}\" ({:?})", n, self.id)?,
            None => write!(f, "<unnamed> ({:?})", self.id)?,
        }
        match &self.task {
            Some(t) => write!(f, " in {t}"),
            None => Ok(()),
        }
    }
}

/// An instrumented task as reports name it (see [`crate::task`]): a number
/// lockdep gives each instrumented future, unique in the process, and the
/// name it was given, if any.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TaskInfo {
    pub(crate) id: u64,
    pub(crate) name: Option<std::sync::Arc<str>>,
}

impl TaskInfo {
    /// lockdep's number for the task (from 1, in the order tasks were
    /// instrumented; not tokio's task id).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "task \"{n}\" #{}", self.id),
            None => write!(f, "task #{}", self.id),
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

/// The files a graph dump wrote for a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpFiles {
    /// The Graphviz file (cycle edges in red).
    pub dot: PathBuf,
    /// The text dump: classes, chains and statistics.
    pub text: PathBuf,
    /// For a circular dependency: a picture of the cycle and the classes
    /// one dependency away from it (self-contained SVG, no Graphviz
    /// needed).
    pub svg: Option<PathBuf>,
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
