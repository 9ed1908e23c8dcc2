//! [`Ctx`]: the context one hook runs in — this thread's state for its
//! current validator — and the type the algorithms are methods of, one file
//! per kernel function family:
//!
//! | file | kernel |
//! |---|---|
//! | `acquire.rs` | `__lock_acquire`, `register_lock_class` |
//! | `validate.rs` | `validate_chain`, `check_deadlock`, `check_prevs_add`, `check_prev_add`, `check_noncircular` |
//! | `release.rs` | `__lock_release`, `reacquire_held_locks`, `__lock_downgrade`, `__lock_set_class`, `debug_check_no_locks_freed` |
//! | `emit.rs` | the `print_*` reports and `debug_locks_off` |
//!
//! A `Ctx` is made by `thread::with_ctx`, which guards against re-entry and
//! dispatches the reports collected in [`Ctx::out`] once every engine lock is
//! released.

use super::inner::Inner;
use super::thread::PerValidator;
use crate::report::{Report, ThreadInfo};

/// The per-thread context a hook runs in.
pub(crate) struct Ctx<'a> {
    pub(crate) inner: &'a Inner,
    /// This thread's held locks and chain cache in `inner`.
    pub(crate) pv: &'a mut PerValidator,
    pub(crate) thread: &'a ThreadInfo,
    pub(crate) thread_num: u64,
    /// Reports found by this hook, dispatched after every engine lock is released.
    pub(crate) out: &'a mut Vec<Report>,
}
