//! [`ReentrantMutex`]: a mutex its owner may lock again, checked by lockdep.

use core::fmt;

use lockdep::sync::park;
use lockdep::sync::{GenericReentrantMutex, RawLockdep};

use crate::RawMutex;

/// Identifies threads for [`ReentrantMutex`] (`lock_api::GetThreadId`).
pub type RawThreadId = park::RawThreadId;

type Inner<T> = lock_api::ReentrantMutex<RawMutex, RawThreadId, T>;

/// A mutex the owning thread may lock again (shared access only), with
/// parking_lot's `ReentrantMutex` API. Only the outermost acquisition and the
/// last release reach the validator.
///
/// Its lock class is the place it was constructed (see the crate docs).
///
/// ```
/// let m = parking_lot::ReentrantMutex::new(1);
/// let a = m.lock();
/// let b = m.lock();
/// assert_eq!(*a + *b, 2);
/// ```
#[repr(transparent)]
pub struct ReentrantMutex<T: ?Sized> {
    inner: GenericReentrantMutex<park::RawMutex, RawThreadId, T>,
}

/// The guard of a [`ReentrantMutex`].
pub type ReentrantMutexGuard<'a, T> = lock_api::ReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

/// A [`ReentrantMutexGuard`] mapped to a part of the data.
pub type MappedReentrantMutexGuard<'a, T> = lock_api::MappedReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

/// A new [`ReentrantMutex`] in a `const` context; its class is the caller's location.
#[track_caller]
pub const fn const_reentrant_mutex<T>(val: T) -> ReentrantMutex<T> {
    ReentrantMutex::new(val)
}

impl<T> ReentrantMutex<T> {
    /// A new unlocked reentrant mutex whose lock class is this call site.
    #[track_caller]
    pub const fn new(val: T) -> ReentrantMutex<T> {
        ReentrantMutex { inner: GenericReentrantMutex::from_map(val, crate::site_map::<T>("ReentrantMutex")) }
    }

    /// Consumes the mutex, returning the data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> ReentrantMutex<T> {
    fn lock_api(&self) -> &Inner<T> {
        self.inner.as_lock_api()
    }

    /// Locks, blocking unless this thread owns the mutex already.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        self.inner.lock()
    }

    /// Tries to lock without blocking.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        self.inner.try_lock()
    }

    /// Tries to lock, giving up after `timeout`.
    #[inline]
    pub fn try_lock_for(&self, timeout: std::time::Duration) -> Option<ReentrantMutexGuard<'_, T>> {
        self.lock_api().try_lock_for(timeout)
    }

    /// Tries to lock, giving up at `timeout`.
    #[inline]
    pub fn try_lock_until(&self, timeout: std::time::Instant) -> Option<ReentrantMutexGuard<'_, T>> {
        self.lock_api().try_lock_until(timeout)
    }

    /// A guard for a mutex the caller already locked.
    ///
    /// # Safety
    ///
    /// The current thread must own the mutex.
    #[inline]
    pub unsafe fn make_guard_unchecked(&self) -> ReentrantMutexGuard<'_, T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.lock_api().make_guard_unchecked() }
    }

    /// A mutable reference to the data; no locking needed.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Whether the mutex is held by any thread.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether the current thread owns the mutex.
    #[inline]
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.inner.is_owned_by_current_thread()
    }

    /// Unlocks once a mutex whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// The current thread must own the mutex.
    #[inline]
    pub unsafe fn force_unlock(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.lock_api().force_unlock() }
    }

    /// Unlocks fairly once a mutex whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// The current thread must own the mutex.
    #[inline]
    pub unsafe fn force_unlock_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.lock_api().force_unlock_fair() }
    }

    /// The raw mutex.
    ///
    /// # Safety
    ///
    /// It must not be unlocked while a guard exists.
    #[inline]
    pub unsafe fn raw(&self) -> &RawLockdep<park::RawMutex> {
        // SAFETY: forwarded from the caller.
        unsafe { self.lock_api().raw() }
    }

    /// A raw pointer to the data.
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.lock_api().data_ptr()
    }

    /// The `lock_api` reentrant mutex inside.
    pub fn as_lock_api(&self) -> &Inner<T> {
        self.lock_api()
    }
}

