//! [`Condvar`] for the `lock_api` 0.5 [`Mutex`](super::Mutex).

use std::fmt;
use std::time::{Duration, Instant};

use lock_api::RawMutex;

use super::super::raw::RawLockdep05;

/// [`lockdep::sync::Condvar`](crate::sync::Condvar) for `lock_api` 0.5
/// guards: a wait releases the mutex in the validator at the wait's call
/// site and re-acquires it, with the annotations it was held with, validated
/// before blocking. One word, like parking_lot 0.13's.
///
/// ```
/// use std::sync::Arc;
/// use lockdep::sync::lock_api05::{Condvar, Mutex};
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
#[repr(transparent)]
#[derive(Default)]
pub struct Condvar(crate::sync::Condvar);

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
        Condvar(crate::sync::Condvar::new())
    }

    /// Blocks until notified (or woken spuriously), releasing the guard's
    /// mutex while waiting and re-acquiring it before returning.
    #[track_caller]
    pub fn wait<T: ?Sized, R: RawMutex>(&self, guard: &mut lock_api05::MutexGuard<'_, RawLockdep05<R>, T>) {
        self.wait_inner(guard, None);
    }

    /// Waits while `condition` holds for the protected data.
    #[track_caller]
    pub fn wait_while<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api05::MutexGuard<'_, RawLockdep05<R>, T>,
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
        guard: &mut lock_api05::MutexGuard<'_, RawLockdep05<R>, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(self.wait_inner(guard, Instant::now().checked_add(timeout)))
    }

    /// Waits until notified or until `deadline`.
    #[track_caller]
    pub fn wait_until<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api05::MutexGuard<'_, RawLockdep05<R>, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(self.wait_inner(guard, Some(deadline)))
    }

    /// Waits while `condition` holds, for at most `timeout`; the result says
    /// whether it gave up with the condition still holding.
    #[track_caller]
    pub fn wait_while_for<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api05::MutexGuard<'_, RawLockdep05<R>, T>,
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
        self.0.notify_one()
    }

    /// Wakes every waiting thread; how many there were.
    pub fn notify_all(&self) -> usize {
        self.0.notify_all()
    }

    /// Returns whether it timed out.
    #[track_caller]
    fn wait_inner<T: ?Sized, R: RawMutex>(
        &self,
        guard: &mut lock_api05::MutexGuard<'_, RawLockdep05<R>, T>,
        deadline: Option<Instant>,
    ) -> bool {
        // SAFETY: the raw lock is unlocked and re-locked inside while the
        // guard is mutably borrowed, so nothing can use the data in between;
        // the guard's state is empty, so it stays valid across the re-lock.
        let raw = unsafe { lock_api05::MutexGuard::mutex(guard).raw() }.as_lock_api04();
        // SAFETY: the guard holds `raw` and stays mutably borrowed throughout.
        unsafe { self.0.wait_raw(raw, deadline) }
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
