//! Instrumented lock types over `lock_api`: drop-ins for parking_lot's locks
//! whose acquisitions the validator checks.
//!
//! ## The principal types
//!
//! * [`Mutex`] — mutual exclusion (kernel `struct mutex`).
//! * [`RwLock`] — reader-writer lock: [`read`](RwLock::read) is a
//!   [`Shared`](crate::Read::Shared) reader (rwsem semantics, because
//!   parking_lot readers queue behind waiting writers),
//!   [`read_recursive`](RwLock::read_recursive) a
//!   [`SharedRecursive`](crate::Read::SharedRecursive) one; upgradable reads
//!   and downgrades are supported.
//! * [`ReentrantMutex`] — a mutex its owner may lock again.
//! * [`Condvar`] — a condition variable whose wait releases and re-acquires
//!   the mutex in the validator too.
//! * [`RawLockdep`] — the raw layer under all of them: any `lock_api` raw lock
//!   plus a [`LockdepMap`](crate::LockdepMap), implementing the same `lock_api` raw traits and
//!   calling the hooks in the kernel's order. Use it to instrument another
//!   raw lock (`GenericMutex<MyRawMutex, T>`); [`StdRawMutex`] is such a raw mutex
//!   built from `std` alone.
//!
//! These are parking_lot 0.12's locks, on `lock_api` 0.4 (the mutexes over
//! lockdep's own raw mutex, see [`DefaultRawMutex`]). With the
//! `parking_lot-0.13` feature, `lockdep::sync::lock_api05` has the same types
//! on `lock_api` 0.5, over parking_lot 0.13's raw locks.
//!
//! Guards are `lock_api`'s ([`MutexGuard`] and friends are aliases), with the
//! usual `map`/`unlocked`/`downgrade` functions; they are `#[must_use]` and
//! never `Send`, in every configuration (a lock must be released by the
//! thread whose held-lock stack has it). Neither of these compiles:
//!
//! ```compile_fail
//! #![deny(unused_must_use)]
//! let m = lockdep::sync::Mutex::new(0);
//! m.lock(); // locks and unlocks at once
//! ```
//!
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! let m = lockdep::sync::RwLock::new(0);
//! send(m.read());
//! ```
//!
//! ## Never into a certain hang
//!
//! Locking again what this thread already holds, in a mode that must wait
//! for that hold — [`Mutex::lock`] twice, [`RwLock::write`] under a
//! [`read`](RwLock::read), a `read` under a `write` — would block for ever.
//! The lock refuses instead: it panics at your line with the lock's name and
//! where it was taken first, whatever the validator's action, and the
//! validator's report is stored (and printed, under `warn` and `panic`) as
//! for any other problem. (With `panic = "abort"`, the panic message is all
//! there is.) Read after read is reported but not refused: it hangs only if
//! a writer queues in between.
//!
//! ```
//! use lockdep::sync::RwLock;
//! use lockdep::{Config, ReportKind, Validator};
//!
//! let config = RwLock::new(1);
//! let v = Validator::new(Config::collect());
//! // Compiled out nothing is checked, and this would really hang.
//! if lockdep::ENABLED {
//!     v.scope(|| {
//!         let r = config.read();
//!         let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
//!             *config.write() += *r; // write under this thread's own read lock
//!         }));
//!         assert!(refused.is_err());
//!     });
//!     assert_eq!(v.reports()[0].kind(), ReportKind::RecursiveLocking);
//! }
//! ```
//!
//! ## Lock classes
//!
//! By default **every lock created at one source location is one class**:
//! `new` is `#[track_caller]` and its caller's `file:line:column` is the
//! class, like the kernel's one static key per `mutex_init()` call site.
//! Reports name such a lock after its data type and its line,
//! `Mutex<Account>@src/bank.rs:12` (the column too if two were made on one
//! line), and show an address only to tell two locks of one name apart. So
//! two accounts built by the same `Account::new` share a class, and locking
//! both needs [`lock_nested`](Mutex::lock_nested) (or a nest lock, see
//! [`lock_nest_lock`](Mutex::lock_nest_lock)) to tell the validator the
//! nesting is intended. To choose classes yourself, pass a key:
//! [`Mutex::with_key`] (a `const fn`, for `static`s), or let
//! [`new_mutex!`](crate::new_mutex) / [`lock_class_key!`](crate::lock_class_key)
//! mint a static key at the macro's call site. `new` cannot be `const`
//! (`#[track_caller]` locations are not available in constants); statics use
//! `with_key`.
//!
//! ## Cost when compiled out
//!
//! Without validation, [`LockdepMap`](crate::LockdepMap) is zero-sized, every hook is an empty
//! inline function, and `Mutex<T>` / `RwLock<T>` / `ReentrantMutex<T>`, their
//! guards and [`Condvar`] have exactly the size of parking_lot's (asserted at
//! compile time below; `Condvar` is one word); lock + unlock
//! executes the same instructions as parking_lot's (`docs/zero-cost.md`).
//!
//! ```
//! use lockdep::sync::Mutex;
//! use lockdep::{Config, ReportKind, Validator};
//!
//! let accounts = Mutex::new(100);
//! let audit_log = Mutex::new(Vec::<i32>::new());
//! let v = Validator::new(Config::collect());
//! v.scope(|| {
//!     {
//!         let a = accounts.lock();
//!         audit_log.lock().push(*a); // accounts -> audit_log
//!     }
//!     let log = audit_log.lock();
//!     let _a = accounts.lock(); // audit_log -> accounts: a possible ABBA deadlock
//!     drop(log);
//! });
//! if lockdep::ENABLED {
//!     assert_eq!(v.reports()[0].kind(), ReportKind::CircularDependency);
//! }
//! ```