#[cfg(feature = "arc_lock")]
mod arc {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use lock_api::ArcReentrantMutexGuard;

    use super::{Inner, RawThreadId, ReentrantMutex};
    use crate::RawMutex;

    impl<T: ?Sized> ReentrantMutex<T> {
        fn arc_lock_api(self: &Arc<Self>) -> Arc<Inner<T>> {
            let ptr = Arc::into_raw(self.clone()) as *const Inner<T>;
            // SAFETY: `ReentrantMutex` and lockdep's `GenericReentrantMutex`
            // are both `repr(transparent)` down to the `lock_api` mutex; the
            // strong count taken by `clone` moves to the new `Arc`.
            unsafe { Arc::from_raw(ptr) }
        }

        /// Locks through an `Arc`.
        pub fn lock_arc(self: &Arc<Self>) -> ArcReentrantMutexGuard<RawMutex, RawThreadId, T> {
            self.arc_lock_api().lock_arc()
        }

        /// Tries to lock through an `Arc`.
        pub fn try_lock_arc(self: &Arc<Self>) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
            self.arc_lock_api().try_lock_arc()
        }

        /// Tries to lock through an `Arc`, giving up after `timeout`.
        pub fn try_lock_arc_for(
            self: &Arc<Self>,
            timeout: Duration,
        ) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
            self.arc_lock_api().try_lock_arc_for(timeout)
        }

        /// Tries to lock through an `Arc`, giving up at `timeout`.
        pub fn try_lock_arc_until(
            self: &Arc<Self>,
            timeout: Instant,
        ) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
            self.arc_lock_api().try_lock_arc_until(timeout)
        }
    }
}

impl<T: ?Sized> lockdep::AsLockdepMap for ReentrantMutex<T> {
    fn as_lockdep_map(&self) -> &lockdep::LockdepMap {
        self.inner.lockdep_map()
    }
}

impl<T: Default> Default for ReentrantMutex<T> {
    #[track_caller]
    fn default() -> ReentrantMutex<T> {
        ReentrantMutex::new(T::default())
    }
}

impl<T> From<T> for ReentrantMutex<T> {
    #[track_caller]
    fn from(t: T) -> ReentrantMutex<T> {
        ReentrantMutex::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `lock_api`'s own peek: a trylock through the raw trait would reach
        // the validator, so peek only when this thread owns it or it is free,
        // with the uninstrumented raw lock.
        struct LockedPlaceholder;
        impl fmt::Debug for LockedPlaceholder {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("<locked>")
            }
        }
        if self.is_owned_by_current_thread() {
            // SAFETY: this thread owns the mutex, which gives shared access.
            let data: &T = unsafe { &*self.data_ptr() };
            return f.debug_struct("ReentrantMutex").field("data", &data).finish();
        }
        // SAFETY: only the uninstrumented lock is used, and undone at once.
        let raw = unsafe { self.raw() }.inner();
        if lock_api::RawMutex::try_lock(raw) {
            // SAFETY: locked just above by this thread; unlocked right after.
            let data: &T = unsafe { &*self.data_ptr() };
            let result = f.debug_struct("ReentrantMutex").field("data", &data).finish();
            // SAFETY: locked above by this thread.
            unsafe { lock_api::RawMutex::unlock(raw) };
            result
        } else {
            f.debug_struct("ReentrantMutex").field("data", &LockedPlaceholder).finish()
        }
    }
}

#[cfg(feature = "serde")]
impl<T: ?Sized + serde::Serialize> serde::Serialize for ReentrantMutex<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lock().serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ReentrantMutex<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(ReentrantMutex::new)
    }
}
