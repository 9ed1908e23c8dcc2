//! The acquire/release hooks, under the kernel's names.
//!
//! Lock implementations call these at the points the kernel calls them: the
//! acquire hook *before* blocking (so an inversion is reported instead of
//! hanging), a trylock hook only after success, the release hook before
//! unlocking. Every hook is `#[track_caller]`: the caller's location is the
//! acquire (or release) site shown in reports. When validation is compiled
//! out, every hook is an empty inline function.
//!
//! | kernel | here | mode |
//! |---|---|---|
//! | `lock_acquire(map, sub, try, read, check, nest, ip)` | [`lock_acquire`] (check = 1), [`lock_acquire_nocheck`] (check = 0) | any |
//! | `lock_release` | [`lock_release`] | |
//! | `spin_acquire`, `rwlock_acquire`, `mutex_acquire`, `rwsem_acquire`, `lock_map_acquire` | same names | [`Read::Exclusive`] |
//! | `rwsem_acquire_read` | [`rwsem_acquire_read`] | [`Read::Shared`] |
//! | `rwlock_acquire_read`, `lock_map_acquire_read` | same names | [`Read::SharedRecursive`] |
//! | `lock_map_acquire` + `lock_map_release` (`flush_work`), DEPT's `dept_wait` | [`lock_wait`] | [`Read::Exclusive`] |
//! | DEPT's `dept_event` | [`lock_event`] | |

use std::panic::Location;

use crate::ENABLED;
use crate::class::Read;
use crate::engine;
use crate::map::LockdepMap;

/// Records that the current thread acquires `map` (the kernel's `lock_acquire`
/// with `check = 1`).
///
/// * `subclass` selects one of the key's 8 classes (0..8); 8 or more is reported.
/// * `trylock`: the acquisition cannot block, so it is not validated itself,
///   but later blocking acquisitions get dependencies from it.
/// * `read`: the mode, see [`Read`].
/// * `nest_lock`: a lock already held that serialises any number of
///   same-class acquisitions of `map` (the kernel's `*_nest_lock`).
#[inline(always)]
#[track_caller]
pub fn lock_acquire(map: &LockdepMap, subclass: u32, trylock: bool, read: Read, nest_lock: Option<&LockdepMap>) {
    if ENABLED {
        engine::acquire(map, subclass, trylock, read, true, nest_lock, Location::caller());
    }
}

/// `lock_acquire` with `check = 0`: the lock is tracked on the held-lock stack
/// (so it can be released and asserted) but never validated and never part of
/// a dependency (RCU's map, `lockdep_set_novalidate_class`).
#[inline]
#[track_caller]
pub fn lock_acquire_nocheck(map: &LockdepMap, subclass: u32, trylock: bool, read: Read) {
    if ENABLED {
        engine::acquire(map, subclass, trylock, read, false, None, Location::caller());
    }
}

/// Records that the current thread releases `map`. Releasing a lock that is
/// not held is reported as [`UnlockImbalance`](crate::ReportKind::UnlockImbalance).
/// The entry need not be on top of the held-lock stack; the locks above it are
/// then re-validated (kernel `reacquire_held_locks`).
#[inline(always)]
#[track_caller]
pub fn lock_release(map: &LockdepMap) {
    if ENABLED {
        engine::release(map, Location::caller());
    }
}

/// Turns the held exclusive entry of `map` into a [`Read::Shared`] one and
/// re-validates the locks above it.
#[inline]
#[track_caller]
pub fn lock_downgrade(map: &LockdepMap) {
    if ENABLED {
        engine::downgrade(map, Location::caller());
    }
}

/// Moves the held entry of `map` to another subclass of its key and
/// re-validates the locks above it.
#[inline]
#[track_caller]
pub fn lock_set_subclass(map: &LockdepMap, subclass: u32) {
    if ENABLED {
        engine::set_subclass(map, subclass, Location::caller());
    }
}

/// Whether the current thread holds `map` in any mode. `true` whenever the
/// answer is unknown: validation compiled out or switched off.
#[inline]
#[track_caller]
pub fn lock_is_held(map: &LockdepMap) -> bool {
    lock_is_held_type(map, None)
}

/// Whether the current thread holds `map`: `None` in any mode,
/// `Some(Read::Exclusive)` for write, `Some(Read::Shared)` or
/// `Some(Read::SharedRecursive)` for read. `true` whenever the answer is
/// unknown (validation compiled out or switched off), like the kernel.
#[inline]
#[track_caller]
pub fn lock_is_held_type(map: &LockdepMap, read: Option<Read>) -> bool {
    if ENABLED { engine::is_held(map, read).unwrap_or(true) } else { true }
}

