//! The synchronisation primitives the lock protocol is built from (the
//! crossbeam `primitive` pattern).
//!
//! Everything a loom model must see — the reference count, the sequence
//! numbers, the mmap rwsem, the writer wait slot, the blocked-thread
//! registry — goes through this module. `tests/loom.rs` compiles the
//! crate's sources with its own copy of this module built on loom's types
//! (loom is only a dev-dependency, so the library itself never names it).
//! Bookkeeping that never holds a lock across a protocol step (the warning
//! log, signal flags, pause points) uses `parking_lot` directly.

use std::cell::{Cell, RefCell};

pub(crate) use std::sync::atomic::{AtomicI32, AtomicU32, Ordering, fence};
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

thread_local! {
    static TID: Cell<u64> = const { Cell::new(0) };
    /// The VMAs this thread holds reader references on (one entry per
    /// reference). Only the hang detector reads it; assertions never do.
    static VMA_REFS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

mod common;
pub(crate) use common::*;
