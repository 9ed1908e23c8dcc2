//! [`RwLock`]: an instrumented reader-writer lock (parking_lot's by default).

use std::fmt;
use std::panic::Location;

use lock_api::{RawRwLock, RawRwLockRecursive, RawRwLockUpgrade};

use super::raw::RawLockdep;
use super::site_map;
use crate::assert::AsLockdepMap;
use crate::class::LockClassKey;
use crate::map::LockdepMap;

/// A reader-writer lock whose acquisitions the validator checks, over any
/// `lock_api` raw rwlock `R`; [`RwLock<T>`] is this type over parking_lot's
/// (a drop-in for `parking_lot::RwLock<T>`). The read modes follow the lock's
/// semantics:
///
/// | method | validated as | because |
/// |---|---|---|
/// | [`read`](GenericRwLock::read) | [`Read::Shared`](crate::Read::Shared) (rwsem `down_read`) | parking_lot readers queue behind a *waiting* writer, so a second `read()` in the same thread can deadlock |
/// | [`read_recursive`](GenericRwLock::read_recursive) | [`Read::SharedRecursive`](crate::Read::SharedRecursive) (rwlock `read_lock`) | only a writer *holder* blocks it |
/// | [`upgradable_read`](GenericRwLock::upgradable_read) | [`Read::Exclusive`](crate::Read::Exclusive) | it excludes writers and other upgradable readers |
/// | [`write`](GenericRwLock::write) | [`Read::Exclusive`](crate::Read::Exclusive) | |
///
/// Downgrades (`RwLockWriteGuard::downgrade`,
/// `RwLockUpgradableReadGuard::downgrade`) turn the held entry into a
/// `Shared` one (kernel `downgrade_write`).
///
/// **Class:** one per construction site and data type, as for [`Mutex`](super::GenericMutex).
///
/// ```
/// use lockdep::sync::{RwLock, RwLockWriteGuard};
/// let cache = RwLock::new(vec![1, 2]);
/// assert_eq!(cache.read().len(), 2);
/// let mut w = cache.write();
/// w.push(3);
/// let r = RwLockWriteGuard::downgrade(w);
/// assert_eq!(r.len(), 3);
/// ```
#[repr(transparent)]
pub struct GenericRwLock<R, T: ?Sized> {
    inner: lock_api::RwLock<RawLockdep<R>, T>,
}

/// Read guard of an [`RwLock`] (`#[must_use]`, never `Send`).
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawLockdep<super::DefaultRawRwLock>, T>;
/// Write guard of an [`RwLock`] (`#[must_use]`, never `Send`).
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawLockdep<super::DefaultRawRwLock>, T>;
/// Upgradable read guard of an [`RwLock`] (`#[must_use]`, never `Send`).
pub type RwLockUpgradableReadGuard<'a, T> =
    lock_api::RwLockUpgradableReadGuard<'a, RawLockdep<super::DefaultRawRwLock>, T>;
/// A mapped read guard.
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawLockdep<super::DefaultRawRwLock>, T>;
/// An instrumented rwlock over parking_lot's raw rwlock (lockdep's own
/// [`park::RawRwLock`](super::park::RawRwLock) without the `parking_lot`
/// feature): see [`GenericRwLock`].
pub type RwLock<T> = GenericRwLock<super::DefaultRawRwLock, T>;
/// A mapped write guard.
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawLockdep<super::DefaultRawRwLock>, T>;

