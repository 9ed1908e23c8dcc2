//! The blocked-thread registry: who is sleeping in the model, on what, and
//! whether that sleep can ever end.
//!
//! Every model wait (the mmap rwsem, the exclude-readers wait) registers
//! here before it first sleeps. The registry serves three purposes:
//!
//! * fatal signals wake the thread they are sent to;
//! * tests can ask where a thread is blocked and block until it is
//!   ([`Kernel::blocked_on`](crate::Kernel::blocked_on),
//!   [`Kernel::wait_until_blocked`](crate::Kernel::wait_until_blocked));
//!   threads parked at a pause point are registered too, as waits nobody
//!   but the test can end (never part of a cycle);
//! * the hang detector. Before sleeping, a thread checks whether it would
//!   close a wait-for cycle: it waits for the holders of a resource (the
//!   rwsem's owners and, for a reader, queued writers; or the owners of the
//!   reader references of a VMA), each of which is itself asleep waiting for
//!   the next… back to itself. Reader references are attributed to threads
//!   through a per-thread list that a sleeping thread publishes here; this is
//!   model bookkeeping, never consulted by an assertion (`vm_refcnt` itself
//!   has no owner, as in the kernel). Once a VMA's reader reference was
//!   released by a thread that did not take it (or by nobody's: an
//!   unbalanced `vma_end_read`), its readers are no longer attributed and
//!   waits on it are never judged hopeless: the detector only reports
//!   cycles it can prove.
//!
//! A found cycle is broken rather than slept in: the wait of an
//! exclude-readers waiter is abandoned (as if a fatal signal arrived), since
//! that is the only wait in the scheme with an error path. In a cycle of
//! rwsem waits alone, a reader held back only by a queued writer is let in
//! (writer preference is a "may" in §2.0); otherwise the waiter's own wait
//! is abandoned too: `-EINTR` if killable, a
//! [`WouldHang`](crate::WouldHang) with the cycle otherwise (the kernel
//! would hang). Either way the caller is told.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::events::BlockedOn;
use crate::mm::Mm;
use crate::pause::PausePoint;
use crate::sync::{Condvar, Mutex, Tid, lock, wait_timeout};

/// What a sleeping thread waits for.
pub(crate) enum WaitOn {
    /// The mmap rwsem of `mm`, for write or read.
    Rwsem { mm: Weak<Mm>, mm_id: u64, write: bool },
    /// The readers of VMA `vma` to leave (exclude-readers wait in `mm`'s
    /// slot, until `vm_refcnt == target`). `attributed`: every reader
    /// reference of the VMA was released by the thread that took it so far,
    /// so the per-thread lists are complete. Otherwise the detector does
    /// not guess (no edges: no false reports).
    Exclusion { mm: Weak<Mm>, mm_id: u64, vma: u64, target: i32, attributed: bool },
    /// Parked at a pause point: only the test ends it, so it waits for
    /// nobody (a dead end for the cycle search, never part of a cycle).
    Pause { point: PausePoint, vma: u64 },
}

impl WaitOn {
    /// The public description.
    pub(crate) fn blocked_on(&self) -> BlockedOn {
        match *self {
            WaitOn::Rwsem { mm_id, write, .. } => BlockedOn::MmapLock { mm: mm_id, write },
            WaitOn::Exclusion { mm_id, vma, target, .. } => BlockedOn::ExcludeReaders { mm: mm_id, vma, target },
            WaitOn::Pause { point, vma } => BlockedOn::Pause { point, vma },
        }
    }
}

pub(crate) struct WaitRecord {
    pub(crate) tid: Tid,
    pub(crate) thread: ThreadId,
    thread_name: Option<String>,
    pub(crate) on: WaitOn,
    /// The VMA reader references the thread held when it went to sleep.
    refs: Vec<u64>,
    /// Set by another thread's hang detector: give up the wait.
    pub(crate) aborted: AtomicBool,
    /// Why (the cycle the other thread found), set before `aborted`.
    abort_reason: parking_lot::Mutex<Option<String>>,
}

