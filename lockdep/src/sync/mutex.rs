//! [`Mutex`]: an instrumented mutual-exclusion lock (parking_lot's by default).

use std::fmt;
use std::panic::Location;

use lock_api::{RawMutex, RawMutexTimed};

use super::raw::RawLockdep;
use super::site_map;
use crate::assert::AsLockdepMap;
use crate::class::LockClassKey;
use crate::map::LockdepMap;

/// A mutual-exclusion lock whose acquisitions the validator checks, over
/// any `lock_api` raw mutex `R`.
///
/// [`Mutex<T>`] is this type over lockdep's own one-byte raw mutex
/// ([`DefaultRawMutex`](super::DefaultRawMutex)) — a drop-in for
/// `parking_lot::Mutex<T>` — and [`StdMutex<T>`](super::StdMutex) over a
/// std-only one; `GenericMutex<MyRaw, T>` instruments any other raw mutex.
/// Acquisitions are reported at *your* call site:
/// [`lock`](GenericMutex::lock), [`try_lock`](GenericMutex::try_lock) and the
/// other acquire methods are `#[track_caller]`.
///
/// **Class:** [`new`](GenericMutex::new) gives every mutex of one data type
/// created at the same source location (`file:line:column`) one lock class —
/// the kernel's "one static key per `mutex_init()` call site", with the type
/// added so that a generic helper (`fn new_lock<T>(t: T) -> Mutex<T>`) that
/// makes every lock of a crate still makes one class per type. Two mutexes
/// from one constructor call (say, the `Mutex::new` inside `Account::new`)
/// are the *same* class: taking one while holding the other is reported as
/// recursive locking unless the inner one is annotated with
/// [`lock_nested`](GenericMutex::lock_nested) (or its construction site is
/// listed in [`Config::nested_sites`](crate::Config::nested_sites)).
/// Use [`with_key`](GenericMutex::with_key) or
/// [`new_mutex!`](crate::new_mutex) to choose classes explicitly.
///
/// ```
/// use lockdep::sync::Mutex;
/// let m = Mutex::new(1);
/// *m.lock() += 1;
/// assert_eq!(*m.lock(), 2);
/// ```
#[repr(transparent)]
pub struct GenericMutex<R, T: ?Sized> {
    inner: lock_api::Mutex<RawLockdep<R>, T>,
}

/// The guard of a [`Mutex`]: `lock_api`'s guard over the instrumented raw
/// lock. `#[must_use]`, never `Send`; dropping it releases the lock (release
/// hook first). `MutexGuard::unlocked` (and `unlocked_fair`) re-acquire the
/// lock with the subclass and nest lock the guard was taken with, like a
/// [`Condvar`](super::Condvar) wait.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawLockdep<super::DefaultRawMutex>, T>;

/// A [`MutexGuard`] mapped to a part of the data (`MutexGuard::map`).
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawLockdep<super::DefaultRawMutex>, T>;

/// An instrumented mutex over lockdep's own raw mutex,
/// [`park::RawMutex`](super::park::RawMutex) (see
/// [`DefaultRawMutex`](super::DefaultRawMutex) for why not parking_lot's):
/// see [`GenericMutex`].
pub type Mutex<T> = GenericMutex<super::DefaultRawMutex, T>;

