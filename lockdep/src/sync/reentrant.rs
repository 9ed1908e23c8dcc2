//! [`ReentrantMutex`]: an instrumented mutex that its owner may lock again.

use std::fmt;
use std::panic::Location;

use lock_api::{GetThreadId, RawMutex};

use super::raw::{self, RawLockdep};
use super::site_map;
use crate::assert::AsLockdepMap;
use crate::class::LockClassKey;
use crate::map::LockdepMap;
use crate::{ENABLED, hooks};

/// A mutex the owning thread may lock again, giving shared access only, over
/// any `lock_api` raw mutex `R`; [`ReentrantMutex<T>`] is this type over
/// parking_lot's (a drop-in for `parking_lot::ReentrantMutex<T>`).
///
/// Only the outermost acquisition and the last release reach the validator:
/// re-locking by the owner cannot deadlock, so it is not a recursion. `G`
/// identifies threads (`lock_api::GetThreadId`).
///
/// **Class:** one per construction site and data type, as for [`Mutex`](super::GenericMutex).
///
/// ```
/// use lockdep::sync::ReentrantMutex;
/// let m = ReentrantMutex::new(5);
/// let a = m.lock();
/// let b = m.lock(); // the owner may lock again
/// assert_eq!(*a + *b, 10);
/// ```
#[repr(transparent)]
pub struct GenericReentrantMutex<R, G, T: ?Sized> {
    inner: lock_api::ReentrantMutex<RawLockdep<R>, G, T>,
}

/// The guard of a [`ReentrantMutex`] (`#[must_use]`, never `Send`).
pub type ReentrantMutexGuard<'a, T> =
    lock_api::ReentrantMutexGuard<'a, RawLockdep<super::DefaultRawMutex>, super::DefaultThreadId, T>;

/// An instrumented reentrant mutex over lockdep's own raw mutex
/// ([`DefaultRawMutex`](super::DefaultRawMutex)): see [`GenericReentrantMutex`].
pub type ReentrantMutex<T> = GenericReentrantMutex<super::DefaultRawMutex, super::DefaultThreadId, T>;

impl<T, R: RawMutex, G: GetThreadId> GenericReentrantMutex<R, G, T> {
    /// A new reentrant mutex whose class is this call site and `T`, named after its data type
    /// and the site (`ReentrantMutex<Account>@src/bank.rs:12`, see
    /// [`LockdepMap::with_site_typed`]).
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::from_map(value, site_map::<T>("ReentrantMutex", Location::caller()))
    }

    /// A new reentrant mutex named `name`, whose class is this call site and `T`.
    #[track_caller]
    pub fn named(value: T, name: &'static str) -> Self {
        Self::from_map(value, LockdepMap::with_site_named::<T>(name, Location::caller()))
    }

    /// A new reentrant mutex of the class `key` (usable in `static`s), named after
    /// its data type (`ReentrantMutex<Vec<u32>>`).
    pub const fn with_key(value: T, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("ReentrantMutex", key, None))
    }

    /// A new reentrant mutex known to the validator by `map`.
    pub const fn from_map(value: T, map: LockdepMap) -> Self {
        GenericReentrantMutex {
            inner: lock_api::ReentrantMutex::from_raw(RawLockdep::new(R::INIT, map), G::INIT, value),
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
        unsafe { self.inner.raw() }
    }

    /// Locks, blocking unless this thread already owns the mutex. The
    /// outermost acquisition is validated at the caller's location.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> lock_api::ReentrantMutexGuard<'_, RawLockdep<R>, G, T> {
        if ENABLED && !self.inner.is_owned_by_current_thread() {
            // `lock_api` acquires through the raw trait, which loses the
            // caller's location: announce the acquisition here, before
            // blocking, and tell the raw lock not to announce it again.
            self.raw_lock().announce_reentrant();
        }
        self.inner.lock()
    }

    /// Tries to lock without blocking; an outermost acquisition is recorded
    /// (as a trylock) only if it succeeded.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<lock_api::ReentrantMutexGuard<'_, RawLockdep<R>, G, T>> {
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

    /// Whether the mutex is held by any thread.
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether the current thread owns the mutex.
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.inner.is_owned_by_current_thread()
    }

    /// A mutable reference to the data; no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// The map the validator knows this mutex by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.raw_lock().map()
    }

    /// The underlying `lock_api` reentrant mutex.
    pub fn as_lock_api(&self) -> &lock_api::ReentrantMutex<RawLockdep<R>, G, T> {
        &self.inner
    }
}

impl<T: ?Sized, R: RawMutex, G: GetThreadId> AsLockdepMap for GenericReentrantMutex<R, G, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.lockdep_map()
    }
}

impl<T: ?Sized, R: RawMutex, G: GetThreadId> AsLockdepMap for lock_api::ReentrantMutexGuard<'_, RawLockdep<R>, G, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        // SAFETY: only the map is read; the lock is not touched.
        unsafe { lock_api::ReentrantMutexGuard::remutex(self).raw() }.map()
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
