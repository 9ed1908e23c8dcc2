//! Events of waitable objects (DEPT's `dept_event`; the kernel's workqueue
//! annotations have no counterpart, their events are whole work items): the
//! dependencies *from* a wait's pseudo-lock *to* the locks its event's
//! context holds.
//!
//! A wait on a waitable object `W` while holding `L` is an ordinary
//! acquisition and release of `W`'s pseudo-lock (dependency `L -> W`, made by
//! the acquire path). The event that ends such waits (a condvar notify, a
//! channel send, a barrier arrival) happens in a context: the locks the
//! notifying thread holds at that moment. A waiter holding one of them would
//! keep the event from ever happening, so the event adds `W -> L` for every
//! one, each checked for a cycle first (kernel `check_prev_add` with
//! `check_noncircular`) — the search finds `L -> … -> W` from waits already
//! seen, in either order of first observation.
//!
//! The context is bounded on purpose (crossrelease, which guessed contexts,
//! was reverted for its false positives): only locks held at the event, and
//! only exclusive or shared blocking ones (a trylock cannot be kept from
//! happening). Events whose context is a whole body (a thread, an init
//! closure) do not come here: the body runs holding the pseudo-lock.
//!
//! The classes of waitable objects are marked (`waitable::mark_wait`) so
//! that the graph dump draws them as their own shape.

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::Location;

use super::ctx::Ctx;
use super::held::{ChainNode, HeldLock};
use super::ids::ClassId;
use super::inner::lock;
use super::thread::with_ctx;
use super::waitable::is_wait_map;
use crate::class::Read;
use crate::map::LockdepMap;

type Loc = &'static Location<'static>;

/// The instances of the locks the current thread holds that an event could
/// depend on: checked, blocking, and not a waitable object's pseudo-lock.
/// Empty when unknown (validation off, re-entry).
pub(crate) fn held_instances() -> Vec<usize> {
    let held: Vec<usize> = with_ctx(|ctx| {
        if !ctx.inner.is_validating() {
            return Vec::new();
        }
        ctx.pv.held.locks.iter().filter(|h| h.check && !h.trylock).map(|h| h.instance()).collect()
    })
    .unwrap_or_default();
    if held.is_empty() {
        return held;
    }
    held.into_iter().filter(|a| !is_wait_map(*a)).collect()
}

/// What one thread knows is already in one validator's graph, for one
/// state of it (its id and hot word: an epoch change or a switch-off
/// empties it).
#[derive(Default)]
struct Known {
    id: u32,
    hot: u64,
    /// Event dependencies added (`W -> L`).
    edges: HashSet<(ClassId, ClassId)>,
    /// Events of a class made with a whole chain of held locks, every
    /// dependency of which is in the graph: the steady state of a repeated
    /// notify under the same locks, answered without the engine.
    chains: HashSet<(ClassId, ChainNode)>,
}

thread_local! {
    static KNOWN: RefCell<Known> = RefCell::new(Known::default());
}

/// The event of `map` (its class for `subclass`) at `loc`: `map -> L` for
/// every lock `L` the current thread holds (see the module docs), or only
/// for the held lock whose instance is `only`.
#[inline]
pub(crate) fn event(map: &LockdepMap, subclass: u32, only: Option<usize>, loc: Loc) {
    // Nothing held, nothing to depend on: no thread-local state is touched
    // beyond the fast path's pointer when it is armed.
    let subclass = subclass.min(crate::class::MAX_SUBCLASSES - 1);
    // SAFETY: the borrow ends in this statement, which calls nothing outside
    // the engine.
    if let Some(pv) = unsafe { super::fast::fast() } {
        let Some(top) = pv.held.locks.last() else { return };
        // The same event under the same chain of held locks as before.
        if only.is_none() && top.node != ChainNode::NONE {
            // SAFETY: `pv` comes from `fast` in this hook.
            let inner = unsafe { super::fast::fast_inner(pv) };
            if inner.hot() == pv.hot {
                if let Some(class) = map.cached_class(pv.hot >> 2, subclass) {
                    if known_chain(inner.id, pv.hot, ClassId::from_raw(class), top.node) {
                        return;
                    }
                }
            }
        }
    }
    event_slow(map, subclass, only, loc);
}

