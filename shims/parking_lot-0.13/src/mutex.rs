//! [`Mutex`] and [`FairMutex`].

use core::fmt;

use lock_api04::RawMutex as _;

use crate::{LockedPlaceholder, NewAtSite, RawFairMutex, RawMutex};

/// A mutual-exclusion lock whose acquisitions lockdep checks: `lock_api`
/// 0.5's mutex (reached through `Deref`, with all of its API) with a `const
/// fn new` that makes the construction site the lock class. [`Mutex`] and
/// [`FairMutex`] are this type over two raw mutexes.
///
/// ```
/// let m = parking_lot::Mutex::new(1);
/// *m.lock() += 1;
/// assert_eq!(*m.lock(), 2);
/// ```
#[repr(transparent)]
pub struct GenericMutex<R, T: ?Sized> {
    inner: lock_api::Mutex<R, T>,
}

/// A mutual-exclusion lock whose acquisitions lockdep checks.
pub type Mutex<T> = GenericMutex<RawMutex, T>;
/// The guard of a [`Mutex`]; dropping it unlocks.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;
/// A [`MutexGuard`] mapped to a part of the data.
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;

/// A mutex whose unlock always hands the lock to the longest waiter.
pub type FairMutex<T> = GenericMutex<RawFairMutex, T>;
/// The guard of a [`FairMutex`].
pub type FairMutexGuard<'a, T> = lock_api::MutexGuard<'a, RawFairMutex, T>;
/// A [`FairMutexGuard`] mapped to a part of the data.
pub type MappedFairMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawFairMutex, T>;

impl<T> GenericMutex<RawMutex, T> {
    /// A new unlocked mutex whose lock class is this call site.
    #[track_caller]
    pub const fn new(val: T) -> Self {
        GenericMutex { inner: lock_api::Mutex::from_raw(RawMutex::with_map(crate::site_map::<T>("Mutex")), val) }
    }
}

impl<T> GenericMutex<RawFairMutex, T> {
    /// A new unlocked fair mutex whose lock class is this call site.
    #[track_caller]
    pub const fn new(val: T) -> Self {
        GenericMutex {
            inner: lock_api::Mutex::from_raw(RawFairMutex::with_map(crate::site_map::<T>("FairMutex")), val),
        }
    }
}

impl<T> NewAtSite<T> for GenericMutex<RawMutex, T> {
    #[track_caller]
    fn new_at_site(val: T) -> Self {
        Self::new(val)
    }
}

impl<T> NewAtSite<T> for GenericMutex<RawFairMutex, T> {
    #[track_caller]
    fn new_at_site(val: T) -> Self {
        Self::new(val)
    }
}

impl<R: lock_api::RawMutex, T> GenericMutex<R, T> {
    /// A new mutex over `raw_mutex` (known to the validator by the map inside it).
    pub const fn from_raw(raw_mutex: R, val: T) -> Self {
        GenericMutex { inner: lock_api::Mutex::from_raw(raw_mutex, val) }
    }

    /// Consumes the mutex, returning the data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }

    /// Consumes the mutex, returning the raw mutex and the data.
    #[inline]
    pub fn into_inner_with_raw(self) -> (R, T) {
        self.inner.into_inner_with_raw()
    }
}

#[cfg(feature = "arc_lock")]
impl<R: lock_api::RawMutex, T: ?Sized> GenericMutex<R, T> {
    /// Locks through an `Arc`, for a guard with no lifetime.
    #[inline]
    #[track_caller]
    pub fn lock_arc(self: &std::sync::Arc<Self>) -> lock_api::ArcMutexGuard<R, T> {
        self.arc_lock_api().lock_arc()
    }

    /// Tries to lock through an `Arc`.
    #[inline]
    #[track_caller]
    pub fn try_lock_arc(self: &std::sync::Arc<Self>) -> Option<lock_api::ArcMutexGuard<R, T>> {
        self.arc_lock_api().try_lock_arc()
    }
}

#[cfg(feature = "arc_lock")]
impl<R: lock_api::RawMutexTimed, T: ?Sized> GenericMutex<R, T> {
    /// Tries to lock through an `Arc`, giving up after `timeout`.
    #[inline]
    #[track_caller]
    pub fn try_lock_arc_for(
        self: &std::sync::Arc<Self>,
        timeout: R::Duration,
    ) -> Option<lock_api::ArcMutexGuard<R, T>> {
        self.arc_lock_api().try_lock_arc_for(timeout)
    }

    /// Tries to lock through an `Arc`, giving up at `timeout`.
    #[inline]
    #[track_caller]
    pub fn try_lock_arc_until(
        self: &std::sync::Arc<Self>,
        timeout: R::Instant,
    ) -> Option<lock_api::ArcMutexGuard<R, T>> {
        self.arc_lock_api().try_lock_arc_until(timeout)
    }
}

crate::wrapper_common!(GenericMutex[R], lock_api::Mutex<R, T>);

impl<T: ?Sized> lockdep::AsLockdepMap for GenericMutex<RawMutex, T> {
    fn as_lockdep_map(&self) -> &lockdep::LockdepMap {
        // SAFETY: only the map is read.
        unsafe { self.inner.raw() }.lockdep_map()
    }
}

impl<T: ?Sized> lockdep::AsLockdepMap for GenericMutex<RawFairMutex, T> {
    fn as_lockdep_map(&self) -> &lockdep::LockdepMap {
        // SAFETY: only the map is read.
        unsafe { self.inner.raw() }.lockdep_map()
    }
}

// `Debug` peeks at the data with the uninstrumented lock: formatting is no
// acquisition for the validator.

impl<T: ?Sized + fmt::Debug> fmt::Debug for GenericMutex<RawMutex, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: only the uninstrumented inner lock is used, and undone at once.
        let raw = unsafe { self.inner.raw() }.0.inner();
        if raw.try_lock() {
            // SAFETY: locked just above by this thread; unlocked right after.
            let data: &T = unsafe { &*self.inner.data_ptr() };
            let result = f.debug_struct("Mutex").field("data", &data).finish();
            // SAFETY: locked above by this thread.
            unsafe { raw.unlock() };
            result
        } else {
            f.debug_struct("Mutex").field("data", &LockedPlaceholder).finish()
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for GenericMutex<RawFairMutex, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: only the uninstrumented inner lock is used, and undone at once.
        let raw = unsafe { self.inner.raw() }.0.inner();
        if raw.try_lock() {
            // SAFETY: locked just above by this thread; unlocked right after.
            let data: &T = unsafe { &*self.inner.data_ptr() };
            let result = f.debug_struct("Mutex").field("data", &data).finish();
            // SAFETY: locked above by this thread.
            unsafe { raw.unlock() };
            result
        } else {
            f.debug_struct("Mutex").field("data", &LockedPlaceholder).finish()
        }
    }
}
