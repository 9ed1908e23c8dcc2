//! The engine's entry points, called by the hooks (kernel `lock_acquire`,
//! `lock_release`, `lock_downgrade`, `lock_set_class`, `lock_contended`,
//! `lock_acquired`, `lock_is_held_type`, `might_lock`), and the steady-state
//! fast path in front of them.
//!
//! An acquire or release first tries the fast path: no re-entrancy guard, no
//! report context, nothing outside the engine is called — the class is cached
//! in the map and the chain in the thread's cache. Anything else takes the
//! full path through `with_ctx` into the algorithms of `acquire`, `validate`
//! and `release`.

use std::panic::Location;

use super::fast::armed;
use super::held::{ChainKey, ChainNode, Elem, HeldLock};
use super::ids::ClassId;
use super::inner::{Inner, lock};
use super::thread::with_ctx;
use crate::class::{MAX_SUBCLASSES, Read};
use crate::events::Hook;
use crate::map::LockdepMap;

type Loc = &'static Location<'static>;

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
    if !(nest.is_none() && try_acquire_fast(map, subclass, trylock, read, check, loc)) {
        acquire_slow(map, subclass, trylock, read, check, nest, loc);
    }
}

/// The steady state of [`acquire`] (no nest lock) alone: true when it took
/// the acquisition; false when nothing was done and [`acquire_slow`] must
/// run. It never reports, so it never unwinds. When it took it, the
/// thread's current validator records no events (the fast path is armed only
/// then, see `fast::FAST`), so the statistics hooks of the same acquisition
/// ([`contended`], [`acquired`]) would record nothing: the lock types skip
/// them, and their trylock-first probe with them.
#[inline(always)]
pub(crate) fn try_acquire_fast(
    map: &LockdepMap,
    subclass: u32,
    trylock: bool,
    read: Read,
    check: bool,
    loc: Loc,
) -> bool {
    fast_acquire(map, subclass, trylock, read, check, loc)
}

