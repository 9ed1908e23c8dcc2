//! The model of the `mmap_lock` reader/writer semaphore: real blocking,
//! writer preference, non-recursive readers, downgrade and killable waits.
//!
//! A reader whose wait would close a wait-for cycle only because it queues
//! behind a waiting writer (a recursive read while a writer waits) is let
//! in past the writer, with a warning; other hopeless waits are abandoned
//! with a warning and fail ([`WaitError::WouldHang`]; see
//! [`hang`](crate::hang)). Every sleep and wake-up is logged
//! ([`WaitEventKind`]).
//!
//! Only the blocking behaviour lives here; the lockdep hooks and the
//! sequence count are added by the `mmap_*` functions in
//! [`mmap_lock`](crate::mmap_lock), exactly where the kernel adds them.
//! Owners are recorded for the hang detector only (the kernel's rwsem
//! records a writer owner too); no assertion consults them.

use lockdep::LockdepMap;

use crate::events::WaitEventKind;
use crate::hang::WaitOn;
use crate::kernel::{WaitError, WouldHang};
use crate::keys::{MMAP_LOCK_KEY, MMAP_LOCK_NAME};
use crate::mm::Mm;
use crate::sync::{Condvar, Mutex, Tid, current_tid, lock, wait};
use crate::warn::WarningId;

#[derive(Default, Debug)]
struct State {
    /// One entry per read hold.
    readers: Vec<Tid>,
    writer: Option<Tid>,
    queued_writers: Vec<Tid>,
    queued_readers: Vec<Tid>,
}

impl State {
    fn can(&self, write: bool) -> bool {
        if write {
            self.writer.is_none() && self.readers.is_empty()
        } else {
            // Writer preference: a new reader queues behind a waiting writer.
            self.writer.is_none() && self.queued_writers.is_empty()
        }
    }

    fn has_waiters(&self) -> bool {
        !self.queued_writers.is_empty() || !self.queued_readers.is_empty()
    }

    fn take(&mut self, write: bool, me: Tid) {
        if write {
            self.writer = Some(me);
        } else {
            self.readers.push(me);
        }
    }

    fn enqueue(&mut self, write: bool, me: Tid) {
        if write {
            self.queued_writers.push(me);
        } else {
            self.queued_readers.push(me);
        }
    }

    fn dequeue(&mut self, write: bool, me: Tid) {
        if write {
            if let Some(i) = self.queued_writers.iter().position(|&t| t == me) {
                self.queued_writers.remove(i);
            }
        } else if let Some(i) = self.queued_readers.iter().position(|&t| t == me) {
            self.queued_readers.swap_remove(i);
        }
    }
}

/// The mmap rwsem with its lockdep map `M`.
pub(crate) struct RwSem {
    pub(crate) dep_map: LockdepMap,
    st: Mutex<State>,
    cv: Condvar,
}

impl RwSem {
    /// `init_rwsem`: unlocked, map `M` in the shared `"mmap_lock"` class.
    pub(crate) fn new() -> RwSem {
        RwSem {
            dep_map: LockdepMap::new(MMAP_LOCK_NAME, &MMAP_LOCK_KEY),
            st: Mutex::new(State::default()),
            cv: Condvar::new(),
        }
    }

    /// `down_read_trylock`: fails if write-held or if anybody is queued.
    pub(crate) fn try_read(&self) -> bool {
        let mut s = lock(&self.st);
        if s.writer.is_some() || s.has_waiters() {
            return false;
        }
        s.take(false, current_tid());
        true
    }

    /// `down_write_trylock`: fails if held in any mode or anybody is queued.
    pub(crate) fn try_write(&self) -> bool {
        let mut s = lock(&self.st);
        if !s.can(true) || s.has_waiters() {
            return false;
        }
        s.take(true, current_tid());
        true
    }

    /// The blocking part of `down_read` / `down_read_killable`.
    #[track_caller]
    pub(crate) fn read_slow(&self, mm: &Mm, killable: bool) -> Result<(), WaitError> {
        self.slow(mm, false, killable)
    }

    /// The blocking part of `down_write` / `down_write_killable`.
    #[track_caller]
    pub(crate) fn write_slow(&self, mm: &Mm, killable: bool) -> Result<(), WaitError> {
        self.slow(mm, true, killable)
    }

