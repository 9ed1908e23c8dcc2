//! [`RwLock`] on `lock_api` 0.5.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use lock_api::{RawRwLock, RawRwLockRecursive, RawRwLockUpgrade};
use lock_api05::GuardNoSend;

use super::super::raw::{RawLockdep, RawLockdep05};
use super::super::site_map;
use crate::assert::AsLockdepMap;
use crate::class::LockClassKey;
use crate::map::LockdepMap;

/// [`lockdep::sync::GenericRwLock`](crate::sync::GenericRwLock) with
/// `lock_api` 0.5's guards, over any `lock_api` 0.4 raw rwlock `R`;
/// [`RwLock<T>`] is this type over parking_lot 0.13's (`parking_lot-0.13`)
/// or lockdep's own raw rwlock.
///
/// The read modes are `lockdep::sync`'s: [`read`](Self::read) is a
/// [`Shared`](crate::Read::Shared) reader (it queues behind a waiting
/// writer), [`read_recursive`](Self::read_recursive) a
/// [`SharedRecursive`](crate::Read::SharedRecursive) one (over raw rwlocks
/// that have recursive reads: lockdep's own, not parking_lot 0.13's, see the
/// [module](super)), [`upgradable_read`](Self::upgradable_read) and
/// [`write`](Self::write) exclusive. It dereferences to the `lock_api` 0.5
/// rwlock inside for the rest (timed locks, `force_unlock_*`, `*_arc`).
///
/// ```
/// use lockdep::sync::lock_api05::{RwLock, RwLockWriteGuard};
/// let cache = RwLock::new(vec![1, 2]);
/// assert_eq!(cache.read().len(), 2);
/// let mut w = cache.write();
/// w.push(3);
/// let r = RwLockWriteGuard::downgrade(w);
/// assert_eq!(r.len(), 3);
/// ```
#[repr(transparent)]
pub struct GenericRwLock<R, T: ?Sized> {
    inner: lock_api05::RwLock<RawLockdep05<R>, T>,
}

/// Read guard of an [`RwLock`] (`lock_api` 0.5's; `#[must_use]`, never `Send`).
pub type RwLockReadGuard<'a, T> = lock_api05::RwLockReadGuard<'a, RawLockdep05<super::DefaultRawRwLock>, T>;
/// Write guard of an [`RwLock`] (`lock_api` 0.5's; `#[must_use]`, never `Send`).
pub type RwLockWriteGuard<'a, T> = lock_api05::RwLockWriteGuard<'a, RawLockdep05<super::DefaultRawRwLock>, T>;
/// Upgradable read guard of an [`RwLock`] (`lock_api` 0.5's; `#[must_use]`, never `Send`).
pub type RwLockUpgradableReadGuard<'a, T> =
    lock_api05::RwLockUpgradableReadGuard<'a, RawLockdep05<super::DefaultRawRwLock>, T>;
/// A mapped read guard.
pub type MappedRwLockReadGuard<'a, T> = lock_api05::MappedRwLockReadGuard<'a, RawLockdep05<super::DefaultRawRwLock>, T>;
/// A mapped write guard.
pub type MappedRwLockWriteGuard<'a, T> =
    lock_api05::MappedRwLockWriteGuard<'a, RawLockdep05<super::DefaultRawRwLock>, T>;
/// An instrumented rwlock with `lock_api` 0.5's guards, over parking_lot
/// 0.13's raw rwlock (lockdep's own without `parking_lot-0.13`): see
/// [`GenericRwLock`].
pub type RwLock<T> = GenericRwLock<super::DefaultRawRwLock, T>;