impl<T, R: RawRwLock> GenericRwLock<R, T> {
    /// A new rwlock whose class is this call site and `T`, named after its data type
    /// and the site (`RwLock<Account>@src/bank.rs:12`, see
    /// [`LockdepMap::with_site_typed`]).
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::from_map(value, site_map::<T>("RwLock", Location::caller()))
    }

    /// A new rwlock named `name` in reports, whose class is this call site and `T`.
    #[track_caller]
    pub fn named(value: T, name: &'static str) -> Self {
        Self::from_map(value, LockdepMap::with_site_named::<T>(name, Location::caller()))
    }

    /// A new rwlock of the class `key` (usable in `static`s), named after
    /// its data type (`RwLock<Vec<u32>>`).
    pub const fn with_key(value: T, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("RwLock", key, None))
    }

    /// A new rwlock of the class `key` made by [`new_rwlock!`](crate::new_rwlock) at
    /// `site`, named `RwLock<T>@file:line` (the macro's expansion; not for
    /// direct use).
    #[doc(hidden)]
    pub const fn with_key_at(value: T, key: &'static LockClassKey, site: &'static Location<'static>) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("RwLock", key, Some(site)))
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
        GenericRwLock { inner: lock_api::RwLock::from_raw(raw, value) }
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
        unsafe { self.inner.raw() }
    }

    /// Locks for read, as a [`Shared`](crate::Read::Shared) reader (kernel
    /// `down_read`): taking it again while this thread holds it is reported,
    /// because a writer queued in between would deadlock both.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> lock_api::RwLockReadGuard<'_, RawLockdep<R>, T> {
        self.read_nested(0)
    }

    /// Locks for read as `subclass` (kernel `down_read_nested`).
    #[inline]
    #[track_caller]
    pub fn read_nested(&self, subclass: u32) -> lock_api::RwLockReadGuard<'_, RawLockdep<R>, T> {
        self.raw_lock().lock_shared_with(subclass, None);
        // SAFETY: a shared lock was just acquired by this thread.
        unsafe { self.inner.make_read_guard_unchecked() }
    }

    /// Tries to lock for read; recorded only on success, never reported.
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> Option<lock_api::RwLockReadGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_shared_with(0) {
            // SAFETY: a shared lock was just acquired by this thread.
            Some(unsafe { self.inner.make_read_guard_unchecked() })
        } else {
            None
        }
    }

    /// Locks for write (kernel `down_write`).
    #[inline]
    #[track_caller]
    pub fn write(&self) -> lock_api::RwLockWriteGuard<'_, RawLockdep<R>, T> {
        self.write_nested(0)
    }

    /// Locks for write as `subclass` (kernel `down_write_nested`).
    #[inline]
    #[track_caller]
    pub fn write_nested(&self, subclass: u32) -> lock_api::RwLockWriteGuard<'_, RawLockdep<R>, T> {
        self.raw_lock().lock_exclusive_with(subclass, None);
        // SAFETY: the exclusive lock was just acquired by this thread.
        unsafe { self.inner.make_write_guard_unchecked() }
    }

    /// Locks for write under the held nest lock `nest` (kernel
    /// `down_write_nest_lock`).
    #[inline]
    #[track_caller]
    pub fn write_nest_lock<N: AsLockdepMap + ?Sized>(
        &self,
        nest: &N,
    ) -> lock_api::RwLockWriteGuard<'_, RawLockdep<R>, T> {
        self.raw_lock().lock_exclusive_with(0, Some(nest.as_lockdep_map()));
        // SAFETY: the exclusive lock was just acquired by this thread.
        unsafe { self.inner.make_write_guard_unchecked() }
    }

    /// Tries to lock for write; recorded only on success, never reported.
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> Option<lock_api::RwLockWriteGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_exclusive_with(0) {
            // SAFETY: the exclusive lock was just acquired by this thread.
            Some(unsafe { self.inner.make_write_guard_unchecked() })
        } else {
            None
        }
    }

    /// Whether the lock is held (by any thread, in any mode).
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether the lock is held for write (by any thread).
    pub fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }

    /// A mutable reference to the data; no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// A raw pointer to the data.
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }

    /// The map the validator knows this lock by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.raw_lock().map()
    }

    /// The underlying `lock_api` rwlock. Locking it directly still validates,
    /// but reports the acquisition at a location inside `lockdep`.
    pub fn as_lock_api(&self) -> &lock_api::RwLock<RawLockdep<R>, T> {
        &self.inner
    }

    /// Unlocks a read lock without a guard (release hook included).
    ///
    /// # Safety
    ///
    /// The current thread must hold a read lock whose guard was forgotten.
    pub unsafe fn force_unlock_read(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock_read() }
    }

    /// Unlocks a write lock without a guard (release hook included).
    ///
    /// # Safety
    ///
    /// The current thread must hold the write lock whose guard was forgotten.
    pub unsafe fn force_unlock_write(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock_write() }
    }

    /// The instrumented raw lock.
    ///
    /// # Safety
    ///
    /// The raw lock must not be unlocked while a guard exists.
    pub unsafe fn raw(&self) -> &RawLockdep<R> {
        self.raw_lock()
    }
}

