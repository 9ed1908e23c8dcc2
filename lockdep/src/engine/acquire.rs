//! The acquisition (kernel `__lock_acquire` and `register_lock_class`): the
//! class lookup, the depth limit, nest-lock merging, and the hand-over to
//! `validate_chain` for chains the thread has not validated before.

use std::panic::Location;
use std::sync::MutexGuard;

use super::ctx::Ctx;
use super::emit::{lock_info, map_info, named_info};
use super::graph::Slot;
use super::held::{ChainKey, ChainNode, HeldLock};
use super::ids::ClassId;
use super::inner::{Shared, lock};
use super::signature::{Signature, Site};
use crate::class::{MAX_SUBCLASSES, Read};
use crate::map::LockdepMap;
use crate::report::ReportKind;

type Loc = &'static Location<'static>;

/// A nest lock as an acquire names it: address and name.
pub(crate) type Nest = Option<(usize, &'static str)>;

impl Ctx<'_> {
    pub(crate) fn cached_class(&self, map: &LockdepMap, subclass: u32) -> Option<ClassId> {
        super::entry::cached_class(self.inner, map, subclass)
    }

    /// Kernel `register_lock_class`: the class of `map` for `subclass`,
    /// registered if new (`None` once the class limit is exhausted).
    pub(crate) fn register_lock_class(
        &mut self,
        map: &LockdepMap,
        subclass: u32,
        read: Read,
        loc: Loc,
    ) -> Option<ClassId> {
        if let Some(c) = self.cached_class(map, subclass) {
            return Some(c);
        }
        let mut sh = lock(&self.inner.shared);
        self.register_locked(&mut sh, map, subclass, read, loc).map(|(c, _)| c)
    }

    /// [`register_lock_class`](Self::register_lock_class) past the map's
    /// cache, under the graph lock; with the class, its slot when it was
    /// made here.
    #[inline(always)]
    fn register_locked(
        &mut self,
        sh: &mut MutexGuard<'_, Shared>,
        map: &LockdepMap,
        subclass: u32,
        read: Read,
        loc: Loc,
    ) -> Option<(ClassId, Option<Slot>)> {
        let inner = self.inner;
        let key = map.key.id();
        match sh.graph.register_slot(key, subclass, map.name(), inner.config.max_classes) {
            Some((c, slot)) => {
                if let Some(owners) = map.key.dynamic_owners() {
                    super::registry::note_owner(owners, &self.pv.inner);
                }
                map.set_cached_class(inner.epoch(), subclass, c.raw());
                Some((c, slot))
            }
            None => {
                self.limit(
                    sh,
                    "max_classes",
                    "Config::max_classes or LOCKDEP_MAX_CLASSES",
                    Some(map_info(map, subclass, read, false, loc)),
                    loc,
                );
                None
            }
        }
    }

    /// The class of `map` for `subclass` if it exists already: the map's
    /// cache, else the graph (the cache may be stale after an unregister;
    /// nothing is registered here).
    pub(crate) fn known_class(&self, map: &LockdepMap, subclass: u32) -> Option<ClassId> {
        if let Some(c) = self.cached_class(map, subclass) {
            return Some(c);
        }
        let inner = self.inner;
        let c = lock(&inner.shared).graph.lookup(map.key.id(), subclass)?;
        map.set_cached_class(inner.epoch(), subclass, c.raw());
        Some(c)
    }

    /// Kernel `__lock_acquire`: the acquisition of `map` by this thread.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn acquire(
        &mut self,
        map: &LockdepMap,
        mut subclass: u32,
        trylock: bool,
        read: Read,
        check: bool,
        nest: Nest,
        loc: Loc,
    ) {
        if subclass >= MAX_SUBCLASSES {
            self.invalid_subclass(map_info(map, subclass, read, trylock, loc));
            if !self.inner.is_validating() {
                return;
            }
            subclass = 0; // keep tracking the lock so that its release balances
        }
        subclass = self.nested_subclass(map, subclass); // Config::nested_sites
        let class = if self.inner.is_learning() {
            match self.cached_class(map, subclass) {
                Some(c) => Some(c),
                None if nest.is_none() && self.pv.held.depth() < self.inner.config.max_depth => {
                    self.acquire_new_class(map, subclass, trylock, read, check, loc);
                    return;
                }
                None => {
                    let mut sh = lock(&self.inner.shared);
                    self.register_locked(&mut sh, map, subclass, read, loc).map(|(c, _)| c)
                }
            }
        } else {
            self.known_class(map, subclass)
        };
        let mut entry = held_entry(map, class, subclass, read, trylock, check, loc);
        entry.set_nest(nest);
        self.push(entry, 0, loc);
    }

    /// The acquisition, below the depth limit and with no nest lock, of a
    /// lock whose map does not know its class yet (most often a class being
    /// registered: the lock a new dependency ends in, or a chain's first
    /// lock learned backwards): the class is registered and, when it is
    /// new, its chain validated in one pass under the graph lock, without a
    /// look-up in the thread's chain cache (a class just made is in no chain
    /// a thread has cached: ids are never reused). With nothing held the
    /// chain is a head (`validate_chain_locked` records it as one). The
    /// same steps as [`acquire`](Self::acquire) and [`push`](Self::push)
    /// would take below the depth limit with no nest lock (no depth report,
    /// no nest merge or check), so the same verdicts and statistics.
    #[allow(clippy::too_many_arguments)]
    fn acquire_new_class(&mut self, map: &LockdepMap, subclass: u32, trylock: bool, read: Read, check: bool, loc: Loc) {
        // The name's id before the graph lock (interning a name may print).
        map.name_id();
        let mut sh = lock(&self.inner.shared);
        let registered = self.register_locked(&mut sh, map, subclass, read, loc);
        // The slot of a class made here (none for one that existed).
        let new = registered.and_then(|(_, slot)| slot);
        // (Made where it stays until it is pushed: a move to another stack
        // slot right after it was made copied it with 16-byte loads that
        // span its fields' narrower stores, which the processor cannot
        // forward.)
        let mut entry = held_entry(map, registered.map(|(c, _)| c), subclass, read, trylock, check, loc);
        let parent = self.pv.held.curr_node();
        match (entry.elem(), new) {
            (Some(e), Some(slot)) if parent != ChainNode::NONE => {
                if !self.validate_chain_locked(sh, &mut entry, parent, Some(e), Some(slot))
                    && !self.inner.is_validating()
                {
                    return;
                }
                self.pv.held.locks.push(entry);
            }
            _ => {
                drop(sh);
                self.push(entry, 0, loc);
            }
        }
    }

    /// Pushes `entry` through the acquire path (kernel `__lock_acquire` from
    /// the depth check on). `references`: the entry's merge count (replay).
    pub(crate) fn push(&mut self, mut entry: HeldLock, references: u32, loc: Loc) {
        if self.pv.held.depth() >= self.inner.config.max_depth && self.inner.is_learning() {
            self.depth_limit(&entry, loc);
        }
        if entry.nest().is_some() && self.merge_nested(&entry, references) {
            return;
        }
        entry.set_references(references);
        if entry.nest().is_some() && !self.nest_lock_held(&entry, loc) && !self.inner.is_validating() {
            return;
        }
        let parent = self.pv.held.curr_node();
        let elem = entry.elem();
        let cached = match elem {
            Some(e) if parent != ChainNode::NONE => self.pv.cache.get(ChainKey::new(parent, e)),
            _ => None,
        };
        match cached {
            Some(node) => entry.node = node,
            None => {
                if !self.validate_chain(&mut entry, parent, elem) && !self.inner.is_validating() {
                    return;
                }
            }
        }
        self.pv.held.locks.push(entry);
    }

    #[cold]
    #[inline(never)]
    fn depth_limit(&mut self, entry: &HeldLock, loc: Loc) {
        let inner = self.inner;
        let mut sh = lock(&inner.shared);
        let info = lock_info(&sh.graph, entry);
        let what = format!("max_depth ({} held locks)", inner.config.max_depth);
        self.limit(&mut sh, &what, "Config::max_depth or LOCKDEP_MAX_DEPTH", Some(info), loc);
    }

    /// The nest merge: a same-class entry on top under a nest lock takes
    /// this acquisition as one more reference.
    fn merge_nested(&mut self, entry: &HeldLock, references: u32) -> bool {
        match self.pv.held.locks.last_mut() {
            Some(top) if top.class == entry.class => {
                top.set_references(top.references().max(1) + references.max(1));
                true
            }
            _ => false,
        }
    }

    /// Reports a nest lock that is not held; false when it is not.
    #[cold]
    #[inline(never)]
    fn nest_lock_held(&mut self, entry: &HeldLock, loc: Loc) -> bool {
        let Some((nest_addr, nest_name)) = entry.nest() else { return true };
        if self.pv.held.holds_instance(nest_addr) {
            return true;
        }
        let inner = self.inner;
        let mut sh = lock(&inner.shared);
        let info = lock_info(&sh.graph, entry);
        let other = named_info(nest_name, nest_addr, 0, Read::Exclusive, false, loc);
        let msg = format!("{} is taken under nest lock {nest_name}, which this thread does not hold", entry.name());
        let report =
            self.new_report(&sh.graph, ReportKind::NestLockNotHeld, loc, Some(info), Some(other), Vec::new(), msg);
        self.emit(&mut sh, Signature::NestLockNotHeld { class: entry.class, site: Site::of(loc) }, report);
        false
    }
}

/// The held entry of an acquisition of `map` in `class` (`None`: an
/// untracked class, not checked), before its chain is known.
#[allow(clippy::too_many_arguments)]
fn held_entry(
    map: &LockdepMap,
    class: Option<ClassId>,
    subclass: u32,
    read: Read,
    trylock: bool,
    check: bool,
    loc: Loc,
) -> HeldLock {
    HeldLock::new(
        map.addr(),
        class.unwrap_or(ClassId::UNTRACKED),
        ChainNode::NONE,
        map.name_id(),
        loc,
        subclass as u8,
        read,
        trylock,
        check && class.is_some(),
    )
}
