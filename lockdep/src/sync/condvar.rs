//! [`Condvar`]: a condition variable for the instrumented [`Mutex`](super::Mutex).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lock_api::RawMutex;

use super::raw::RawLockdep;

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
/// condvar is built from a plain (uninstrumented) mutex and condvar of
/// lockdep's own ([`park`](super::park)); `notify_*` with no waiter costs one
/// atomic load.
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
    /// Threads between announcing a wait and waking up.
    waiters: AtomicUsize,
    /// Closes the window between releasing the user's mutex and sleeping.
    lock: lock_api::Mutex<super::park::RawMutex, ()>,
    cv: super::park::Condvar,
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
    /// A new condition variable.
    pub const fn new() -> Self {
        Condvar { waiters: AtomicUsize::new(0), lock: lock_api::Mutex::new(()), cv: super::park::Condvar::new() }
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

    /// Wakes one waiting thread; whether there was one.
    pub fn notify_one(&self) -> bool {
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let _g = self.lock.lock();
        self.cv.notify_one()
    }

    /// Wakes every waiting thread; how many there were.
    pub fn notify_all(&self) -> usize {
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        let _g = self.lock.lock();
        self.cv.notify_all()
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
        // How the guard holds the lock, for the re-acquisition.
        let held = crate::engine::held_annotation(raw.map());
        // The release hook first, outside the condvar's internal lock: a
        // report it makes (and a callback that notifies this condvar) must
        // not run inside it. If it unwinds, nothing here has happened yet
        // and the guard, which still exists, unlocks when dropped.
        crate::hooks::lock_release(raw.map());
        let mut internal = self.lock.lock();
        // Announced before the user's mutex is released: a notifier that
        // changed the state under that mutex afterwards sees the waiter.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the guard proves this thread holds the lock; the validator
        // was told above.
        unsafe { raw.inner().unlock() };
        let timed_out = match deadline {
            None => {
                self.cv.wait(&mut internal);
                false
            }
            Some(d) => self.cv.wait_until(&mut internal, d).timed_out(),
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        drop(internal);
        raw.relock(held);
        timed_out
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
