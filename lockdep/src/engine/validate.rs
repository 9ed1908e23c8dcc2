//! Validating a new chain of held locks (kernel `validate_chain`,
//! `check_deadlock`, `check_prevs_add`, `check_prev_add`,
//! `check_noncircular`): same-class recursion, then a dependency from each
//! held lock that can block to the new one, each checked for a cycle before
//! it is added.

use std::sync::MutexGuard;

use super::ctx::Ctx;
use super::emit::lock_info;
use super::graph::{EdgeEnd, EdgeOrigin, Plain, Slot};
use super::held::{ChainKey, ChainNode, Elem, HeldLock};
use super::ids::ClassId;
use super::inner::{Shared, lock};
use super::signature::Signature;
use crate::class::Read;
use crate::report::{ChainStep, DepTypes, ReportKind, ThreadInfo, Trace};

impl Ctx<'_> {
    /// The chain of `next` (`parent` followed by `elem`) missed the thread's
    /// cache: intern it, and validate it unless it needs no validation or was
    /// validated before (kernel `validate_chain` with
    /// `lookup_chain_cache_add`). Sets `next.node`; returns false when a
    /// report fired.
    #[cold]
    #[inline(never)]
    pub(crate) fn validate_chain(&mut self, next: &mut HeldLock, parent: ChainNode, elem: Option<Elem>) -> bool {
        let sh = lock(&self.inner.shared);
        // (An entry without an element is of the untracked class.)
        let at = elem.and_then(|_| sh.graph.slot(next.class));
        self.validate_chain_locked(sh, next, parent, elem, at)
    }

    /// [`validate_chain`](Self::validate_chain) with the graph lock taken
    /// already (by `Ctx::acquire`, when it registered the class of `next`
    /// in the same pass). `at`: the slot of `next`'s class (`None` if it
    /// was removed, or has no element), which the chain store's entries
    /// and the new dependency's end are found by. Releases the lock.
    #[inline(never)]
    pub(crate) fn validate_chain_locked(
        &mut self,
        mut sh: MutexGuard<'_, Shared>,
        next: &mut HeldLock,
        parent: ChainNode,
        elem: Option<Elem>,
        at: Option<Slot>,
    ) -> bool {
        let inner = self.inner;
        if parent == ChainNode::ROOT && self.pv.held.depth() == 0 {
            if let Some(e) = elem {
                return self.validate_head(sh, next, e, at);
            }
        }
        // The thread cache's line for the chain, fetched while the chain is
        // interned and validated (it is inserted last, see `cache`).
        if let Some(e) = elem {
            self.pv.cache.prefetch(ChainKey::new(parent, e));
        }
        // Once a limit stopped learning, known chains are still found (and
        // cached) and new ones still checked against the learned
        // dependencies, but nothing new is recorded.
        let learning = inner.is_learning();
        let limit = if learning { inner.config.max_chains.saturating_mul(2) } else { 0 };
        // Nothing is cached above an entry whose class was removed while held,
        // nor for a class removed since its map cached it (its entry in the
        // chain store went with its slot). (The top's slot is kept for its
        // dependency, `check_prevs_add`, and the chain store.)
        let top = self.pv.held.locks.last().map(|t| sh.graph.slot(t.class));
        let parent_alive = top.is_none_or(|s| s.is_some());
        let (node, validated) = (elem.filter(|_| parent_alive).zip(at))
            .and_then(|(e, at)| sh.chains.intern_validated(parent, top.flatten(), e, at, limit))
            .unwrap_or((ChainNode::NONE, false));
        next.node = node;
        let key = elem.map(|e| ChainKey::new(parent, e));
        // Cacheable: a node the thread may push again without validation.
        let cache = |ctx: &mut Self| {
            if let Some(key) = key.filter(|_| node != ChainNode::NONE) {
                ctx.pv.cache.insert(key, node);
            }
        };
        if next.trylock || !next.check {
            drop(sh);
            cache(self); // trylocks and unchecked locks are never validated
            return true;
        }
        if validated {
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
            Deadlock::None => self.pv.held.depth() == 0 || self.check_prevs_add(&mut sh, next, top.flatten(), at),
        };
        if !ok || !inner.is_validating() || node == ChainNode::NONE || !inner.is_learning() {
            return ok;
        }
        if sh.chains.count >= inner.config.max_chains {
            let info = lock_info(&sh.graph, next);
            self.limit(&mut sh, "max_chains", "Config::max_chains or LOCKDEP_MAX_CHAINS", Some(info), next.location());
            return true;
        }
        if let Some(at) = at {
            sh.chains.set_validated(node, at); // (a node was interned: `at` is known)
        }
        drop(sh);
        cache(self);
        true
    }

    /// [`validate_chain`](Self::validate_chain) for a chain head, `next`
    /// taken with nothing held as the element `e`, the graph lock taken
    /// already (by `Ctx::acquire`, when it registered the class in the same
    /// pass): the same steps and counts, where there is nothing to check (no lock held, so no
    /// recursion and no dependency) and the head is not interned (its node
    /// is [`ChainNode::head`]) but recorded with its class in the chain
    /// store, in one probe. `at`: the slot of `e`'s class (`None` if it was
    /// removed since its map cached it: the head is then not recorded).
    /// Releases the lock.
    #[inline(never)]
    pub(crate) fn validate_head(
        &mut self,
        mut guard: MutexGuard<'_, Shared>,
        next: &mut HeldLock,
        e: Elem,
        at: Option<Slot>,
    ) -> bool {
        let inner = self.inner;
        let node = ChainNode::head(e);
        next.node = node;
        let key = ChainKey::new(ChainNode::ROOT, e);
        if next.trylock || !next.check {
            drop(guard);
            self.pv.cache.insert(key, node); // never validated
            return true;
        }
        let sh = &mut *guard;
        // (`None`: a class removed since its map cached it, counted as a
        // miss with nothing to record the head under, as for an interned
        // chain above a removed class in `validate_chain_locked`.)
        let head = at.map(|at| sh.chains.head(e, at));
        if head.as_ref().is_some_and(|h| h.is_validated()) {
            sh.chain_hits += 1;
            drop(guard);
            self.pv.cache.insert(key, node);
            return true;
        }
        sh.chain_misses += 1;
        sh.max_depth_seen = sh.max_depth_seen.max(1);
        let Some(head) = head.filter(|_| inner.is_validating() && inner.is_learning()) else {
            return true;
        };
        if head.count() >= inner.config.max_chains {
            let info = lock_info(&sh.graph, next);
            self.limit(sh, "max_chains", "Config::max_chains or LOCKDEP_MAX_CHAINS", Some(info), next.location());
            return true;
        }
        head.set_validated();
        drop(guard);
        self.pv.cache.insert(key, node);
        true
    }

    /// Kernel `check_deadlock`: a same-class lock already held.
    fn check_deadlock(&mut self, sh: &mut Shared, next: &HeldLock) -> Deadlock {
        let mut nest_seen = false;
        let mut hit = None;
        for prev in &self.pv.held.locks {
            if next.nest_addr() == Some(prev.instance()) {
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
        let msg = format!("{} is already held by this thread; the class is {}", prev.name(), prev_info.class);
        let report = self.new_report(
            &sh.graph,
            ReportKind::RecursiveLocking,
            next.location(),
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
    /// `top`: the slot of the top entry's class (`None` if it was removed),
    /// looked up by the caller already.
    /// `to`: the slot of `next`'s class (`None` if it was removed).
    fn check_prevs_add(&mut self, sh: &mut Shared, next: &HeldLock, top: Option<Slot>, to: Option<Slot>) -> bool {
        let mut trace = None;
        let depth = self.pv.held.depth();
        for (distance, i) in (1..).zip((0..depth).rev()) {
            let prev = self.pv.held.locks[i].clone();
            // A lock whose class was removed while held is tracked for
            // balance only: it neither depends on anything nor stops the walk.
            let from = match prev.check {
                false => None,
                true if i + 1 == depth => top,
                true => sh.graph.slot(prev.class),
            };
            if let Some(from) = from {
                if !self.check_prev_add_at(sh, (from, to), &prev, next, distance, &mut trace) {
                    return false;
                }
                if !prev.trylock {
                    break;
                }
            }
        }
        true
    }

    /// Kernel `check_prev_add`: the cycle check (`check_noncircular`), then
    /// the edge.
    pub(super) fn check_prev_add(
        &mut self,
        sh: &mut Shared,
        prev: &HeldLock,
        next: &HeldLock,
        distance: u32,
        trace: &mut Option<Option<Trace>>,
    ) -> bool {
        let Some(from) = sh.graph.slot(prev.class) else {
            return true; // a class zapped while held: ignore it
        };
        let to = sh.graph.slot(next.class);
        self.check_prev_add_at(sh, (from, to), prev, next, distance, trace)
    }

    /// [`check_prev_add`](Self::check_prev_add) with `prev`'s class's slot
    /// `from` found already (by `check_prevs_add`, which needs it to know
    /// whether the class is alive: one probe of the class table for both),
    /// and `next`'s, `to` (`None` if it was removed; by `validate_chain`,
    /// or by the registration that made the class).
    fn check_prev_add_at(
        &mut self,
        sh: &mut Shared,
        (from, to): (Slot, Option<Slot>),
        prev: &HeldLock,
        next: &HeldLock,
        distance: u32,
        trace: &mut Option<Option<Trace>>,
    ) -> bool {
        // Both ends' slots and the edge between them, looked up once for
        // the check and the update (neither changes the edge set).
        let Some(to) = to else {
            return true; // a class zapped while held: ignore it
        };
        // A class no edge touches (one just made, most often): nothing to
        // search from it and no edge to update.
        let untouched = prev.class != next.class && sh.graph.is_untouched_at(to);
        let existing = if untouched { None } else { sh.graph.edge_at(from, to) };
        if untouched {
            sh.graph.count_untouched_check();
        } else if !self.check_noncircular(sh, prev, next, (from, to), existing.is_some(), trace) {
            return false;
        }
        let dep = DepTypes::of(prev.read, next.read);
        if !self.inner.is_learning() {
            return true; // checked against what was learned; nothing is added
        }
        if let Some(e) = existing {
            sh.graph.widen_edge(e, dep, distance);
            return true;
        }
        // (The origin is made where the edge goes: see `insert_edge_with`.)
        let thread = self.origin_thread(&mut sh.graph);
        let trace = self.trace(sh, trace);
        let origin = move || EdgeOrigin { from: edge_end(prev), to: edge_end(next), thread, trace };
        let limit = self.inner.config.max_dependencies;
        if sh.graph.insert_edge_with(from, to, dep, distance, origin, limit).is_none() {
            let info = lock_info(&sh.graph, next);
            let how = "Config::max_dependencies or LOCKDEP_MAX_DEPENDENCIES";
            self.limit(sh, "max_dependencies", how, Some(info), next.location());
            return false;
        }
        true
    }

    /// Kernel `check_noncircular`: would `prev -> next` close a cycle? The
    /// topological order answers most new dependencies in O(1); the others
    /// get the exact strong-path search (`Graph::find_strong_path`). A cycle
    /// is reported (as recursive locking when both ends are one class);
    /// false then. `(from, to)`: the slots of `prev`'s and `next`'s
    /// classes; `known`: the edge between them exists already.
    fn check_noncircular(
        &mut self,
        sh: &mut Shared,
        prev: &HeldLock,
        next: &HeldLock,
        (from, to): (Slot, Slot),
        known: bool,
        trace: &mut Option<Option<Trace>>,
    ) -> bool {
        let known = known && !sh.graph.order_broken;
        let search = !known && matches!(sh.graph.plain_check_at(from, to), Plain::Search);
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
        let Some(path) = path else {
            return true;
        };
        {
            let prev_info = lock_info(&sh.graph, prev);
            let next_info = lock_info(&sh.graph, next);
            let mut chain: Vec<ChainStep> = path
                .iter()
                .map(|e| {
                    let edge = sh.graph.edge(*e);
                    let (from, to) = sh.graph.origin_infos(*e);
                    ChainStep {
                        from,
                        to,
                        types: DepTypes(edge.dep),
                        thread: ThreadInfo::clone(&edge.origin.thread),
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
                self.new_report(&sh.graph, kind, next.location(), Some(next_info), Some(prev_info), chain, msg);
            report.backtrace = report.chain.last().and_then(|s| s.trace.clone());
            report.cycle = cycle;
            self.emit(sh, sig, report);
        }
        false
    }
}

/// A held lock as one end of a new dependency (its class name is the
/// graph's business, looked up only when a report needs it).
fn edge_end(h: &HeldLock) -> EdgeEnd {
    EdgeEnd {
        instance: h.name_id(),
        addr: h.instance(),
        subclass: h.subclass,
        read: h.read,
        trylock: h.trylock,
        location: h.location(),
    }
}

enum Deadlock {
    None,
    Found,
    NestProtected,
}
