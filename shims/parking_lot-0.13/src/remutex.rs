//! [`ReentrantMutex`]: a mutex its owner may lock again.

use core::fmt;

use lock_api04::RawMutex as _;

use crate::{LockedPlaceholder, NewAtSite, RawMutex, RawThreadId};

type Inner<T> = lock_api::ReentrantMutex<RawMutex, RawThreadId, T>;

/// A mutex the owning thread may lock again (shared access only), checked
/// by lockdep: `lock_api` 0.5's reentrant mutex (reached through `Deref`)
/// with a `const fn new` that makes the construction site the lock class.
/// Only the outermost acquisition and the last release reach the validator.
///
/// ```
/// let m = parking_lot::ReentrantMutex::new(1);
/// let a = m.lock();
/// let b = m.lock();
/// assert_eq!(*a + *b, 2);
/// ```
#[repr(transparent)]
pub struct ReentrantMutex<T: ?Sized> {
    inner: Inner<T>,
}

/// The guard of a [`ReentrantMutex`].
pub type ReentrantMutexGuard<'a, T> = lock_api::ReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

/// A [`ReentrantMutexGuard`] mapped to a part of the data.
pub type MappedReentrantMutexGuard<'a, T> = lock_api::MappedReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

impl<T> ReentrantMutex<T> {
    /// A new unlocked reentrant mutex whose lock class is this call site.
    #[track_caller]
    pub const fn new(val: T) -> Self {
        ReentrantMutex {
            inner: lock_api::ReentrantMutex::from_raw(
                RawMutex::with_map(crate::site_map::<T>("ReentrantMutex")),
                RawThreadId,
                val,
            ),
        }
    }

    /// A new reentrant mutex over `raw_mutex`.
    pub const fn from_raw(raw_mutex: RawMutex, get_thread_id: RawThreadId, val: T) -> Self {
        ReentrantMutex { inner: lock_api::ReentrantMutex::from_raw(raw_mutex, get_thread_id, val) }
    }

    /// Consumes the mutex, returning the data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }

    /// Consumes the mutex, returning the raw parts and the data.
    #[inline]
    pub fn into_inner_with_raw(self) -> (RawMutex, RawThreadId, T) {
        self.inner.into_inner_with_raw()
    }
}

impl<T> NewAtSite<T> for ReentrantMutex<T> {
    #[track_caller]
    fn new_at_site(val: T) -> Self {
        Self::new(val)
    }
}

#[cfg(feature = "arc_lock")]
mod arc {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use lock_api::ArcReentrantMutexGuard;

    use super::ReentrantMutex;
    use crate::{RawMutex, RawThreadId};

    impl<T: ?Sized> ReentrantMutex<T> {
        /// Locks through an `Arc`.
        #[track_caller]
        pub fn lock_arc(self: &Arc<Self>) -> ArcReentrantMutexGuard<RawMutex, RawThreadId, T> {
            self.arc_lock_api().lock_arc()
        }

        /// Tries to lock through an `Arc`.
        #[track_caller]
        pub fn try_lock_arc(self: &Arc<Self>) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
            self.arc_lock_api().try_lock_arc()
        }

        /// Tries to lock through an `Arc`, giving up after `timeout`.
        #[track_caller]
        pub fn try_lock_arc_for(
            self: &Arc<Self>,
            timeout: Duration,
        ) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
            self.arc_lock_api().try_lock_arc_for(timeout)
        }

        /// Tries to lock through an `Arc`, giving up at `timeout`.
        #[track_caller]
        pub fn try_lock_arc_until(
            self: &Arc<Self>,
            timeout: Instant,
        ) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
            self.arc_lock_api().try_lock_arc_until(timeout)
        }
    }
}

crate::wrapper_common!(ReentrantMutex[], Inner<T>);

impl<T: ?Sized> lockdep::AsLockdepMap for ReentrantMutex<T> {
    fn as_lockdep_map(&self) -> &lockdep::LockdepMap {
        // SAFETY: only the map is read.
        unsafe { self.inner.raw() }.lockdep_map()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner.is_owned_by_current_thread() {
            // SAFETY: this thread owns the mutex, which gives shared access.
            let data: &T = unsafe { &*self.inner.data_ptr() };
            return f.debug_struct("ReentrantMutex").field("data", &data).finish();
        }
        // Peeks with the uninstrumented lock: formatting is no acquisition.
        // SAFETY: only the inner lock is used, and undone at once.
        let raw = unsafe { self.inner.raw() }.0.inner();
        if raw.try_lock() {
            // SAFETY: locked just above by this thread; unlocked right after.
            let data: &T = unsafe { &*self.inner.data_ptr() };
            let result = f.debug_struct("ReentrantMutex").field("data", &data).finish();
            // SAFETY: locked above by this thread.
            unsafe { raw.unlock() };
            result
        } else {
            f.debug_struct("ReentrantMutex").field("data", &LockedPlaceholder).finish()
        }
    }
}