/// The current thread's held-lock stack in its current validator (the
/// innermost [`Validator::scope`](crate::Validator::scope)'s, or the global
/// one), bottom first: the data behind the kernel's
/// `lockdep_print_held_locks(current)`, one [`LockInfo`](crate::LockInfo)
/// per entry (instance name and address, class, subclass, read mode,
/// trylock, acquire site). Empty when validation is compiled out; see
/// [`Validator::held_locks`](crate::Validator::held_locks) for a given
/// validator and for what a validator that stopped validating answers.
///
/// ```
/// use lockdep::{LockClassKey, LockdepMap, Read};
///
/// static KEY: LockClassKey = LockClassKey::new();
/// let (a, b) = (LockdepMap::new("a", &KEY), LockdepMap::new("b", &KEY));
/// lockdep::rwsem_acquire(&a, 0, false);
/// lockdep::rwsem_acquire_read(&b, 1, true);
/// let held = lockdep::held_locks();
/// if lockdep::ENABLED {
///     let names: Vec<_> = held.iter().map(|l| (l.instance(), l.read(), l.subclass())).collect();
///     assert_eq!(names, [("a", Read::Exclusive, 0), ("b", Read::Shared, 1)]);
/// } else {
///     assert!(held.is_empty());
/// }
/// lockdep::rwsem_release(&b);
/// lockdep::rwsem_release(&a);
/// assert!(lockdep::held_locks().is_empty());
/// ```
pub fn held_locks() -> Vec<crate::LockInfo> {
    if ENABLED { engine::held_locks() } else { Vec::new() }
}

/// Lock statistics: the current thread is about to wait for `map`.
#[inline]
#[track_caller]
pub fn lock_contended(map: &LockdepMap) {
    if ENABLED {
        engine::contended(map, Location::caller());
    }
}

/// Lock statistics: the current thread now owns `map` (after an acquire hook).
#[inline]
#[track_caller]
pub fn lock_acquired(map: &LockdepMap) {
    if ENABLED {
        engine::acquired(map, Location::caller());
    }
}

macro_rules! shorthand_acquire {
    ($(#[$doc:meta] $name:ident => $read:expr;)*) => {$(
        #[$doc]
        #[inline]
        #[track_caller]
        pub fn $name(map: &LockdepMap, subclass: u32, trylock: bool) {
            lock_acquire(map, subclass, trylock, $read, None);
        }
    )*};
}

macro_rules! shorthand_release {
    ($(#[$doc:meta] $name:ident;)*) => {$(
        #[$doc]
        #[inline]
        #[track_caller]
        pub fn $name(map: &LockdepMap) {
            lock_release(map);
        }
    )*};
}

shorthand_acquire! {
    /// Spinlock acquire: exclusive.
    spin_acquire => Read::Exclusive;
    /// rwlock write acquire: exclusive.
    rwlock_acquire => Read::Exclusive;
    /// rwlock read acquire: shared recursive (`read_lock` ignores queued writers).
    rwlock_acquire_read => Read::SharedRecursive;
    /// Mutex acquire: exclusive.
    mutex_acquire => Read::Exclusive;
    /// rwsem write acquire (`down_write`): exclusive.
    rwsem_acquire => Read::Exclusive;
    /// rwsem read acquire (`down_read`): shared, non-recursive.
    rwsem_acquire_read => Read::Shared;
}

shorthand_release! {
    /// Spinlock release.
    spin_release;
    /// rwlock release (either mode).
    rwlock_release;
    /// Mutex release.
    mutex_release;
    /// rwsem release (either mode).
    rwsem_release;
    /// Release of a pseudo-lock taken with [`lock_map_acquire`].
    lock_map_release;
}

/// Mutex acquire under a nest lock (`mutex_lock_nest_lock`).
#[inline]
#[track_caller]
pub fn mutex_acquire_nest(map: &LockdepMap, subclass: u32, trylock: bool, nest: &LockdepMap) {
    lock_acquire(map, subclass, trylock, Read::Exclusive, Some(nest));
}

/// Spinlock acquire under a nest lock (`spin_lock_nest_lock`).
#[inline]
#[track_caller]
pub fn spin_acquire_nest(map: &LockdepMap, subclass: u32, trylock: bool, nest: &LockdepMap) {
    lock_acquire(map, subclass, trylock, Read::Exclusive, Some(nest));
}

/// Acquire a pseudo-lock exclusively (workqueue flush, completion waits).
#[inline]
#[track_caller]
pub fn lock_map_acquire(map: &LockdepMap) {
    lock_acquire(map, 0, false, Read::Exclusive, None);
}

