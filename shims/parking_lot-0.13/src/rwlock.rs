//! [`RwLock`] and [`RecursiveRwLock`].

use core::fmt;

use lock_api04::RawRwLock as _;

use crate::{LockedPlaceholder, NewAtSite, RawRwLock, RawRwLockRecursive};

/// A reader-writer lock whose acquisitions lockdep checks: `lock_api` 0.5's
/// rwlock (reached through `Deref`, with all of its API) with a `const fn
/// new` that makes the construction site the lock class.
///
/// Over [`RawRwLock`] ([`RwLock`]) a read lock is checked as a reader that
/// queues behind a waiting writer, so reading twice in one thread is
/// reported; over [`RawRwLockRecursive`] ([`RecursiveRwLock`]) as a
/// recursive reader, which a waiting writer does not hold back. Upgradable
/// reads and writes are exclusive.
///
/// ```
/// let lock = parking_lot::RwLock::new(5);
/// assert_eq!(*lock.read(), 5);
/// *lock.write() += 1;
/// assert_eq!(*lock.read(), 6);
/// ```
#[repr(transparent)]
pub struct GenericRwLock<R, T: ?Sized> {
    inner: lock_api::RwLock<R, T>,
}

/// A reader-writer lock whose acquisitions lockdep checks.
pub type RwLock<T> = GenericRwLock<RawRwLock, T>;
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

/// A reader-writer lock whose read locks a thread may take again while
/// holding one (a waiting writer does not hold them back).
pub type RecursiveRwLock<T> = GenericRwLock<RawRwLockRecursive, T>;
/// A read guard of a [`RecursiveRwLock`].
pub type RecursiveRwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLockRecursive, T>;
/// The write guard of a [`RecursiveRwLock`].
pub type RecursiveRwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLockRecursive, T>;
/// The upgradable read guard of a [`RecursiveRwLock`].
pub type RecursiveRwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLockRecursive, T>;
/// A [`RecursiveRwLock`] read guard mapped to a part of the data.
pub type MappedRecursiveRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLockRecursive, T>;
/// A [`RecursiveRwLock`] write guard mapped to a part of the data.
pub type MappedRecursiveRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLockRecursive, T>;

impl<T> GenericRwLock<RawRwLock, T> {
    /// A new unlocked rwlock whose lock class is this call site.
    #[track_caller]
    pub const fn new(val: T) -> Self {
        GenericRwLock { inner: lock_api::RwLock::from_raw(RawRwLock::with_map(crate::site_map::<T>("RwLock")), val) }
    }
}

impl<T> GenericRwLock<RawRwLockRecursive, T> {
    /// A new unlocked recursive rwlock whose lock class is this call site.
    #[track_caller]
    pub const fn new(val: T) -> Self {
        GenericRwLock {
            inner: lock_api::RwLock::from_raw(
                RawRwLockRecursive::with_map(crate::site_map::<T>("RecursiveRwLock")),
                val,
            ),
        }
    }
}

impl<T> NewAtSite<T> for GenericRwLock<RawRwLock, T> {
    #[track_caller]
    fn new_at_site(val: T) -> Self {
        Self::new(val)
    }
}

impl<T> NewAtSite<T> for GenericRwLock<RawRwLockRecursive, T> {
    #[track_caller]
    fn new_at_site(val: T) -> Self {
        Self::new(val)
    }
}

impl<R: lock_api::RawRwLock, T> GenericRwLock<R, T> {
    /// A new rwlock over `raw_rwlock` (known to the validator by the map inside it).
    pub const fn from_raw(raw_rwlock: R, val: T) -> Self {
        GenericRwLock { inner: lock_api::RwLock::from_raw(raw_rwlock, val) }
    }

    /// Consumes the lock, returning the data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }

    /// Consumes the lock, returning the raw lock and the data.
    #[inline]
    pub fn into_inner_with_raw(self) -> (R, T) {
        self.inner.into_inner_with_raw()
    }
}

#[cfg(feature = "arc_lock")]
mod arc {
    use std::sync::Arc;

    use lock_api::{ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard};

    use super::GenericRwLock;

    impl<R: lock_api::RawRwLock, T: ?Sized> GenericRwLock<R, T> {
        /// Locks for reading through an `Arc`.
        #[track_caller]
        pub fn read_arc(self: &Arc<Self>) -> ArcRwLockReadGuard<R, T> {
            self.arc_lock_api().read_arc()
        }

        /// Tries to lock for reading through an `Arc`.
        #[track_caller]
        pub fn try_read_arc(self: &Arc<Self>) -> Option<ArcRwLockReadGuard<R, T>> {
            self.arc_lock_api().try_read_arc()
        }

