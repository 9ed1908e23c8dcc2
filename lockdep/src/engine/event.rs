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
        ctx.pv.held.locks.iter().filter(|h| h.check && !h.trylock).map(|h| h.instance).collect()
    })
    .unwrap_or_default();
    if held.is_empty() {
        return held;
    }
    held.into_iter().filter(|a| !is_wait_map(*a)).collect()
}

/// A validator's id and hot word, and the event dependencies known in it.
type Known = (u32, u64, HashSet<(ClassId, ClassId)>);

thread_local! {
    /// Event dependencies this thread already added, for one validator
    /// state (its id and hot word: an epoch change or a switch-off empties
    /// it): the steady state of a repeated notify under the same locks
    /// takes no engine lock.
    static KNOWN: RefCell<Known> = RefCell::new((0, 0, HashSet::new()));
}

/// The event of `map` (its class for `subclass`) at `loc`: `map -> L` for
/// every lock `L` the current thread holds (see the module docs), or only
/// for the held lock whose instance is `only`.
#[inline]
pub(crate) fn event(map: &LockdepMap, subclass: u32, only: Option<usize>, loc: Loc) {
    // Nothing held, nothing to depend on: no thread-local state is touched
    // beyond the fast path's pointer when it is armed.
    // SAFETY: the borrow ends in this statement, which calls nothing outside
    // the engine.
    if let Some(pv) = unsafe { super::fast::fast() } {
        if pv.held.locks.is_empty() {
            return;
        }
    }
    event_slow(map, subclass.min(crate::class::MAX_SUBCLASSES - 1), only, loc);
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
        let targets: Vec<HeldLock> = self
            .pv
            .held
            .locks
            .iter()
            .filter(|h| h.check && !h.trylock && h.class != class && h.class != ClassId::UNTRACKED)
            .filter(|h| only.is_none_or(|a| h.instance == a))
            .filter(|h| !known(id, hot, class, h.class))
            .cloned()
            .collect();
        if targets.is_empty() {
            return;
        }
        // The event as the first element of a two-lock chain whose second is
        // the held lock: the acquire path's own check and edge.
        let prev = HeldLock {
            instance: map.addr(),
            class,
            node: ChainNode::NONE,
            name: map.name(),
            location: loc,
            nest: None,
            references: 0,
            subclass: subclass as u8,
            read: Read::Exclusive,
            trylock: false,
            check: true,
        };
        let mut sh = lock(&self.inner.shared);
        let mut trace = None;
        for next in targets {
            let before = self.out.len();
            if self.check_prev_add(&mut sh, &prev, &next, 1, &mut trace) {
                remember(id, hot, class, next.class);
                continue;
            }
            // A cycle closed by the event: say so, at the event's site.
            for report in &mut self.out[before..] {
                report.location = loc;
                report.message = format!(
                    "{}{} at {loc} happens while {} (taken at {}) is held: a thread that waits on {} \
                     while holding {} would never see it; {}",
                    crate::report::EVENT_MESSAGE,
                    prev.name,
                    next.name,
                    next.location,
                    prev.name,
                    next.name,
                    report.message
                );
            }
            break;
        }
    }
}

fn known(id: u32, hot: u64, w: ClassId, l: ClassId) -> bool {
    KNOWN.try_with(|k| k.try_borrow().is_ok_and(|k| k.0 == id && k.1 == hot && k.2.contains(&(w, l)))).unwrap_or(false)
}

fn remember(id: u32, hot: u64, w: ClassId, l: ClassId) {
    let _ = KNOWN.try_with(|k| {
        if let Ok(mut k) = k.try_borrow_mut() {
            if k.0 != id || k.1 != hot {
                *k = (id, hot, HashSet::new());
            }
            k.2.insert((w, l));
        }
    });
}
