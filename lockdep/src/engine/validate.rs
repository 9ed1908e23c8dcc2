//! The acquire and release algorithms (kernel `__lock_acquire`,
//! `validate_chain`, `check_deadlock`, `check_prevs_add`, `check_prev_add`,
//! `__lock_release`, `reacquire_held_locks`, `__lock_downgrade`,
//! `__lock_set_class`).

use std::panic::Location;

use super::graph::{ClassId, EdgeOrigin, Graph, Plain};
use super::held::{HEAD, HeldLock, HeldStack, NO_NODE, elem_unchecked, link};
use super::inner::{Inner, Shared, lock, registry};
use super::signature::{Signature, Site};
use super::thread::{Ctx, fast, fast_inner, with_ctx};
use crate::class::{LockClassKey, MAX_SUBCLASSES, Read};
use crate::map::LockdepMap;
use crate::report::{ChainStep, DepTypes, LockInfo, Report, ReportKind, Trace};
use crate::validator::{Hook, HookEvent};

type Loc = &'static Location<'static>;

/// A nest lock as an acquire names it: address and name.
type Nest = Option<(usize, &'static str)>;

// ---------------------------------------------------------------------------
// Entry points (called by the hooks).

#[inline(always)]
pub(crate) fn acquire(
    map: &LockdepMap,
    subclass: u32,
    trylock: bool,
    read: Read,
    check: bool,
    nest: Option<&LockdepMap>,
    loc: Loc,
) {
    if !(nest.is_none() && fast_acquire(map, subclass, trylock, read, check, loc)) {
        acquire_slow(map, subclass, trylock, read, check, nest, loc);
    }
}

#[cold]
#[inline(never)]
fn acquire_slow(
    map: &LockdepMap,
    subclass: u32,
    trylock: bool,
    read: Read,
    check: bool,
    nest: Option<&LockdepMap>,
    loc: Loc,
) {
    with_ctx(|ctx| {
        if ctx.inner.config.record_events {
            let nest_lock = nest.map(LockdepMap::addr);
            ctx.event(map, Hook::Acquire { subclass, trylock, read, check, nest_lock }, loc);
        }
        if !ctx.inner.is_validating() {
            return;
        }
        let nest = nest.map(|n| (n.addr(), n.name()));
        ctx.acquire(map, subclass, trylock, read, check, nest, loc);
        // The hook's business, not the algorithm's (`might_lock` runs the
        // algorithm without taking the lock).
        if ctx.inner.is_validating() {
            map.note_acquire(ctx.thread_num);
        }
    });
}

#[inline(always)]
pub(crate) fn release(map: &LockdepMap, loc: Loc) {
    if !fast_release(map) {
        release_slow(map, loc);
    }
}

#[cold]
#[inline(never)]
fn release_slow(map: &LockdepMap, loc: Loc) {
    with_ctx(|ctx| {
        map.note_release(ctx.thread_num);
        ctx.event(map, Hook::Release, loc);
        if ctx.inner.is_validating() {
            ctx.release(map, loc);
        }
    });
}

pub(crate) fn downgrade(map: &LockdepMap, loc: Loc) {
    with_ctx(|ctx| {
        ctx.event(map, Hook::Downgrade, loc);
        if ctx.inner.is_validating() {
            ctx.downgrade(map, loc);
        }
    });
}

pub(crate) fn set_subclass(map: &LockdepMap, subclass: u32, loc: Loc) {
    with_ctx(|ctx| {
        ctx.event(map, Hook::SetSubclass { subclass }, loc);
        if ctx.inner.is_validating() {
            ctx.set_subclass(map, subclass, loc);
        }
    });
}

/// The statistics hooks only record events (when some validator records
/// them): skip the thread-local lookup entirely otherwise.
#[inline(always)]
pub(crate) fn contended(map: &LockdepMap, loc: Loc) {
    if super::inner::any_records_events() {
        record(map, Hook::Contended, loc);
    }
}

#[inline(always)]
pub(crate) fn acquired(map: &LockdepMap, loc: Loc) {
    if super::inner::any_records_events() {
        record(map, Hook::Acquired, loc);
    }
}

#[cold]
#[inline(never)]
fn record(map: &LockdepMap, hook: Hook, loc: Loc) {
    with_ctx(|ctx| ctx.event(map, hook, loc));
}

/// `Some(held)` when known; `None` when unknown (validation off, re-entry,
/// thread-local teardown).
pub(crate) fn is_held(map: &LockdepMap, read: Option<Read>) -> Option<bool> {
    held_mode(map).map(|mode| held_as(mode, read))
}

/// The mode the current thread holds `map` in: `Some(None)` when it does
/// not hold it, `None` when unknown (as for [`is_held`]).
pub(crate) fn held_mode(map: &LockdepMap) -> Option<Option<Read>> {
    with_ctx(|ctx| ctx.inner.is_validating().then(|| ctx.find(map).map(|i| ctx.pv.held.locks[i].read))).flatten()
}

/// Whether holding in `mode` is holding as `read` asks: `None` any mode,
/// `Some(Read::Exclusive)` for write, `Some(_)` for read.
pub(crate) fn held_as(mode: Option<Read>, read: Option<Read>) -> bool {
    match (mode, read) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(m), Some(Read::Exclusive)) => m == Read::Exclusive,
        (Some(m), Some(_)) => m != Read::Exclusive,
    }
}

