//! [`Mutex`] (and, over another raw lock, [`FairMutex`](crate::FairMutex)).

use core::fmt;

use lock_api::{RawMutexFair, RawMutexTimed};
use lockdep::sync::RawLockdep;
use lockdep::sync::park;

/// The raw mutex: lockdep's parking mutex, instrumented. Implements
/// `lock_api::RawMutex`, `RawMutexFair` and `RawMutexTimed`.
pub type RawMutex = RawLockdep<park::RawMutex>;

/// A mutual-exclusion lock whose acquisitions lockdep checks, with
/// parking_lot's `Mutex` API ([`Mutex`] and [`FairMutex`](crate::FairMutex)
/// are this type over two raw mutexes).
///
/// Its lock class is the place it was constructed (see the crate docs).
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

/// A new [`Mutex`] in a `const` context (parking_lot's `const_mutex`); its
/// class is the caller's location.
#[track_caller]
pub const fn const_mutex<T>(val: T) -> Mutex<T> {
    Mutex::new(val)
}

impl<R: lock_api::RawMutex, T> GenericMutex<RawLockdep<R>, T> {
    /// A new unlocked mutex whose lock class is this call site.
    #[track_caller]
    pub const fn new(val: T) -> Self {
        GenericMutex { inner: lock_api::Mutex::from_raw(RawLockdep::new(R::INIT, crate::site_map::<T>("Mutex")), val) }
    }

    /// A new mutex over `raw_mutex` (known to the validator by the map inside it).
    pub const fn from_raw(raw_mutex: RawLockdep<R>, val: T) -> Self {
        GenericMutex { inner: lock_api::Mutex::from_raw(raw_mutex, val) }
    }

    /// The same as [`from_raw`](Self::from_raw).
    pub const fn const_new(raw_mutex: RawLockdep<R>, val: T) -> Self {
        Self::from_raw(raw_mutex, val)
    }

    /// Consumes the mutex, returning the data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<R: lock_api::RawMutex, T: ?Sized> GenericMutex<RawLockdep<R>, T> {
    #[inline]
    fn raw_lock(&self) -> &RawLockdep<R> {
        // SAFETY: used only to lock, after which a guard is made.
        unsafe { self.inner.raw() }
    }

    /// Acquires the mutex, blocking until it is free; lockdep checks the
    /// acquisition (at the caller's location) before blocking.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> lock_api::MutexGuard<'_, RawLockdep<R>, T> {
        self.raw_lock().lock_with(0, None);
        // SAFETY: the lock was just acquired.
        unsafe { self.inner.make_guard_unchecked() }
    }

    /// Tries to acquire the mutex without blocking.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<lock_api::MutexGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_with(0, None) {
            // SAFETY: the lock was just acquired.
            Some(unsafe { self.inner.make_guard_unchecked() })
        } else {
            None
        }
    }

    /// A guard for a mutex the caller already locked.
    ///
    /// # Safety
    ///
    /// The mutex must be held by the current thread, with no other guard.
    #[inline]
    pub unsafe fn make_guard_unchecked(&self) -> lock_api::MutexGuard<'_, RawLockdep<R>, T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.make_guard_unchecked() }
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

    /// Unlocks a mutex whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// The current thread must hold the mutex and no guard may be used after.
    #[inline]
    pub unsafe fn force_unlock(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock() }
    }

    /// The raw mutex.
    ///
    /// # Safety
    ///
    /// It must not be unlocked while a guard exists.
    #[inline]
    pub unsafe fn raw(&self) -> &RawLockdep<R> {
        self.raw_lock()
    }

    /// A raw pointer to the data.
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }

    /// The `lock_api` mutex inside.
    pub fn as_lock_api(&self) -> &lock_api::Mutex<RawLockdep<R>, T> {
        &self.inner
    }

    #[cfg(feature = "arc_lock")]
    fn arc_lock_api(self: &std::sync::Arc<Self>) -> std::sync::Arc<lock_api::Mutex<RawLockdep<R>, T>> {
        let ptr = std::sync::Arc::into_raw(self.clone()) as *const lock_api::Mutex<RawLockdep<R>, T>;
        // SAFETY: `GenericMutex` is `repr(transparent)` over the `lock_api`
        // mutex, so the pointer (and its metadata) is valid for that type; the
        // strong count taken by `clone` moves to the new `Arc`.
        unsafe { std::sync::Arc::from_raw(ptr) }
    }

    /// Locks through an `Arc`, for a guard with no lifetime.
    #[cfg(feature = "arc_lock")]
    #[inline]
    pub fn lock_arc(self: &std::sync::Arc<Self>) -> lock_api::ArcMutexGuard<RawLockdep<R>, T> {
        self.arc_lock_api().lock_arc()
    }

    /// Tries to lock through an `Arc`.
    #[cfg(feature = "arc_lock")]
    #[inline]
    pub fn try_lock_arc(self: &std::sync::Arc<Self>) -> Option<lock_api::ArcMutexGuard<RawLockdep<R>, T>> {
        self.arc_lock_api().try_lock_arc()
    }
}