        /// Locks for writing through an `Arc`.
        #[track_caller]
        pub fn write_arc(self: &Arc<Self>) -> ArcRwLockWriteGuard<R, T> {
            self.arc_lock_api().write_arc()
        }

        /// Tries to lock for writing through an `Arc`.
        #[track_caller]
        pub fn try_write_arc(self: &Arc<Self>) -> Option<ArcRwLockWriteGuard<R, T>> {
            self.arc_lock_api().try_write_arc()
        }
    }

    impl<R: lock_api::RawRwLockTimed, T: ?Sized> GenericRwLock<R, T> {
        /// Tries to lock for reading through an `Arc`, giving up after `timeout`.
        #[track_caller]
        pub fn try_read_arc_for(self: &Arc<Self>, timeout: R::Duration) -> Option<ArcRwLockReadGuard<R, T>> {
            self.arc_lock_api().try_read_arc_for(timeout)
        }

        /// Tries to lock for reading through an `Arc`, giving up at `timeout`.
        #[track_caller]
        pub fn try_read_arc_until(self: &Arc<Self>, timeout: R::Instant) -> Option<ArcRwLockReadGuard<R, T>> {
            self.arc_lock_api().try_read_arc_until(timeout)
        }

        /// Tries to lock for writing through an `Arc`, giving up after `timeout`.
        #[track_caller]
        pub fn try_write_arc_for(self: &Arc<Self>, timeout: R::Duration) -> Option<ArcRwLockWriteGuard<R, T>> {
            self.arc_lock_api().try_write_arc_for(timeout)
        }

        /// Tries to lock for writing through an `Arc`, giving up at `timeout`.
        #[track_caller]
        pub fn try_write_arc_until(self: &Arc<Self>, timeout: R::Instant) -> Option<ArcRwLockWriteGuard<R, T>> {
            self.arc_lock_api().try_write_arc_until(timeout)
        }
    }

    impl<R: lock_api::RawRwLockUpgrade, T: ?Sized> GenericRwLock<R, T> {
        /// Locks for an upgradable read through an `Arc`.
        #[track_caller]
        pub fn upgradable_read_arc(self: &Arc<Self>) -> ArcRwLockUpgradableReadGuard<R, T> {
            self.arc_lock_api().upgradable_read_arc()
        }

        /// Tries to lock for an upgradable read through an `Arc`.
        #[track_caller]
        pub fn try_upgradable_read_arc(self: &Arc<Self>) -> Option<ArcRwLockUpgradableReadGuard<R, T>> {
            self.arc_lock_api().try_upgradable_read_arc()
        }
    }

    impl<R: lock_api::RawRwLockUpgradeTimed, T: ?Sized> GenericRwLock<R, T> {
        /// Tries to lock for an upgradable read through an `Arc`, giving up after `timeout`.
        #[track_caller]
        pub fn try_upgradable_read_arc_for(
            self: &Arc<Self>,
            timeout: R::Duration,
        ) -> Option<ArcRwLockUpgradableReadGuard<R, T>> {
            self.arc_lock_api().try_upgradable_read_arc_for(timeout)
        }

        /// Tries to lock for an upgradable read through an `Arc`, giving up at `timeout`.
        #[track_caller]
        pub fn try_upgradable_read_arc_until(
            self: &Arc<Self>,
            timeout: R::Instant,
        ) -> Option<ArcRwLockUpgradableReadGuard<R, T>> {
            self.arc_lock_api().try_upgradable_read_arc_until(timeout)
        }
    }
}

crate::wrapper_common!(GenericRwLock[R], lock_api::RwLock<R, T>);

impl<const RECURSIVE: bool, T: ?Sized> lockdep::AsLockdepMap for GenericRwLock<RawRwLock<RECURSIVE>, T> {
    fn as_lockdep_map(&self) -> &lockdep::LockdepMap {
        // SAFETY: only the map is read.
        unsafe { self.inner.raw() }.lockdep_map()
    }
}

impl<const RECURSIVE: bool, T: ?Sized + fmt::Debug> fmt::Debug for GenericRwLock<RawRwLock<RECURSIVE>, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Peeks with the uninstrumented lock: formatting is no acquisition.
        // SAFETY: only the inner lock is used, and undone at once.
        let raw = unsafe { self.inner.raw() }.0.inner();
        if raw.try_lock_shared() {
            // SAFETY: read-locked just above by this thread; unlocked right after.
            let data: &T = unsafe { &*self.inner.data_ptr() };
            let result = f.debug_struct("RwLock").field("data", &data).finish();
            // SAFETY: read-locked above by this thread.
            unsafe { raw.unlock_shared() };
            result
        } else {
            f.debug_struct("RwLock").field("data", &LockedPlaceholder).finish()
        }
    }
}
