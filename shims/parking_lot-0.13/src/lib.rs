//! # parking_lot 0.13, validated by lockdep
//!
//! A drop-in replacement for [parking_lot](https://docs.rs/parking_lot/0.13)
//! 0.13 (over `lock_api` 0.5) whose every lock acquisition is checked by
//! [`lockdep`](https://docs.rs/lockdep), the lock-order validator:
//!
//! ```toml
//! [patch.crates-io]
//! parking_lot = { path = "…/lockdep-rs/shims/parking_lot-0.13" }
//! ```
//!
//! Every crate in the build that asks for `parking_lot = "0.13"` then gets
//! this one. `LOCKDEP_*` environment variables configure the validator (see
//! `lockdep::Config::from_env`); it is compiled in whatever the build profile.
//!
//! ## The principal types
//!
//! parking_lot 0.13's: [`Mutex`], [`FairMutex`], [`RwLock`],
//! [`RecursiveRwLock`], [`ReentrantMutex`], [`Condvar`], [`Once`], the
//! guards (`lock_api` 0.5's) and the raw types [`RawMutex`],
//! [`RawFairMutex`], [`RawRwLock`], [`RawRwLockRecursive`], [`RawCondvar`],
//! [`RawThreadId`] implementing `lock_api` 0.5's traits.
//!
//! ## Lock classes
//!
//! A lock's class is **the place it was constructed**: the lock types'
//! `new` is a `#[track_caller]` `const fn`, so the locks one `Mutex::new(..)`
//! expression makes (one `static`, one line of a constructor) are one class.
//! Everything else is `lock_api` 0.5's own API, reached through `Deref`: its
//! acquiring methods are `#[track_caller]`, and so are the raw locks' here,
//! so lockdep reports acquisitions at the caller's line.
//!
//! ## Differences from parking_lot
//!
//! * The lock types are thin wrappers that dereference to the `lock_api`
//!   lock (parking_lot's are aliases of it): `MutexGuard::mutex(&guard)`
//!   returns the `lock_api` lock inside, and `const` uses of `get_mut` /
//!   `data_ptr` need `as_lock_api()`.
//! * Guards are never `Send`, even with `send_guard`: a lock must be released
//!   by the thread that took it, for the validator's per-thread stacks.
//! * `deadlock::check_deadlock` (feature `deadlock_detection`) finds nothing:
//!   lockdep reports the lock order that can deadlock instead.
//! * Locks made through `lock_api` directly (`RawMutex::INIT`) share one class.
//! * [`Condvar`] is the shim's own type rather than an alias of
//!   `lock_api::Condvar<RawCondvar>`: it is a waitable object classed by the
//!   line that made it (lockdep's book, chapter 16), and it reports waits
//!   and re-locks at the caller's line. Same methods, but no `raw()`, and
//!   its [`WaitTimeoutResult`] is the shim's (lock_api's cannot be built
//!   outside lock_api). `lock_api::Condvar<RawCondvar>` still works, without
//!   the waitable object.
//!
//! ```
//! use parking_lot::{Mutex, RecursiveRwLock};
//! static CONFIG: RecursiveRwLock<u32> = RecursiveRwLock::new(0); // one class
//! let cache = Mutex::new(Vec::new()); // another: this line
//! {
//!     let c = CONFIG.read();
//!     let again = CONFIG.read(); // recursive reads are fine
//!     cache.lock().push(*c + *again); // CONFIG -> cache: recorded
//! }
//! assert_eq!(cache.lock().len(), 1);
//! ```

#![warn(missing_docs)]

mod condvar;
mod mutex;
mod once;
mod raw;
mod remutex;
mod rwlock;

#[cfg(feature = "deadlock_detection")]
pub mod deadlock {
    //! parking_lot's deadlock detector API. The shim's locks do not report to
    //! it, so [`check_deadlock`] finds nothing: lockdep reports the lock
    //! orders that can deadlock when it first sees them.
    pub use parking_lot_core::deadlock::check_deadlock;
}

