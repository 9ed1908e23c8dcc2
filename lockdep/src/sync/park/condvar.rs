//! A plain condition variable over [`RawMutex`] guards: the internal waiting
//! room of the instrumented [`Condvar`](crate::sync::Condvar).

use std::time::Instant;

use lock_api::{MutexGuard, RawMutex as _};
use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, ParkResult};

use super::RawMutex;

/// An uninstrumented condition variable for guards of lock_api mutexes over
/// [`RawMutex`]. A waiter joins the queue (keyed by the condvar's address)
/// before its mutex is released, so a notifier that takes the mutex after the
/// waiter released it always finds the waiter.
pub(crate) struct Condvar {
    /// Only its address matters: it is the parking key.
    _key: u8,
}

/// Whether a timed wait timed out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeout(bool);

impl Timeout {
    pub(crate) fn timed_out(self) -> bool {
        self.0
    }
}

impl Condvar {
    pub(crate) const fn new() -> Self {
        Condvar { _key: 0 }
    }

    fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// Sleeps until notified, releasing the guard's mutex meanwhile.
    pub(crate) fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, RawMutex, T>) {
        self.wait_until_inner(guard, None);
    }

    /// Sleeps until notified or until `deadline`.
    pub(crate) fn wait_until<T: ?Sized>(&self, guard: &mut MutexGuard<'_, RawMutex, T>, deadline: Instant) -> Timeout {
        Timeout(self.wait_until_inner(guard, Some(deadline)))
    }

    fn wait_until_inner<T: ?Sized>(&self, guard: &mut MutexGuard<'_, RawMutex, T>, deadline: Option<Instant>) -> bool {
        // SAFETY: the raw mutex is unlocked once this thread is queued and
        // locked again before the guard is used; the guard is borrowed
        // mutably throughout, so nothing touches the data in between.
        let raw = unsafe { MutexGuard::mutex(guard).raw() };
        // SAFETY: the guard proves this thread holds the mutex.
        let release = || unsafe { raw.unlock() };
        // SAFETY: the key is this condvar's own address; `validate` and
        // `timed_out` do nothing; `before_sleep` only unlocks a mutex, which
        // may unpark (allowed there) but never parks.
        let parked =
            unsafe { parking_lot_core::park(self.key(), || true, release, |_, _| {}, DEFAULT_PARK_TOKEN, deadline) };
        raw.lock();
        parked == ParkResult::TimedOut
    }

    /// Wakes one waiter; whether there was one.
    pub(crate) fn notify_one(&self) -> bool {
        // SAFETY: the key is this condvar's own address.
        unsafe { parking_lot_core::unpark_one(self.key(), |_| DEFAULT_UNPARK_TOKEN) }.unparked_threads != 0
    }

    /// Wakes every waiter; how many there were.
    pub(crate) fn notify_all(&self) -> usize {
        // SAFETY: the key is this condvar's own address.
        unsafe { parking_lot_core::unpark_all(self.key(), DEFAULT_UNPARK_TOKEN) }
    }
}