impl<T, R: RawRwLock> GenericRwLock<R, T> {
    /// A new rwlock whose class is this call site, named `RwLock<T>@file:line`.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::from_map(value, site_map::<T>("RwLock", Location::caller()))
    }

    /// A new rwlock named `name` in reports, whose class is this call site.
    #[track_caller]
    pub fn named(value: T, name: &'static str) -> Self {
        Self::from_map(value, LockdepMap::with_site(name, Location::caller()))
    }

    /// A new rwlock of the class `key` (usable in `static`s), named after
    /// its data type.
    pub const fn with_key(value: T, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("RwLock", key, None))
    }

    /// A new rwlock named `name`, of the class `key` (usable in `static`s).
    pub const fn named_with_key(value: T, name: &'static str, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::new(name, key))
    }

    /// A new rwlock known to the validator by `map`.
    pub const fn from_map(value: T, map: LockdepMap) -> Self {
        Self::from_raw(RawLockdep::new(R::INIT, map), value)
    }

    /// A new rwlock over an existing instrumented raw lock.
    pub const fn from_raw(raw: RawLockdep<R>, value: T) -> Self {
        GenericRwLock { inner: lock_api05::RwLock::from_raw(RawLockdep05::new(raw), value) }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized, R: RawRwLock> GenericRwLock<R, T> {
    #[inline]
    fn raw_lock(&self) -> &RawLockdep<R> {
        // SAFETY: only used to acquire, after which a guard is made.
        unsafe { self.inner.raw() }.as_lock_api04()
    }

    /// Locks for read, as a [`Shared`](crate::Read::Shared) reader (kernel `down_read`).
    #[inline]
    #[track_caller]
    pub fn read(&self) -> lock_api05::RwLockReadGuard<'_, RawLockdep05<R>, T> {
        self.read_nested(0)
    }

    /// Locks for read as `subclass` (kernel `down_read_nested`).
    #[inline]
    #[track_caller]
    pub fn read_nested(&self, subclass: u32) -> lock_api05::RwLockReadGuard<'_, RawLockdep05<R>, T> {
        self.raw_lock().lock_shared_with(subclass, None);
        // SAFETY: a shared lock was just acquired by this thread; its guard state is empty.
        unsafe { self.inner.make_read_guard_unchecked(GuardNoSend::new()) }
    }

    /// Tries to lock for read; recorded only on success, never reported.
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> Option<lock_api05::RwLockReadGuard<'_, RawLockdep05<R>, T>> {
        if self.raw_lock().try_lock_shared_with(0) {
            // SAFETY: a shared lock was just acquired by this thread; its guard state is empty.
            Some(unsafe { self.inner.make_read_guard_unchecked(GuardNoSend::new()) })
        } else {
            None
        }
    }

    /// Locks for write (kernel `down_write`).
    #[inline]
    #[track_caller]
    pub fn write(&self) -> lock_api05::RwLockWriteGuard<'_, RawLockdep05<R>, T> {
        self.write_nested(0)
    }

    /// Locks for write as `subclass` (kernel `down_write_nested`).
    #[inline]
    #[track_caller]
    pub fn write_nested(&self, subclass: u32) -> lock_api05::RwLockWriteGuard<'_, RawLockdep05<R>, T> {
        self.raw_lock().lock_exclusive_with(subclass, None);
        // SAFETY: the exclusive lock was just acquired by this thread; its guard state is empty.
        unsafe { self.inner.make_write_guard_unchecked(GuardNoSend::new()) }
    }

    /// Locks for write under the nest lock `nest`, which must be held.
    #[inline]
    #[track_caller]
    pub fn write_nest_lock<N: AsLockdepMap + ?Sized>(
        &self,
        nest: &N,
    ) -> lock_api05::RwLockWriteGuard<'_, RawLockdep05<R>, T> {
        self.raw_lock().lock_exclusive_with(0, Some(nest.as_lockdep_map()));
        // SAFETY: the exclusive lock was just acquired by this thread; its guard state is empty.
        unsafe { self.inner.make_write_guard_unchecked(GuardNoSend::new()) }
    }

    /// Tries to lock for write; recorded only on success, never reported.
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> Option<lock_api05::RwLockWriteGuard<'_, RawLockdep05<R>, T>> {
        if self.raw_lock().try_lock_exclusive_with(0) {
            // SAFETY: the exclusive lock was just acquired by this thread; its guard state is empty.
            Some(unsafe { self.inner.make_write_guard_unchecked(GuardNoSend::new()) })
        } else {
            None
        }
    }

    /// The map the validator knows this rwlock by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.raw_lock().map()
    }

    /// The `lock_api` 0.5 rwlock inside (also reached through `Deref`).
    pub fn as_lock_api(&self) -> &lock_api05::RwLock<RawLockdep05<R>, T> {
        &self.inner
    }
}