    #[track_caller]
    fn slow(&self, mm: &Mm, write: bool, killable: bool) -> Result<(), WaitError> {
        let k = mm.kernel();
        let me = current_tid();
        let mut s = lock(&self.st);
        if s.can(write) {
            s.take(write, me);
            return Ok(());
        }
        s.enqueue(write, me);
        drop(s);
        let on = WaitOn::Rwsem { mm: mm.weak(), mm_id: mm.id(), write };
        let blocked_on = on.blocked_on();
        let rec = match k.block(on) {
            Ok(rec) => rec,
            Err(desc) => {
                let mut s = lock(&self.st);
                s.dequeue(write, me);
                // A reader that only queued writers hold back (writer
                // preference, §2.0 "may block") is let in: the recursive
                // read of a rwsem without writer preference. This breaks the
                // cycle without failing the caller.
                let admitted = !write && s.writer.is_none();
                if admitted {
                    s.take(false, me);
                }
                drop(s);
                self.cv.notify_all();
                if admitted {
                    k.warn(WarningId::WaitWouldHang, format!("{desc}; reader admitted past the queued writer"));
                    return Ok(());
                }
                k.warn(WarningId::WaitWouldHang, desc.clone());
                return Err(WaitError::WouldHang(WouldHang::new(blocked_on, desc)));
            }
        };
        let mut s = lock(&self.st);
        let r = loop {
            if s.can(write) {
                s.dequeue(write, me);
                s.take(write, me);
                break Ok(());
            }
            if killable && k.fatal_signal_pending() {
                s.dequeue(write, me);
                break Err(WaitError::Interrupted);
            }
            k.wait_event(WaitEventKind::Sleep { on: blocked_on, vm_refcnt: None });
            s = wait(&self.cv, s);
            k.wait_event(WaitEventKind::Woken { on: blocked_on });
        };
        drop(s);
        // A writer leaving the queue may let readers in.
        self.cv.notify_all();
        k.waits.unblock(&rec);
        r
    }

    /// `up_read`.
    pub(crate) fn up_read(&self) {
        let me = current_tid();
        let mut s = lock(&self.st);
        match s.readers.iter().rposition(|&t| t == me) {
            Some(i) => {
                s.readers.swap_remove(i);
            }
            None => {
                // Released by another context (`*_non_owner`) or unbalanced.
                s.readers.pop();
            }
        }
        let last = s.readers.is_empty();
        drop(s);
        if last {
            self.cv.notify_all();
        }
    }

    /// `up_write`.
    pub(crate) fn up_write(&self) {
        lock(&self.st).writer = None;
        self.cv.notify_all();
    }

    /// `downgrade_write`: the write hold becomes a read hold atomically.
    pub(crate) fn downgrade(&self) {
        let mut s = lock(&self.st);
        let owner = s.writer.take().unwrap_or_else(current_tid);
        s.readers.push(owner);
        drop(s);
        self.cv.notify_all();
    }

    /// `rwsem_is_locked`: held by anybody in any mode.
    pub(crate) fn is_locked(&self) -> bool {
        let s = lock(&self.st);
        s.writer.is_some() || !s.readers.is_empty()
    }

    /// The writer bit: held for write by anybody.
    pub(crate) fn is_write_locked(&self) -> bool {
        lock(&self.st).writer.is_some()
    }

    /// Whether the current thread holds it for write (model bookkeeping for
    /// the invariant checks; no assertion uses it).
    pub(crate) fn is_write_owner(&self) -> bool {
        lock(&self.st).writer == Some(current_tid())
    }

    /// `rwsem_is_contended`: anybody queued.
    pub(crate) fn is_contended(&self) -> bool {
        lock(&self.st).has_waiters()
    }

    /// For the hang detector: the threads a waiter of this mode waits for.
    pub(crate) fn blockers(&self, write: bool) -> Vec<Tid> {
        let s = lock(&self.st);
        let mut v: Vec<Tid> = s.writer.into_iter().collect();
        if write {
            v.extend(s.readers.iter().copied());
        } else {
            v.extend(s.queued_writers.iter().copied());
        }
        v
    }

    /// Whether `tid` is still queued for the lock. A thread that was granted
    /// the lock stays registered as a waiter until it leaves `slow`; the hang
    /// detector must not count it as blocked in that window.
    pub(crate) fn is_queued(&self, tid: Tid, write: bool) -> bool {
        let s = lock(&self.st);
        if write { s.queued_writers.contains(&tid) } else { s.queued_readers.contains(&tid) }
    }

    /// Wakes every waiter to re-check (signals, hang-detector aborts).
    pub(crate) fn wake_all(&self) {
        let _s = lock(&self.st);
        self.cv.notify_all();
    }

    /// A snapshot for `Debug`: (readers, writer held, queued writers, queued readers).
    pub(crate) fn snapshot(&self) -> (usize, bool, usize, usize) {
        let s = lock(&self.st);
        (s.readers.len(), s.writer.is_some(), s.queued_writers.len(), s.queued_readers.len())
    }
}
