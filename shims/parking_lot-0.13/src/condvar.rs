//! [`Condvar`]: lock_api 0.5's condition variable over [`RawCondvar`].

use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use lock_api::GuardNoSend;
use lock_api04::RawMutex as _;
use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, ParkResult};

use crate::RawMutex;

/// A condition variable for [`Mutex`](crate::Mutex) guards.
pub type Condvar = lock_api::Condvar<RawCondvar>;

/// Whether a timed wait timed out.
pub use lock_api::WaitTimeoutResult;

/// The raw condition variable. Waiting releases the mutex in the validator
/// too and re-acquires it (checked, subclass 0) on wake-up, so while a thread
/// waits the mutex is not among its held locks.
///
/// As with parking_lot, one condvar serves one mutex at a time: waiting with
/// a second mutex while threads wait with the first panics.
pub struct RawCondvar {
    /// The mutex the current waiters use, and how many they are.
    mutex: StdMutex<(usize, usize)>,
}

/// Takes the waiter off [`RawCondvar::mutex`] when dropped, also on unwind.
struct Waiting<'a>(&'a StdMutex<(usize, usize)>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.1 -= 1;
    }
}

impl RawCondvar {
    fn key(&self) -> usize {
        self as *const Self as usize
    }

    fn enter(&self, mutex: &RawMutex) -> Waiting<'_> {
        let addr = mutex as *const RawMutex as usize;
        let mut m = self.mutex.lock().unwrap_or_else(|e| e.into_inner());
        if m.1 != 0 && m.0 != addr {
            drop(m);
            panic!("attempted to use a condition variable with more than one mutex");
        }
        *m = (addr, m.1 + 1);
        Waiting(&self.mutex)
    }

    /// Releases `mutex` (validator first), sleeps until notified or
    /// `deadline`, re-acquires it; whether it timed out.
    ///
    /// # Safety
    ///
    /// The current thread holds `mutex`.
    #[track_caller]
    unsafe fn wait_inner(&self, mutex: &RawMutex, deadline: Option<Instant>) -> bool {
        let _waiting = self.enter(mutex);
        // The release hook before anything else: if it unwinds (a report
        // under `Action::Panic`) the lock is still held and its guard, which
        // still exists, releases it.
        lockdep::lock_release(mutex.0.map());
        // SAFETY: the caller holds the mutex; it is unlocked once this
        // thread is queued, so a notifier that takes it afterwards finds
        // this thread.
        let release = || unsafe { mutex.0.inner().unlock() };
        // SAFETY: the key is this condvar's own address; `validate` and
        // `timed_out` do nothing; `before_sleep` only unlocks a mutex, which
        // may unpark (allowed there) but never parks.
        let parked =
            unsafe { parking_lot_core::park(self.key(), || true, release, |_, _| {}, DEFAULT_PARK_TOKEN, deadline) };
        mutex.0.lock_with(0, None);
        parked == ParkResult::TimedOut
    }
}

// SAFETY: a waiter is queued before its mutex is released and re-acquires it
// before returning; notifications wake queued waiters only.
unsafe impl lock_api::RawCondvar for RawCondvar {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawCondvar = RawCondvar { mutex: StdMutex::new((0, 0)) };

    type RawMutex = RawMutex;

    #[track_caller]
    unsafe fn wait(&self, mutex: &RawMutex, _guard: &mut GuardNoSend) {
        // SAFETY: forwarded from the caller (who holds the guard).
        unsafe { self.wait_inner(mutex, None) };
    }

    fn notify_one(&self) -> bool {
        // SAFETY: the key is this condvar's own address.
        unsafe { parking_lot_core::unpark_one(self.key(), |_| DEFAULT_UNPARK_TOKEN) }.unparked_threads != 0
    }

    fn notify_all(&self) -> usize {
        // SAFETY: the key is this condvar's own address.
        unsafe { parking_lot_core::unpark_all(self.key(), DEFAULT_UNPARK_TOKEN) }
    }
}

// SAFETY: as for `RawCondvar`, with a deadline.
unsafe impl lock_api::RawCondvarTimed for RawCondvar {
    fn checked_duration_to_instant(timeout: &Duration) -> Option<Instant> {
        Instant::now().checked_add(*timeout)
    }

    #[track_caller]
    unsafe fn wait_until(&self, mutex: &RawMutex, _guard: &mut GuardNoSend, timeout: &Instant) -> bool {
        // SAFETY: forwarded from the caller (who holds the guard).
        unsafe { self.wait_inner(mutex, Some(*timeout)) }
    }
}

impl std::fmt::Debug for RawCondvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad("RawCondvar { .. }")
    }
}
