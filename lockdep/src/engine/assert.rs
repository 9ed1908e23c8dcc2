//! Ownership assertions (kernel `lockdep_assert_held`, `_held_read`,
//! `_held_write`, `_not_held`, `_none_held_once`): the engine side.
//!
//! The verdict comes from the same held-lock lookup as `lock_is_held_type`
//! (`validate::is_held`); an unknown answer (validator off, re-entry) passes,
//! as in the kernel. A failure is an `AssertionFailed` report in the current
//! validator, once per asserting location; it does not switch the validator
//! off.

use std::panic::Location;

use super::graph::Graph;
use super::held::HeldLock;
use super::inner::lock;
use super::signature::{Signature, Site};
use super::thread::{Ctx, with_ctx};
use super::validate::{held_as, held_mode, is_held, lock_info, map_info};
use crate::class::Read;
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
                e.location
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
        let since = entry.as_ref().map_or_else(String::new, |e| format!(" (taken at {})", e.location));
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
        let n = ctx.pv.held.locks.len();
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
