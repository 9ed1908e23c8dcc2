//! [`Condvar`]: a condition variable for the instrumented [`Mutex`](super::Mutex).

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lock_api::RawMutex;
use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, ParkResult};

use super::raw::RawLockdep;
use crate::waits::WaitSite;

/// A condition variable working with [`Mutex`](super::Mutex) guards over any
/// raw mutex.
///
/// Waiting releases the mutex in the validator (at the wait's call site) and
/// re-acquires it on wake-up, validated before blocking like any
/// acquisition: while a thread waits, the mutex is not among its held locks.
/// The re-acquisition repeats the annotations the guard was taken with — the
/// subclass of [`lock_nested`](super::GenericMutex::lock_nested), the nest
/// lock of [`lock_nest_lock`](super::GenericMutex::lock_nest_lock) — as the
/// kernel re-acquires with the same `lockdep_map` arguments; the mutex stays
/// what it was to the validator.
///
/// `parking_lot::Condvar` only accepts parking_lot's own guard type, so this
/// condvar parks on `parking_lot_core` itself, keyed by its own address: one
/// word (a waiter count), the size of `parking_lot::Condvar` (asserted at
/// compile time); `notify_*` with no waiter costs one atomic load.
///
/// ```
/// use std::sync::Arc;
/// use lockdep::sync::{Condvar, Mutex};
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = pair.clone();
/// let t = std::thread::spawn(move || {
///     *p.0.lock() = true;
///     p.1.notify_one();
/// });
/// let mut ready = pair.0.lock();
/// pair.1.wait_while(&mut ready, |r| !*r);
/// drop(ready);
/// t.join().unwrap();
/// ```
pub struct Condvar {
    /// Threads between announcing a wait and waking up. A waiter counts
    /// itself before it releases the user's mutex, and is queued in the
    /// parking lot before it releases it too: a notifier that changed the
    /// state under that mutex afterwards sees the count and finds the waiter.
    waiters: AtomicUsize,
    /// The condvar as a waitable object (zero-sized when compiled out).
    site: WaitSite,
}

