//! `std::sync`, validated: change the import, keep the code.
//!
//! ```
//! // Before: use std::sync::{Arc, Mutex};
//! use lockdep::std_sync::{Arc, Mutex};
//!
//! let accounts = Arc::new(Mutex::new(100));
//! let audit_log = Arc::new(Mutex::new(Vec::<i32>::new()));
//! let v = lockdep::Validator::new(lockdep::Config::collect());
//! v.scope(|| {
//!     {
//!         let a = accounts.lock().unwrap();
//!         audit_log.lock().unwrap().push(*a); // accounts -> audit_log
//!     }
//!     let log = audit_log.lock().unwrap();
//!     let _a = accounts.lock().unwrap(); // audit_log -> accounts: a possible ABBA deadlock
//!     drop(log);
//! });
//! if lockdep::ENABLED {
//!     let report = &v.reports()[0];
//!     assert_eq!(report.kind(), lockdep::ReportKind::CircularDependency);
//!     // Reported at the line that took the lock, in the class named after
//!     // the line that made it.
//!     assert!(report.lock().unwrap().class().starts_with("Mutex<i32>@"));
//! }
//! ```
//!
//! A module written against `std::sync` compiles against this one unchanged:
//! `use std::sync::Mutex;` → `use lockdep::std_sync::Mutex;`, or
//! `use std::sync as sync;` → `use lockdep::std_sync as sync;`, is the whole
//! change.
//!
//! ## The principal types
//!
//! * [`Mutex`], [`RwLock`] and their guards ([`MutexGuard`],
//!   [`RwLockReadGuard`], [`RwLockWriteGuard`]) — each wraps std's own
//!   type, so poisoning, fairness and the platform's lock are std's; what
//!   is added is a lockdep hook on every acquisition and release.
//! * [`Condvar`] — std's condvar for these guards; a wait releases and
//!   re-acquires the mutex in the validator too, and a wait and a notify
//!   are a wait and an event of the condvar (book chapter 16: deadlocks
//!   through waits).
//! * The waitable objects, std's inside, with std's API: [`mpsc`] (a
//!   blocking receive and a send into a full channel are waits, sends and
//!   receives their events), [`Once`] and [`OnceLock`] (the initialiser
//!   runs holding the cell's pseudo-lock), [`Barrier`] (arrival and wait).
//!   Compiled out, each has the size of std's.
//! * Everything else is **std's own item, re-exported**: [`LockResult`],
//!   [`TryLockResult`], [`TryLockError`], [`PoisonError`],
//!   [`WaitTimeoutResult`], [`BarrierWaitResult`] and [`OnceState`] (so a
//!   `match` on them, or a function that names them, works with both), and
//!   [`Arc`], [`Weak`], [`LazyLock`], [`atomic`]. `LazyLock` blocks other
//!   threads while one runs the initializer, but the validator does not
//!   see it.
//!
//! The API is std's stable API at this crate's minimum Rust version (1.85):
//! `RwLockWriteGuard::downgrade` (std 1.92) and std's unstable items (mapped
//! guards, `Mutex::data_ptr`, `ReentrantLock`, …) are not offered.
//!
//! ## Why `lockdep::std_sync` and not `lockdep::std::sync`
//!
//! A public item named `std` at the crate root breaks every program that
//! has both `use lockdep::*;` and `use std::…;`: the glob import and the
//! `std` crate then make `std` ambiguous (error E0659). So the facade is
//! one module, `std_sync`, in place of `std::sync`.
//!
//! ## Lock classes
//!
//! Every lock of one data type constructed at one source location is one
//! class, named `Mutex<T>@file:line` (or `RwLock<T>@…`), like the kernel's
//! static key per `mutex_init()` call site — with the type added, so that a
//! generic helper making every lock of a program (`fn new_lock<T>(t: T) ->
//! Mutex<T>`) still makes one class per type. `new` is a
//! `#[track_caller] const fn`, so
//!
//! ```
//! use lockdep::std_sync::Mutex;
//! static USERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
//! static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new()); // another class
//! USERS.lock().unwrap().push(1);
//! ```
//!
//! compiles, and the two statics are two classes. Two locks made by one
//! constructor (`Account::new` making a `Mutex`) are one class, and std has
//! no `lock_nested` to tell the validator that taking two of them is
//! ordered; use [`lockdep::sync`](crate::sync) for those locks.
//!
//! ## Read locks
//!
//! [`RwLock::read`] is a non-recursive reader
//! ([`Read::Shared`](crate::Read::Shared), rwsem `down_read`): on most
//! platforms std's readers queue behind a waiting writer, so a thread that
//! takes a read lock it already holds can deadlock, and the validator says
//! so.
//!
//! ## Poisoning
//!
//! std's own: a guard dropped while its thread panics poisons the lock,
//! `lock` then returns `Err(PoisonError)` holding the guard, and
//! [`Mutex::clear_poison`] clears it. The validator's bookkeeping does not
//! depend on it: a poisoned guard is held and released like any other.
//!
//! ## Cost when compiled out
//!
//! Without validation every hook is empty and every type here has exactly
//! the size of std's (asserted at compile time below): the lock's map and
//! the guard's way back to it are zero-sized.
//!
//! Guards are never `Send`, like std's, in every configuration.

