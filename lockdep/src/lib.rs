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
//! * [`LockClassKey`] — the identity of a lock *class*. Every check runs on
//!   classes: "some `inode` lock, then some `page` lock", not on instances.
//! * [`LockdepMap`] — what the validator knows one lock instance by; every
//!   instrumented lock embeds one.
//! * The hooks in [`hooks`] (re-exported at the crate root) — [`lock_acquire`],
//!   [`lock_release`], [`rwsem_acquire_read`], … under the kernel's names, for
//!   lock implementations to call.
//! * [`Validator`] — an independent validation state with its [`Config`];
//!   [`Validator::scope`] routes a thread's hooks to it (tests use one per
//!   case), and a global validator takes everything else.
//! * [`Report`] — what was found, as data ([`ReportKind`], [`LockInfo`],
//!   [`ChainStep`]) and as kernel-style text (`Display`).
//!
//! ## Compiled in or out
//!
//! Validation is compiled in when the `enabled` feature is on **and** the
//! build has debug assertions, or when `enabled-in-release` is on.
//! [`ENABLED`] says which. Compiled out, every hook is an empty inline
//! function and [`LockdepMap`] is zero-sized. A `--release` build with only
//! `enabled` is therefore *not validated*; cargo prints a build warning
//! saying so (use `enabled-in-release` to validate release builds).
//!
//! ## Example: an ABBA inversion, found without deadlocking
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
//!     // One code path: account, then ledger.
//!     lockdep::mutex_acquire(&account, 0, false);
//!     lockdep::mutex_acquire(&ledger, 0, false);
//!     lockdep::mutex_release(&ledger);
//!     lockdep::mutex_release(&account);
//!     // Another: ledger, then account. Never ran concurrently with the
//!     // first, yet the two together can deadlock.
//!     lockdep::mutex_acquire(&ledger, 0, false);
//!     lockdep::mutex_acquire(&account, 0, false);
//!     lockdep::mutex_release(&account);
//!     lockdep::mutex_release(&ledger);
//! });
//! if lockdep::ENABLED {
//!     let reports = v.reports();
//!     assert_eq!(reports.len(), 1);
//!     assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
//!     println!("{}", reports[0]);
//! }
//! ```

#![warn(missing_docs)]

pub mod assert;
pub mod class;
pub mod config;
pub mod dump;
mod engine;
pub mod events;
pub mod hooks;
pub mod map;
mod output;
pub mod report;
#[cfg(feature = "save")]
pub mod save;
mod stats;
pub mod std_sync;
pub mod sync;
pub mod validator;

pub use class::{DynamicKey, LockClassKey, MAX_SUBCLASSES, Read};
pub use config::{Action, Config};
pub use dump::Stats;
pub use events::{Hook, HookEvent};
pub use hooks::*;
pub use map::LockdepMap;
pub use report::{ChainStep, DepTypes, DumpFiles, Frame, LockInfo, Report, ReportKind, ThreadInfo, Trace};
pub use validator::Validator;

/// Whether validation is compiled into this build. Code that must choose a
/// "lockdep on / off" branch (like `vmalock`'s assertions) reads this, never
/// `#[cfg]`.
pub const ENABLED: bool = cfg!(lockdep_on);

pub use assert::AsLockdepMap;
pub use sync::{Condvar, Mutex, MutexGuard, ReentrantMutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
