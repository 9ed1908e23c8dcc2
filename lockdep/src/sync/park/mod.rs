//! `park`: lockdep's own raw locks, built on `parking_lot_core` alone.
//!
//! ## The principal types
//!
//! * [`RawMutex`] — a one-byte raw mutex (`lock_api::RawMutex`, fair unlock,
//!   timeouts), with eventual fairness.
//! * [`RawFairMutex`] — the same mutex, unlocked fairly every time.
//! * [`RawRwLock`] — a writer-preferring raw reader-writer lock with
//!   recursive reads, upgradable reads, downgrades and timeouts: every
//!   `lock_api` rwlock trait.
//! * [`RawThreadId`] — `lock_api::GetThreadId` for reentrant mutexes.
//! * [`Once`] / [`OnceState`] — a one-time initialisation that a panic
//!   poisons, with parking_lot's `Once` API.
//!
//! Why they exist: the drop-in `parking_lot` shims (`shims/` in the
//! repository) are *named* `parking_lot`, and a `[patch.crates-io]` entry
//! replaces every `parking_lot` of that major in a build — including one that
//! `lockdep` itself would use. So the locks the shims instrument cannot come
//! from the `parking_lot` crate; they come from here, over the unpatched
//! `parking_lot_core` (the parking lot: one global hash table of queues of
//! sleeping threads, keyed by address). These locks are *not* instrumented;
//! [`RawLockdep`](super::RawLockdep) wraps them like any other raw lock.
//!
//! All parking follows one protocol. A lock word has a "someone is parked"
//! bit; a thread that must wait sets it, then parks on the lock's address
//! with a `validate` callback that re-checks, under the queue's lock, that it
//! still must wait and that the bit is still set. An unlock that finds the
//! bit set clears it in the same atomic step that releases, then wakes. So
//! either the waiter is queued before the waker looks at the queue, or its
//! `validate` sees the release and it does not sleep: no wake-up is lost.
//!
//! ```
//! use lockdep::sync::park::RawMutex;
//! let m: lock_api::Mutex<RawMutex, u32> = lock_api::Mutex::new(1);
//! *m.lock() += 1;
//! assert_eq!(*m.lock(), 2);
//! ```

mod mutex;
mod once;
mod rwlock;

pub use mutex::{RawFairMutex, RawMutex};
pub use once::{Once, OnceState};
pub use rwlock::RawRwLock;

use std::num::NonZeroUsize;

/// `lock_api::GetThreadId` for reentrant mutexes: the address of a
/// thread-local, which is distinct for every live thread and never zero.
#[derive(Debug)]
pub struct RawThreadId;

// SAFETY: two threads alive at the same time have distinct thread-locals,
// so distinct addresses; an address is never zero.
unsafe impl lock_api::GetThreadId for RawThreadId {
    const INIT: RawThreadId = RawThreadId;

    fn nonzero_thread_id(&self) -> NonZeroUsize {
        thread_local!(static MARK: u8 = const { 0 });
        MARK.with(|m| NonZeroUsize::new(m as *const u8 as usize).expect("a thread-local's address is never zero"))
    }
}
