//! What the model's waits do, as data: [`BlockedOn`] (where a thread is
//! blocked now, [`Kernel::blocked_on`](crate::Kernel::blocked_on)) and the
//! per-kernel wait-event log ([`WaitEvent`],
//! [`Kernel::wait_events`](crate::Kernel::wait_events)): every
//! `rcuwait_wake_up` call with the thread it targets, and every time a
//! thread goes to sleep in a model wait or wakes up to re-check it.
//!
//! The log is what makes the scheduling facts of a scenario assertable:
//! "no wake-up" (no [`WaitEventKind::WakeUp`]), "woken, re-evaluates,
//! sleeps again" (`Sleep`, `WakeUp`, `Woken`, `Sleep` for one thread) and
//! "the wake-up targets N's writer" (a `WakeUp` whose `mm` is N's id and
//! whose `target` is that writer).
//!
//! Events are appended in an order the protocol makes deterministic: a
//! waiter logs `Sleep` while holding its wait slot's lock, the waker logs
//! `WakeUp` while holding it too, and the waiter logs `Woken` only once it
//! has the lock back — so a wake-up is always logged between the sleep it
//! ends and the waiter's `Woken`.

use std::collections::VecDeque;
use std::fmt;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::pause::PausePoint;

/// Where a thread is blocked: the model wait it sleeps in, or the pause
/// point it is parked at.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum BlockedOn {
    /// The mmap rwsem of mm `mm` (its [`Mm::id`](crate::Mm::id)), for write
    /// or for read.
    MmapLock {
        /// The mm's id.
        mm: u64,
        /// Waiting to write-lock (`true`) or read-lock it.
        write: bool,
    },
    /// The exclude-readers wait (`rcuwait_wait_event` on
    /// `mm->vma_writer_wait`) of a writer or detacher: waiting until
    /// `vm_refcnt` of VMA `vma` reaches `target` (`F + 1` when
    /// write-locking, `F` when detaching).
    ExcludeReaders {
        /// The id of the mm whose wait slot the thread sleeps in.
        mm: u64,
        /// The VMA's id ([`Vma::id`](crate::Vma::id)).
        vma: u64,
        /// The `vm_refcnt` value that ends the wait.
        target: i32,
    },
    /// Parked at a pause point armed with
    /// [`Kernel::pause_at`](crate::Kernel::pause_at) and friends.
    Pause {
        /// The point.
        point: PausePoint,
        /// The VMA the thread was at the point with.
        vma: u64,
    },
}

impl fmt::Display for BlockedOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BlockedOn::MmapLock { mm, write } => {
                write!(f, "the mmap_lock of mm {mm} ({})", if write { "write" } else { "read" })
            }
            BlockedOn::ExcludeReaders { mm, vma, target } => {
                write!(f, "the readers of VMA {vma} to leave (vm_refcnt {target:#x}, wait slot of mm {mm})")
            }
            BlockedOn::Pause { point, vma } => write!(f, "pause point {point:?} on VMA {vma}"),
        }
    }
}

/// What happened in one [`WaitEvent`].
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitEventKind {
    /// The thread goes to sleep in `on`: the first time, and again every
    /// time a wake-up's re-check found the condition still false.
    Sleep {
        /// The wait.
        on: BlockedOn,
        /// For an exclude-readers wait, the `vm_refcnt` the check just saw
        /// (not the target); `None` for the mmap rwsem.
        vm_refcnt: Option<i32>,
    },
    /// The thread woke from a sleep in `on` and re-evaluates its condition
    /// (next: another `Sleep`, or the end of the wait).
    Woken {
        /// The wait.
        on: BlockedOn,
    },
    /// `rcuwait_wake_up(&mm->vma_writer_wait)`: a reader's put left
    /// `vm_refcnt` of VMA `vma` at a value where readers may be excluded
    /// (`__vma_are_readers_excluded`), so it woke the mm's writer.
    WakeUp {
        /// The id of the mm whose wait slot was woken: the VMA's `vm_mm`
        /// read just *before* the decrement. For a VMA recycled into another
        /// mm under a stale reader, that other mm — whose writer may be
        /// waiting for this very reference.
        mm: u64,
        /// The VMA's id.
        vma: u64,
        /// `vm_refcnt` after the decrement.
        vm_refcnt: i32,
        /// The thread waiting in that slot then, which the call wakes;
        /// `None` when nobody waits (the call is a no-op).
        target: Option<ThreadId>,
    },
}

