//! The steady-state fast path's way in: a thread-local pointer to this
//! thread's state for its current validator (see [`FAST`]), armed by
//! `thread` when the fast path may run and disarmed by anything that must
//! make it take the full path (a scope change, the slow path itself, a
//! `fork()` child).

use std::cell::Cell;

use super::ctx::PerValidator;
use super::inner::Inner;

thread_local! {
    /// The fast path's way in: this thread's state for its current validator,
    /// or null when the fast path must not run. A `const` cell without a
    /// destructor, so reaching it is one thread-pointer-relative load and it
    /// stays readable while thread-locals are torn down.
    ///
    /// Invariant: non-null only while (1) the pointee, a `Box` in this
    /// thread's `ThreadData::validators`, is alive and nothing else borrows
    /// it (`with_ctx` nulls it on entry and re-arms it on exit; the thread's
    /// teardown nulls it first), (2) it belongs to the thread's *current*
    /// validator (entering or leaving a scope nulls it), which is therefore
    /// alive (held by the scope stack, or the global validator), and (3) that
    /// validator does not record events.
    static FAST: Cell<*mut PerValidator> = const { Cell::new(std::ptr::null_mut()) };
}

/// The current thread's fast-path state, if armed (see [`FAST`]).
///
/// # Safety
///
/// The caller must not keep the reference past the current hook, call
/// anything that can re-enter the engine while holding it, nor hold two.
#[inline(always)]
pub(crate) unsafe fn fast() -> Option<&'static mut PerValidator> {
    let p = FAST.with(Cell::get);
    // SAFETY: by FAST's invariant a non-null pointer is a live, unborrowed
    // `PerValidator` of this thread; the caller keeps the borrow short and
    // unique.
    unsafe { p.as_mut() }
}

/// The validator a fast-path state belongs to.
///
/// # Safety
///
/// `pv` must come from [`fast`] during the current hook.
#[inline(always)]
pub(crate) unsafe fn fast_inner(pv: &PerValidator) -> &Inner {
    // SAFETY: FAST's invariant (2): the armed entry's validator is the
    // thread's current one and is kept alive while it is armed.
    unsafe { &*(pv.ptr as *const Inner) }
}

pub(crate) fn disarm() {
    FAST.with(|f| f.set(std::ptr::null_mut()));
}

/// Arms the fast path with `p`.
///
/// `p` must satisfy [`FAST`]'s invariant for as long as it stays armed.
pub(crate) fn arm(p: *mut PerValidator) {
    FAST.with(|f| f.set(p));
}
