//! # lockdep — the Linux kernel's lock validator, for Rust
//!
//! `lockdep` watches the order in which your program takes locks and reports
//! lock orders that *can* deadlock — even when the run that shows them did not
//! deadlock. It proves potential deadlocks from observed orders, class by
//! class, the way the kernel's lockdep does; it does not find deadlocks
//! between locks it never saw taken together.
//!
//! ## The principal types
//!
//! * [`Mutex`], [`RwLock`], [`ReentrantMutex`], [`Condvar`] — drop-ins for
//!   parking_lot 0.12's (built on `lock_api` 0.4, guards and all; with the
//!   `parking_lot-0.13` feature, `sync::lock_api05` has them on `lock_api`
//!   0.5, parking_lot 0.13's, see [Versions](#versions)) whose every
//!   acquisition the validator checks, reported at *your* call site. This is
//!   what most code needs: swap the locks, run the tests. [`std_sync`] has
//!   the same for `std::sync`'s API. By default every lock made on one
//!   source line is one class, named after its data type and that line
//!   (`Mutex<Account>@src/bank.rs:12`); see [`sync`].
//! * [`thread`] and the waitable objects of [`std_sync`] (`mpsc`, `Once`,
//!   `OnceLock`, `Barrier`), with [`Condvar`] — waits and their events are
//!   in the graph too: waiting for something while holding a lock that it
//!   needs is reported like an inversion (the book's chapter 16).
//! * [`Validator`] — an independent validation state with its [`Config`];
//!   [`Validator::scope`] routes a thread's checks to it (tests use one per
//!   case), and a global validator, configured from `LOCKDEP_*` environment
//!   variables, takes everything else.
//! * [`Report`] — what was found, as data ([`ReportKind`], [`LockInfo`],
//!   [`ChainStep`]) and as kernel-style text (`Display`).
//! * [`task`] — async code: held-lock stacks that follow instrumented
//!   tasks across worker threads, and the report of a task that awaits
//!   holding a synchronous lock; with the `tokio` feature, `task::spawn` and
//!   validated `tokio::sync` locks in `lockdep::tokio`.
//!
//! For lock implementers, the layer underneath:
//!
//! * [`LockClassKey`] — the identity of a lock *class*. Every check runs on
//!   classes: "some `inode` lock, then some `page` lock", not on instances.
//! * [`LockdepMap`] — what the validator knows one lock instance by; every
//!   instrumented lock embeds one.
//! * The hooks in [`hooks`] (re-exported at the crate root) — [`lock_acquire`],
//!   [`lock_release`], [`rwsem_acquire_read`], … under the kernel's names.
//!   [`sync::RawLockdep`] calls them around any `lock_api` raw lock.
//!
//! ## Compiled in or out
//!
//! Validation is compiled in when the `enabled` feature is on **and** the
//! build has debug assertions, or when `enabled-in-release` is on.
//! [`ENABLED`] says which. Compiled out, every hook is an empty inline
//! function, [`LockdepMap`] is zero-sized, the locks and [`Condvar`] have the
//! size of parking_lot's, and `lockdep` depends on `lock_api` and
//! `parking_lot(_core)` alone. A `--release` build with only `enabled` is
//! therefore *not validated*; cargo prints a build warning saying so (use
//! `enabled-in-release` to validate release builds).
//!
//! ## Example: an ABBA inversion, found without deadlocking
//!
//! ```
//! use lockdep::{Config, Mutex, ReportKind, Validator};
//!
//! struct Account {
//!     balance: i64,
//! }
//!
//! fn transfer(from: &Mutex<Account>, to: &Mutex<Account>, amount: i64) {
//!     let mut from = from.lock();
//!     let mut to = to.lock();
//!     from.balance -= amount;
//!     to.balance += amount;
//! }
//!
//! let checking = Mutex::new(Account { balance: 100 });
//! let savings = Mutex::new(Account { balance: 100 });
//! let v = Validator::new(Config::collect());
//! v.scope(|| {
//!     transfer(&checking, &savings, 10); // checking, then savings
//!     // The other order. Never ran concurrently with the first here, yet
//!     // the two together can deadlock: reported at its inner `lock()`.
//!     transfer(&savings, &checking, 10);
//! });
//! if lockdep::ENABLED {
//!     let reports = v.reports();
//!     assert_eq!(reports.len(), 1);
//!     assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
//!     println!("{}", reports[0]);
//! }
//! ```
//!
//! `examples/bank.rs` runs the same on two real threads
//! (`cargo run -p lockdep --features enabled --example bank`). A lock taken
//! again by the thread that holds it, in a mode that must wait for that hold
//! (a relocked mutex, a write under one's own read), panics at that line
//! instead of hanging (see [`sync`]).
//!
//! The same inversion through the hooks, as a lock implementation reports it:
//!
//! ```
//! use lockdep::{Config, LockClassKey, LockdepMap, ReportKind, Validator};
//! static ACCOUNT: LockClassKey = LockClassKey::new();
//! static LEDGER: LockClassKey = LockClassKey::new();
//! let account = LockdepMap::new("account", &ACCOUNT);
//! let ledger = LockdepMap::new("ledger", &LEDGER);
//!
//! let v = Validator::new(Config::collect());
//! v.scope(|| {
//!     lockdep::mutex_acquire(&account, 0, false);
//!     lockdep::mutex_acquire(&ledger, 0, false);
//!     lockdep::mutex_release(&ledger);
//!     lockdep::mutex_release(&account);
//!     lockdep::mutex_acquire(&ledger, 0, false);
//!     lockdep::mutex_acquire(&account, 0, false); // reported
//!     lockdep::mutex_release(&account);
//!     lockdep::mutex_release(&ledger);
//! });
//! if lockdep::ENABLED {
//!     assert_eq!(v.reports()[0].kind(), ReportKind::CircularDependency);
//! }
//! ```
//!
//! ## Versions
//!
//! The lock types are built on `lock_api` 0.4 (by default parking_lot 0.12's
//! raw rwlock, and lockdep's own raw mutex, whose trylock is one
//! compare-and-swap: see [`sync::DefaultRawMutex`]). For code written against parking_lot 0.13 / `lock_api` 0.5,
//! the `parking_lot-0.13` feature adds `sync::lock_api05`: the same lock
//! types with `lock_api` 0.5's guards, over parking_lot 0.13's raw rwlock
//! and lockdep's own raw mutex (`lock_api-0.5` alone: over lockdep's own raw
//! locks). `sync` stays on 0.4 whatever
//! the features, so that they stay additive. The repository's
//! `shims/parking_lot-0.13` crate is parking_lot 0.13's whole API over
//! lockdep's validated locks, as a dependency or a `[patch]`.

