//! [`Condvar`]: parking_lot 0.13's condition variable over lockdep's, a
//! waitable object classed by the line that made it; [`RawCondvar`]:
//! lock_api 0.5's raw condvar, for `lock_api::Condvar<RawCondvar>`.

use core::fmt;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use lock_api::GuardNoSend;
use lock_api04::RawMutex as _;
use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, ParkResult};

use crate::{MutexGuard, RawMutex};

/// A condition variable for [`Mutex`](crate::Mutex) guards, with lock_api
/// 0.5's `Condvar` API.
///
/// Waiting releases the mutex in the validator too and re-acquires it on
/// wake-up, validated at the caller's line with the annotations the guard
/// was taken with. The condvar is also a waitable object (lockdep's book,
/// chapter 16): its class is the line that called [`Condvar::new`], an
/// untimed wait waits for its notifications, and a notification is an event
/// in the context of the locks held when it is made — a thread waiting
/// while holding a lock that a notifier of the same condvar holds is
/// reported as a cycle.
///
/// As with parking_lot, one condvar serves one mutex at a time: waiting with
/// a second mutex while threads wait with the first panics.
///
/// ```
/// use std::sync::Arc;
/// use parking_lot::{Condvar, Mutex};
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
    inner: lockdep::sync::Condvar,
    /// The mutex the current waiters use, and how many they are.
    mutex: StdMutex<(usize, usize)>,
}

/// Whether a timed wait timed out (lock_api 0.5's type has no public
/// constructor, so the shim has its own, with the same API).
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the wait ended because the timeout elapsed.
    #[inline]
    pub const fn timed_out(self) -> bool {
        self.0
    }
}

/// Takes the waiter off a condvar's mutex record when dropped, also on unwind.
struct Waiting<'a>(&'a StdMutex<(usize, usize)>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.1 -= 1;
    }
}

/// Records a waiter using the mutex at `addr`; panics, as parking_lot does,
/// if other threads wait with another mutex.
fn enter(record: &StdMutex<(usize, usize)>, addr: usize) -> Waiting<'_> {
    let mut m = record.lock().unwrap_or_else(|e| e.into_inner());
    if m.1 != 0 && m.0 != addr {
        drop(m);
        panic!("attempted to use a condition variable with more than one mutex");
    }
    *m = (addr, m.1 + 1);
    Waiting(record)
}

impl Condvar {
    /// A new condition variable; its class as a waitable object is the
    /// caller's line.
    #[inline]
    #[track_caller]
    pub const fn new() -> Condvar {
        Condvar { inner: lockdep::sync::Condvar::new(), mutex: StdMutex::new((0, 0)) }
    }

    /// Wakes one waiting thread; whether there was one (an event of this
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

    /// Releases the guard's mutex, sleeps until notified or `deadline`,
    /// re-acquires it; whether it timed out.
    #[track_caller]
    fn wait_inner<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>, deadline: Option<Instant>) -> bool {
        // SAFETY: the raw mutex is unlocked and re-locked inside `wait_raw`
        // while the guard stays mutably borrowed, so nothing can use the
        // data in between, and it is held again when the guard is handed back.
        let raw: &RawMutex = unsafe { MutexGuard::mutex(guard).raw() };
        let _waiting = enter(&self.mutex, raw as *const RawMutex as usize);
        // SAFETY: the guard holds `raw.0` and stays mutably borrowed for the
        // whole call.
        unsafe { self.inner.wait_raw(&raw.0, deadline) }
    }

    /// Blocks until notified, releasing the mutex meanwhile.
    #[track_caller]
    pub fn wait<T: ?Sized>(&self, mutex_guard: &mut MutexGuard<'_, T>) {
        self.wait_inner(mutex_guard, None);
    }

    /// Blocks while `condition` holds for the data (checked first).
    #[track_caller]
    pub fn wait_while<T, F>(&self, mutex_guard: &mut MutexGuard<'_, T>, mut condition: F)
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut **mutex_guard) {
            self.wait_inner(mutex_guard, None);
        }
    }

    /// Blocks until notified or until `timeout` (an instant).
    #[track_caller]
    pub fn wait_until<T: ?Sized>(&self, mutex_guard: &mut MutexGuard<'_, T>, timeout: Instant) -> WaitTimeoutResult {
        WaitTimeoutResult(self.wait_inner(mutex_guard, Some(timeout)))
    }

    /// Blocks until notified or until `timeout` elapsed.
    #[track_caller]
    pub fn wait_for<T: ?Sized>(&self, mutex_guard: &mut MutexGuard<'_, T>, timeout: Duration) -> WaitTimeoutResult {
        // As lock_api: no representable deadline is an untimed wait.
        WaitTimeoutResult(self.wait_inner(mutex_guard, Instant::now().checked_add(timeout)))
    }

    /// Blocks while `condition` holds, until `timeout` (an instant); the
    /// result says whether the last wait timed out with the condition
    /// still holding.
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
        let mut result = WaitTimeoutResult(false);
        loop {
            if !condition(&mut **mutex_guard) {
                return WaitTimeoutResult(false);
            }
            if result.timed_out() {
                return result;
            }
            result = WaitTimeoutResult(self.wait_inner(mutex_guard, Some(timeout)));
        }
    }

    /// Blocks while `condition` holds, for at most `timeout`.
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
    #[inline]
    #[track_caller]
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Condvar { .. }")
    }
}

/// The raw condition variable of `lock_api::Condvar<RawCondvar>` (the shim's
/// [`Condvar`] does not use it). Waiting releases the mutex in the validator
/// too and re-acquires it (checked, subclass 0) on wake-up, so while a thread
/// waits the mutex is not among its held locks. Unlike [`Condvar`] it is not
/// a waitable object: `RawCondvar::INIT` has no construction site, and one
/// class for every such condvar would tie together waits and notifications
/// of unrelated condvars.
///
/// As with parking_lot, one condvar serves one mutex at a time: waiting with
/// a second mutex while threads wait with the first panics.
pub struct RawCondvar {
    /// The mutex the current waiters use, and how many they are.
    mutex: StdMutex<(usize, usize)>,
}

impl RawCondvar {
    fn key(&self) -> usize {
        self as *const Self as usize
    }

    fn enter(&self, mutex: &RawMutex) -> Waiting<'_> {
        enter(&self.mutex, mutex as *const RawMutex as usize)
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
