//! [`Mutex`]: `std::sync::Mutex` with its acquisitions validated.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use super::site::{Finally, Held, SiteMap};
use crate::assert::AsLockdepMap;
use crate::map::LockdepMap;
use crate::{ENABLED, hooks};

/// `std::sync::Mutex`, validated: the same API, the same poisoning (it *is*
/// a `std::sync::Mutex` inside), and every acquisition checked by lockdep at
/// your call site.
///
/// **Class:** every mutex of one data type constructed at one source
/// location is one class, named `Mutex<T>@file:line` (`T` with its module
/// paths trimmed; `:col` added when two are made on one line).
/// `new` is a `#[track_caller] const fn`, so a
/// `static` gets its own initializer's location and two statics on two
/// lines are two classes. `Default` and `From` take their caller's location.
///
/// `lock` is validated as a kernel `mutex_lock` (exclusive) before it
/// blocks; `try_lock` is recorded as a trylock only when it succeeds.
///
/// ```
/// use lockdep::std_sync::Mutex;
///
/// static HITS: Mutex<u32> = Mutex::new(0);
/// *HITS.lock().unwrap() += 1;
/// assert_eq!(*HITS.lock().unwrap(), 1);
/// ```
pub struct Mutex<T: ?Sized> {
    dep: SiteMap,
    inner: std::sync::Mutex<T>,
}

/// The guard of a [`Mutex`]: std's guard plus the way back to the lock's
/// map. Dropping it tells the validator, then unlocks (and poisons the mutex
/// if the thread is panicking, exactly like std's). Never `Send`.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    held: Held<'a>,
    inner: std::sync::MutexGuard<'a, T>,
}

/// `LockResult<G>` with the guard inside (poisoned or not) turned into `f(guard)`.
pub(super) fn map_lock_result<G, U>(result: LockResult<G>, f: impl FnOnce(G) -> U) -> LockResult<U> {
    match result {
        Ok(g) => Ok(f(g)),
        Err(poisoned) => Err(PoisonError::new(f(poisoned.into_inner()))),
    }
}

impl<T> Mutex<T> {
    /// A new unlocked mutex whose class is this call site and `T` (see the type docs).
    #[track_caller]
    pub const fn new(t: T) -> Mutex<T> {
        Mutex { dep: SiteMap::new::<T>("Mutex", Location::caller()), inner: std::sync::Mutex::new(t) }
    }

    /// Consumes the mutex, returning the data (`Err` with the data if poisoned).
    pub fn into_inner(self) -> LockResult<T> {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, blocking until the lock is available; the validator checks the
    /// acquisition first. `Err` if the mutex is poisoned (the guard is inside).
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let map = self.dep.map();
        // If the hook or std's lock unwinds, the lock is not held: take the
        // validator's entry off again.
        let undo = Finally(|| hooks::mutex_release(map));
        hooks::mutex_acquire(map, 0, false);
        let result = if ENABLED {
            match self.inner.try_lock() {
                Ok(g) => Ok(g),
                Err(TryLockError::Poisoned(p)) => Err(p),
                Err(TryLockError::WouldBlock) => {
                    hooks::lock_contended(map);
                    self.inner.lock()
                }
            }
        } else {
            self.inner.lock()
        };
        std::mem::forget(undo);
        hooks::lock_acquired(map);
        map_lock_result(result, |inner| MutexGuard { held: Held::new(map), inner })
    }

    /// Tries to lock without blocking: `WouldBlock` if another holder has
    /// it, `Poisoned` (with the guard) if poisoned. Recorded as a trylock only
    /// when it took the lock.
    ///
    /// If the validator's report panics here (`Action::Panic`), the lock is
    /// already taken and std poisons it on the way out, as for any panic
    /// while a guard is alive.
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        let map = self.dep.map();
        let (inner, poisoned) = match self.inner.try_lock() {
            Ok(g) => (g, false),
            Err(TryLockError::Poisoned(p)) => (p.into_inner(), true),
            Err(TryLockError::WouldBlock) => return Err(TryLockError::WouldBlock),
        };
        hooks::mutex_acquire(map, 0, true);
        let guard = MutexGuard { held: Held::new(map), inner };
        if poisoned { Err(TryLockError::Poisoned(PoisonError::new(guard))) } else { Ok(guard) }
    }

    /// Whether the mutex is poisoned (std's flag).
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Clears the poisoned flag (std's).
    #[inline]
    pub fn clear_poison(&self) {
        self.inner.clear_poison()
    }

    /// A mutable reference to the data; no locking needed (`Err` with the
    /// reference if poisoned).
    #[inline]
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.inner.get_mut()
    }
}

impl<T: ?Sized> AsLockdepMap for Mutex<T> {
    /// The mutex's map (built now if it was never locked).
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.dep.map()
    }
}

impl<T> From<T> for Mutex<T> {
    /// A new mutex whose class is the caller's location.
    #[track_caller]
    fn from(t: T) -> Self {
        Mutex::new(t)
    }
}

impl<T: Default> Default for Mutex<T> {
    /// A mutex holding `T::default()`, whose class is the caller's location.
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    /// std's format (`Mutex { data: .., poisoned: .., .. }`); peeking at the
    /// data is not an acquisition the validator sees.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Splits the guard without running its `Drop`: the validator still
    /// counts the lock as held by this thread.
    pub(super) fn into_parts(self) -> (Held<'a>, std::sync::MutexGuard<'a, T>) {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so each field is
        // moved out exactly once.
        unsafe { (std::ptr::read(&this.held), std::ptr::read(&this.inner)) }
    }

    /// Puts a guard back together (see [`into_parts`](Self::into_parts)).
    pub(super) fn from_parts(held: Held<'a>, inner: std::sync::MutexGuard<'a, T>) -> Self {
        MutexGuard { held, inner }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    /// The release hook; std's guard, dropped right after (also if the hook
    /// unwinds), unlocks and poisons as std does.
    #[inline]
    fn drop(&mut self) {
        hooks::mutex_release(self.held.map());
    }
}

impl<T: ?Sized> AsLockdepMap for MutexGuard<'_, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.held.map()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}