pub use condvar::{Condvar, RawCondvar, WaitTimeoutResult};
pub use mutex::{FairMutex, FairMutexGuard, MappedFairMutexGuard, MappedMutexGuard, Mutex, MutexGuard};
pub use once::{Once, OnceState};
pub use raw::{RawFairMutex, RawMutex, RawRwLock, RawRwLockRecursive, RawThreadId};
pub use remutex::{MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};
pub use rwlock::{
    MappedRecursiveRwLockReadGuard, MappedRecursiveRwLockWriteGuard, MappedRwLockReadGuard, MappedRwLockWriteGuard,
    RecursiveRwLock, RecursiveRwLockReadGuard, RecursiveRwLockUpgradableReadGuard, RecursiveRwLockWriteGuard, RwLock,
    RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};

pub use ::lock_api;

#[cfg(feature = "arc_lock")]
pub use lock_api::{
    ArcMutexGuard, ArcReentrantMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard,
};

/// A `LockdepMap` whose class is the caller's location and `T` (so that a
/// crate's generic helper, `fn new<T>(t: T) -> Mutex<T>`, still makes one
/// class per type), named after what
/// the lock is and where it was made: `Mutex<Account>@src/bank.rs:12` (built
/// by lockdep at its first use, so that this can be a `const fn`).
#[track_caller]
const fn site_map<T: ?Sized>(kind: &'static str) -> lockdep::LockdepMap {
    lockdep::LockdepMap::with_site_typed::<T>(kind, core::panic::Location::caller())
}

/// The `Debug` text for data behind a lock held elsewhere.
struct LockedPlaceholder;

impl core::fmt::Debug for LockedPlaceholder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("<locked>")
    }
}

/// Implements the parts of a lock wrapper that are the same for every lock:
/// `Deref`/`DerefMut` to the `lock_api` lock, `as_lock_api`, `Default`,
/// `From`, serde, and the `Arc` cast for `*_arc` methods.
macro_rules! wrapper_common {
    ($wrapper:ident [$($g:ident),*], $inner:ty) => {
        impl<$($g,)* T: ?Sized> core::ops::Deref for $wrapper<$($g,)* T> {
            type Target = $inner;
            #[inline]
            fn deref(&self) -> &$inner {
                &self.inner
            }
        }

        impl<$($g,)* T: ?Sized> core::ops::DerefMut for $wrapper<$($g,)* T> {
            #[inline]
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.inner
            }
        }

        impl<$($g,)* T: ?Sized> $wrapper<$($g,)* T> {
            /// The `lock_api` lock inside (also reached by `Deref`).
            #[inline]
            pub fn as_lock_api(&self) -> &$inner {
                &self.inner
            }

            #[cfg(feature = "arc_lock")]
            #[allow(dead_code)]
            fn arc_lock_api(self: &std::sync::Arc<Self>) -> std::sync::Arc<$inner> {
                let ptr = std::sync::Arc::into_raw(self.clone()) as *const $inner;
                // SAFETY: the wrapper is `repr(transparent)` over the
                // `lock_api` lock, so the pointer (and its metadata) is valid
                // for that type; the count taken by `clone` moves to the new
                // `Arc`.
                unsafe { std::sync::Arc::from_raw(ptr) }
            }
        }

        impl<$($g,)* T: Default> Default for $wrapper<$($g,)* T>
        where
            Self: crate::NewAtSite<T>,
        {
            #[track_caller]
            fn default() -> Self {
                <Self as crate::NewAtSite<T>>::new_at_site(T::default())
            }
        }

        impl<$($g,)* T> From<T> for $wrapper<$($g,)* T>
        where
            Self: crate::NewAtSite<T>,
        {
            #[track_caller]
            fn from(t: T) -> Self {
                <Self as crate::NewAtSite<T>>::new_at_site(t)
            }
        }

        #[cfg(feature = "serde")]
        impl<$($g,)* T: ?Sized + serde::Serialize> serde::Serialize for $wrapper<$($g,)* T>
        where
            $inner: serde::Serialize,
        {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.inner.serialize(serializer)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de, $($g,)* T: serde::Deserialize<'de>> serde::Deserialize<'de> for $wrapper<$($g,)* T>
        where
            Self: crate::NewAtSite<T>,
        {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                T::deserialize(deserializer).map(<Self as crate::NewAtSite<T>>::new_at_site)
            }
        }
    };
}
pub(crate) use wrapper_common;

/// Construction at the caller's site, for the generic impls above.
pub(crate) trait NewAtSite<T>: Sized {
    #[track_caller]
    fn new_at_site(val: T) -> Self;
}
