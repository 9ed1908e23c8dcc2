//! [`Condvar`]: parking_lot's condition variable API over lockdep's.

use core::fmt;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use crate::MutexGuard;

/// A condition variable for [`Mutex`](crate::Mutex) guards. Waiting releases
/// the mutex in the validator too and re-acquires it (checked) on wake-up.
///
/// As with parking_lot, one condvar serves one mutex at a time: waiting on it
/// with a second mutex while threads wait with the first panics.
pub struct Condvar {
    inner: lockdep::sync::Condvar,
    /// The mutex the current waiters use, and how many they are.
    mutex: StdMutex<(usize, usize)>,
}

/// Whether a timed wait timed out.
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the wait ended because the timeout elapsed.
    #[inline]
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// Takes the waiter off [`Condvar::mutex`] when dropped, also on unwind.
struct Waiting<'a>(&'a StdMutex<(usize, usize)>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.1 -= 1;
    }
}

impl Condvar {
    /// A new condition variable; its class as a waitable object is the
    /// caller's line (lockdep's book, chapter 16).
    #[inline]
    #[track_caller]
    pub const fn new() -> Condvar {
        Condvar { inner: lockdep::sync::Condvar::new(), mutex: StdMutex::new((0, 0)) }
    }

    /// Wakes one waiting thread; whether there was one (an event of the
    /// condvar, in the context of the locks held here).
    #[inline]
    #[track_caller]
    pub fn notify_one(&self) -> bool {
        self.inner.notify_one()
    }

    /// Wakes every waiting thread; how many there were (an event).
    #[inline]
    #[track_caller]
    pub fn notify_all(&self) -> usize {
        self.inner.notify_all()
    }

    /// Registers a waiter with the mutex `guard` locks; panics if other
    /// threads wait with another mutex.
    fn enter<T: ?Sized>(&self, guard: &MutexGuard<'_, T>) -> Waiting<'_> {
        let addr = MutexGuard::mutex(guard) as *const lock_api::Mutex<crate::RawMutex, T> as *const () as usize;
        let mut m = self.mutex.lock().unwrap_or_else(|e| e.into_inner());
        if m.1 != 0 && m.0 != addr {
            drop(m);
            panic!("attempted to use a condition variable with more than one mutex");
        }
        *m = (addr, m.1 + 1);
        Waiting(&self.mutex)
    }

    /// Blocks until notified, releasing the mutex meanwhile.
    #[track_caller]
    pub fn wait<T: ?Sized>(&self, mutex_guard: &mut MutexGuard<'_, T>) {
        let _w = self.enter(mutex_guard);
        self.inner.wait(mutex_guard);
    }

    /// Blocks until notified or until `timeout` (an instant).
    #[track_caller]
    pub fn wait_until<T: ?Sized>(&self, mutex_guard: &mut MutexGuard<'_, T>, timeout: Instant) -> WaitTimeoutResult {
        let _w = self.enter(mutex_guard);
        WaitTimeoutResult(self.inner.wait_until(mutex_guard, timeout).timed_out())
    }

    /// Blocks until notified or until `timeout` elapsed.
    #[track_caller]
    pub fn wait_for<T: ?Sized>(&self, mutex_guard: &mut MutexGuard<'_, T>, timeout: Duration) -> WaitTimeoutResult {
        let _w = self.enter(mutex_guard);
        WaitTimeoutResult(self.inner.wait_for(mutex_guard, timeout).timed_out())
    }

    /// Waits while `condition` holds for the data.
    #[track_caller]
    pub fn wait_while<T, F>(&self, mutex_guard: &mut MutexGuard<'_, T>, mut condition: F)
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *mutex_guard) {
            self.wait(mutex_guard);
        }
    }

    /// Waits while `condition` holds, until `timeout` (an instant); the
    /// result says whether the last wait timed out.
    #[track_caller]
    pub fn wait_while_until<T, F>(
        &self,
        mutex_guard: &mut MutexGuard<'_, T>,
        mut condition: F,
        timeout: Instant,
    ) -> WaitTimeoutResult
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        // As parking_lot: once the wait timed out the condition is not
        // evaluated again.
        let mut result = WaitTimeoutResult(false);
        while !result.timed_out() && condition(&mut *mutex_guard) {
            result = self.wait_until(mutex_guard, timeout);
        }
        result
    }

    /// Waits while `condition` holds, for at most `timeout`.
    #[track_caller]
    pub fn wait_while_for<T, F>(
        &self,
        mutex_guard: &mut MutexGuard<'_, T>,
        condition: F,
        timeout: Duration,
    ) -> WaitTimeoutResult
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_while_until(mutex_guard, condition, deadline),
            None => {
                self.wait_while(mutex_guard, condition);
                WaitTimeoutResult(false)
            }
        }
    }
}

impl Default for Condvar {
    #[track_caller]
    #[inline]
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Condvar { .. }")
    }
}
