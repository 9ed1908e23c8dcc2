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

use std::sync::{Arc, Weak};

use super::chain::ThreadChainCache;
use super::held::HeldStack;
use super::inner::Inner;
use crate::report::{Report, ThreadInfo};

/// What one thread knows about one validator. Boxed, so that the fast path
/// can keep a pointer to it (see `thread::FAST`).
pub(crate) struct PerValidator {
    pub(crate) id: u32,
    /// The validator's address, compared (with `id`) to find this entry fast.
    pub(crate) ptr: usize,
    pub(crate) inner: Weak<Inner>,
    pub(crate) held: HeldStack,
    pub(crate) cache: ThreadChainCache,
    /// Copied when the fast path is armed (with the rest of what it reads
    /// first, in `fast::Armed`): the validator's hot word as it was then
    /// (any change sends the fast path to the full one) and the thread's
    /// number.
    pub(crate) hot: u64,
    pub(crate) thread_num: u64,
}

impl Ctx<'_> {
    /// The thread as a new dependency's origin: the thread's shared copy,
    /// made by its first new dependency (through the graph's, which the
    /// previous thread's edges share, when it is this thread's).
    #[inline]
    pub(crate) fn origin_thread(&mut self, graph: &mut super::graph::Graph) -> Arc<ThreadInfo> {
        match self.origin {
            Some(t) => Arc::clone(t),
            None => Arc::clone(self.origin.insert(graph.shared_thread(self.thread))),
        }
    }
}

impl PerValidator {
    /// Whether this is the thread's state for `inner` (address and id: an
    /// address alone could be a dropped validator's, reused).
    pub(crate) fn is_for(&self, inner: &Inner) -> bool {
        self.ptr == inner as *const Inner as usize && self.id == inner.id
    }
}

/// The per-thread context a hook runs in.
pub(crate) struct Ctx<'a> {
    pub(crate) inner: &'a Inner,
    /// This thread's held locks and chain cache in `inner`.
    pub(crate) pv: &'a mut PerValidator,
    pub(crate) thread: &'a ThreadInfo,
    /// `thread` as a new dependency's origin records it, once made (see
    /// [`Ctx::origin_thread`]).
    pub(crate) origin: &'a mut Option<Arc<ThreadInfo>>,
    pub(crate) thread_num: u64,
    /// Reports found by this hook, dispatched after every engine lock is released.
    pub(crate) out: &'a mut Vec<Report>,
}