impl<R: RawMutexFair, T: ?Sized> GenericMutex<RawLockdep<R>, T> {
    /// Unlocks fairly a mutex whose guard was forgotten.
    ///
    /// # Safety
    ///
    /// As for [`force_unlock`](Self::force_unlock).
    #[inline]
    pub unsafe fn force_unlock_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.force_unlock_fair() }
    }
}

impl<R: RawMutexTimed, T: ?Sized> GenericMutex<RawLockdep<R>, T> {
    /// Tries to lock, giving up after `timeout`; checked like a blocking lock.
    #[inline]
    #[track_caller]
    pub fn try_lock_for(&self, timeout: R::Duration) -> Option<lock_api::MutexGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_for_with(0, timeout) {
            // SAFETY: the lock was just acquired.
            Some(unsafe { self.inner.make_guard_unchecked() })
        } else {
            None
        }
    }

    /// Tries to lock, giving up at `timeout`; checked like a blocking lock.
    #[inline]
    #[track_caller]
    pub fn try_lock_until(&self, timeout: R::Instant) -> Option<lock_api::MutexGuard<'_, RawLockdep<R>, T>> {
        if self.raw_lock().try_lock_until_with(0, timeout) {
            // SAFETY: the lock was just acquired.
            Some(unsafe { self.inner.make_guard_unchecked() })
        } else {
            None
        }
    }

    /// Tries to lock through an `Arc`, giving up after `timeout`.
    #[cfg(feature = "arc_lock")]
    #[inline]
    pub fn try_lock_arc_for(
        self: &std::sync::Arc<Self>,
        timeout: R::Duration,
    ) -> Option<lock_api::ArcMutexGuard<RawLockdep<R>, T>> {
        self.arc_lock_api().try_lock_arc_for(timeout)
    }

    /// Tries to lock through an `Arc`, giving up at `timeout`.
    #[cfg(feature = "arc_lock")]
    #[inline]
    pub fn try_lock_arc_until(
        self: &std::sync::Arc<Self>,
        timeout: R::Instant,
    ) -> Option<lock_api::ArcMutexGuard<RawLockdep<R>, T>> {
        self.arc_lock_api().try_lock_arc_until(timeout)
    }
}

impl<R: lock_api::RawMutex, T: ?Sized> lockdep::AsLockdepMap for GenericMutex<RawLockdep<R>, T> {
    fn as_lockdep_map(&self) -> &lockdep::LockdepMap {
        self.raw_lock().map()
    }
}

impl<R: lock_api::RawMutex, T: Default> Default for GenericMutex<RawLockdep<R>, T> {
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<R: lock_api::RawMutex, T> From<T> for GenericMutex<RawLockdep<R>, T> {
    #[track_caller]
    fn from(t: T) -> Self {
        Self::new(t)
    }
}

impl<R: lock_api::RawMutex, T: ?Sized + fmt::Debug> fmt::Debug for GenericMutex<RawLockdep<R>, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Peeks with the uninstrumented raw lock: formatting is no acquisition.
        let raw = self.raw_lock().inner();
        if raw.try_lock() {
            // SAFETY: locked just above by this thread; unlocked right after.
            let data: &T = unsafe { &*self.inner.data_ptr() };
            let result = f.debug_struct("Mutex").field("data", &data).finish();
            // SAFETY: locked above by this thread.
            unsafe { raw.unlock() };
            result
        } else {
            struct LockedPlaceholder;
            impl fmt::Debug for LockedPlaceholder {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("<locked>")
                }
            }
            f.debug_struct("Mutex").field("data", &LockedPlaceholder).finish()
        }
    }
}

#[cfg(feature = "serde")]
impl<R: lock_api::RawMutex, T: ?Sized + serde::Serialize> serde::Serialize for GenericMutex<RawLockdep<R>, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lock().serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, R: lock_api::RawMutex, T: serde::Deserialize<'de>> serde::Deserialize<'de>
    for GenericMutex<RawLockdep<R>, T>
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self::new)
    }
}