impl<T: ?Sized, R: RawRwLockRecursive> GenericRwLock<R, T> {
    /// Locks for read as a [`SharedRecursive`](crate::Read::SharedRecursive)
    /// reader (kernel `read_lock`): it does not queue behind waiting writers,
    /// so taking it again while holding it for read is fine.
    #[inline]
    #[track_caller]
    pub fn read_recursive(&self) -> lock_api::RwLockReadGuard<'_, RawLockdep<R>, T> {
        self.raw_lock().lock_shared_recursive_with(0);
        // SAFETY: a shared lock was just acquired by this thread.
        unsafe { self.inner.make_read_guard_unchecked() }
    }

    /// Tries to lock as a recursive reader; recorded only on success.
    #[inline]
    #[track_caller]
    pub fn try_read_recursive(&self) -> Option<lock_api::RwLockReadGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_shared_recursive_with(0) {
            // SAFETY: a shared lock was just acquired by this thread.
            Some(unsafe { self.inner.make_read_guard_unchecked() })
        } else {
            None
        }
    }
}

impl<T: ?Sized, R: RawRwLockUpgrade> GenericRwLock<R, T> {
    /// Locks for an upgradable read, validated as exclusive (see the type docs).
    #[inline]
    #[track_caller]
    pub fn upgradable_read(&self) -> lock_api::RwLockUpgradableReadGuard<'_, RawLockdep<R>, T> {
        self.raw_lock().lock_upgradable_with(0);
        // SAFETY: an upgradable lock was just acquired by this thread.
        unsafe { self.inner.make_upgradable_guard_unchecked() }
    }

    /// Tries to lock for an upgradable read; recorded only on success.
    #[inline]
    #[track_caller]
    pub fn try_upgradable_read(&self) -> Option<lock_api::RwLockUpgradableReadGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_upgradable_with(0) {
            // SAFETY: an upgradable lock was just acquired by this thread.
            Some(unsafe { self.inner.make_upgradable_guard_unchecked() })
        } else {
            None
        }
    }
}

impl<T: ?Sized, R: RawRwLock> AsLockdepMap for GenericRwLock<R, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.lockdep_map()
    }
}

impl<T: ?Sized, R: RawRwLock> AsLockdepMap for lock_api::RwLockReadGuard<'_, RawLockdep<R>, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        // SAFETY: only the map is read; the lock is not touched.
        unsafe { lock_api::RwLockReadGuard::rwlock(self).raw() }.map()
    }
}

impl<T: ?Sized, R: RawRwLock> AsLockdepMap for lock_api::RwLockWriteGuard<'_, RawLockdep<R>, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        // SAFETY: only the map is read; the lock is not touched.
        unsafe { lock_api::RwLockWriteGuard::rwlock(self).raw() }.map()
    }
}

impl<T: ?Sized, R: RawRwLockUpgrade> AsLockdepMap for lock_api::RwLockUpgradableReadGuard<'_, RawLockdep<R>, T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        // SAFETY: only the map is read; the lock is not touched.
        unsafe { lock_api::RwLockUpgradableReadGuard::rwlock(self).raw() }.map()
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
        // Peeks without telling the validator, like `lock_api`'s Debug.
        let mut d = f.debug_struct("RwLock");
        d.field("map", self.lockdep_map());
        if self.raw_lock().inner().try_lock_shared() {
            // SAFETY: a shared lock was just taken by this thread; released right after reading.
            d.field("data", &unsafe { &*self.inner.data_ptr() });
            // SAFETY: locked shared above by this thread.
            unsafe { self.raw_lock().inner().unlock_shared() };
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish()
    }
}