impl<T: ?Sized, R: RawRwLockRecursive> GenericRwLock<R, T> {
    /// Locks for read as a [`SharedRecursive`](crate::Read::SharedRecursive)
    /// reader (kernel `read_lock`): only a writer holding the lock blocks it.
    #[inline]
    #[track_caller]
    pub fn read_recursive(&self) -> lock_api05::RwLockReadGuard<'_, RawLockdep05<R>, T> {
        self.raw_lock().lock_shared_recursive_with(0);
        // SAFETY: a shared lock was just acquired by this thread; its guard state is empty.
        unsafe { self.inner.make_read_guard_unchecked(GuardNoSend::new()) }
    }

    /// Tries to lock as a recursive reader; recorded only on success.
    #[inline]
    #[track_caller]
    pub fn try_read_recursive(&self) -> Option<lock_api05::RwLockReadGuard<'_, RawLockdep05<R>, T>> {
        if self.raw_lock().try_lock_shared_recursive_with(0) {
            // SAFETY: a shared lock was just acquired by this thread; its guard state is empty.
            Some(unsafe { self.inner.make_read_guard_unchecked(GuardNoSend::new()) })
        } else {
            None
        }
    }
}

impl<T: ?Sized, R: RawRwLockUpgrade> GenericRwLock<R, T> {
    /// Locks for an upgradable read, validated as exclusive.
    #[inline]
    #[track_caller]
    pub fn upgradable_read(&self) -> lock_api05::RwLockUpgradableReadGuard<'_, RawLockdep05<R>, T> {
        self.raw_lock().lock_upgradable_with(0);
        // SAFETY: an upgradable lock was just acquired by this thread; its guard state is empty.
        unsafe { self.inner.make_upgradable_guard_unchecked(GuardNoSend::new()) }
    }

    /// Tries to lock for an upgradable read; recorded only on success.
    #[inline]
    #[track_caller]
    pub fn try_upgradable_read(&self) -> Option<lock_api05::RwLockUpgradableReadGuard<'_, RawLockdep05<R>, T>> {
        if self.raw_lock().try_lock_upgradable_with(0) {
            // SAFETY: an upgradable lock was just acquired by this thread; its guard state is empty.
            Some(unsafe { self.inner.make_upgradable_guard_unchecked(GuardNoSend::new()) })
        } else {
            None
        }
    }
}

impl<T: ?Sized, R> Deref for GenericRwLock<R, T> {
    type Target = lock_api05::RwLock<RawLockdep05<R>, T>;

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<T: ?Sized, R> DerefMut for GenericRwLock<R, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl<T: ?Sized, R: RawRwLock> AsLockdepMap for GenericRwLock<R, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.lockdep_map()
    }
}

impl<T: ?Sized, R: RawRwLock> AsLockdepMap for lock_api05::RwLockReadGuard<'_, RawLockdep05<R>, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        // SAFETY: only the map is read; the lock is not touched.
        unsafe { lock_api05::RwLockReadGuard::rwlock(self).raw() }.map()
    }
}

impl<T: ?Sized, R: RawRwLock> AsLockdepMap for lock_api05::RwLockWriteGuard<'_, RawLockdep05<R>, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        // SAFETY: only the map is read; the lock is not touched.
        unsafe { lock_api05::RwLockWriteGuard::rwlock(self).raw() }.map()
    }
}

impl<T: Default, R: RawRwLock> Default for GenericRwLock<R, T> {
    /// An rwlock holding `T::default()`, whose class is the caller's location.
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T, R: RawRwLock> From<T> for GenericRwLock<R, T> {
    /// An rwlock whose class is the caller's location.
    #[track_caller]
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug, R: RawRwLock> fmt::Debug for GenericRwLock<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Peeks without telling the validator, like `lockdep::sync::RwLock`.
        let mut d = f.debug_struct("RwLock");
        d.field("map", self.lockdep_map());
        if self.raw_lock().inner().try_lock_shared() {
            // SAFETY: just read-locked by this thread, unlocked right after reading.
            d.field("data", &unsafe { &*self.inner.data_ptr() });
            // SAFETY: read-locked above by this thread.
            unsafe { self.raw_lock().inner().unlock_shared() };
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish()
    }
}
