//! [`RwLock`]: a reader-writer lock whose acquisitions lockdep checks.

use core::fmt;

use lock_api::{RawRwLock as _, RawRwLockFair};
use lockdep::sync::RawLockdep;
use lockdep::sync::park;

/// The raw rwlock: lockdep's writer-preferring parking rwlock, instrumented;
/// implements every `lock_api` rwlock trait.
pub type RawRwLock = RawLockdep<park::RawRwLock>;

/// The `lock_api` rwlock inside an [`RwLock`].
type Inner<T> = lock_api::RwLock<RawRwLock, T>;

/// A reader-writer lock whose acquisitions lockdep checks, with parking_lot's
/// `RwLock` API. `read` is checked as a reader that queues behind a waiting
/// writer (taking it twice in one thread can deadlock), `read_recursive` as
/// one that does not, `upgradable_read` and `write` as exclusive.
///
/// Its lock class is the place it was constructed (see the crate docs).
///
/// ```
/// let lock = parking_lot::RwLock::new(5);
/// {
///     let r1 = lock.read();
///     assert_eq!(*r1, 5);
/// }
/// *lock.write() += 1;
/// assert_eq!(*lock.read(), 6);
/// ```
#[repr(transparent)]
pub struct RwLock<T: ?Sized> {
    inner: Inner<T>,
}

/// A read guard of an [`RwLock`].
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;
/// The write guard of an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;
/// A read guard mapped to a part of the data.
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLock, T>;
/// A write guard mapped to a part of the data.
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLock, T>;
/// The upgradable read guard of an [`RwLock`].
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;

/// A new [`RwLock`] in a `const` context; its class is the caller's location.
#[track_caller]
pub const fn const_rwlock<T>(val: T) -> RwLock<T> {
    RwLock::new(val)
}

impl<T> RwLock<T> {
    /// A new unlocked rwlock whose lock class is this call site.
    #[track_caller]
    pub const fn new(val: T) -> RwLock<T> {
        RwLock {
            inner: lock_api::RwLock::from_raw(
                RawLockdep::new(park::RawRwLock::new(), crate::site_map::<T>("RwLock")),
                val,
            ),
        }
    }

    /// A new rwlock over `raw_rwlock` (known to the validator by the map inside it).
    pub const fn from_raw(raw_rwlock: RawRwLock, val: T) -> RwLock<T> {
        RwLock { inner: lock_api::RwLock::from_raw(raw_rwlock, val) }
    }

    /// The same as [`from_raw`](Self::from_raw).
    pub const fn const_new(raw_rwlock: RawRwLock, val: T) -> RwLock<T> {
        Self::from_raw(raw_rwlock, val)
    }

    /// Consumes the lock, returning the data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    #[inline]
    fn raw_lock(&self) -> &RawRwLock {
        // SAFETY: used only to lock, after which a guard is made.
        unsafe { self.inner.raw() }
    }