/// [`acquire`] when [`try_acquire_fast`] declined (or a nest lock is given).
#[cold]
#[inline(never)]
pub(crate) fn acquire_slow(
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

/// The release of a plain top entry, the steady state's only release: true
/// when done. It never reports, so it never unwinds (the lock types unlock
/// after it without a landing pad). False: [`release_slow`] must run.
#[inline(always)]
pub(crate) fn release_fast(map: &LockdepMap) -> bool {
    fast_release(map)
}

/// Everything but the release of a plain top entry (an entry below the top,
/// merged or nested entries, the fast path disarmed): one call out of the
/// inlined hook, so that every unlock site carries less code.
#[cold]
#[inline(never)]
pub(crate) fn release_slow(map: &LockdepMap, loc: Loc) {
    if fast_release_below(map) {
        return;
    }
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
    if let Some(mode) = held_mode_fast(map) {
        return Some(mode);
    }
    with_ctx(|ctx| ctx.inner.is_validating().then(|| ctx.find(map).map(|i| ctx.pv.held.locks[i].read))).flatten()
}

/// [`held_mode`] read straight from the held stack while the fast path is
/// armed (then the validator validates, and no hook of this thread is in
/// the engine), when no entry is merged (whose members are known by class:
/// the full path looks the class up). `None`: ask the full path. It saves
/// an assertion (`lockdep_assert_held`; vmalock's `rcu_read_lock_held`, `vma_assert_stabilised`) the
/// re-entrancy guard and the fast path's disarming and re-arming: ~200
/// instructions, once a fault in vmalock's per-VMA path.
#[inline]
fn held_mode_fast(map: &LockdepMap) -> Option<Option<Read>> {
    let a = armed();
    if !a.hot_unchanged() {
        return None;
    }
    // SAFETY: armed (the hot word matched); the borrow ends with this
    // function, which calls nothing outside the engine.
    let locks = unsafe { a.held() };
    if locks.iter().any(|h| h.references() > 0) {
        return None;
    }
    // As `Ctx::find` finds it without merged entries: the top-most entry
    // of the instance.
    Some(locks.iter().rposition(|h| h.instance() == map.addr()).map(|i| locks[i].read))
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
        if ctx.pv.held.depth() > depth && ctx.pv.held.locks.last().is_some_and(|h| h.instance() == map.addr()) {
            ctx.pv.held.locks.pop();
        }
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

// ---------------------------------------------------------------------------
// The steady state, without the re-entrancy guard or a report context (it
// calls nothing outside the engine and reports nothing).

pub(crate) fn cached_class(inner: &Inner, map: &LockdepMap, subclass: u32) -> Option<ClassId> {
    map.cached_class(inner.epoch(), subclass).map(ClassId::from_raw)
}

/// An acquisition whose class is cached in the map and whose chain this
/// thread may push without validation (a chain head, or a chain found in the
/// thread's cache — which holds validated chains, and trylock and unchecked
/// ones, which need no validation): push it. False sends it down the full
/// path.
#[inline(always)]
fn fast_acquire(map: &LockdepMap, subclass: u32, trylock: bool, read: Read, check: bool, loc: Loc) -> bool {
    let a = armed();
    // (Also false when disarmed: no test of its own, see `fast::Armed`.)
    if !a.hot_unchanged() {
        return false;
    }
    // SAFETY: armed (the hot word matched); the borrow ends with this
    // function, which calls nothing outside the engine.
    let pv = unsafe { a.pv() };
    let depth = pv.held.locks.len();
    // (A full stack goes the full path, which grows it: no call from here.)
    if subclass >= MAX_SUBCLASSES || depth >= a.fast_depth {
        return false;
    }
    let Some(class) = map.cached_class_tagged(a.class_tag, subclass) else { return false };
    let class = ClassId::from_raw(class);
    let elem = Elem::new_unchecked(class, read, trylock, check);
    let node = match depth.checked_sub(1) {
        // A chain head has nothing to be validated against (the full path
        // records it, for the statistics, when the map's class is looked up).
        None => ChainNode::head(elem),
        // (A parent without an id, `ChainNode::NONE`, is never cached: it
        // misses. The look-up is by the depth's memo first, then the front.)
        Some(top) => {
            // SAFETY: `top < depth`, the stack's length: an entry.
            let parent = unsafe { pv.held.locks.get_unchecked(top) }.node;
            match pv.cache.get_nested(depth, ChainKey::new(parent, elem)) {
                Some(node) => node,
                None => return false,
            }
        }
    };
    // A name not interned yet (nor, if typed, built): the full path does it
    // (no call from here, so that nothing the fast path computed lives
    // across one). Read last: its register is live only until the entry's
    // store.
    let Some(name) = map.cached_name_id() else { return false };
    let entry = HeldLock::new(map.addr(), class, node, name, loc, subclass as u8, read, trylock, check);
    // SAFETY: `depth < fast_depth <= capacity` (see `fast::Armed`), so the
    // slot is allocated, and it is initialised before the length covers it.
    unsafe {
        pv.held.locks.as_mut_ptr().add(depth).write(entry);
        pv.held.locks.set_len(depth + 1);
    }
    map.note_acquire(a.thread_num);
    true
}

/// The release of the top entry, when it is a plain one.
#[inline(always)]
fn fast_release(map: &LockdepMap) -> bool {
    let a = armed();
    // SAFETY: the borrow ends before `held_mut`; nothing outside the engine
    // is called.
    let locks = unsafe { a.held() };
    let depth = locks.len();
    // (Disarmed, the stack is an empty one: no test of its own, see
    // `fast::Armed`.)
    match locks.last() {
        Some(top) if top.is_plain_of(map.addr()) => {}
        _ => return false, // below the top, or not plain: `release_slow`
    }
    // SAFETY: armed (the stack has an entry); the borrow ends here. A plain
    // entry owns nothing (no boxed extra), so forgetting it instead of
    // dropping it leaks nothing.
    unsafe { a.held_mut().set_len(depth - 1) };
    map.note_release(a.thread_num);
    true
}

/// Entries above a released one that the fast path re-chains (more go the
/// full path).
const FAST_REACQUIRE: usize = 4;

/// The release of a plain entry below the top (kernel `__lock_release`
/// with `reacquire_held_locks`) when every entry above it is plain and the
/// chains they form without it were all validated before, as this thread's
/// cache says: then nothing needs validating, only re-chaining. An
/// out-of-order release in a loop (RCU around a VMA read lock) takes this
/// path from its second iteration on.
#[inline(always)]
fn fast_release_below(map: &LockdepMap) -> bool {
    let a = armed();
    // (Also false when disarmed; a changed hot word: the cache may be
    // stale.)
    if !a.hot_unchanged() {
        return false;
    }
    // SAFETY: armed (the hot word matched); the borrow ends with this
    // function, which calls nothing outside the engine.
    let pv = unsafe { a.pv() };
    let locks = &pv.held.locks;
    let depth = locks.len();
    let plain = HeldLock::is_plain;
    let Some(i) = locks.iter().rposition(|h| h.instance() == map.addr()) else { return false };
    if depth - i - 1 > FAST_REACQUIRE || !locks[i..].iter().all(plain) {
        return false;
    }
    let mut nodes = [ChainNode::NONE; FAST_REACQUIRE];
    let mut parent = if i == 0 { ChainNode::ROOT } else { locks[i - 1].node };
    for (slot, e) in nodes.iter_mut().zip(&locks[i + 1..]) {
        let Some(elem) = e.elem() else { return false };
        let node = if parent == ChainNode::ROOT {
            ChainNode::head(elem)
        } else {
            match pv.cache.get_front(ChainKey::new(parent, elem)) {
                Some(node) => node,
                None => return false,
            }
        };
        *slot = node;
        parent = node;
    }
    let removed = pv.held.locks.remove(i);
    for (e, node) in pv.held.locks[i..].iter_mut().zip(nodes) {
        e.node = node;
    }
    drop(removed);
    map.note_release(pv.thread_num);
    true
}
