//! [`Condvar`]: `std::sync::Condvar` for the facade's [`Mutex`](super::Mutex).

use std::fmt;
use std::panic::Location;
use std::sync::{LockResult, WaitTimeoutResult};
use std::time::Duration;

use super::mutex::{MutexGuard, map_lock_result};
use super::site::{Held, might_lock_at, reacquired_at, release_at};
use crate::map::LockdepMap;
use crate::waits::WaitSite;

/// `std::sync::Condvar` for [`MutexGuard`]s of the facade: the same API
/// and results (`WaitTimeoutResult` is std's own), a `std::sync::Condvar`
/// inside.
///
/// Every wait releases the mutex in the validator before blocking and
/// re-acquires it after waking, both at the wait's call site. std re-locks
/// the mutex inside its wait, where no hook can run first, so the
/// re-acquisition is also validated *before* blocking (the kernel's
/// `might_lock`): waiting on `a`'s condvar while holding a lock `b` taken
/// after `a` is reported before the wait, not after a wake-up that may never
/// come. In `wait_while` and `wait_timeout_while`, the condition runs with
/// the mutex held for the validator too.
///
/// ```
/// use std::sync::Arc;
/// use lockdep::std_sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = Arc::clone(&pair);
/// let t = std::thread::spawn(move || {
///     *p.0.lock().unwrap() = true;
///     p.1.notify_one();
/// });
/// let (ready, cv) = &*pair;
/// let ready = cv.wait_while(ready.lock().unwrap(), |r| !*r).unwrap();
/// assert!(*ready);
/// drop(ready);
/// t.join().unwrap();
/// ```
pub struct Condvar {
    inner: std::sync::Condvar,
    /// The condvar as a waitable object (zero-sized when compiled out).
    site: WaitSite,
}

/// The validator's view of the mutex across one wait call: whether it
/// counts it as held. If the wait unwinds (a condition that panics, std's
/// "two mutexes" panic), std drops the guard; dropping this releases the
/// mutex in the validator too if it still counts it as held.
struct Waiting<'a> {
    map: &'a LockdepMap,
    loc: &'static Location<'static>,
    held: bool,
    /// The condvar, for a wait that can last forever (`None`: a timed one).
    forever: Option<&'a WaitSite>,
}

impl<'a> Waiting<'a> {
    fn new(held: Held<'a>, loc: &'static Location<'static>, forever: Option<&'a WaitSite>) -> Self {
        Waiting { map: held.map(), loc, held: true, forever }
    }

    /// About to block: release, then validate the re-lock that follows.
    fn before_wait(&mut self) {
        if self.held {
            self.held = false;
            release_at(self.map, self.loc);
            might_lock_at(self.map, self.loc);
            // The locks still held come before the condvar's notify.
            if let Some(site) = self.forever {
                site.wait_at(self.loc);
            }
        }
    }

    /// std re-locked the mutex.
    fn after_wake(&mut self) {
        if !self.held {
            self.held = true;
            reacquired_at(self.map, self.loc);
        }
    }

    /// The wait returned with the mutex locked.
    fn finish(mut self) {
        self.after_wake();
        std::mem::forget(self);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.held {
            release_at(self.map, self.loc);
        }
    }
}

impl Condvar {
    /// A new condition variable, whose class as a waitable object is the
    /// caller's line (`Condvar@src/pool.rs:12:20`).
    #[inline]
    #[track_caller]
    pub const fn new() -> Condvar {
        Condvar { inner: std::sync::Condvar::new(), site: WaitSite::new("Condvar", Location::caller()) }
    }

    /// Blocks until notified (or woken spuriously), unlocking the guard's
    /// mutex meanwhile; `Err` (with the guard) if the mutex is poisoned on
    /// wake-up.
    #[track_caller]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (held, inner) = guard.into_parts();
        let mut waiting = Waiting::new(held, Location::caller(), Some(&self.site));
        waiting.before_wait();
        let result = self.inner.wait(inner);
        waiting.finish();
        map_lock_result(result, |g| MutexGuard::from_parts(held, g))
    }

    /// Waits while `condition` returns `true` for the data (checked first,
    /// and after every wake-up, with the mutex held).
    #[track_caller]
    pub fn wait_while<'a, T, F>(&self, guard: MutexGuard<'a, T>, mut condition: F) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        let (held, inner) = guard.into_parts();
        let mut waiting = Waiting::new(held, Location::caller(), Some(&self.site));
        let result = self.inner.wait_while(inner, |data| {
            waiting.after_wake();
            let wait = condition(data);
            if wait {
                waiting.before_wait();
            }
            wait
        });
        waiting.finish();
        map_lock_result(result, |g| MutexGuard::from_parts(held, g))
    }

    /// Waits until notified or until `ms` milliseconds passed; `true` if it
    /// timed out (std's deprecated form of [`wait_timeout`](Self::wait_timeout)).
    #[deprecated(note = "replaced by `wait_timeout`, as in std")]
    #[track_caller]
    pub fn wait_timeout_ms<'a, T>(&self, guard: MutexGuard<'a, T>, ms: u32) -> LockResult<(MutexGuard<'a, T>, bool)> {
        map_lock_result(self.wait_timeout(guard, Duration::from_millis(ms.into())), |(g, r)| (g, r.timed_out()))
    }

    /// Waits until notified or until `dur` passed; the result says whether
    /// it timed out.
    #[track_caller]
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (held, inner) = guard.into_parts();
        let mut waiting = Waiting::new(held, Location::caller(), None);
        waiting.before_wait();
        let result = self.inner.wait_timeout(inner, dur);
        waiting.finish();
        map_lock_result(result, |(g, r)| (MutexGuard::from_parts(held, g), r))
    }

    /// Waits while `condition` holds, for at most `dur`; the result says
    /// whether it gave up with the condition still holding.
    #[track_caller]
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let (held, inner) = guard.into_parts();
        let mut waiting = Waiting::new(held, Location::caller(), None);
        let result = self.inner.wait_timeout_while(inner, dur, |data| {
            waiting.after_wake();
            let wait = condition(data);
            if wait {
                waiting.before_wait();
            }
            wait
        });
        waiting.finish();
        map_lock_result(result, |(g, r)| (MutexGuard::from_parts(held, g), r))
    }

    /// Wakes one waiting thread, if any. The locks held here are the
    /// notify's context: a thread that waits on this condvar while holding
    /// one of them is reported (see the book's chapter on waits).
    #[inline]
    #[track_caller]
    pub fn notify_one(&self) {
        self.site.event();
        self.inner.notify_one()
    }

    /// Wakes every waiting thread; an event like [`notify_one`](Self::notify_one).
    #[inline]
    #[track_caller]
    pub fn notify_all(&self) {
        self.site.event();
        self.inner.notify_all()
    }
}

impl Default for Condvar {
    #[track_caller]
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    /// std's format: `Condvar { .. }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
