//! The validation engine (private). The hooks (`crate::hooks`), the
//! assertions, the validator's methods and the lock wrappers call the free
//! functions re-exported here; the engine imports only the plain data types
//! of the crate (`class`, `map`, `config`, `events`, `report`, `stats`) and
//! never takes an instrumented lock: its own locks are plain `std` ones.
//! `scripts/module-cycles.py` (run by CI) checks that no module imports
//! another that imports it back, here or at the crate's top level.
//!
//! | file | what a kernel reader finds there |
//! |---|---|
//! | `entry` | the entry points the hooks call (`lock_acquire`, `lock_release`, …) and the fast path |
//! | `event` | the events of waitable objects (DEPT's `dept_event`): dependencies from a wait's pseudo-lock to the event context's locks |
//! | `waitable` | which classes are waitable objects' pseudo-locks (the dump's diamonds) |
//! | `fast` | the fast path's thread-local way in |
//! | `ctx` | the per-thread context the algorithms run in ([`ctx::Ctx`]) |
//! | `acquire` | `__lock_acquire`, `register_lock_class` |
//! | `validate` | `validate_chain`, `check_deadlock`, `check_prevs_add`, `check_prev_add`, `check_noncircular` |
//! | `release` | `__lock_release`, `reacquire_held_locks`, `__lock_downgrade`, `__lock_set_class`, `debug_check_no_locks_freed`, `lockdep_unregister_key` |
//! | `emit` | the `print_*` reports, `debug_locks_off` (one-shot) and once-per-problem (continue) |
//! | `signature` | what makes two reports the same problem |
//! | `spare` | a dropped validator's emptied tables, kept (bounded) for the next one |
//! | `dispatch` | what happens to a report: stored, printed, callback, panic, abort |
//! | `assert` | `lockdep_assert_held*`, `lockdep_assert_none_held` |
//! | `held` | `struct held_lock`, chain ids and elements |
//! | `chain` | the lock-chain hash table and each thread's cache of it |
//! | `graph` | lock classes and the dependency graph (`lock_list`), the strong-path search (`__bfs`) |
//! | `ids` | class ids and the id hasher |
//! | `inner` | one validator's shared state (`debug_locks`, the graph lock) |
//! | `nested` | `*_nested(.., SINGLE_DEPTH_NESTING)` for the construction sites of `Config::nested_sites` |
//! | `registry` | every live validator, and the global one |
//! | `thread` | per-thread state (`current->held_locks`), scopes, re-entrancy protection |
//! | `task` | an async task's own held-lock state, exchanged with the polling thread's; awaiting while holding a synchronous lock |
//! | `stats`, `held_query` | `/proc/lockdep*` and `lockdep_print_held_locks`, as text and data |
//! | `dump_file` | the dump files of a report, created new in a private directory |
//! | `trace` | the stack-trace store |
//! | `unwind` | the cached unwinder that captures a trace's frames (x86_64, aarch64 Linux) |
//! | `save` | saved graphs: the copy, the search over a loaded graph, seeding, `LOCKDEP_SAVE` |
//! | `summary` | `LOCKDEP_SUMMARY`: a line about the global validator at process exit |
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
mod dispatch;
#[cfg(lockdep_on)]
mod dump_file;
#[cfg(lockdep_on)]
mod emit;
#[cfg(lockdep_on)]
mod entry;
#[cfg(lockdep_on)]
mod event;
#[cfg(lockdep_on)]
mod fast;
#[cfg(lockdep_on)]
mod graph;
#[cfg(lockdep_on)]
mod held;
#[cfg(lockdep_on)]
mod held_query;
#[cfg(lockdep_on)]
mod ids;
#[cfg(lockdep_on)]
mod inner;
#[cfg(lockdep_on)]
mod nested;
#[cfg(lockdep_on)]
mod registry;
#[cfg(lockdep_on)]
mod release;
#[cfg(all(lockdep_on, feature = "save"))]
pub(crate) mod save;
#[cfg(lockdep_on)]
mod signature;
#[cfg(lockdep_on)]
mod spare;
#[cfg(lockdep_on)]
mod stats;
#[cfg(lockdep_on)]
mod summary;
#[cfg(lockdep_on)]
mod svg;
#[cfg(lockdep_on)]
mod task;
#[cfg(lockdep_on)]
mod thread;
#[cfg(lockdep_on)]
mod trace;
#[cfg(lockdep_on)]
mod unwind;
#[cfg(lockdep_on)]
mod validate;
#[cfg(lockdep_on)]
mod waitable;

#[cfg(lockdep_on)]
pub(crate) use crate::fork::in_forked_child;
#[cfg(lockdep_on)]
pub(crate) use assert::{
    HeldAnnotation, assert_held, assert_none_held, assert_not_held, held_annotation, reacquire, unlock_annotations,
};
#[cfg(lockdep_on)]
pub(crate) use entry::{
    acquire, acquire_slow, acquired, contended, downgrade, is_held, might_lock, might_lock_nested, other_holder,
    release, release_fast, release_slow, set_subclass, try_acquire_fast,
};
#[cfg(lockdep_on)]
pub(crate) use event::{event, held_instances};
#[cfg(lockdep_on)]
pub(crate) use held_query::{dump_held, held_locks, held_locks_in};
#[cfg(lockdep_on)]
pub(crate) use inner::Inner;
#[cfg(lockdep_on)]
pub(crate) use registry::global;
#[cfg(lockdep_on)]
pub(crate) use registry::{any_owner, release_owners};
#[cfg(lockdep_on)]
pub(crate) use release::{debug_check_no_locks_freed, lockdep_unregister_key, unregister_dynamic_key};
#[cfg(lockdep_on)]
pub(crate) use stats::{dump_chains, dump_classes, dump_dot, dump_stats, stats};
#[cfg(lockdep_on)]
pub(crate) use task::TaskState;
#[cfg(all(lockdep_on, feature = "tokio"))]
pub(crate) use task::{awaitable_acquired, awaitable_released};
#[cfg(lockdep_on)]
pub(crate) use thread::{current_scope, enter_scope};
#[cfg(lockdep_on)]
pub(crate) use trace::capture_with as capture_trace;
#[cfg(lockdep_on)]
pub(crate) use waitable::mark_wait;

#[cfg(not(lockdep_on))]
mod stub;
#[cfg(not(lockdep_on))]
pub(crate) use stub::*;
