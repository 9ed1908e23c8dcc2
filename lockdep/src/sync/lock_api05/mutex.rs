//! [`Mutex`] on `lock_api` 0.5.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use lock_api::RawMutex;
use lock_api05::GuardNoSend;

use super::super::raw::{RawLockdep, RawLockdep05};
use super::super::site_map;
use crate::assert::AsLockdepMap;
use crate::class::LockClassKey;
use crate::map::LockdepMap;

/// [`lockdep::sync::GenericMutex`](crate::sync::GenericMutex) with
/// `lock_api` 0.5's guards, over any `lock_api` 0.4 raw mutex `R`
/// ([`Compat`](super::Compat) adapts a 0.5 one, such as parking_lot 0.13's);
/// [`Mutex<T>`] is this type over lockdep's own raw mutex
/// ([`DefaultRawMutex`](super::DefaultRawMutex)).
///
/// Classes, names and annotations are `lockdep::sync`'s: `new` makes its
/// call site the class, [`with_key`](Self::with_key) takes one,
/// [`lock_nested`](Self::lock_nested) and
/// [`lock_nest_lock`](Self::lock_nest_lock) annotate. It dereferences to the
/// `lock_api` 0.5 mutex inside, whose other methods (`try_lock_for`,
/// `force_unlock(guard)`, `lock_arc`, …) validate too, at the caller's line.
///
/// ```
/// use lockdep::sync::lock_api05::{Mutex, lock_api};
/// let m = Mutex::new(1);
/// *m.lock() += 1;
/// let as_lock_api: &lock_api::Mutex<_, i32> = &m; // lock_api 0.5's
/// assert_eq!(*as_lock_api.lock(), 2);
/// ```
#[repr(transparent)]
pub struct GenericMutex<R, T: ?Sized> {
    inner: lock_api05::Mutex<RawLockdep05<R>, T>,
}

/// The guard of a [`Mutex`]: `lock_api` 0.5's over the instrumented raw lock
/// (`#[must_use]`, never `Send`).
pub type MutexGuard<'a, T> = lock_api05::MutexGuard<'a, RawLockdep05<super::DefaultRawMutex>, T>;

/// A [`MutexGuard`] mapped to a part of the data (`MutexGuard::map`).
pub type MappedMutexGuard<'a, T> = lock_api05::MappedMutexGuard<'a, RawLockdep05<super::DefaultRawMutex>, T>;

/// An instrumented mutex with `lock_api` 0.5's guards, over parking_lot
/// 0.13's raw mutex (lockdep's own without `parking_lot-0.13`): see
/// [`GenericMutex`].
pub type Mutex<T> = GenericMutex<super::DefaultRawMutex, T>;

impl<T, R: RawMutex> GenericMutex<R, T> {
    /// A new mutex whose class is this call site, named `Mutex<T>@file:line`.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::from_map(value, site_map::<T>("Mutex", Location::caller()))
    }

    /// A new mutex named `name` in reports, whose class is this call site.
    #[track_caller]
    pub fn named(value: T, name: &'static str) -> Self {
        Self::from_map(value, LockdepMap::with_site(name, Location::caller()))
    }

    /// A new mutex of the class `key` (usable in `static`s), named after
    /// its data type.
    pub const fn with_key(value: T, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("Mutex", key, None))
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
        GenericMutex { inner: lock_api05::Mutex::from_raw(RawLockdep05::new(raw), value) }
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized, R: RawMutex> GenericMutex<R, T> {
    #[inline]
    fn raw_lock(&self) -> &RawLockdep<R> {
        // SAFETY: only used to acquire, after which a guard is made.
        unsafe { self.inner.raw() }.as_lock_api04()
    }

    /// Locks, blocking until the lock is available; validated before
    /// blocking, at the caller's line.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> lock_api05::MutexGuard<'_, RawLockdep05<R>, T> {
        self.lock_nested(0)
    }

    /// Locks as `subclass` of the class (kernel `mutex_lock_nested`).
    #[inline]
    #[track_caller]
    pub fn lock_nested(&self, subclass: u32) -> lock_api05::MutexGuard<'_, RawLockdep05<R>, T> {
        self.raw_lock().lock_with(subclass, None);
        // SAFETY: the lock was just acquired by this thread; its guard state is empty.
        unsafe { self.inner.make_guard_unchecked(GuardNoSend::new()) }
    }

    /// Locks under the nest lock `nest`, which must be held (kernel
    /// `mutex_lock_nest_lock`).
    #[inline]
    #[track_caller]
    pub fn lock_nest_lock<N: AsLockdepMap + ?Sized>(&self, nest: &N) -> lock_api05::MutexGuard<'_, RawLockdep05<R>, T> {
        self.raw_lock().lock_with(0, Some(nest.as_lockdep_map()));
        // SAFETY: the lock was just acquired by this thread; its guard state is empty.
        unsafe { self.inner.make_guard_unchecked(GuardNoSend::new()) }
    }

    /// Tries to lock without blocking; recorded (as a trylock) only if it
    /// succeeded, never reported itself.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<lock_api05::MutexGuard<'_, RawLockdep05<R>, T>> {
        if self.raw_lock().try_lock_with(0, None) {
            // SAFETY: the lock was just acquired by this thread; its guard state is empty.
            Some(unsafe { self.inner.make_guard_unchecked(GuardNoSend::new()) })
        } else {
            None
        }
    }

    /// The map the validator knows this mutex by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.raw_lock().map()
    }

    /// The `lock_api` 0.5 mutex inside (also reached through `Deref`).
    pub fn as_lock_api(&self) -> &lock_api05::Mutex<RawLockdep05<R>, T> {
        &self.inner
    }
}

impl<T: ?Sized, R> Deref for GenericMutex<R, T> {
    type Target = lock_api05::Mutex<RawLockdep05<R>, T>;

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<T: ?Sized, R> DerefMut for GenericMutex<R, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl<T: ?Sized, R: RawMutex> AsLockdepMap for GenericMutex<R, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.lockdep_map()
    }
}

impl<T: ?Sized, R: RawMutex> AsLockdepMap for lock_api05::MutexGuard<'_, RawLockdep05<R>, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        // SAFETY: only the map is read; the lock is not touched.
        unsafe { lock_api05::MutexGuard::mutex(self).raw() }.map()
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
        // Peeks without telling the validator, like `lockdep::sync::Mutex`.
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
