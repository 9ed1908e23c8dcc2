//! # parking_lot 0.12, validated by lockdep
//!
//! A drop-in replacement for [parking_lot](https://docs.rs/parking_lot/0.12)
//! 0.12 whose every lock acquisition is checked by
//! [`lockdep`](https://docs.rs/lockdep), the lock-order validator. Put it under
//! a whole dependency tree without changing a line of source:
//!
//! ```toml
//! [patch.crates-io]
//! parking_lot = { path = "…/lockdep-rs/shims/parking_lot-0.12" }
//! ```
//!
//! Every crate in the build that asks for `parking_lot = "0.12"` then gets
//! this one, and lockdep reports lock orders that can deadlock, recursive
//! locking, and the rest of its checks, the first time it sees them — without
//! the deadlock having to happen. `LOCKDEP_*` environment variables configure
//! the validator (see `lockdep::Config::from_env`); it is compiled in whatever
//! the build profile.
//!
//! ## The principal types
//!
//! The same as parking_lot's, signature for signature: [`Mutex`],
//! [`FairMutex`], [`RwLock`], [`ReentrantMutex`], [`Condvar`], [`Once`], the
//! `const_*` constructors, the guards (which are `lock_api`'s, over the raw
//! locks below) and the raw locks [`RawMutex`], [`RawFairMutex`],
//! [`RawRwLock`], [`RawThreadId`] implementing `lock_api` 0.4's traits.
//!
//! ## Lock classes
//!
//! lockdep reasons about classes of locks. Here a class is **the place a lock
//! was constructed**: `Mutex::new` (a `const fn`) is `#[track_caller]`, so
//! every lock made by the same `Mutex::new(..)` expression — the same line of
//! a constructor, or one `static` — is one class, and locks made in different
//! places are different classes. Acquisitions made through the lock types
//! (`lock`, `read`, `write`, `try_*`, …) are reported at the caller's
//! location. Locks made through `lock_api` directly (`lock_api::Mutex::<RawMutex, _>::new`,
//! `RawMutex::INIT`) share one class, and acquisitions through `lock_api`
//! (guards' `unlocked`, `lock_arc`, the raw traits) are reported at a place
//! inside lockdep; backtraces (on by default) still show the caller.
//!
//! ## Differences from parking_lot
//!
//! * Guards are never `Send`, even with the `send_guard` feature: a lock must
//!   be released by the thread that took it, for the validator's per-thread
//!   held-lock stacks.
//! * `MutexGuard::mutex(&guard)` (and the other guards' accessors) return the
//!   `lock_api` lock inside the shim's type, not the shim's type.
//! * `deadlock::check_deadlock` (feature `deadlock_detection`) never finds a
//!   deadlock: lockdep reports the lock order that can deadlock instead.
//! * The raw locks are lockdep's own (`lockdep::sync::park`, on the same
//!   `parking_lot_core`), with the same guarantees; fair unlocks of the rwlock
//!   wake every waiter to compete.
//!
//! ```
//! use parking_lot::{Mutex, RwLock};
//! static CONFIG: RwLock<u32> = RwLock::new(0); // one class: this static
//! let cache = Mutex::new(Vec::new()); // another: this line
//! {
//!     let c = CONFIG.read();
//!     cache.lock().push(*c); // CONFIG -> cache: recorded
//! }
//! assert_eq!(cache.lock().len(), 1);
//! ```

#![warn(missing_docs)]

mod condvar;
mod fair_mutex;
mod mutex;
mod remutex;
mod rwlock;

#[cfg(feature = "deadlock_detection")]
pub mod deadlock;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use fair_mutex::{FairMutex, FairMutexGuard, MappedFairMutexGuard, RawFairMutex, const_fair_mutex};
pub use lockdep::sync::park::{Once, OnceState};
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard, RawMutex, const_mutex};
pub use remutex::{MappedReentrantMutexGuard, RawThreadId, ReentrantMutex, ReentrantMutexGuard, const_reentrant_mutex};
pub use rwlock::{
    MappedRwLockReadGuard, MappedRwLockWriteGuard, RawRwLock, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard,
    RwLockWriteGuard, const_rwlock,
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