    /// Locks for reading, blocking while a writer holds or waits for it.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.raw_lock().lock_shared_with(0, None);
        // SAFETY: a read lock was just acquired.
        unsafe { self.inner.make_read_guard_unchecked() }
    }

    /// Tries to lock for reading without blocking.
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        if self.raw_lock().try_lock_shared_with(0) {
            // SAFETY: a read lock was just acquired.
            Some(unsafe { self.inner.make_read_guard_unchecked() })
        } else {
            None
        }
    }

    /// Locks for writing.
    #[inline]
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.raw_lock().lock_exclusive_with(0, None);
        // SAFETY: the write lock was just acquired.
        unsafe { self.inner.make_write_guard_unchecked() }
    }

    /// Tries to lock for writing without blocking.
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        if self.raw_lock().try_lock_exclusive_with(0) {
            // SAFETY: the write lock was just acquired.
            Some(unsafe { self.inner.make_write_guard_unchecked() })
        } else {
            None
        }
    }

    /// Locks for reading, also while a writer waits (but not while one holds
    /// it): a thread holding a read lock may take this one again.
    #[inline]
    #[track_caller]
    pub fn read_recursive(&self) -> RwLockReadGuard<'_, T> {
        self.raw_lock().lock_shared_recursive_with(0);
        // SAFETY: a read lock was just acquired.
        unsafe { self.inner.make_read_guard_unchecked() }
    }

    /// Tries to lock for reading recursively without blocking.
    #[inline]
    #[track_caller]
    pub fn try_read_recursive(&self) -> Option<RwLockReadGuard<'_, T>> {
        if self.raw_lock().try_lock_shared_recursive_with(0) {
            // SAFETY: a read lock was just acquired.
            Some(unsafe { self.inner.make_read_guard_unchecked() })
        } else {
            None
        }
    }

    /// Locks for an upgradable read: shared with readers, exclusive of
    /// writers and other upgradable readers.
    #[inline]
    #[track_caller]
    pub fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, T> {
        self.raw_lock().lock_upgradable_with(0);
        // SAFETY: an upgradable lock was just acquired.
        unsafe { self.inner.make_upgradable_guard_unchecked() }
    }

    /// Tries to lock for an upgradable read without blocking.
    #[inline]
    #[track_caller]
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        if self.raw_lock().try_lock_upgradable_with(0) {
            // SAFETY: an upgradable lock was just acquired.
            Some(unsafe { self.inner.make_upgradable_guard_unchecked() })
        } else {
            None
        }
    }

    /// A read guard for a lock the caller already read-locked.
    ///
    /// # Safety
    ///
    /// The current thread must hold a read lock with no guard for it.
    #[inline]
    pub unsafe fn make_read_guard_unchecked(&self) -> RwLockReadGuard<'_, T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.make_read_guard_unchecked() }
    }

    /// A write guard for a lock the caller already write-locked.
    ///
    /// # Safety
    ///
    /// The current thread must hold the write lock with no guard for it.
    #[inline]
    pub unsafe fn make_write_guard_unchecked(&self) -> RwLockWriteGuard<'_, T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.make_write_guard_unchecked() }
    }

    /// An upgradable guard for a lock the caller already holds upgradably.
    ///
    /// # Safety
    ///
    /// The current thread must hold the upgradable lock with no guard for it.
    #[inline]
    pub unsafe fn make_upgradable_guard_unchecked(&self) -> RwLockUpgradableReadGuard<'_, T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.make_upgradable_guard_unchecked() }
    }

    /// A mutable reference to the data; no locking needed.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Whether the lock is held (in any mode).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether the lock is held for writing.
    #[inline]
    pub fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }

    /// Unlocks a read lock whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// The current thread must hold such a read lock.
    #[inline]
    pub unsafe fn force_unlock_read(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock_read() }
    }

    /// Unlocks a write lock whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// The current thread must hold the write lock.
    #[inline]
    pub unsafe fn force_unlock_write(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock_write() }
    }

    /// Unlocks fairly a read lock whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// As for [`force_unlock_read`](Self::force_unlock_read).
    #[inline]
    pub unsafe fn force_unlock_read_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.raw_lock().unlock_shared_fair() }
    }

    /// Unlocks fairly a write lock whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// As for [`force_unlock_write`](Self::force_unlock_write).
    #[inline]
    pub unsafe fn force_unlock_write_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.raw_lock().unlock_exclusive_fair() }
    }

    /// The raw rwlock.
    ///
    /// # Safety
    ///
    /// It must not be unlocked while a guard exists.
    #[inline]
    pub unsafe fn raw(&self) -> &RawRwLock {
        self.raw_lock()
    }

    /// A raw pointer to the data.
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }

    /// The `lock_api` rwlock inside.
    pub fn as_lock_api(&self) -> &Inner<T> {
        &self.inner
    }

    /// Tries to lock for reading, giving up after `timeout`.
    #[inline]
    pub fn try_read_for(&self, timeout: std::time::Duration) -> Option<RwLockReadGuard<'_, T>> {
        self.inner.try_read_for(timeout)
    }

    /// Tries to lock for reading, giving up at `timeout`.
    #[inline]
    pub fn try_read_until(&self, timeout: std::time::Instant) -> Option<RwLockReadGuard<'_, T>> {
        self.inner.try_read_until(timeout)
    }

    /// Tries to lock for writing, giving up after `timeout`.
    #[inline]
    pub fn try_write_for(&self, timeout: std::time::Duration) -> Option<RwLockWriteGuard<'_, T>> {
        self.inner.try_write_for(timeout)
    }

    /// Tries to lock for writing, giving up at `timeout`.
    #[inline]
    pub fn try_write_until(&self, timeout: std::time::Instant) -> Option<RwLockWriteGuard<'_, T>> {
        self.inner.try_write_until(timeout)
    }

    /// Tries to lock for reading recursively, giving up after `timeout`.
    #[inline]
    pub fn try_read_recursive_for(&self, timeout: std::time::Duration) -> Option<RwLockReadGuard<'_, T>> {
        self.inner.try_read_recursive_for(timeout)
    }

    /// Tries to lock for reading recursively, giving up at `timeout`.
    #[inline]
    pub fn try_read_recursive_until(&self, timeout: std::time::Instant) -> Option<RwLockReadGuard<'_, T>> {
        self.inner.try_read_recursive_until(timeout)
    }

    /// Tries to lock for an upgradable read, giving up after `timeout`.
    #[inline]
    pub fn try_upgradable_read_for(&self, timeout: std::time::Duration) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        self.inner.try_upgradable_read_for(timeout)
    }

    /// Tries to lock for an upgradable read, giving up at `timeout`.
    #[inline]
    pub fn try_upgradable_read_until(&self, timeout: std::time::Instant) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        self.inner.try_upgradable_read_until(timeout)
    }
}

