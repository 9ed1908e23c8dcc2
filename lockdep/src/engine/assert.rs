//! Ownership assertions (kernel `lockdep_assert_held`, `_held_read`,
//! `_held_write`, `_not_held`, `_none_held_once`): the engine side; and the
//! query behind re-acquiring a lock with the annotations it was held with
//! ([`HeldAnnotation`], [`reacquire`]: condvar waits, `*Guard::unlocked`).
//!
//! The verdict comes from the same held-lock lookup as `lock_is_held_type`
//! (`entry::is_held`); an unknown answer (validator off, re-entry) passes,
//! as in the kernel. A failure is an `AssertionFailed` report in the current
//! validator, once per asserting location; it does not switch the validator
//! off.

use std::panic::Location;

use super::ctx::Ctx;
use super::emit::{lock_info, map_info};
use super::entry::{held_as, held_mode, is_held};
use super::graph::Graph;
use super::held::HeldLock;
use super::inner::lock;
use super::signature::{Signature, Site};
use super::thread::with_ctx;
use crate::class::Read;
use crate::events::Hook;
use crate::map::LockdepMap;
use crate::report::{LockInfo, Report, ReportKind, ThreadInfo};

type Loc = &'static Location<'static>;

/// `read`: `None` — held in any mode; `Some(Read::Exclusive)` — held for
/// write; `Some(_)` — held for read. `holder` names another thread holding
/// the lock, if the caller knows one (only asked on failure).
pub(crate) fn assert_held(map: &LockdepMap, read: Option<Read>, holder: impl FnOnce() -> Option<ThreadInfo>, loc: Loc) {
    let Some(mode) = held_mode(map) else {
        return;
    };
    if held_as(mode, read) {
        return;
    }
    let holder = if mode.is_some() { None } else { holder() };
    let (macro_name, wanted) = match read {
        None => ("lockdep_assert_held", "held"),
        Some(Read::Exclusive) => ("lockdep_assert_held_write", "held for write"),
        Some(_) => ("lockdep_assert_held_read", "held for read"),
    };
    with_ctx(|ctx| {
        let entry = find(ctx, map);
        let msg = match &entry {
            Some(e) => format!(
                "{macro_name}({}) failed: expected it {wanted} by this thread, but it is held for {} (taken at {})",
                map.name(),
                e.read,
                e.location()
            ),
            None => {
                format!("{macro_name}({}) failed: expected it {wanted} by this thread, but it is not held", map.name())
            }
        };
        // Failing with or without another thread holding the lock are told
        // apart: the report differs.
        let kind = match read {
            None => 0,
            Some(r) => 1 + r.is_read() as u8,
        } + if holder.is_some() { 8 } else { 0 };
        report(ctx, map, entry, read.unwrap_or(Read::Exclusive), holder, msg, kind, loc);
    });
}

/// Fails when the current thread holds `map` in any mode.
pub(crate) fn assert_not_held(map: &LockdepMap, loc: Loc) {
    if is_held(map, None) != Some(true) {
        return;
    }
    with_ctx(|ctx| {
        let entry = find(ctx, map);
        let since = entry.as_ref().map_or_else(String::new, |e| format!(" (taken at {})", e.location()));
        let msg = format!("lockdep_assert_not_held({}) failed: this thread holds it{since}", map.name());
        report(ctx, map, entry, Read::Exclusive, None, msg, 3, loc);
    });
}

/// Fails when the current thread holds any lock.
pub(crate) fn assert_none_held(loc: Loc) {
    with_ctx(|ctx| {
        if !ctx.inner.is_validating() || ctx.pv.held.locks.is_empty() {
            return;
        }
        // A lockdep-aware thread's body or a once-cell's initialiser runs
        // "holding" its waitable object's pseudo-lock (book chapter 16):
        // that is not a lock the caller holds.
        let n = ctx.pv.held.locks.iter().filter(|h| !super::waitable::is_wait_map(h.instance())).count();
        if n == 0 {
            return;
        }
        let msg =
            format!("lockdep_assert_none_held() failed: this thread holds {n} lock{}", if n == 1 { "" } else { "s" });
        let inner = ctx.inner;
        let mut sh = lock(&inner.shared);
        let top = ctx.pv.held.locks.last().map(|h| lock_info(&sh.graph, h));
        let r = new_report(ctx, &sh.graph, top, None, msg, loc);
        emit(ctx, &mut sh.seen, Signature::Assertion { which: 4, site: Site::of(loc) }, r);
    });
}

/// The current thread's entry for `map`, as the verdict found it.
fn find(ctx: &Ctx<'_>, map: &LockdepMap) -> Option<HeldLock> {
    ctx.find(map).map(|i| ctx.pv.held.locks[i].clone())
}

