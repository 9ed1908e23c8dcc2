//! The RCU read side, as far as the scheme needs it.
//!
//! Grace periods are not modelled: VMA memory is kept alive by `Arc`
//! (see [`tree`](crate::tree)). What remains is the lockdep view —
//! `rcu_read_lock` is `ACQ(R,0,0,read=2,check=0)`, `rcu_read_unlock` is
//! `REL(R)` — which the lockdep-RCU checks (`RCU_NOT_HELD`) query.

use lockdep::Read;

use crate::keys::RCU_LOCK_MAP;

/// `rcu_read_lock()`: enters an RCU read-side section
/// (`ACQ(R,0,0,2,0)`). Sections nest.
#[track_caller]
pub fn rcu_read_lock() {
    lockdep::lock_acquire_nocheck(&RCU_LOCK_MAP, 0, false, Read::SharedRecursive);
}

/// `rcu_read_unlock()`: leaves an RCU read-side section (`REL(R)`).
#[track_caller]
pub fn rcu_read_unlock() {
    lockdep::lock_release(&RCU_LOCK_MAP);
}

/// `rcu_read_lock_held()`: whether the current thread is in an RCU read
/// section — as lockdep sees it, so `true` whenever the answer is unknown
/// (lockdep compiled out or not validating), like the kernel.
#[track_caller]
pub fn rcu_read_lock_held() -> bool {
    lockdep::lock_is_held(&RCU_LOCK_MAP)
}

/// The lockdep map `R` (for tests that filter hook events).
pub fn rcu_lock_map() -> &'static lockdep::LockdepMap {
    &RCU_LOCK_MAP
}