impl WaitRecord {
    pub(crate) fn new(on: WaitOn) -> WaitRecord {
        let me = std::thread::current();
        WaitRecord {
            tid: crate::sync::current_tid(),
            thread: me.id(),
            thread_name: me.name().map(str::to_owned),
            on,
            refs: crate::sync::vma_refs(),
            aborted: AtomicBool::new(false),
            abort_reason: parking_lot::Mutex::new(None),
        }
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Why another thread aborted this wait.
    pub(crate) fn abort_reason(&self) -> String {
        self.abort_reason.lock().clone().unwrap_or_else(|| "aborted by the hang detector".to_owned())
    }

    /// The thread, by name when it has one.
    fn who(&self) -> String {
        match &self.thread_name {
            Some(n) => format!("\"{n}\" ({:?})", self.thread),
            None => format!("{:?}", self.thread),
        }
    }

    fn is_exclusion(&self) -> bool {
        matches!(self.on, WaitOn::Exclusion { .. })
    }

    fn describe(&self) -> String {
        format!("{} waits for {}", self.who(), self.on.blocked_on())
    }

    /// Wakes the thread so that it re-checks its condition.
    fn wake(&self) {
        match &self.on {
            WaitOn::Rwsem { mm, .. } => {
                if let Some(mm) = mm.upgrade() {
                    mm.wake_mmap_lock_waiters();
                }
            }
            WaitOn::Exclusion { mm, .. } => {
                if let Some(mm) = mm.upgrade() {
                    mm.wake_vma_writer();
                }
            }
            // Only the test resumes a pause.
            WaitOn::Pause { .. } => {}
        }
    }
}

/// A wait-for cycle to break by abandoning another thread's exclusion wait.
/// The caller logs the warning first, then calls [`Broken::abort`], so the
/// warning is in the log before the victim can observe the abort.
pub(crate) struct Broken {
    pub(crate) desc: String,
    victim: Arc<WaitRecord>,
}

impl Broken {
    /// Tells the victim to give up its wait, and wakes it.
    pub(crate) fn abort(self) {
        *self.victim.abort_reason.lock() = Some(self.desc);
        self.victim.aborted.store(true, std::sync::atomic::Ordering::SeqCst);
        self.victim.wake();
    }
}

/// What [`Registry::block`] decided.
pub(crate) enum Verdict {
    /// Go to sleep. `broke`: a cycle was found, to be broken by aborting
    /// another thread's wait.
    Sleep { rec: Arc<WaitRecord>, broke: Option<Broken> },
    /// Do not sleep: the wait can never end (the description of the cycle).
    Abandon(String),
}

#[derive(Default)]
struct Recs(Vec<Arc<WaitRecord>>);

pub(crate) struct Registry {
    recs: Mutex<Recs>,
    changed: Condvar,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry { recs: Mutex::new(Recs::default()), changed: Condvar::new() }
    }

    /// Registers the current thread as about to sleep on `on`; with `detect`,
    /// first checks that the sleep can end.
    pub(crate) fn block(&self, on: WaitOn, detect: bool) -> Verdict {
        let rec = WaitRecord::new(on);
        let mut recs = lock(&self.recs);
        let mut broke = None;
        if detect && !matches!(rec.on, WaitOn::Pause { .. }) {
            if let Some(cycle) = find_cycle(&recs.0, &rec) {
                let desc = cycle.iter().map(|r| r.describe()).collect::<Vec<_>>().join(", ");
                let me_first = std::iter::once(&rec);
                let others = cycle.iter().copied().filter(|r| r.tid != rec.tid);
                match me_first.chain(others).find(|r| r.is_exclusion()) {
                    Some(r) if r.tid != rec.tid => {
                        let victim = recs.0.iter().find(|x| x.tid == r.tid).cloned();
                        broke = victim.map(|victim| Broken {
                            desc: format!("wait-for cycle [{desc}]; abandoning the exclusion wait of {:?}", r.thread),
                            victim,
                        });
                    }
                    _ => return Verdict::Abandon(format!("wait-for cycle [{desc}]")),
                }
            }
        }
        let rec = Arc::new(rec);
        recs.0.push(rec.clone());
        self.changed.notify_all();
        drop(recs);
        Verdict::Sleep { rec, broke }
    }