/// One entry of the wait-event log ([`Kernel::wait_events`](crate::Kernel::wait_events)).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WaitEvent {
    thread: ThreadId,
    thread_name: Option<String>,
    kind: WaitEventKind,
}

impl WaitEvent {
    /// The thread the event happened on (for a wake-up, the waker).
    pub fn thread(&self) -> ThreadId {
        self.thread
    }

    /// That thread's name, if it has one.
    pub fn thread_name(&self) -> Option<&str> {
        self.thread_name.as_deref()
    }

    /// What happened.
    pub fn kind(&self) -> WaitEventKind {
        self.kind
    }

    /// Whether this is an `rcuwait_wake_up` call ([`WaitEventKind::WakeUp`]).
    pub fn is_wake_up(&self) -> bool {
        matches!(self.kind, WaitEventKind::WakeUp { .. })
    }

    /// Whether this is a thread going to sleep ([`WaitEventKind::Sleep`]).
    pub fn is_sleep(&self) -> bool {
        matches!(self.kind, WaitEventKind::Sleep { .. })
    }
}

impl fmt::Display for WaitEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.thread_name {
            Some(n) => write!(f, "{n}: ")?,
            None => write!(f, "{:?}: ", self.thread)?,
        }
        match self.kind {
            WaitEventKind::Sleep { on, vm_refcnt: Some(c) } => write!(f, "sleeps waiting for {on} at {c:#x}"),
            WaitEventKind::Sleep { on, vm_refcnt: None } => write!(f, "sleeps waiting for {on}"),
            WaitEventKind::Woken { on } => write!(f, "woken in the wait for {on}, re-checks"),
            WaitEventKind::WakeUp { mm, vma, vm_refcnt, target } => {
                write!(f, "rcuwait_wake_up(mm {mm}) after VMA {vma} dropped to {vm_refcnt:#x}, ")?;
                match target {
                    Some(t) => write!(f, "waking {t:?}"),
                    None => f.write_str("nobody waiting"),
                }
            }
        }
    }
}

/// The log: the newest `limit` events (0: none), and how many older ones
/// were dropped.
pub(crate) struct EventLog {
    limit: usize,
    state: parking_lot::Mutex<LogState>,
    changed: parking_lot::Condvar,
}

#[derive(Default)]
struct LogState {
    events: VecDeque<WaitEvent>,
    dropped: u64,
}

impl EventLog {
    pub(crate) fn new(limit: usize) -> EventLog {
        EventLog { limit, state: parking_lot::Mutex::new(LogState::default()), changed: parking_lot::Condvar::new() }
    }

    /// Appends an event of the current thread. Never blocks on a model
    /// lock (callers may hold one: see the module docs for why they do).
    pub(crate) fn push(&self, kind: WaitEventKind) {
        if self.limit == 0 {
            return;
        }
        let t = std::thread::current();
        let e = WaitEvent { thread: t.id(), thread_name: t.name().map(str::to_owned), kind };
        let mut st = self.state.lock();
        if st.events.len() >= self.limit {
            st.events.pop_front();
            st.dropped += 1;
        }
        st.events.push_back(e);
        drop(st);
        self.changed.notify_all();
    }

    pub(crate) fn all(&self) -> Vec<WaitEvent> {
        self.state.lock().events.iter().cloned().collect()
    }

    pub(crate) fn take(&self) -> Vec<WaitEvent> {
        std::mem::take(&mut self.state.lock().events).into()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.state.lock().dropped
    }

    /// Blocks until `pred` holds for the log; the log then. Panics after
    /// `timeout`, with the log.
    #[track_caller]
    pub(crate) fn wait_for(&self, timeout: Duration, mut pred: impl FnMut(&[WaitEvent]) -> bool) -> Vec<WaitEvent> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        loop {
            let events = st.events.make_contiguous();
            if pred(events) {
                return events.to_vec();
            }
            if self.changed.wait_until(&mut st, deadline).timed_out() {
                let events = st.events.make_contiguous();
                if pred(events) {
                    return events.to_vec();
                }
                let log: Vec<String> = events.iter().map(ToString::to_string).collect();
                drop(st);
                panic!(
                    "vmalock: the wait-event log did not reach the expected state within {timeout:?}; it holds:\n  {}",
                    log.join("\n  ")
                );
            }
        }
    }
}