#[allow(clippy::too_many_arguments)]
fn report(
    ctx: &mut Ctx<'_>,
    map: &LockdepMap,
    entry: Option<HeldLock>,
    read: Read,
    holder: Option<ThreadInfo>,
    msg: String,
    kind: u8,
    loc: Loc,
) {
    if !ctx.inner.is_validating() {
        return;
    }
    let inner = ctx.inner;
    let mut sh = lock(&inner.shared);
    let info = match &entry {
        Some(e) => lock_info(&sh.graph, e),
        None => map_info(map, 0, read, false, loc),
    };
    let r = new_report(ctx, &sh.graph, Some(info), holder, msg, loc);
    emit(ctx, &mut sh.seen, Signature::Assertion { which: kind, site: Site::of(loc) }, r);
}

fn new_report(
    ctx: &Ctx<'_>,
    graph: &Graph,
    lock: Option<LockInfo>,
    holder: Option<ThreadInfo>,
    message: String,
    loc: Loc,
) -> Report {
    let mut r = ctx.new_report(graph, ReportKind::AssertionFailed, loc, lock, None, Vec::new(), message);
    r.other_thread = holder;
    r
}

/// Queues the report. Unlike every other report, an assertion failure only
/// warns: it never switches a one-shot validator off (kernel lockdep
/// assertions are plain `WARN_ON`s, not `debug_locks_off()`). Each asserting
/// location reports once per validator, in either mode.
fn emit(ctx: &mut Ctx<'_>, seen: &mut std::collections::HashSet<Signature>, signature: Signature, report: Report) {
    if seen.insert(signature) {
        ctx.out.push(report);
    }
}

// ---------------------------------------------------------------------------
// Re-acquiring a lock with the annotations it was held with.

/// How the current thread holds a lock: what a re-acquisition after a
/// temporary release (a condvar wait, `lock_api`'s `*Guard::unlocked`) must
/// repeat, as the kernel re-acquires with the same `lockdep_map` arguments.
/// The mode is not part of it: a re-acquisition is validated in the mode the
/// re-lock really takes (see [`reacquire`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct HeldAnnotation {
    pub(crate) subclass: u32,
    /// The nest lock, by address and name (it is held by this thread, but the
    /// caller has no reference to it).
    pub(crate) nest: Option<(usize, &'static str)>,
}

impl HeldAnnotation {
    fn of(h: &HeldLock) -> HeldAnnotation {
        HeldAnnotation { subclass: u32::from(h.subclass), nest: h.nest() }
    }

    /// The nest lock's address, if any.
    pub(crate) fn nest_lock(&self) -> Option<usize> {
        self.nest.map(|n| n.0)
    }

    /// Whether a plain acquisition (subclass 0, no nest lock) says the same.
    fn is_plain(&self) -> bool {
        self.subclass == 0 && self.nest.is_none()
    }
}

/// The annotations the current thread holds `map` with; `None` when it does
/// not hold it or the answer is unknown (validation off, re-entry).
pub(crate) fn held_annotation(map: &LockdepMap) -> Option<HeldAnnotation> {
    with_ctx(|ctx| {
        if !ctx.inner.is_validating() {
            return None;
        }
        ctx.find(map).map(|i| HeldAnnotation::of(&ctx.pv.held.locks[i]))
    })
    .flatten()
}

/// For an unlock through the raw traits: the annotations the current thread
/// holds `map` with if they are not plain, and whether it holds any *other*
/// entry with annotations. `None` when unknown (validation off, re-entry).
pub(crate) fn unlock_annotations(map: &LockdepMap) -> Option<(Option<HeldAnnotation>, bool)> {
    with_ctx(|ctx| {
        if !ctx.inner.is_validating() {
            return None;
        }
        let locks = &ctx.pv.held.locks;
        let this = ctx.find(map);
        let annotated = |h: &HeldLock| !HeldAnnotation::of(h).is_plain();
        let others = locks.iter().enumerate().any(|(i, h)| Some(i) != this && annotated(h));
        Some((this.map(|i| HeldAnnotation::of(&locks[i])).filter(|a| !a.is_plain()), others))
    })
    .flatten()
}

/// Re-acquires `map` (blocking, checked) in mode `read` with the annotations
/// `held` it was held with before a temporary release: validated like any
/// acquisition, at `loc`.
pub(crate) fn reacquire(map: &LockdepMap, held: HeldAnnotation, read: Read, loc: Loc) {
    let Some(nest) = held.nest else {
        super::entry::acquire(map, held.subclass, false, read, true, None, loc);
        return;
    };
    // The nest lock is known by address and name only: the acquisition is
    // `acquire`'s slow path with the nest as the engine stores it.
    with_ctx(|ctx| {
        let nest_lock = Some(nest.0);
        ctx.event(map, Hook::Acquire { subclass: held.subclass, trylock: false, read, check: true, nest_lock }, loc);
        if !ctx.inner.is_validating() {
            return;
        }
        ctx.acquire(map, held.subclass, false, read, true, Some(nest), loc);
        if ctx.inner.is_validating() {
            map.note_acquire(ctx.thread_num);
        }
    });
}