#[cfg(feature = "arc_lock")]
mod arc {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use lock_api::{ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard};

    use super::{Inner, RawRwLock, RwLock};

    impl<T: ?Sized> RwLock<T> {
        fn arc_lock_api(self: &Arc<Self>) -> Arc<Inner<T>> {
            let ptr = Arc::into_raw(self.clone()) as *const Inner<T>;
            // SAFETY: `RwLock` is `repr(transparent)` over the `lock_api`
            // rwlock; the strong count taken by `clone` moves to the new `Arc`.
            unsafe { Arc::from_raw(ptr) }
        }

        /// Locks for reading through an `Arc`.
        pub fn read_arc(self: &Arc<Self>) -> ArcRwLockReadGuard<RawRwLock, T> {
            self.arc_lock_api().read_arc()
        }

        /// Tries to lock for reading through an `Arc`.
        pub fn try_read_arc(self: &Arc<Self>) -> Option<ArcRwLockReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_read_arc()
        }

        /// Locks for writing through an `Arc`.
        pub fn write_arc(self: &Arc<Self>) -> ArcRwLockWriteGuard<RawRwLock, T> {
            self.arc_lock_api().write_arc()
        }

        /// Tries to lock for writing through an `Arc`.
        pub fn try_write_arc(self: &Arc<Self>) -> Option<ArcRwLockWriteGuard<RawRwLock, T>> {
            self.arc_lock_api().try_write_arc()
        }

        /// Locks for reading recursively through an `Arc`.
        pub fn read_arc_recursive(self: &Arc<Self>) -> ArcRwLockReadGuard<RawRwLock, T> {
            self.arc_lock_api().read_arc_recursive()
        }