use std::panic::Location;

use crate::ENABLED;

mod condvar;
#[cfg(feature = "lock_api-0.5")]
pub mod lock_api05;
mod mutex;
pub mod park;
mod raw;
mod reentrant;
mod rwlock;
mod std_raw;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{GenericMutex, MappedMutexGuard, Mutex, MutexGuard};
pub use raw::RawLockdep;
pub use reentrant::{GenericReentrantMutex, ReentrantMutex, ReentrantMutexGuard};
pub use rwlock::{
    GenericRwLock, MappedRwLockReadGuard, MappedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard,
    RwLockWriteGuard,
};
pub use std_raw::{StdMutex, StdRawMutex};

/// The raw mutex under [`Mutex<T>`], [`ReentrantMutex<T>`] and their guards:
/// lockdep's own [`park::RawMutex`], with or without the `parking_lot`
/// feature.
///
/// It is parking_lot 0.12's one-byte mutex in behaviour (one
/// compare-and-swap to lock and to unlock when uncontended, a short spin,
/// then the same parking lot, `parking_lot_core`, with eventual fairness),
/// and as fast: compiled out, `Mutex<T>` times as `parking_lot::Mutex<T>`.
/// It differs in one place the validator needs: its `try_lock` is one
/// compare-and-swap, where parking_lot's loads the state and tests it
/// first. A validated `lock` tries first (so that a lock it would wait for
/// is validated before the wait), so that load was on every validated
/// acquisition (docs/PERFORMANCE.md, round 13, has what it cost).
/// `GenericMutex<parking_lot::RawMutex, T>` is still available, and
/// validated the same way.
pub type DefaultRawMutex = park::RawMutex;

/// The raw rwlock under [`RwLock<T>`] and its guards: parking_lot's with the
/// `parking_lot` feature (the default), lockdep's own [`park::RawRwLock`]
/// without it.
#[cfg(feature = "parking_lot")]
pub type DefaultRawRwLock = parking_lot::RawRwLock;
/// The raw rwlock under [`RwLock<T>`] and its guards: parking_lot's with the
/// `parking_lot` feature (the default), lockdep's own [`park::RawRwLock`]
/// without it.
#[cfg(not(feature = "parking_lot"))]
pub type DefaultRawRwLock = park::RawRwLock;

/// The thread identity of [`ReentrantMutex<T>`]: parking_lot's with the
/// `parking_lot` feature (the default), [`park::RawThreadId`] without it.
#[cfg(feature = "parking_lot")]
pub type DefaultThreadId = parking_lot::RawThreadId;
/// The thread identity of [`ReentrantMutex<T>`]: parking_lot's with the
/// `parking_lot` feature (the default), [`park::RawThreadId`] without it.
#[cfg(not(feature = "parking_lot"))]
pub type DefaultThreadId = park::RawThreadId;

/// The subclass for "one level down" (kernel `SINGLE_DEPTH_NESTING`): lock a
/// parent normally and its child with `lock_nested(SINGLE_DEPTH_NESTING)`.
pub const SINGLE_DEPTH_NESTING: u32 = 1;

/// The map of a lock made by a `#[track_caller]` constructor at `site`:
/// its class is the site and `T`, its name `kind<T>@file:line`.
fn site_map<T: ?Sized>(kind: &'static str, site: &'static Location<'static>) -> crate::LockdepMap {
    // (In a child of fork() the table may be locked for ever by a thread
    // that no longer exists.)
    if ENABLED && !crate::engine::in_forked_child() {
        crate::names::note_site(kind, std::any::type_name::<T>(), site);
    }
    crate::LockdepMap::with_site_typed::<T>(kind, site)
}

