//! The lock classes of the scheme: one `"mmap_lock"` class for every mm, one
//! `"vm_lock"` class shared by every VMA (subclasses are never used), and
//! the RCU read-side map.

use lockdep::{LockClassKey, LockdepMap};

/// The class of every mm's `mmap_lock` (the kernel's rwsem initialiser key).
pub static MMAP_LOCK_KEY: LockClassKey = LockClassKey::new();
/// The class of every VMA's `vmlock_dep_map` (the kernel's `"vm_lock"` key).
pub static VM_LOCK_KEY: LockClassKey = LockClassKey::new();
/// The class of the RCU read-side map.
pub static RCU_LOCK_KEY: LockClassKey = LockClassKey::new();

/// The name of every mm's lockdep map `M` (and hence of its class).
pub const MMAP_LOCK_NAME: &str = "mmap_lock";
/// The name of every VMA's lockdep map `V` (and hence of its class).
pub const VM_LOCK_NAME: &str = "vm_lock";
/// The name of the RCU read-side map `R`.
pub const RCU_LOCK_NAME: &str = "rcu_read_lock";

/// RCU's global read-side map `R` (the kernel's `rcu_lock_map`).
pub(crate) static RCU_LOCK_MAP: LockdepMap = LockdepMap::new(RCU_LOCK_NAME, &RCU_LOCK_KEY);