        /// Tries to lock for reading recursively through an `Arc`.
        pub fn try_read_recursive_arc(self: &Arc<Self>) -> Option<ArcRwLockReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_read_recursive_arc()
        }

        /// Locks for an upgradable read through an `Arc`.
        pub fn upgradable_read_arc(self: &Arc<Self>) -> ArcRwLockUpgradableReadGuard<RawRwLock, T> {
            self.arc_lock_api().upgradable_read_arc()
        }

        /// Tries to lock for an upgradable read through an `Arc`.
        pub fn try_upgradable_read_arc(self: &Arc<Self>) -> Option<ArcRwLockUpgradableReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_upgradable_read_arc()
        }

        /// Tries to lock for reading through an `Arc`, giving up after `timeout`.
        pub fn try_read_arc_for(self: &Arc<Self>, timeout: Duration) -> Option<ArcRwLockReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_read_arc_for(timeout)
        }

        /// Tries to lock for reading through an `Arc`, giving up at `timeout`.
        pub fn try_read_arc_until(self: &Arc<Self>, timeout: Instant) -> Option<ArcRwLockReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_read_arc_until(timeout)
        }

        /// Tries to lock for writing through an `Arc`, giving up after `timeout`.
        pub fn try_write_arc_for(self: &Arc<Self>, timeout: Duration) -> Option<ArcRwLockWriteGuard<RawRwLock, T>> {
            self.arc_lock_api().try_write_arc_for(timeout)
        }

        /// Tries to lock for writing through an `Arc`, giving up at `timeout`.
        pub fn try_write_arc_until(self: &Arc<Self>, timeout: Instant) -> Option<ArcRwLockWriteGuard<RawRwLock, T>> {
            self.arc_lock_api().try_write_arc_until(timeout)
        }

        /// Tries to lock for reading recursively through an `Arc`, giving up after `timeout`.
        pub fn try_read_arc_recursive_for(
            self: &Arc<Self>,
            timeout: Duration,
        ) -> Option<ArcRwLockReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_read_arc_recursive_for(timeout)
        }

        /// Tries to lock for reading recursively through an `Arc`, giving up at `timeout`.
        pub fn try_read_arc_recursive_until(
            self: &Arc<Self>,
            timeout: Instant,
        ) -> Option<ArcRwLockReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_read_arc_recursive_until(timeout)
        }

        /// Tries to lock for an upgradable read through an `Arc`, giving up after `timeout`.
        pub fn try_upgradable_read_arc_for(
            self: &Arc<Self>,
            timeout: Duration,
        ) -> Option<ArcRwLockUpgradableReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_upgradable_read_arc_for(timeout)
        }

        /// Tries to lock for an upgradable read through an `Arc`, giving up at `timeout`.
        pub fn try_upgradable_read_arc_until(
            self: &Arc<Self>,
            timeout: Instant,
        ) -> Option<ArcRwLockUpgradableReadGuard<RawRwLock, T>> {
            self.arc_lock_api().try_upgradable_read_arc_until(timeout)
        }
    }
}

impl<T: ?Sized> lockdep::AsLockdepMap for RwLock<T> {
    fn as_lockdep_map(&self) -> &lockdep::LockdepMap {
        self.raw_lock().map()
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(t: T) -> RwLock<T> {
        RwLock::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Peeks with the uninstrumented raw lock: formatting is no acquisition.
        let raw = self.raw_lock().inner();
        if raw.try_lock_shared() {
            // SAFETY: read-locked just above by this thread; unlocked right after.
            let data: &T = unsafe { &*self.inner.data_ptr() };
            let result = f.debug_struct("RwLock").field("data", &data).finish();
            // SAFETY: read-locked above by this thread.
            unsafe { raw.unlock_shared() };
            result
        } else {
            struct LockedPlaceholder;
            impl fmt::Debug for LockedPlaceholder {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("<locked>")
                }
            }
            f.debug_struct("RwLock").field("data", &LockedPlaceholder).finish()
        }
    }
}

#[cfg(feature = "serde")]
impl<T: ?Sized + serde::Serialize> serde::Serialize for RwLock<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.read().serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for RwLock<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(RwLock::new)
    }
}