    /// The thread is awake for good.
    pub(crate) fn unblock(&self, rec: &Arc<WaitRecord>) {
        let mut recs = lock(&self.recs);
        recs.0.retain(|r| !Arc::ptr_eq(r, rec));
        self.changed.notify_all();
    }

    /// Wakes every wait of `thread` (a fatal signal was sent to it).
    pub(crate) fn wake_thread(&self, thread: ThreadId) {
        let targets: Vec<_> = lock(&self.recs).0.iter().filter(|r| r.thread == thread).cloned().collect();
        for r in targets {
            r.wake();
        }
    }

    /// Registers the current thread as parked at a pause point.
    pub(crate) fn register(&self, on: WaitOn) -> Arc<WaitRecord> {
        match self.block(on, false) {
            Verdict::Sleep { rec, .. } => rec,
            Verdict::Abandon(_) => unreachable!("no detection, no verdict"),
        }
    }

    /// Where `thread` is blocked now (a thread is in at most one wait).
    pub(crate) fn blocked_on(&self, thread: ThreadId) -> Option<BlockedOn> {
        lock(&self.recs).0.iter().find(|r| r.thread == thread).map(|r| r.on.blocked_on())
    }

    /// Blocks until `thread` is blocked; where. Panics after `timeout`,
    /// naming the thread and every blocked thread.
    #[track_caller]
    pub(crate) fn wait_until_blocked(&self, thread: ThreadId, timeout: Duration) -> BlockedOn {
        let deadline = Instant::now() + timeout;
        let mut recs = lock(&self.recs);
        loop {
            if let Some(r) = recs.0.iter().find(|r| r.thread == thread) {
                return r.on.blocked_on();
            }
            let now = Instant::now();
            if now >= deadline {
                let others: Vec<String> = recs.0.iter().map(|r| r.describe()).collect();
                drop(recs);
                panic!(
                    "vmalock: {thread:?} did not block (in a model wait or at a pause point) within {timeout:?}; \
                     blocked now: [{}]",
                    others.join(", ")
                );
            }
            recs = wait_timeout(&self.changed, recs, deadline - now);
        }
    }
}

/// The threads whose progress `rec`'s wait depends on.
fn blockers(all: &[Arc<WaitRecord>], me: &WaitRecord, rec: &WaitRecord) -> Vec<Tid> {
    match &rec.on {
        WaitOn::Rwsem { mm, write, .. } => mm
            .upgrade()
            // A waiter already granted the lock (still registered until it
            // wakes up) is not blocked by anybody.
            .filter(|mm| mm.mmap_lock_is_queued(rec.tid, *write))
            .map(|mm| mm.mmap_lock_blockers(*write))
            .unwrap_or_default(),
        WaitOn::Exclusion { attributed: false, .. } => Vec::new(),
        WaitOn::Exclusion { vma, .. } => std::iter::once(me)
            .chain(all.iter().map(|r| &**r))
            .filter(|r| r.refs.contains(vma))
            .map(|r| r.tid)
            .collect(),
        WaitOn::Pause { .. } => Vec::new(),
    }
}

/// A cycle of sleeping threads through `me` (who is about to sleep), as the
/// records along it starting with `me`.
fn find_cycle<'a>(all: &'a [Arc<WaitRecord>], me: &'a WaitRecord) -> Option<Vec<&'a WaitRecord>> {
    let find = |t: Tid| -> Option<&'a WaitRecord> {
        if t == me.tid { Some(me) } else { all.iter().find(|r| r.tid == t).map(|r| &**r) }
    };
    let mut path: Vec<&WaitRecord> = vec![me];
    let mut next: Vec<Vec<Tid>> = vec![blockers(all, me, me)];
    let mut seen = vec![me.tid];
    while let Some(frontier) = next.last_mut() {
        let Some(t) = frontier.pop() else {
            next.pop();
            path.pop();
            continue;
        };
        if t == me.tid {
            return Some(path);
        }
        if seen.contains(&t) {
            continue;
        }
        seen.push(t);
        if let Some(r) = find(t) {
            path.push(r);
            next.push(blockers(all, me, r));
        }
    }
    None
}