impl<T, R: RawMutex> GenericMutex<R, T> {
    /// A new mutex whose class is this call site and `T` (see the type docs).
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::from_map(value, site_map::<T>("Mutex", Location::caller()))
    }

    /// A new mutex named `name` in reports, whose class is this call site and `T`.
    #[track_caller]
    pub fn named(value: T, name: &'static str) -> Self {
        Self::from_map(value, LockdepMap::with_site_named::<T>(name, Location::caller()))
    }

    /// A new mutex of the class `key` (usable in `static`s), named after
    /// its data type (`Mutex<Vec<u32>>`).
    ///
    /// ```
    /// use lockdep::LockClassKey;
    /// use lockdep::sync::Mutex;
    /// static REGISTRY_KEY: LockClassKey = LockClassKey::new();
    /// static REGISTRY: Mutex<Vec<u32>> = Mutex::with_key(Vec::new(), &REGISTRY_KEY);
    /// REGISTRY.lock().push(1);
    /// ```
    pub const fn with_key(value: T, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("Mutex", key, None))
    }

    /// A new mutex of the class `key` made by [`new_mutex!`](crate::new_mutex) at
    /// `site`, named `Mutex<T>@file:line` (the macro's expansion; not for
    /// direct use).
    #[doc(hidden)]
    pub const fn with_key_at(value: T, key: &'static LockClassKey, site: &'static Location<'static>) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("Mutex", key, Some(site)))
    }

    /// A new mutex named `name`, of the class `key` (usable in `static`s).
    pub const fn named_with_key(value: T, name: &'static str, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::new(name, key))
    }

    /// A new mutex known to the validator by `map`.
    pub const fn from_map(value: T, map: LockdepMap) -> Self {
        Self::from_raw(RawLockdep::new(R::INIT, map), value)
    }

    /// A new mutex over an existing instrumented raw lock.
    pub const fn from_raw(raw: RawLockdep<R>, value: T) -> Self {
        GenericMutex { inner: lock_api::Mutex::from_raw(raw, value) }
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized, R: RawMutex> GenericMutex<R, T> {
    #[inline]
    fn raw_lock(&self) -> &RawLockdep<R> {
        // SAFETY: only used to acquire, after which a guard is made; the raw
        // lock is never unlocked behind a guard's back here.
        unsafe { self.inner.raw() }
    }

    /// Locks, blocking until the lock is available (kernel `mutex_lock`).
    /// The validator checks the acquisition before blocking.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> lock_api::MutexGuard<'_, RawLockdep<R>, T> {
        self.lock_nested(0)
    }

    /// Locks as `subclass` of the class (kernel `mutex_lock_nested`): for
    /// taking two locks of one class in a fixed nesting order, e.g. a parent
    /// then a child ([`SINGLE_DEPTH_NESTING`](super::SINGLE_DEPTH_NESTING)).
    #[inline]
    #[track_caller]
    pub fn lock_nested(&self, subclass: u32) -> lock_api::MutexGuard<'_, RawLockdep<R>, T> {
        self.raw_lock().lock_with(subclass, None);
        // SAFETY: the lock was just acquired by this thread.
        unsafe { self.inner.make_guard_unchecked() }
    }

    /// Locks under the nest lock `nest`, which must be held (kernel
    /// `mutex_lock_nest_lock`): any number of locks of this class may then be
    /// held together, in any order, because `nest` serialises them.
    #[inline]
    #[track_caller]
    pub fn lock_nest_lock<N: AsLockdepMap + ?Sized>(&self, nest: &N) -> lock_api::MutexGuard<'_, RawLockdep<R>, T> {
        self.raw_lock().lock_with(0, Some(nest.as_lockdep_map()));
        // SAFETY: the lock was just acquired by this thread.
        unsafe { self.inner.make_guard_unchecked() }
    }

    /// Tries to lock without blocking (kernel `mutex_trylock`). A trylock
    /// cannot deadlock, so it is recorded only when it succeeds and is never
    /// reported itself.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<lock_api::MutexGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_with(0, None) {
            // SAFETY: the lock was just acquired by this thread.
            Some(unsafe { self.inner.make_guard_unchecked() })
        } else {
            None
        }
    }

    /// Whether the lock is held (by any thread).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// A mutable reference to the data; no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// A raw pointer to the data.
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }

    /// The map the validator knows this mutex by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.raw_lock().map()
    }

    /// The underlying `lock_api` mutex. Locking it directly still validates,
    /// but reports the acquisition at a location inside `lockdep`.
    pub fn as_lock_api(&self) -> &lock_api::Mutex<RawLockdep<R>, T> {
        &self.inner
    }

    /// Unlocks the mutex (release hook included) without a guard, e.g. after
    /// a guard was `mem::forget`-ed.
    ///
    /// # Safety
    ///
    /// The current thread must hold the lock, and no guard for it may be used
    /// afterwards.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock() }
    }

    /// The instrumented raw lock.
    ///
    /// # Safety
    ///
    /// The raw lock must not be unlocked while a guard exists (as for
    /// `lock_api::Mutex::raw`).
    pub unsafe fn raw(&self) -> &RawLockdep<R> {
        self.raw_lock()
    }
}

impl<T: ?Sized, R: RawMutexTimed> GenericMutex<R, T> {
    /// Locks, giving up after `timeout`. Validated like [`lock`](GenericMutex::lock)
    /// (it may wait), released in the validator again on timeout.
    #[inline]
    #[track_caller]
    pub fn try_lock_for(&self, timeout: R::Duration) -> Option<lock_api::MutexGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_for_with(0, timeout) {
            // SAFETY: the lock was just acquired by this thread.
            Some(unsafe { self.inner.make_guard_unchecked() })
        } else {
            None
        }
    }

    /// Locks, giving up at `deadline`; see [`try_lock_for`](GenericMutex::try_lock_for).
    #[inline]
    #[track_caller]
    pub fn try_lock_until(&self, deadline: R::Instant) -> Option<lock_api::MutexGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_until_with(0, deadline) {
            // SAFETY: the lock was just acquired by this thread.
            Some(unsafe { self.inner.make_guard_unchecked() })
        } else {
            None
        }
    }
}

impl<T: ?Sized, R: RawMutex> AsLockdepMap for GenericMutex<R, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.lockdep_map()
    }
}

impl<T: ?Sized, R: RawMutex> AsLockdepMap for lock_api::MutexGuard<'_, RawLockdep<R>, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        // SAFETY: only the map is read; the lock is not touched.
        unsafe { lock_api::MutexGuard::mutex(self).raw() }.map()
    }
}

impl<T: Default, R: RawMutex> Default for GenericMutex<R, T> {
    /// A mutex holding `T::default()`, whose class is the caller's location.
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T, R: RawMutex> From<T> for GenericMutex<R, T> {
    /// A mutex whose class is the caller's location.
    #[track_caller]
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug, R: RawMutex> fmt::Debug for GenericMutex<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Peeks without telling the validator, like `lock_api`'s Debug.
        let mut d = f.debug_struct("Mutex");
        d.field("map", self.lockdep_map());
        if self.raw_lock().inner().try_lock() {
            // SAFETY: just locked by this thread, unlocked right after reading.
            d.field("data", &unsafe { &*self.inner.data_ptr() });
            // SAFETY: locked above by this thread.
            unsafe { self.raw_lock().inner().unlock() };
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish()
    }
}
