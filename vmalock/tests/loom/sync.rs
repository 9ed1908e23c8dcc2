//! `src/sync.rs` on loom's primitives and thread-locals; everything else is
//! `src/sync/common.rs`, compiled unchanged.

use std::cell::{Cell, RefCell};

pub(crate) use loom::sync::atomic::{AtomicI32, AtomicU32, Ordering, fence};
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

loom::thread_local! {
    static TID: Cell<u64> = Cell::new(0);
    static VMA_REFS: RefCell<Vec<u64>> = RefCell::new(Vec::new());
}

#[path = "../../src/sync/common.rs"]
mod common;
pub(crate) use common::*;
