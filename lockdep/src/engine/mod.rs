//! The validation engine (private). Hooks call the free functions here; the
//! engine never depends on the lock wrappers and never takes an instrumented
//! lock: its own locks are plain `std` ones.
//!
//! * `held` — the per-thread held-lock stack and chain keys;
//! * `chain` — the two-level chain cache;
//! * `graph` — classes, typed edges, the exact strong-path search;
//! * `validate` — the acquire/release algorithms (kernel `__lock_acquire`,
//!   `validate_chain`, `check_deadlock`, `check_prevs_add`, `__lock_release`);
//! * `thread` — per-thread state, scopes, re-entrancy protection.
//!
//! When validation is compiled out, `stub` provides the same entry points
//! with empty bodies.

#[cfg(lockdep_on)]
mod assert;
#[cfg(lockdep_on)]
mod chain;
#[cfg(lockdep_on)]
mod graph;
#[cfg(lockdep_on)]
mod held;
#[cfg(lockdep_on)]
mod held_query;
#[cfg(lockdep_on)]
mod inner;
#[cfg(lockdep_on)]
mod signature;
#[cfg(lockdep_on)]
mod stats;
#[cfg(lockdep_on)]
mod thread;
#[cfg(lockdep_on)]
mod trace;
#[cfg(lockdep_on)]
mod validate;

#[cfg(lockdep_on)]
pub(crate) use assert::{assert_held, assert_none_held, assert_not_held};
#[cfg(lockdep_on)]
pub(crate) use held_query::{held_locks, held_locks_in};
#[cfg(lockdep_on)]
pub(crate) use inner::{Inner, global};
#[cfg(lockdep_on)]
pub(crate) use stats::{dump_chains, dump_classes, dump_dot, dump_held, dump_stats, stats};
#[cfg(lockdep_on)]
pub(crate) use thread::enter_scope;
#[cfg(lockdep_on)]
pub(crate) use validate::{
    acquire, acquired, contended, downgrade, is_held, map_freed, might_lock, might_lock_nested, other_holder, release,
    set_subclass, unregister_key,
};

#[cfg(not(lockdep_on))]
mod stub;
#[cfg(not(lockdep_on))]
pub(crate) use stub::*;