pub(crate) fn might_lock(map: &LockdepMap, read: Read, loc: Loc) {
    might(map, 0, read, loc);
}

pub(crate) fn might_lock_nested(map: &LockdepMap, subclass: u32, loc: Loc) {
    might(map, subclass, Read::Exclusive, loc);
}

fn might(map: &LockdepMap, subclass: u32, read: Read, loc: Loc) {
    with_ctx(|ctx| {
        if !ctx.inner.is_validating() {
            return;
        }
        let depth = ctx.pv.held.depth();
        ctx.acquire(map, subclass, false, read, true, None, loc);
        if ctx.pv.held.depth() > depth && ctx.pv.held.locks.last().is_some_and(|h| h.instance == map.addr()) {
            ctx.pv.held.locks.pop();
        }
    });
}

pub(crate) fn map_freed(map: &LockdepMap) {
    if !map.ever_used() {
        return;
    }
    with_ctx(|ctx| {
        if !ctx.inner.is_validating() {
            return;
        }
        let addr = map.addr();
        let Some(i) = ctx.pv.held.locks.iter().rposition(|h| h.instance == addr) else {
            ctx.freed_elsewhere(map);
            return;
        };
        let entry = ctx.pv.held.locks[i].clone();
        let mut sh = lock(&ctx.inner.shared);
        let info = lock_info(&sh.graph, &entry);
        let report = ctx.new_report(
            &sh.graph,
            ReportKind::HeldLockFreed,
            entry.location,
            Some(info),
            None,
            Vec::new(),
            format!("freeing memory {addr:#x} with a lock still held there"),
        );
        ctx.emit(&mut sh, Signature::HeldLockFreed { class: Some(entry.class), elsewhere: false }, report);
        drop(sh);
        // The lock is gone: stop tracking it, re-validating what was above it.
        let removed: Vec<HeldLock> = ctx.pv.held.locks.drain(i..).collect();
        ctx.replay(&removed[1..]);
    });
}

