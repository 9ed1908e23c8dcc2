//! The release family (kernel `__lock_release`, `reacquire_held_locks`,
//! `__lock_downgrade`, `__lock_set_class`), freeing a held lock (kernel
//! `debug_check_no_locks_freed`) and removing a key's classes (kernel
//! `lockdep_unregister_key`).

use std::panic::Location;

use super::ctx::Ctx;
use super::emit::{lock_info, map_info};
use super::fast::fast;
use super::held::HeldLock;
use super::inner::{Inner, lock};
use super::registry::{any_owner, first_owner, registry, several_owners};
use super::signature::{Signature, Site};
use super::thread::with_ctx;
use crate::class::{KeyId, LockClassKey, MAX_SUBCLASSES, Read};
use crate::map::LockdepMap;
use crate::report::ReportKind;

type Loc = &'static Location<'static>;

/// Kernel `debug_check_no_locks_freed`: a map is being dropped; the current
/// thread must not hold it (nor, as far as its holder word knows, another
/// thread).
pub(crate) fn debug_check_no_locks_freed(map: &LockdepMap) {
    if !map.ever_used() || freed_unheld_fast(map) {
        return;
    }
    with_ctx(|ctx| {
        if !ctx.inner.is_validating() {
            return;
        }
        let addr = map.addr();
        let Some(i) = ctx.pv.held.locks.iter().rposition(|h| h.instance() == addr) else {
            ctx.freed_elsewhere(map);
            return;
        };
        let entry = ctx.pv.held.locks[i].clone();
        let mut sh = lock(&ctx.inner.shared);
        let info = lock_info(&sh.graph, &entry);
        let report = ctx.new_report(
            &sh.graph,
            ReportKind::HeldLockFreed,
            entry.location(),
            Some(info),
            None,
            Vec::new(),
            format!("freeing memory {addr:#x} with a lock still held there"),
        );
        ctx.emit(&mut sh, Signature::HeldLockFreed { class: Some(entry.class), elsewhere: false }, report);
        drop(sh);
        // The lock is gone: stop tracking it, re-validating what was above it.
        let removed: Vec<HeldLock> = ctx.pv.held.locks.drain(i..).collect();
        ctx.reacquire_held_locks(&removed[1..]);
    });
}

/// The drop check of a map that no thread holds, without entering the
/// validator (a dynamic-class lock is dropped right after its last
/// release): true when the fast path is armed, the thread's held stack does
/// not have the map and its holder word names no other thread — where the
/// full check would find nothing to report either. False sends the drop
/// through the full check.
#[inline(always)]
fn freed_unheld_fast(map: &LockdepMap) -> bool {
    // SAFETY: the borrow ends with this function, which calls nothing
    // outside the engine.
    let Some(pv) = (unsafe { fast() }) else { return false };
    let addr = map.addr();
    if pv.held.locks.iter().any(|h| h.instance() == addr) {
        return false;
    }
    let holder = map.holder();
    holder == 0 || holder == pv.thread_num
}

/// Zaps every class of `key` in every live validator (kernel
/// `lockdep_unregister_key`), at the cost of what those classes own: their
/// edges and the chains that contain them.
///
/// `maps_may_remain`: maps using the key may still exist and cache its
/// classes (an explicit [`LockClassKey::unregister`]), so every cache is
/// flushed by a new epoch. A dynamic key is only removed once no map uses
/// it, and class ids are never reused, so nothing else needs flushing:
/// other classes' cached chains stay valid.
///
/// Nothing happens in a child of `fork()`, where the registry and graph locks
/// may be held forever (see `fork`).
pub(crate) fn lockdep_unregister_key(key: &LockClassKey, maps_may_remain: bool) {
    unregister_key_id(key.id(), maps_may_remain);
}

/// [`lockdep_unregister_key`] by the key's identity.
fn unregister_key_id(id: KeyId, maps_may_remain: bool) {
    if crate::fork::in_forked_child() {
        return;
    }
    let validators: Vec<_> = lock(registry()).iter().filter_map(|w| w.upgrade()).collect();
    for inner in validators {
        zap_key(&inner, id, maps_may_remain);
    }
}

/// Removes the classes of a dynamic key that is being dropped (kernel
/// `lockdep_unregister_key`): in its one validator when only one registered
/// classes of it, else in every live validator. A key no validator
/// registered a class of (its locks were never taken) costs nothing, and a
/// validator that is gone has nothing left to remove.
/// `id`: the key's identity (a [`DynamicKey`](crate::DynamicKey)'s, or a
/// map's own key's).
pub(crate) fn unregister_dynamic_key(id: KeyId, owners: &crate::class::KeyOwners) {
    if !any_owner(owners) {
        return;
    }
    if several_owners(owners) {
        unregister_key_id(id, false);
        return;
    }
    if crate::fork::in_forked_child() {
        return; // see `lockdep_unregister_key`
    }
    if let Some(inner) = first_owner(owners) {
        zap_key(&inner, id, false);
    }
}