/// Whether a timed wait timed out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the wait ended because the timeout elapsed.
    pub fn timed_out(self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A new condition variable, whose class as a waitable object is the
    /// caller's line (`Condvar@src/pool.rs:12:20`).
    #[track_caller]
    pub const fn new() -> Self {
        Condvar { waiters: AtomicUsize::new(0), site: WaitSite::new("Condvar", Location::caller()) }
    }

    /// The parking key: this condvar's address.
    fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// Blocks until notified (or woken spuriously), releasing the guard's
    /// mutex while waiting and re-acquiring it before returning.
    #[track_caller]
    pub fn wait<T: ?Sized, R: RawMutex>(&self, guard: &mut lock_api::MutexGuard<'_, RawLockdep<R>, T>) {
        self.wait_inner(guard, None);
    }

    /// Waits while `condition` holds for the protected data.
    #[track_caller]
    pub fn wait_while<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api::MutexGuard<'_, RawLockdep<R>, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) {
        while condition(&mut **guard) {
            self.wait_inner(guard, None);
        }
    }

    /// Waits until notified or until `timeout` elapsed.
    #[track_caller]
    pub fn wait_for<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api::MutexGuard<'_, RawLockdep<R>, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(self.wait_inner(guard, Instant::now().checked_add(timeout)))
    }

    /// Waits until notified or until `deadline`.
    #[track_caller]
    pub fn wait_until<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api::MutexGuard<'_, RawLockdep<R>, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(self.wait_inner(guard, Some(deadline)))
    }

    /// Waits while `condition` holds, for at most `timeout`; the result says
    /// whether it gave up with the condition still holding.
    #[track_caller]
    pub fn wait_while_for<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api::MutexGuard<'_, RawLockdep<R>, T>,
        mut condition: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        let deadline = Instant::now().checked_add(timeout);
        while condition(&mut **guard) {
            if self.wait_inner(guard, deadline) {
                return WaitTimeoutResult(condition(&mut **guard));
            }
        }
        WaitTimeoutResult(false)
    }

    /// Wakes one waiting thread; whether there was one. The locks held
    /// here are the notify's context: a thread that waits on this condvar
    /// while holding one of them is reported (see the book's chapter on
    /// waits).
    #[track_caller]
    pub fn notify_one(&self) -> bool {
        self.site.event();
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return false;
        }
        // SAFETY: the key is this condvar's own address.
        unsafe { parking_lot_core::unpark_one(self.key(), |_| DEFAULT_UNPARK_TOKEN) }.unparked_threads != 0
    }

    /// Wakes every waiting thread; how many there were. An event like
    /// [`notify_one`](Self::notify_one).
    #[track_caller]
    pub fn notify_all(&self) -> usize {
        self.site.event();
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        // SAFETY: the key is this condvar's own address.
        unsafe { parking_lot_core::unpark_all(self.key(), DEFAULT_UNPARK_TOKEN) }
    }

    /// Returns whether it timed out.
    #[track_caller]
    fn wait_inner<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api::MutexGuard<'_, RawLockdep<R>, T>,
        deadline: Option<Instant>,
    ) -> bool {
        // SAFETY: the raw lock is unlocked and re-locked below while the guard
        // is mutably borrowed, so nothing can use the data in between, and it
        // is held again when the guard is handed back.
        let raw = unsafe { lock_api::MutexGuard::mutex(guard).raw() };
        // SAFETY: the guard holds `raw` and stays mutably borrowed throughout.
        unsafe { self.wait_raw(raw, deadline) }
    }

    /// The wait itself, on the raw lock of a guard of any `lock_api` major
    /// (`lock_api05::Condvar` and the parking_lot 0.13 shim's condvar call
    /// it): releases `raw` in the validator and for real, waits for a
    /// notification (an untimed wait is a wait on this condvar as a waitable
    /// object) or `deadline`, and re-acquires `raw` with the annotations it
    /// was held with, validated at the caller's location. Returns whether it
    /// timed out.
    ///
    /// # Safety
    ///
    /// This thread holds `raw` through a guard that the caller keeps mutably
    /// borrowed for the whole call (nothing may touch the data meanwhile).
    #[track_caller]
    pub unsafe fn wait_raw<R: RawMutex>(&self, raw: &RawLockdep<R>, deadline: Option<Instant>) -> bool {
        // How the guard holds the lock, for the re-acquisition.
        let held = crate::engine::held_annotation(raw.map());
        // The release hook first, before anything is queued: a report it
        // makes (and a callback that notifies this condvar) runs with no
        // parking-lot queue locked. If it unwinds, nothing here has happened
        // yet and the guard, which still exists, unlocks when dropped.
        crate::hooks::lock_release(raw.map());
        // A wait that can last forever waits for a notify: the locks still
        // held come before this condvar (a timed one ends by itself). If its
        // report unwinds (`Action::Panic`), the validator is told the mutex
        // is held again first, as it is, so that the guard's drop balances.
        if deadline.is_none() {
            let loc = Location::caller();
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.site.wait_at(loc))) {
                if let Some(held) = held {
                    crate::engine::reacquire(raw.map(), held, crate::Read::Exclusive, loc);
                }
                std::panic::resume_unwind(panic);
            }
        }
        // Counted before the user's mutex is released (see `waiters`).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the guard proves this thread holds the lock; the validator
        // was told above. Run by `park` once this thread is queued.
        let unlock = || unsafe { raw.inner().unlock() };
        // SAFETY: the key is this condvar's own address; `validate` and
        // `timed_out` do nothing; `before_sleep` only unlocks the user's
        // mutex, which may unpark (allowed there) but never parks.
        let parked =
            unsafe { parking_lot_core::park(self.key(), || true, unlock, |_, _| {}, DEFAULT_PARK_TOKEN, deadline) };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        let timed_out = parked == ParkResult::TimedOut;
        raw.relock(held);
        timed_out
    }
}

impl Default for Condvar {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