/// Acquire a pseudo-lock as a recursive reader.
#[inline]
#[track_caller]
pub fn lock_map_acquire_read(map: &LockdepMap) {
    lock_acquire(map, 0, false, Read::SharedRecursive, None);
}

/// A wait on a waitable object whose pseudo-lock is `map` (a condvar, a
/// thread handle, a channel): its acquisition and release at the caller's
/// site, the kernel's `lock_map_acquire(&work->lockdep_map);
/// lock_map_release(..)` of `flush_work` (DEPT's `dept_wait`). Every lock
/// held here then comes before `map`: a cycle through [`lock_event`]s is
/// reported. Call it before blocking, and only for waits that can block
/// forever (not timed ones). See the book's chapter on waits.
#[inline]
#[track_caller]
pub fn lock_wait(map: &LockdepMap) {
    if ENABLED {
        crate::waits::wait_on(map, 0, Location::caller());
    }
}

/// The event that ends waits on `map` (a notify, a send, a barrier
/// arrival) happens here, in the context of the locks the current thread
/// holds: `map` comes before each of them (DEPT's `dept_event`). A thread
/// that waits on `map` ([`lock_wait`]) while holding one of them, directly
/// or through a chain of dependencies, is reported as a cycle, whichever of
/// the two was seen first. Costs one thread-local read when no lock is
/// held.
#[inline]
#[track_caller]
pub fn lock_event(map: &LockdepMap) {
    if ENABLED {
        engine::event(map, 0, None, Location::caller());
    }
}

/// Validates taking `map` exclusively here without taking it: acquire then
/// release inside the validator only (no hook events are recorded).
#[inline]
#[track_caller]
pub fn might_lock(map: &LockdepMap) {
    if ENABLED {
        engine::might_lock(map, Read::Exclusive, Location::caller());
    }
}

/// Validates taking `map` for read (shared, non-recursive) here without taking it.
#[inline]
#[track_caller]
pub fn might_lock_read(map: &LockdepMap) {
    if ENABLED {
        engine::might_lock(map, Read::Shared, Location::caller());
    }
}

/// Validates taking `map` with `subclass` here without taking it.
#[inline]
#[track_caller]
pub fn might_lock_nested(map: &LockdepMap, subclass: u32) {
    if ENABLED {
        engine::might_lock_nested(map, subclass, Location::caller());
    }
}

// ---------------------------------------------------------------------------
// The lock data types' own calls into the validator. They live here, with
// the other ways into the engine, so that `class` and `map` stay plain data
// that the engine can use without the engine being used by them.

impl crate::class::LockClassKey {
    /// Removes every class of this key from every live validator, with their
    /// dependencies and cached chains (the kernel's `lockdep_unregister_key`).
    ///
    /// Call it before the memory of a dynamic key is reused for another key.
    pub fn unregister(&self) {
        if ENABLED {
            engine::lockdep_unregister_key(self, true);
        }
        self.next_generation();
    }
}

#[cfg(lockdep_on)]
impl Drop for crate::class::DynKeyInner {
    /// The last map of a dynamic key and the key itself are gone: remove its
    /// classes (kernel `lockdep_unregister_key`), in the validator that has
    /// them. A key no validator ever registered a class of (its locks were
    /// never taken) has nothing to remove: its drop costs nothing.
    fn drop(&mut self) {
        if engine::any_owner(&self.owners) {
            engine::unregister_dynamic_key(self.key.id(), &self.owners);
            engine::release_owners(&mut self.owners);
        }
    }
}

#[cfg(lockdep_on)]
impl Drop for crate::class::OwnedKey {
    /// A map with a key of its own ([`LockdepMap::new_dynamic`]) is gone:
    /// remove the key's classes, as the last user of a
    /// [`DynamicKey`](crate::DynamicKey) does (the map's own drop, the
    /// freed-while-held check, runs first), then give its number back for
    /// reuse. As a field's drop, it runs even if that check's report
    /// unwinds.
    fn drop(&mut self) {
        if engine::any_owner(&self.owners) {
            engine::unregister_dynamic_key(crate::class::KeyId::Owned(self.id), &self.owners);
            engine::release_owners(&mut self.owners);
        }
        if !crate::fork::in_forked_child_quiet() {
            self.free();
        }
    }
}

impl Drop for LockdepMap {
    /// A lock's memory goes away: it must not be held (kernel
    /// `debug_check_no_locks_freed`). A key of the map's own is removed
    /// after this, by its own drop (`OwnedKey`'s).
    fn drop(&mut self) {
        if ENABLED {
            engine::debug_check_no_locks_freed(self);
        }
    }
}