/// Zaps every class of the key `id` in one validator (see
/// [`lockdep_unregister_key`]).
pub(crate) fn zap_key(inner: &Inner, id: KeyId, maps_may_remain: bool) {
    let mut guard = lock(&inner.shared);
    let sh = &mut *guard;
    let mut any = false;
    sh.graph.zap_key_each(id, |c, slot| {
        any = true;
        sh.chains.zap_class(c, slot);
    });
    if !any {
        return;
    }
    if maps_may_remain {
        inner.bump_epoch();
    }
}

impl Ctx<'_> {
    /// A map dropped while some *other* thread holds it (the kernel only
    /// checks the freeing thread's own locks).
    fn freed_elsewhere(&mut self, map: &LockdepMap) {
        let holder = map.holder();
        if holder == 0 || holder == self.thread_num {
            return;
        }
        let other = lock(super::thread::live_threads()).get(&holder).cloned();
        let who = other.as_ref().map_or_else(|| "a thread that has exited".to_owned(), |t| format!("thread {t}"));
        let info = map_info(map, 0, Read::Exclusive, false, Location::caller());
        let msg = format!("freeing lock {}@{:#x} while {who} holds it", map.name(), map.addr());
        let class = self.cached_class(map, 0);
        self.emit_unlocked(Signature::HeldLockFreed { class, elsewhere: true }, |ctx, g| {
            let mut r = ctx.new_report(g, ReportKind::HeldLockFreed, info.location, Some(info), None, Vec::new(), msg);
            r.other_thread = other;
            r
        });
    }

    /// Kernel `reacquire_held_locks`: re-pushes the entries that were above a
    /// removed or changed one, re-validating them.
    fn reacquire_held_locks(&mut self, entries: &[HeldLock]) {
        for e in entries {
            let loc = e.location();
            self.push(e.clone(), e.references(), loc);
        }
    }

    fn imbalance(&mut self, map: &LockdepMap, what: &str, loc: Loc) {
        let info = map_info(map, 0, Read::Exclusive, false, loc);
        let msg = format!("trying to {what} lock ({}) at {loc}, but there are no more locks to release!", map.name());
        self.emit_unlocked(Signature::Imbalance(Site::of(loc)), |ctx, g| {
            ctx.new_report(g, ReportKind::UnlockImbalance, loc, Some(info), None, Vec::new(), msg)
        });
    }

    /// The current thread's entry for `map`: by instance, or a merged nest
    /// entry of its class (kernel `match_held_lock`).
    pub(crate) fn find(&self, map: &LockdepMap) -> Option<usize> {
        let merged = self.pv.held.locks.iter().any(|h| h.references() > 0);
        // A member of a merged entry is known by its class.
        let class0 = if merged { self.known_class(map, 0) } else { None };
        self.pv.held.find(map.addr(), class0)
    }

    /// Kernel `__lock_release`.
    pub(crate) fn release(&mut self, map: &LockdepMap, loc: Loc) {
        let Some(i) = self.find(map) else {
            self.imbalance(map, "release", loc);
            return;
        };
        let e = &mut self.pv.held.locks[i];
        if e.references() > 0 {
            e.set_references(e.references() - 1);
            if e.references() > 0 {
                return;
            }
        }
        if i + 1 == self.pv.held.depth() {
            self.pv.held.locks.pop(); // the common case: nothing above to re-validate
            return;
        }
        let removed: Vec<HeldLock> = self.pv.held.locks.drain(i..).collect();
        self.reacquire_held_locks(&removed[1..]);
    }

    /// Kernel `__lock_downgrade`.
    pub(crate) fn downgrade(&mut self, map: &LockdepMap, loc: Loc) {
        let Some(i) = self.find(map) else {
            self.imbalance(map, "downgrade", loc);
            return;
        };
        let removed: Vec<HeldLock> = self.pv.held.locks.drain(i..).collect();
        let mut first = removed[0].clone();
        if first.read != Read::Exclusive {
            let msg = format!("downgrading {} which is held for {}", first.name(), first.read);
            self.emit_unlocked(Signature::BadDowngrade(Site::of(loc)), |ctx, g| {
                let info = lock_info(g, &first);
                ctx.new_report(g, ReportKind::BadDowngrade, loc, Some(info), None, Vec::new(), msg)
            });
        }
        first.read = Read::Shared;
        first.set_location(loc);
        let refs = first.references();
        self.push(first, refs, loc);
        self.reacquire_held_locks(&removed[1..]);
    }

    /// Kernel `__lock_set_class` (a new subclass of the same key).
    pub(crate) fn set_subclass(&mut self, map: &LockdepMap, subclass: u32, loc: Loc) {
        let Some(i) = self.find(map) else {
            self.imbalance(map, "set the subclass of", loc);
            return;
        };
        if subclass >= MAX_SUBCLASSES {
            self.invalid_subclass(map_info(map, subclass, self.pv.held.locks[i].read, false, loc));
            return;
        }
        let read = self.pv.held.locks[i].read;
        let Some(class) = self.register_lock_class(map, subclass, read, loc) else {
            return;
        };
        let removed: Vec<HeldLock> = self.pv.held.locks.drain(i..).collect();
        let mut first = removed[0].clone();
        first.class = class;
        first.subclass = subclass as u8;
        let refs = first.references();
        self.push(first, refs, loc);
        self.reacquire_held_locks(&removed[1..]);
    }
}
