//! [`ReentrantMutex`] on `lock_api` 0.5.

use std::fmt;
use std::ops::Deref;
use std::panic::Location;

use lock_api::RawMutex;
use lock_api05::GetThreadId;

use super::super::raw::{self, RawLockdep, RawLockdep05};
use super::super::site_map;
use crate::assert::AsLockdepMap;
use crate::class::LockClassKey;
use crate::map::LockdepMap;
use crate::{ENABLED, hooks};

/// [`lockdep::sync::GenericReentrantMutex`](crate::sync::GenericReentrantMutex)
/// with `lock_api` 0.5's guard: a mutex its owner may lock again. Only the
/// outermost acquisition and the last release reach the validator. `G` is a
/// `lock_api` 0.5 `GetThreadId`.
///
/// ```
/// use lockdep::sync::lock_api05::ReentrantMutex;
/// let m = ReentrantMutex::new(5);
/// let a = m.lock();
/// let b = m.lock(); // the owner may lock again
/// assert_eq!(*a + *b, 10);
/// ```
#[repr(transparent)]
pub struct GenericReentrantMutex<R: RawMutex, G, T: ?Sized> {
    inner: lock_api05::ReentrantMutex<RawLockdep05<R>, G, T>,
}

/// The guard of a [`ReentrantMutex`] (`lock_api` 0.5's; `#[must_use]`, never `Send`).
pub type ReentrantMutexGuard<'a, T> =
    lock_api05::ReentrantMutexGuard<'a, RawLockdep05<super::DefaultRawMutex>, super::DefaultThreadId, T>;

/// An instrumented reentrant mutex with `lock_api` 0.5's guard: see [`GenericReentrantMutex`].
pub type ReentrantMutex<T> = GenericReentrantMutex<super::DefaultRawMutex, super::DefaultThreadId, T>;

impl<T, R: RawMutex, G: GetThreadId> GenericReentrantMutex<R, G, T> {
    /// A new reentrant mutex whose class is this call site.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::from_map(value, site_map::<T>("ReentrantMutex", Location::caller()))
    }

    /// A new reentrant mutex named `name`, whose class is this call site.
    #[track_caller]
    pub fn named(value: T, name: &'static str) -> Self {
        Self::from_map(value, LockdepMap::with_site(name, Location::caller()))
    }

    /// A new reentrant mutex of the class `key` (usable in `static`s).
    pub const fn with_key(value: T, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("ReentrantMutex", key, None))
    }

    /// A new reentrant mutex known to the validator by `map`.
    pub const fn from_map(value: T, map: LockdepMap) -> Self {
        GenericReentrantMutex {
            inner: lock_api05::ReentrantMutex::from_raw(
                RawLockdep05::new(RawLockdep::new(R::INIT, map)),
                G::INIT,
                value,
            ),
        }
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized, R: RawMutex, G: GetThreadId> GenericReentrantMutex<R, G, T> {
    #[inline]
    fn raw_lock(&self) -> &RawLockdep<R> {
        // SAFETY: only used to read the map and to mark a prehooked acquisition.
        unsafe { self.inner.raw() }.as_lock_api04()
    }

    /// Locks, blocking unless this thread already owns the mutex. The
    /// outermost acquisition is validated at the caller's location.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> lock_api05::ReentrantMutexGuard<'_, RawLockdep05<R>, G, T> {
        if ENABLED && !self.inner.is_owned_by_current_thread() {
            // lock_api 0.5's raw reentrant mutex is not `#[track_caller]`:
            // announce here, and tell the raw lock not to announce again.
            self.raw_lock().announce_reentrant();
        }
        self.inner.lock()
    }

    /// Tries to lock without blocking; an outermost acquisition is recorded
    /// (as a trylock) only if it succeeded.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<lock_api05::ReentrantMutexGuard<'_, RawLockdep05<R>, G, T>> {
        if ENABLED && !self.inner.is_owned_by_current_thread() {
            raw::prehook(self.raw_lock());
            let guard = self.inner.try_lock();
            raw::clear_prehook();
            if guard.is_some() {
                // If this unwinds, dropping the guard releases the entry.
                hooks::mutex_acquire(self.raw_lock().map(), 0, true);
            }
            guard
        } else {
            self.inner.try_lock()
        }
    }

    /// The map the validator knows this mutex by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.raw_lock().map()
    }

    /// The `lock_api` 0.5 reentrant mutex inside (also reached through
    /// `Deref`). Locking it directly still validates, but reports the
    /// outermost acquisition at a line inside `lockdep`.
    pub fn as_lock_api(&self) -> &lock_api05::ReentrantMutex<RawLockdep05<R>, G, T> {
        &self.inner
    }
}

impl<T: ?Sized, R: RawMutex, G> Deref for GenericReentrantMutex<R, G, T> {
    type Target = lock_api05::ReentrantMutex<RawLockdep05<R>, G, T>;

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<T: ?Sized, R: RawMutex, G: GetThreadId> AsLockdepMap for GenericReentrantMutex<R, G, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.lockdep_map()
    }
}

impl<T: Default, R: RawMutex, G: GetThreadId> Default for GenericReentrantMutex<R, G, T> {
    /// A reentrant mutex holding `T::default()`, whose class is the caller's location.
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized, R: RawMutex, G: GetThreadId> fmt::Debug for GenericReentrantMutex<R, G, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantMutex").field("map", self.lockdep_map()).finish_non_exhaustive()
    }
}