/// A `&'static LockClassKey` unique to this macro call site: a fresh static
/// key, for constructors that take one.
///
/// ```
/// use lockdep::sync::Mutex;
/// let key = lockdep::lock_class_key!();
/// let a = Mutex::with_key(1, key);
/// # let _ = a;
/// ```
#[macro_export]
macro_rules! lock_class_key {
    () => {{
        static __LOCKDEP_KEY: $crate::LockClassKey = $crate::LockClassKey::new();
        &__LOCKDEP_KEY
    }};
}

/// A [`Mutex`](crate::sync::Mutex) of a class minted for this call site
/// (a static key), named after its data type and the call site
/// (`Mutex<u32>@src/main.rs:7`) or `name`.
///
/// Unlike [`Mutex::new`](crate::sync::Mutex::new), the class comes from a
/// real key, so it stays one class however the expression is reached.
///
/// ```
/// let m = lockdep::new_mutex!(0u32);
/// let named = lockdep::new_mutex!(Vec::<u8>::new(), "inbox");
/// *m.lock() += 1;
/// # let _ = named;
/// ```
#[macro_export]
macro_rules! new_mutex {
    ($value:expr $(,)?) => {
        $crate::sync::Mutex::with_key_at($value, $crate::lock_class_key!(), ::core::panic::Location::caller())
    };
    ($value:expr, $name:expr $(,)?) => {
        $crate::sync::Mutex::named_with_key($value, $name, $crate::lock_class_key!())
    };
}

/// An [`RwLock`](crate::sync::RwLock) of a class minted for this call site,
/// named after the call site or `name`; see [`new_mutex!`](crate::new_mutex).
#[macro_export]
macro_rules! new_rwlock {
    ($value:expr $(,)?) => {
        $crate::sync::RwLock::with_key_at($value, $crate::lock_class_key!(), ::core::panic::Location::caller())
    };
    ($value:expr, $name:expr $(,)?) => {
        $crate::sync::RwLock::named_with_key($value, $name, $crate::lock_class_key!())
    };
}

// ---------------------------------------------------------------------------
// Zero cost when compiled out: the same sizes as parking_lot's types.

#[cfg(all(not(lockdep_on), feature = "parking_lot"))]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<crate::LockdepMap>() == 0);
    assert!(size_of::<Mutex<u64>>() == size_of::<parking_lot::Mutex<u64>>());
    assert!(size_of::<Mutex<[u8; 3]>>() == size_of::<parking_lot::Mutex<[u8; 3]>>());
    assert!(size_of::<MutexGuard<'static, u64>>() == size_of::<parking_lot::MutexGuard<'static, u64>>());
    assert!(size_of::<RwLock<u64>>() == size_of::<parking_lot::RwLock<u64>>());
    assert!(size_of::<RwLock<(u8, u16)>>() == size_of::<parking_lot::RwLock<(u8, u16)>>());
    assert!(size_of::<RwLockReadGuard<'static, u64>>() == size_of::<parking_lot::RwLockReadGuard<'static, u64>>());
    assert!(size_of::<RwLockWriteGuard<'static, u64>>() == size_of::<parking_lot::RwLockWriteGuard<'static, u64>>());
    assert!(
        size_of::<RwLockUpgradableReadGuard<'static, u64>>()
            == size_of::<parking_lot::RwLockUpgradableReadGuard<'static, u64>>()
    );
    assert!(size_of::<ReentrantMutex<u64>>() == size_of::<parking_lot::ReentrantMutex<u64>>());
    assert!(size_of::<Condvar>() == size_of::<parking_lot::Condvar>());
};

// Compiled out, the condvar carries no map: one word, like parking_lot's (a
// pointer), with or without the `parking_lot` feature. (Compiled in, it also
// names its construction site, as a waitable object.)
#[cfg(not(lockdep_on))]
const _: () = assert!(std::mem::size_of::<Condvar>() == std::mem::size_of::<usize>());

// Guards are never `Send`, in every configuration: if one were, the two
// blanket impls below would both apply and the `NOT_SEND` items would be
// ambiguous, failing the build.
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
const _: () = <RwLockUpgradableReadGuard<'static, u64> as AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <ReentrantMutexGuard<'static, u64> as AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <MappedMutexGuard<'static, u64> as AmbiguousIfSend<_>>::NOT_SEND;
