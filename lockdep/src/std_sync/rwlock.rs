//! [`RwLock`]: `std::sync::RwLock` with its acquisitions validated.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use super::mutex::map_lock_result;
use super::site::{Finally, Held, SiteMap};
use crate::assert::AsLockdepMap;
use crate::map::LockdepMap;
use crate::{ENABLED, hooks};

/// `std::sync::RwLock`, validated: the same API and poisoning (a
/// `std::sync::RwLock` inside), every acquisition checked at your call site.
///
/// **Readers are non-recursive** ([`Read::Shared`](crate::Read::Shared), the
/// kernel's rwsem `down_read`): std documents that `read` may panic or
/// deadlock if this thread already holds the lock, and on Linux (futex)
/// and others a new reader waits behind a *waiting* writer, so a thread
/// that takes a read lock twice deadlocks as soon as a writer queues in
/// between. The validator therefore reports a second `read` of one class
/// on one thread, and read-side inversions with writers, as rwsem rules say.
///
/// **Class:** as for [`Mutex`](super::Mutex): one per construction site and
/// data type, `RwLock<T>@file:line`; `new` is a `#[track_caller] const fn`.
///
/// ```
/// use lockdep::std_sync::RwLock;
///
/// let config = RwLock::new(String::from("a"));
/// config.write().unwrap().push('b');
/// assert_eq!(*config.read().unwrap(), "ab");
/// ```
pub struct RwLock<T: ?Sized> {
    dep: SiteMap,
    inner: std::sync::RwLock<T>,
}

/// Shared read access to an [`RwLock`]'s data. Never `Send`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    held: Held<'a>,
    inner: std::sync::RwLockReadGuard<'a, T>,
}

/// Exclusive write access to an [`RwLock`]'s data; dropping it while
/// panicking poisons the lock, as std's does. Never `Send`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    held: Held<'a>,
    inner: std::sync::RwLockWriteGuard<'a, T>,
}

impl<T> RwLock<T> {
    /// A new unlocked lock whose class is this call site and `T`.
    #[track_caller]
    pub const fn new(t: T) -> RwLock<T> {
        RwLock { dep: SiteMap::new::<T>("RwLock", Location::caller()), inner: std::sync::RwLock::new(t) }
    }

    /// Consumes the lock, returning the data (`Err` with the data if poisoned).
    pub fn into_inner(self) -> LockResult<T> {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for shared read access, blocking while a writer holds it (or,
    /// on most platforms, waits for it). Validated as a non-recursive reader
    /// before blocking.
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let map = self.dep.map();
        let undo = Finally(|| hooks::rwsem_release(map));
        hooks::rwsem_acquire_read(map, 0, false);
        let result = if ENABLED {
            match self.inner.try_read() {
                Ok(g) => Ok(g),
                Err(TryLockError::Poisoned(p)) => Err(p),
                Err(TryLockError::WouldBlock) => {
                    hooks::lock_contended(map);
                    self.inner.read()
                }
            }
        } else {
            self.inner.read()
        };
        std::mem::forget(undo);
        hooks::lock_acquired(map);
        map_lock_result(result, |inner| RwLockReadGuard { held: Held::new(map), inner })
    }

    /// Tries to lock for read without blocking; recorded (as a trylock) only
    /// when it took the lock.
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        let map = self.dep.map();
        let (inner, poisoned) = match self.inner.try_read() {
            Ok(g) => (g, false),
            Err(TryLockError::Poisoned(p)) => (p.into_inner(), true),
            Err(TryLockError::WouldBlock) => return Err(TryLockError::WouldBlock),
        };
        hooks::rwsem_acquire_read(map, 0, true);
        let guard = RwLockReadGuard { held: Held::new(map), inner };
        if poisoned { Err(TryLockError::Poisoned(PoisonError::new(guard))) } else { Ok(guard) }
    }

    /// Locks for exclusive write access, blocking until it is free. Validated
    /// as a writer before blocking.
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let map = self.dep.map();
        let undo = Finally(|| hooks::rwsem_release(map));
        hooks::rwsem_acquire(map, 0, false);
        let result = if ENABLED {
            match self.inner.try_write() {
                Ok(g) => Ok(g),
                Err(TryLockError::Poisoned(p)) => Err(p),
                Err(TryLockError::WouldBlock) => {
                    hooks::lock_contended(map);
                    self.inner.write()
                }
            }
        } else {
            self.inner.write()
        };
        std::mem::forget(undo);
        hooks::lock_acquired(map);
        map_lock_result(result, |inner| RwLockWriteGuard { held: Held::new(map), inner })
    }

    /// Tries to lock for write without blocking; recorded (as a trylock) only
    /// when it took the lock. If the validator's report panics here
    /// (`Action::Panic`), std poisons the lock on the way out.
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        let map = self.dep.map();
        let (inner, poisoned) = match self.inner.try_write() {
            Ok(g) => (g, false),
            Err(TryLockError::Poisoned(p)) => (p.into_inner(), true),
            Err(TryLockError::WouldBlock) => return Err(TryLockError::WouldBlock),
        };
        hooks::rwsem_acquire(map, 0, true);
        let guard = RwLockWriteGuard { held: Held::new(map), inner };
        if poisoned { Err(TryLockError::Poisoned(PoisonError::new(guard))) } else { Ok(guard) }
    }

    /// Whether the lock is poisoned (std's flag).
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Clears the poisoned flag (std's).
    #[inline]
    pub fn clear_poison(&self) {
        self.inner.clear_poison()
    }

    /// A mutable reference to the data; no locking needed.
    #[inline]
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.inner.get_mut()
    }
}

impl<T: ?Sized> AsLockdepMap for RwLock<T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.dep.map()
    }
}

impl<T> From<T> for RwLock<T> {
    /// A new lock whose class is the caller's location.
    #[track_caller]
    fn from(t: T) -> Self {
        RwLock::new(t)
    }
}

impl<T: Default> Default for RwLock<T> {
    /// A lock holding `T::default()`, whose class is the caller's location.
    #[track_caller]
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    /// std's format; peeking at the data is not seen by the validator.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Deref, the release hook on drop, `AsLockdepMap`, `Debug` and `Display`
/// for a guard type.
macro_rules! guard_impls {
    ($guard:ident) => {
        impl<T: ?Sized> Deref for $guard<'_, T> {
            type Target = T;

            #[inline]
            fn deref(&self) -> &T {
                &self.inner
            }
        }

        impl<T: ?Sized> Drop for $guard<'_, T> {
            /// The release hook; std's guard, dropped right after (also if
            /// the hook unwinds), unlocks.
            #[inline]
            fn drop(&mut self) {
                hooks::rwsem_release(self.held.map());
            }
        }

        impl<T: ?Sized> AsLockdepMap for $guard<'_, T> {
            fn as_lockdep_map(&self) -> &LockdepMap {
                self.held.map()
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.inner, f)
            }
        }

        impl<T: ?Sized + fmt::Display> fmt::Display for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.inner, f)
            }
        }
    };
}

guard_impls!(RwLockReadGuard);
guard_impls!(RwLockWriteGuard);

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}
