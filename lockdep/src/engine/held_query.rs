//! The held-lock stack as data: what `dump_held` prints, as [`LockInfo`]s
//! a test can count and compare instead of parsing text.
//!
//! Both queries read the calling thread's own stack through the usual
//! per-thread context, so they never block another thread, never take an
//! instrumented lock, and answer with nothing when called from inside the
//! validator (a report callback).

use super::emit::held_infos;
use std::sync::Arc;

use super::inner::{Inner, lock};
use super::thread::{enter_scope, with_ctx};
use crate::report::LockInfo;

/// The current thread's held locks in its current validator (the innermost
/// scope's, or the global one), bottom of the stack first.
pub(crate) fn held_locks() -> Vec<LockInfo> {
    with_ctx(|ctx| held_infos(&lock(&ctx.inner.shared).graph, &ctx.pv.held)).unwrap_or_default()
}

/// The current thread's held locks in `v`, bottom of the stack first.
pub(crate) fn held_locks_in(inner: &Arc<Inner>) -> Vec<LockInfo> {
    // Entering `v`'s scope makes it the current validator for the query
    // only; the guard restores the thread's own scope stack.
    let _scope = enter_scope(inner);
    held_locks()
}

/// The current thread's held locks in `inner`, as text (`Validator::dump_held`).
pub(crate) fn dump_held(inner: &Arc<Inner>) -> String {
    super::thread::held_text(inner)
}
