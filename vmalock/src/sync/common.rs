//! The part of `sync` that is the same on std's primitives and on loom's:
//! `tests/loom.rs` includes this file under its own loom-backed `sync`
//! module. The parent provides `Mutex`, `MutexGuard`, `Condvar` and the
//! thread-locals `TID` and `VMA_REFS`.

use std::sync::PoisonError;

use super::{Condvar, Mutex, MutexGuard, TID, VMA_REFS};

/// Locks `m`, ignoring poisoning (a panicking test thread must not wedge the
/// model for the others).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Blocks on `cv`, releasing and re-taking the guard's mutex.
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// [`wait`] for at most `dur` (loom: without a timeout, which it does not
/// model; the model never waits with a timeout inside a loom test).
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    dur: std::time::Duration,
) -> MutexGuard<'a, T> {
    match cv.wait_timeout(guard, dur) {
        Ok((g, _)) => g,
        Err(e) => e.into_inner().0,
    }
}

/// A model thread id: distinct for every OS thread and, under loom, for
/// every loom thread (which share one OS thread and so one `ThreadId`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Tid(u64);

/// The current thread's model id.
pub(crate) fn current_tid() -> Tid {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    TID.with(|t| {
        if t.get() == 0 {
            t.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }
        Tid(t.get())
    })
}

/// Notes that the current thread took a reader reference on VMA `id`.
pub(crate) fn note_vma_ref(id: u64) {
    let _ = VMA_REFS.try_with(|r| r.borrow_mut().push(id));
}

/// Notes that the current thread dropped a reader reference on VMA `id`.
/// False if it held none (an unbalanced release, or one made by another
/// thread than the one that took the reference).
pub(crate) fn forget_vma_ref(id: u64) -> bool {
    VMA_REFS
        .try_with(|r| {
            let mut r = r.borrow_mut();
            match r.iter().rposition(|&v| v == id) {
                Some(i) => {
                    r.swap_remove(i);
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false)
}

/// The reader references the current thread holds.
pub(crate) fn vma_refs() -> Vec<u64> {
    VMA_REFS.try_with(|r| r.borrow().clone()).unwrap_or_default()
}