/// Another live thread that holds `map`, as far as the map's holder word
/// knows (the last acquirer, until it releases).
pub(crate) fn other_holder(map: &LockdepMap) -> Option<crate::report::ThreadInfo> {
    let holder = map.holder();
    if holder == 0 || super::thread::current_num() == Some(holder) {
        return None;
    }
    lock(super::thread::live_threads()).get(&holder).cloned()
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
pub(crate) fn unregister_key(key: &LockClassKey, maps_may_remain: bool) {
    let id = key.id();
    let validators: Vec<_> = lock(registry()).iter().filter_map(|w| w.upgrade()).collect();
    for inner in validators {
        let mut sh = lock(&inner.shared);
        let dead = sh.graph.classes_of(id);
        if dead.is_empty() {
            continue;
        }
        for c in dead {
            sh.graph.zap(c);
            sh.chains.zap_class(c.raw());
        }
        if maps_may_remain {
            inner.bump_epoch();
        }
    }
}

// ---------------------------------------------------------------------------
// The steady state, without the re-entrancy guard or a report context (it
// calls nothing outside the engine and reports nothing).

fn cached_class(inner: &Inner, map: &LockdepMap, subclass: u32) -> Option<ClassId> {
    map.cached_class(inner.epoch(), subclass).map(ClassId::from_raw)
}

/// An acquisition whose class is cached in the map and whose chain this
/// thread may push without validation (a chain head, or a chain found in the
/// thread's cache — which holds validated chains, and trylock and unchecked
/// ones, which need no validation): push it. False sends it down the full
/// path.
#[inline(always)]
fn fast_acquire(map: &LockdepMap, subclass: u32, trylock: bool, read: Read, check: bool, loc: Loc) -> bool {
    // SAFETY: the borrow ends with this function, which calls nothing
    // outside the engine.
    let Some(pv) = (unsafe { fast() }) else { return false };
    // SAFETY: `pv` comes from `fast` in this hook.
    let inner = unsafe { fast_inner(pv) };
    let depth = pv.held.locks.len();
    // (A full stack goes the full path, which grows it: no call from here.)
    if inner.hot() != pv.hot || subclass >= MAX_SUBCLASSES || depth >= pv.fast_depth {
        return false;
    }
    let Some(class) = map.cached_class(pv.hot >> 2, subclass) else { return false };
    let class = ClassId::from_raw(class);
    let elem = elem_unchecked(class, read, trylock, check);
    let node = match pv.held.locks.last() {
        // A chain head has nothing to be validated against (the full path
        // records it, for the statistics, when the map's class is looked up).
        None => HEAD | elem,
        // (A parent without an id, NO_NODE, is never cached: it misses.)
        Some(top) => match pv.cache.get_front(link(top.node, elem)) {
            Some(node) => node,
            None => return false,
        },
    };
    let entry = HeldLock {
        instance: map.addr(),
        class,
        node,
        name: map.name(),
        location: loc,
        nest: None,
        references: 0,
        subclass: subclass as u8,
        read,
        trylock,
        check,
    };
    // SAFETY: `depth < fast_depth <= capacity` (see `PerValidator`), so the
    // slot is allocated, and it is initialised before the length covers it.
    unsafe {
        pv.held.locks.as_mut_ptr().add(depth).write(entry);
        pv.held.locks.set_len(depth + 1);
    }
    map.note_acquire(pv.thread_num);
    true
}

/// The release of the top entry, when it is a plain one.
#[inline(always)]
fn fast_release(map: &LockdepMap) -> bool {
    // SAFETY: the borrow ends with this function, which calls nothing
    // outside the engine.
    let Some(pv) = (unsafe { fast() }) else { return false };
    let depth = pv.held.locks.len();
    match pv.held.locks.last() {
        Some(top) if top.instance == map.addr() && top.references == 0 && top.nest.is_none() => {}
        _ => return false,
    }
    // SAFETY: the top entry owns nothing (no nest box), so forgetting it
    // instead of dropping it leaks nothing.
    unsafe { pv.held.locks.set_len(depth - 1) };
    map.note_release(pv.thread_num);
    true
}

// ---------------------------------------------------------------------------
// Report helpers.

pub(crate) fn lock_info(graph: &Graph, h: &HeldLock) -> LockInfo {
    LockInfo {
        instance: h.name,
        addr: h.instance,
        class: if graph.is_alive(h.class) { graph.class_name(h.class) } else { h.name.to_owned() },
        subclass: u32::from(h.subclass),
        read: h.read,
        trylock: h.trylock,
        location: h.location,
    }
}

pub(crate) fn held_infos(graph: &Graph, held: &HeldStack) -> Vec<LockInfo> {
    held.locks.iter().map(|h| lock_info(graph, h)).collect()
}

/// A lock the engine has no held entry for, described from its map.
pub(crate) fn map_info(map: &LockdepMap, subclass: u32, read: Read, trylock: bool, loc: Loc) -> LockInfo {
    named_info(map.name(), map.addr(), subclass, read, trylock, loc)
}

/// A lock known only by name and address (its name stands for the class).
fn named_info(name: &'static str, addr: usize, subclass: u32, read: Read, trylock: bool, loc: Loc) -> LockInfo {
    LockInfo { instance: name, addr, class: name.to_owned(), subclass, read, trylock, location: loc }
}

// ---------------------------------------------------------------------------
// The algorithms.

impl Ctx<'_> {
    pub(crate) fn event(&self, map: &LockdepMap, hook: Hook, loc: Loc) {
        if self.inner.config.record_events {
            self.inner.record_event(HookEvent {
                thread: self.thread.id,
                map: map.name(),
                instance: map.addr(),
                hook,
                location: loc,
            });
        }
    }

    fn cached_class(&self, map: &LockdepMap, subclass: u32) -> Option<ClassId> {
        cached_class(self.inner, map, subclass)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_report(
        &self,
        graph: &Graph,
        kind: ReportKind,
        loc: Loc,
        lock: Option<LockInfo>,
        other: Option<LockInfo>,
        chain: Vec<ChainStep>,
        message: String,
    ) -> Report {
        Report {
            kind,
            validator: self.inner.config.name.clone(),
            one_shot: self.inner.config.one_shot,
            thread: self.thread.clone(),
            location: loc,
            lock,
            other,
            other_thread: None,
            chain,
            held: held_infos(graph, &self.pv.held),
            message,
            backtrace: None,
            dump: None,
            cycle: Vec::new(),
        }
    }

    /// Queues a report: in one-shot mode it turns validation off; in
    /// continue mode a problem whose `signature` was seen before is dropped.
    fn emit(&mut self, sh: &mut Shared, signature: Signature, report: Report) {
        if self.inner.config.one_shot {
            if !self.inner.turn_off() {
                return;
            }
        } else if !sh.seen.insert(signature) {
            return;
        }
        self.out.push(report);
    }

    fn emit_unlocked(&mut self, signature: Signature, build: impl FnOnce(&Self, &Graph) -> Report) {
        let inner = self.inner;
        let mut sh = lock(&inner.shared);
        let report = build(self, &sh.graph);
        self.emit(&mut sh, signature, report);
    }

    /// A subclass out of range (`info` names the lock, the subclass and the
    /// call site), reported once per call site.
    fn invalid_subclass(&mut self, info: LockInfo) {
        let (subclass, loc) = (info.subclass, info.location);
        let msg = format!("looking up invalid subclass: {subclass} (subclasses are 0..{MAX_SUBCLASSES})");
        self.emit_unlocked(Signature::InvalidSubclass(Site::of(loc)), |ctx, g| {
            ctx.new_report(g, ReportKind::InvalidSubclass, loc, Some(info), None, Vec::new(), msg)
        });
    }

    /// An exhausted limit: the report (once) and the validator stops learning.
    fn limit(&mut self, sh: &mut Shared, what: &str, how: &str, lock: Option<LockInfo>, loc: Loc) {
        let msg = format!(
            "{what} too low! (raise it with {how}); no new dependencies are learned from here on, \
             held locks are still tracked"
        );
        let report = self.new_report(&sh.graph, ReportKind::LimitExceeded, loc, lock, None, Vec::new(), msg);
        self.emit(sh, Signature::LimitExceeded, report);
        self.inner.limit_exhausted(what, how);
    }

    /// Finds (registering if needed) the class of `map` for `subclass`.
    fn lookup_class(&mut self, map: &LockdepMap, subclass: u32, read: Read, loc: Loc) -> Option<ClassId> {
        if let Some(c) = self.cached_class(map, subclass) {
            return Some(c);
        }
        let inner = self.inner;
        let mut sh = lock(&inner.shared);
        let key = map.key.id();
        match sh.graph.register(key, subclass, map.name(), inner.config.max_classes) {
            Some(c) => {
                map.set_cached_class(inner.epoch(), subclass, c.raw());
                Some(c)
            }
            None => {
                self.limit(
                    &mut sh,
                    "max_classes",
                    "Config::max_classes or LOCKDEP_MAX_CLASSES",
                    Some(map_info(map, subclass, read, false, loc)),
                    loc,
                );
                None
            }
        }
    }

    /// The class of `map` for `subclass` if it exists already (nothing is
    /// registered once learning stopped).
    fn known_class(&mut self, map: &LockdepMap, subclass: u32) -> Option<ClassId> {
        if let Some(c) = self.cached_class(map, subclass) {
            return Some(c);
        }
        let inner = self.inner;
        let c = lock(&inner.shared).graph.lookup(map.key.id(), subclass)?;
        map.set_cached_class(inner.epoch(), subclass, c.raw());
        Some(c)
    }

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
        let class = if self.inner.is_learning() {
            self.lookup_class(map, subclass, read, loc)
        } else {
            self.known_class(map, subclass)
        };
        let entry = HeldLock {
            instance: map.addr(),
            class: class.unwrap_or(ClassId::UNTRACKED),
            node: NO_NODE,
            name: map.name(),
            location: loc,
            nest: nest.map(Box::new),
            references: 0,
            subclass: subclass as u8,
            read,
            trylock,
            check: check && class.is_some(),
        };
        self.push(entry, 0, loc);
    }

    /// Pushes `entry` through the acquire path (kernel `__lock_acquire` from
    /// the depth check on). `references`: the entry's merge count (replay).
    fn push(&mut self, mut entry: HeldLock, references: u32, loc: Loc) {
        if self.pv.held.depth() >= self.inner.config.max_depth && self.inner.is_learning() {
            self.depth_limit(&entry, loc);
        }
        if entry.nest.is_some() && self.merge_nested(&entry, references) {
            return;
        }
        entry.references = references;
        if entry.nest.is_some() && !self.nest_lock_held(&entry, loc) && !self.inner.is_validating() {
            return;
        }
        let parent = self.pv.held.curr_node();
        let elem = entry.elem();
        let cached = match elem {
            Some(e) if parent != NO_NODE => self.pv.cache.get(link(parent, e)),
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
                top.references = top.references.max(1) + references.max(1);
                true
            }
            _ => false,
        }
    }

    /// Reports a nest lock that is not held; false when it is not.
    #[cold]
    #[inline(never)]
    fn nest_lock_held(&mut self, entry: &HeldLock, loc: Loc) -> bool {
        let Some((nest_addr, nest_name)) = entry.nest.as_deref().copied() else { return true };
        if self.pv.held.holds_instance(nest_addr) {
            return true;
        }
        let inner = self.inner;
        let mut sh = lock(&inner.shared);
        let info = lock_info(&sh.graph, entry);
        let other = named_info(nest_name, nest_addr, 0, Read::Exclusive, false, loc);
        let msg = format!("{} is taken under nest lock {nest_name}, which this thread does not hold", entry.name);
        let report =
            self.new_report(&sh.graph, ReportKind::NestLockNotHeld, loc, Some(info), Some(other), Vec::new(), msg);
        self.emit(&mut sh, Signature::NestLockNotHeld { class: entry.class, site: Site::of(loc) }, report);
        false
    }

    /// The chain of `next` (`parent` followed by `elem`) missed the thread's
    /// cache: intern it, and validate it unless it needs no validation or was
    /// validated before (kernel `validate_chain` with
    /// `lookup_chain_cache_add`). Sets `next.node`; returns false when a
    /// report fired.
    #[cold]
    #[inline(never)]
    fn validate_chain(&mut self, next: &mut HeldLock, parent: u32, elem: Option<u32>) -> bool {
        let inner = self.inner;
        // Once a limit stopped learning, known chains are still found (and
        // cached) and new ones still checked against the learned
        // dependencies, but nothing new is recorded.
        let learning = inner.is_learning();
        let mut sh = lock(&inner.shared);
        let limit = if learning { inner.config.max_chains.saturating_mul(2) } else { 0 };
        // Nothing is cached above an entry whose class was removed while held.
        let parent_alive = self.pv.held.locks.last().is_none_or(|t| sh.graph.is_alive(t.class));
        let node = elem.filter(|_| parent_alive).and_then(|e| sh.chains.intern(parent, e, limit)).unwrap_or(NO_NODE);
        next.node = node;
        let key = elem.map(|e| link(parent, e));
        // Cacheable: a node the thread may push again without validation.
        let cache = |ctx: &mut Self| {
            if let Some(key) = key.filter(|_| node != NO_NODE) {
                ctx.pv.cache.insert(key, node);
            }
        };
        if next.trylock || !next.check {
            drop(sh);
            cache(self); // trylocks and unchecked locks are never validated
            return true;
        }
        if sh.chains.is_validated(node) {
            sh.chain_hits += 1;
            drop(sh);
            cache(self);
            return true;
        }
        sh.chain_misses += 1;
        sh.max_depth_seen = sh.max_depth_seen.max(self.pv.held.depth() + 1);

        let ok = match self.check_deadlock(&mut sh, next) {
            Deadlock::Found => false,
            Deadlock::NestProtected => true,
            Deadlock::None => self.pv.held.depth() == 0 || self.check_prevs_add(&mut sh, next),
        };
        if !ok || !inner.is_validating() || node == NO_NODE || !inner.is_learning() {
            return ok;
        }
        if sh.chains.count >= inner.config.max_chains {
            let info = lock_info(&sh.graph, next);
            self.limit(&mut sh, "max_chains", "Config::max_chains or LOCKDEP_MAX_CHAINS", Some(info), next.location);
            return true;
        }
        sh.chains.set_validated(node);
        drop(sh);
        cache(self);
        true
    }

    /// Kernel `check_deadlock`: a same-class lock already held.
    fn check_deadlock(&mut self, sh: &mut Shared, next: &HeldLock) -> Deadlock {
        let mut nest_seen = false;
        let mut hit = None;
        for prev in &self.pv.held.locks {
            if next.nest_addr() == Some(prev.instance) {
                nest_seen = true;
            }
            if prev.class != next.class {
                continue;
            }
            if next.read == Read::SharedRecursive && prev.read != Read::Exclusive {
                continue; // recursive read after any read
            }
            if nest_seen {
                return Deadlock::NestProtected;
            }
            hit = Some(prev.clone());
            break;
        }
        let Some(prev) = hit else {
            return Deadlock::None;
        };
        let prev_info = lock_info(&sh.graph, &prev);
        let next_info = lock_info(&sh.graph, next);
        let msg = format!("{} is already held by this thread; the class is {}", prev.name, prev_info.class);
        let report = self.new_report(
            &sh.graph,
            ReportKind::RecursiveLocking,
            next.location,
            Some(next_info),
            Some(prev_info),
            Vec::new(),
            msg,
        );
        let sig =
            Signature::Recursive { held: prev.class, next: next.class, held_read: prev.read, next_read: next.read };
        self.emit(sh, sig, report);
        Deadlock::Found
    }

    /// Kernel `check_prevs_add`: dependencies from the held locks to `next`,
    /// from the top down to (and including) the first blocking one.
    fn check_prevs_add(&mut self, sh: &mut Shared, next: &HeldLock) -> bool {
        let mut trace = None;
        for (distance, i) in (1..).zip((0..self.pv.held.depth()).rev()) {
            let prev = self.pv.held.locks[i].clone();
            // A lock whose class was removed while held is tracked for
            // balance only: it neither depends on anything nor stops the walk.
            if prev.check && sh.graph.is_alive(prev.class) {
                if !self.check_prev_add(sh, &prev, next, distance, &mut trace) {
                    return false;
                }
                if !prev.trylock {
                    break;
                }
            }
        }
        true
    }

    /// Kernel `check_prev_add`: the cycle check, then the edge.
    fn check_prev_add(
        &mut self,
        sh: &mut Shared,
        prev: &HeldLock,
        next: &HeldLock,
        distance: u32,
        trace: &mut Option<Option<Trace>>,
    ) -> bool {
        if !sh.graph.is_alive(prev.class) || !sh.graph.is_alive(next.class) {
            return true; // a class zapped while held: ignore it
        }
        // The topological order proves most new dependencies acyclic in O(1);
        // only the others get the exact strong-path search.
        let known = sh.graph.find_edge(prev.class, next.class).is_some() && !sh.graph.order_broken;
        let search = !known && matches!(sh.graph.plain_check(prev.class, next.class), Plain::Search);
        let path = if search {
            sh.graph.find_strong_path(
                next.class,
                next.read == Read::SharedRecursive,
                prev.class,
                prev.read == Read::Exclusive,
            )
        } else {
            None
        };
        if let Some(path) = path {
            let prev_info = lock_info(&sh.graph, prev);
            let next_info = lock_info(&sh.graph, next);
            let mut chain: Vec<ChainStep> = path
                .iter()
                .map(|e| {
                    let edge = sh.graph.edge(*e);
                    ChainStep {
                        from: edge.origin.from.clone(),
                        to: edge.origin.to.clone(),
                        types: DepTypes(edge.dep),
                        thread: edge.origin.thread.clone(),
                        is_new: false,
                        trace: edge.origin.trace.clone(),
                    }
                })
                .collect();
            chain.push(ChainStep {
                from: prev_info.clone(),
                to: next_info.clone(),
                types: DepTypes::of(prev.read, next.read),
                thread: self.thread.clone(),
                is_new: true,
                trace: self.trace(sh, trace),
            });
            let edges: Vec<(ClassId, ClassId)> =
                path.iter().map(|e| sh.graph.edge_classes(*e)).chain([(prev.class, next.class)]).collect();
            let cycle: Vec<(u32, u32)> = edges.iter().map(|&(a, b)| (a.raw(), b.raw())).collect();
            // The problem is the set of its edges, wherever it was closed.
            let mut sorted = edges;
            sorted.sort_unstable();
            let sig = Signature::Cycle(sorted);
            let kind =
                if prev.class == next.class { ReportKind::RecursiveLocking } else { ReportKind::CircularDependency };
            let n = chain.len();
            let msg = format!(
                "{} -> {} would close a cycle of {n} {}",
                prev_info.class,
                next_info.class,
                if n == 1 { "dependency" } else { "dependencies" }
            );
            let mut report =
                self.new_report(&sh.graph, kind, next.location, Some(next_info), Some(prev_info), chain, msg);
            report.backtrace = report.chain.last().and_then(|s| s.trace.clone());
            report.cycle = cycle;
            self.emit(sh, sig, report);
            return false;
        }
        let dep = DepTypes::of(prev.read, next.read);
        if !self.inner.is_learning() {
            return true; // checked against what was learned; nothing is added
        }
        if sh.graph.update_edge(prev.class, next.class, dep, distance) {
            return true;
        }
        let origin = EdgeOrigin {
            from: lock_info(&sh.graph, prev),
            to: lock_info(&sh.graph, next),
            thread: self.thread.clone(),
            trace: self.trace(sh, trace),
        };
        let limit = self.inner.config.max_dependencies;
        if sh.graph.insert_edge(prev.class, next.class, dep, distance, origin, limit).is_none() {
            let info = lock_info(&sh.graph, next);
            let how = "Config::max_dependencies or LOCKDEP_MAX_DEPENDENCIES";
            self.limit(sh, "max_dependencies", how, Some(info), next.location);
            return false;
        }
        true
    }

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

    /// The stack of the current acquisition, captured at most once per
    /// acquisition and shared by every edge it adds (None when capture is off).
    fn trace(&self, sh: &mut Shared, slot: &mut Option<Option<Trace>>) -> Option<Trace> {
        slot.get_or_insert_with(|| self.inner.config.backtraces.then(|| sh.traces.intern(super::trace::capture())))
            .clone()
    }

    /// Re-pushes entries that were above a removed or changed one.
    fn replay(&mut self, entries: &[HeldLock]) {
        for e in entries {
            let loc = e.location;
            self.push(e.clone(), e.references, loc);
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
        let merged = self.pv.held.locks.iter().any(|h| h.references > 0);
        let class0 = if merged { self.cached_class(map, 0) } else { None };
        self.pv.held.find(map.addr(), class0)
    }

    fn release(&mut self, map: &LockdepMap, loc: Loc) {
        let Some(i) = self.find(map) else {
            self.imbalance(map, "release", loc);
            return;
        };
        let e = &mut self.pv.held.locks[i];
        if e.references > 0 {
            e.references -= 1;
            if e.references > 0 {
                return;
            }
        }
        if i + 1 == self.pv.held.depth() {
            self.pv.held.locks.pop(); // the common case: nothing above to re-validate
            return;
        }
        let removed: Vec<HeldLock> = self.pv.held.locks.drain(i..).collect();
        self.replay(&removed[1..]);
    }

    fn downgrade(&mut self, map: &LockdepMap, loc: Loc) {
        let Some(i) = self.find(map) else {
            self.imbalance(map, "downgrade", loc);
            return;
        };
        let removed: Vec<HeldLock> = self.pv.held.locks.drain(i..).collect();
        let mut first = removed[0].clone();
        if first.read != Read::Exclusive {
            let msg = format!("downgrading {} which is held for {}", first.name, first.read);
            self.emit_unlocked(Signature::BadDowngrade(Site::of(loc)), |ctx, g| {
                let info = lock_info(g, &first);
                ctx.new_report(g, ReportKind::BadDowngrade, loc, Some(info), None, Vec::new(), msg)
            });
        }
        first.read = Read::Shared;
        first.location = loc;
        let refs = first.references;
        self.push(first, refs, loc);
        self.replay(&removed[1..]);
    }

    fn set_subclass(&mut self, map: &LockdepMap, subclass: u32, loc: Loc) {
        let Some(i) = self.find(map) else {
            self.imbalance(map, "set the subclass of", loc);
            return;
        };
        if subclass >= MAX_SUBCLASSES {
            self.invalid_subclass(map_info(map, subclass, self.pv.held.locks[i].read, false, loc));
            return;
        }
        let read = self.pv.held.locks[i].read;
        let Some(class) = self.lookup_class(map, subclass, read, loc) else {
            return;
        };
        let removed: Vec<HeldLock> = self.pv.held.locks.drain(i..).collect();
        let mut first = removed[0].clone();
        first.class = class;
        first.subclass = subclass as u8;
        let refs = first.references;
        self.push(first, refs, loc);
        self.replay(&removed[1..]);
    }
}

enum Deadlock {
    None,
    Found,
    NestProtected,
}