#[cold]
#[inline(never)]
fn event_slow(map: &LockdepMap, subclass: u32, only: Option<usize>, loc: Loc) {
    with_ctx(|ctx| {
        if ctx.inner.is_validating() && ctx.pv.held.depth() > 0 {
            ctx.lock_event(map, subclass, only, loc);
        }
    });
}

impl Ctx<'_> {
    fn lock_event(&mut self, map: &LockdepMap, subclass: u32, only: Option<usize>, loc: Loc) {
        let class = if self.inner.is_learning() {
            self.register_lock_class(map, subclass, Read::Exclusive, loc)
        } else {
            self.known_class(map, subclass)
        };
        let Some(class) = class else { return };
        let hot = self.inner.hot();
        let id = self.inner.id;
        let top = self.pv.held.locks.last().map_or(ChainNode::NONE, |h| h.node);
        let targets: Vec<HeldLock> = self
            .pv
            .held
            .locks
            .iter()
            .filter(|h| h.check && !h.trylock && h.class != class && h.class != ClassId::UNTRACKED)
            .filter(|h| only.is_none_or(|a| h.instance() == a))
            .filter(|h| !known(id, hot, class, h.class))
            .cloned()
            .collect();
        if targets.is_empty() {
            if only.is_none() {
                remember_chain(id, hot, class, top);
            }
            return;
        }
        // The event as the first element of a two-lock chain whose second is
        // the held lock: the acquire path's own check and edge.
        let prev = HeldLock::new(
            map.addr(),
            class,
            ChainNode::NONE,
            map.name_id(),
            loc,
            subclass as u8,
            Read::Exclusive,
            false,
            true,
        );
        let mut sh = lock(&self.inner.shared);
        let mut trace = None;
        let mut all = true;
        for next in targets {
            let before = self.out.len();
            if self.check_prev_add(&mut sh, &prev, &next, 1, &mut trace) {
                remember(id, hot, class, next.class);
                continue;
            }
            all = false;
            // A cycle closed by the event: say so, at the event's site.
            for report in &mut self.out[before..] {
                report.location = loc;
                report.message = format!(
                    "{}{} at {loc} happens while {} (taken at {}) is held: a thread that waits on {} \
                     while holding {} would never see it; {}",
                    crate::report::EVENT_MESSAGE,
                    prev.name(),
                    next.name(),
                    next.location(),
                    prev.name(),
                    next.name(),
                    report.message
                );
            }
            break;
        }
        drop(sh);
        if all && only.is_none() {
            remember_chain(id, hot, class, top);
        }
    }
}

/// Runs `f` on this thread's knowledge of the validator `id` in state
/// `hot` (emptied first if it was about another); `None` on re-entry or
/// thread-local teardown.
fn with_known<R>(id: u32, hot: u64, f: impl FnOnce(&mut Known) -> R) -> Option<R> {
    KNOWN
        .try_with(|k| {
            let mut k = k.try_borrow_mut().ok()?;
            if k.id != id || k.hot != hot {
                *k = Known { id, hot, ..Known::default() };
            }
            Some(f(&mut k))
        })
        .ok()
        .flatten()
}

fn known_chain(id: u32, hot: u64, w: ClassId, top: ChainNode) -> bool {
    with_known(id, hot, |k| k.chains.contains(&(w, top))).unwrap_or(false)
}

fn remember_chain(id: u32, hot: u64, w: ClassId, top: ChainNode) {
    if top != ChainNode::NONE {
        with_known(id, hot, |k| k.chains.insert((w, top)));
    }
}

fn known(id: u32, hot: u64, w: ClassId, l: ClassId) -> bool {
    with_known(id, hot, |k| k.edges.contains(&(w, l))).unwrap_or(false)
}

fn remember(id: u32, hot: u64, w: ClassId, l: ClassId) {
    with_known(id, hot, |k| k.edges.insert((w, l)));
}