mod barrier;
mod condvar;
pub mod mpsc;
mod mutex;
mod once;
mod rwlock;
mod site;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::Condvar;
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceLock, OnceState};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// An initial value for a [`Once`] (std's deprecated `ONCE_INIT`).
#[deprecated(note = "the `Once::new()` function is now preferred", since = "1.38.0")]
#[allow(clippy::declare_interior_mutable_const)] // std's is the same constant
pub const ONCE_INIT: Once = Once::new();
pub use std::sync::{
    Arc, LazyLock, LockResult, PoisonError, TryLockError, TryLockResult, WaitTimeoutResult, Weak, atomic,
};

// ---------------------------------------------------------------------------
// Zero cost when compiled out: the sizes of std's types.

#[cfg(not(lockdep_on))]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<Mutex<u64>>() == size_of::<std::sync::Mutex<u64>>());
    assert!(size_of::<Mutex<[u8; 3]>>() == size_of::<std::sync::Mutex<[u8; 3]>>());
    assert!(size_of::<Mutex<()>>() == size_of::<std::sync::Mutex<()>>());
    assert!(size_of::<MutexGuard<'static, u64>>() == size_of::<std::sync::MutexGuard<'static, u64>>());
    assert!(size_of::<MutexGuard<'static, [u8]>>() == size_of::<std::sync::MutexGuard<'static, [u8]>>());
    assert!(size_of::<RwLock<u64>>() == size_of::<std::sync::RwLock<u64>>());
    assert!(size_of::<RwLock<(u8, u16)>>() == size_of::<std::sync::RwLock<(u8, u16)>>());
    assert!(size_of::<RwLockReadGuard<'static, u64>>() == size_of::<std::sync::RwLockReadGuard<'static, u64>>());
    assert!(size_of::<RwLockWriteGuard<'static, u64>>() == size_of::<std::sync::RwLockWriteGuard<'static, u64>>());
    assert!(size_of::<Condvar>() == size_of::<std::sync::Condvar>());
};

// Send, Sync and unwind safety exactly as std's: the locks are `Send`/`Sync`
// when std's are (checked with a `Send`-but-not-`Sync` payload) and unwind
// safe whatever the data (poisoning covers it), the guards are `Sync` for
// `Sync` data.
const _: () = {
    fn send_sync<T: ?Sized + Send + Sync>() {}
    fn sync<T: ?Sized + Sync>() {}
    fn unwind_safe<T: ?Sized + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    #[allow(dead_code)]
    fn facts() {
        type NotSync = std::cell::Cell<u8>;
        unwind_safe::<Mutex<NotSync>>();
        unwind_safe::<RwLock<NotSync>>();
        unwind_safe::<Condvar>();
        send_sync::<Mutex<NotSync>>();
        send_sync::<Mutex<[u8]>>();
        send_sync::<RwLock<u8>>();
        send_sync::<Condvar>();
        sync::<MutexGuard<'static, u8>>();
        sync::<RwLockReadGuard<'static, u8>>();
        sync::<RwLockWriteGuard<'static, u8>>();
    }
};

// Guards are never `Send`, in every configuration: if one were, both
// blanket impls below would apply and `NOT_SEND` would be ambiguous.
#[allow(dead_code)]
trait AmbiguousIfSend<A> {
    const NOT_SEND: () = ();
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
#[allow(dead_code)]
struct IsSend;
impl<T: ?Sized + Send> AmbiguousIfSend<IsSend> for T {}

const _: () = <MutexGuard<'static, u64> as AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <RwLockReadGuard<'static, u64> as AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <RwLockWriteGuard<'static, u64> as AmbiguousIfSend<_>>::NOT_SEND;
// Not `Sync` for data that is not `Sync`, like std's `RwLock`.
const _: () = <RwLock<std::cell::Cell<u8>> as AmbiguousIfSync<_>>::NOT_SYNC;

#[allow(dead_code)]
trait AmbiguousIfSync<A> {
    const NOT_SYNC: () = ();
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
#[allow(dead_code)]
struct IsSync;
impl<T: ?Sized + Sync> AmbiguousIfSync<IsSync> for T {}
