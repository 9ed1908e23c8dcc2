//! The validation engine (private). Hooks call the free functions here; the
//! engine never depends on the lock wrappers and never takes an instrumented
//! lock: its own locks are plain `std` ones.
//!
//! * `held` — the per-thread held-lock stack and chain keys;
//! * `chain` — the two-level chain cache;
//! * `graph` — classes, typed edges, the exact strong-path search;
//! * `entry` — the entry points the hooks call, and the fast path;
//! * `ctx` — the context a hook runs in; its algorithms, by kernel family:
//!   `acquire` (`__lock_acquire`, `register_lock_class`), `validate`
//!   (`validate_chain`, `check_deadlock`, `check_prevs_add`,
//!   `check_noncircular`), `release` (`__lock_release`,
//!   `reacquire_held_locks`, downgrade, set_class,
//!   `debug_check_no_locks_freed`, `lockdep_unregister_key`) and `emit`
//!   (reports);
//! * `signature` — what makes two reports the same problem;
//! * `assert` — the ownership assertions;
//! * `stats` — statistics and the `/proc`-style dumps;
//! * `thread` — per-thread state, scopes, re-entrancy protection;
//! * `fork` — validation off in a child of `fork()`;
//! * `dump_file` — the dump files of a report, created new in a private directory;
//! * `summary` — `LOCKDEP_SUMMARY`: a line about the global validator at process exit.
//!
//! When validation is compiled out, `stub` provides the same entry points
//! with empty bodies.

#[cfg(lockdep_on)]
mod acquire;
#[cfg(lockdep_on)]
mod assert;
#[cfg(lockdep_on)]
mod chain;
#[cfg(lockdep_on)]
mod ctx;
#[cfg(lockdep_on)]
mod dump_file;
#[cfg(lockdep_on)]
mod emit;
#[cfg(lockdep_on)]
mod entry;
#[cfg(lockdep_on)]
mod fork;
#[cfg(lockdep_on)]
mod graph;
#[cfg(lockdep_on)]
mod held;
#[cfg(lockdep_on)]
mod inner;
#[cfg(lockdep_on)]
mod release;
#[cfg(lockdep_on)]
mod signature;
#[cfg(lockdep_on)]
mod stats;
#[cfg(lockdep_on)]
mod summary;
#[cfg(lockdep_on)]
mod thread;
#[cfg(lockdep_on)]
mod trace;
#[cfg(lockdep_on)]
mod validate;

#[cfg(lockdep_on)]
pub(crate) use assert::{
    HeldAnnotation, assert_held, assert_none_held, assert_not_held, held_annotation, reacquire, unlock_annotations,
};
#[cfg(lockdep_on)]
pub(crate) use entry::{
    acquire, acquired, contended, downgrade, is_held, might_lock, might_lock_nested, other_holder, release,
    set_subclass,
};
#[cfg(lockdep_on)]
pub(crate) use fork::{in_forked_child, unregister_key};
#[cfg(lockdep_on)]
pub(crate) use inner::{Inner, global};
#[cfg(lockdep_on)]
pub(crate) use release::debug_check_no_locks_freed;
#[cfg(lockdep_on)]
pub(crate) use stats::{dump_chains, dump_classes, dump_dot, dump_held, dump_stats, stats};
#[cfg(lockdep_on)]
pub(crate) use thread::enter_scope;

#[cfg(not(lockdep_on))]
mod stub;
#[cfg(not(lockdep_on))]
pub(crate) use stub::*;