#![warn(missing_docs)]

pub mod assert;
pub mod class;
pub mod config;
#[cfg(feature = "crossbeam-channel")]
pub mod crossbeam_channel;
pub mod dump;
mod engine;
pub mod events;
#[cfg(lockdep_on)]
mod fork;
pub mod hooks;
pub mod map;
mod names;
mod output;
pub mod report;
#[cfg(feature = "save")]
pub mod save;
mod stats;
pub mod std_sync;
pub mod sync;
pub mod task;
pub mod thread;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod validator;
mod waits;

pub use class::{DynamicKey, LockClassKey, MAX_SUBCLASSES, Read};
pub use config::{Action, Config, NestedSite, Unwinder};
pub use dump::Stats;
pub use events::{Hook, HookEvent};
pub use hooks::*;
pub use map::LockdepMap;
pub use report::{ChainStep, DepTypes, DumpFiles, Frame, LockInfo, Report, ReportKind, TaskInfo, ThreadInfo, Trace};
pub use validator::Validator;

/// Whether validation is compiled into this build. Code that must choose a
/// "lockdep on / off" branch (like `vmalock`'s assertions) reads this, never
/// `#[cfg]`.
pub const ENABLED: bool = cfg!(lockdep_on);

pub use assert::AsLockdepMap;
pub use sync::{Condvar, Mutex, MutexGuard, ReentrantMutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
