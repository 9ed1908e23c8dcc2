//! Turning findings into reports: a lock as a report shows it, the report of
//! the current context, and the once-per-problem (continue mode) or
//! switch-off (one-shot, kernel `debug_locks_off`) rule of every kind.

use std::panic::Location;

use super::ctx::Ctx;
use super::graph::Graph;
use super::held::{HeldLock, HeldStack};
use super::inner::{Shared, lock};
use super::signature::{Signature, Site};
use crate::class::{MAX_SUBCLASSES, Read};
use crate::events::{Hook, HookEvent};
use crate::map::LockdepMap;
use crate::report::{ChainStep, LockInfo, Report, ReportKind, Trace};

type Loc = &'static Location<'static>;

pub(crate) fn lock_info(graph: &Graph, h: &HeldLock) -> LockInfo {
    LockInfo {
        instance: h.name(),
        addr: h.instance(),
        class: if graph.is_alive(h.class) { graph.class_name(h.class) } else { h.name().to_owned() },
        subclass: u32::from(h.subclass),
        read: h.read,
        trylock: h.trylock,
        location: h.location(),
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
pub(crate) fn named_info(
    name: &'static str,
    addr: usize,
    subclass: u32,
    read: Read,
    trylock: bool,
    loc: Loc,
) -> LockInfo {
    LockInfo { instance: name, addr, class: name.to_owned(), subclass, read, trylock, location: loc }
}

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
    ///
    /// A report that goes out carries the stack of the call that found it
    /// when capture is on (a cycle's already has the closing dependency's):
    /// captured here, once the report is known not to be a repeat.
    pub(crate) fn emit(&mut self, sh: &mut Shared, signature: Signature, mut report: Report) {
        if self.inner.config.one_shot {
            if !self.inner.turn_off() {
                return;
            }
        } else if !sh.seen.insert(signature) {
            return;
        }
        if report.backtrace.is_none() && self.inner.config.backtraces {
            report.backtrace = Some(
                sh.traces.intern(super::trace::capture(self.inner.config.backtrace_frames, self.inner.config.unwinder)),
            );
        }
        self.out.push(report);
    }

    pub(crate) fn emit_unlocked(&mut self, signature: Signature, build: impl FnOnce(&Self, &Graph) -> Report) {
        let inner = self.inner;
        let mut sh = lock(&inner.shared);
        let report = build(self, &sh.graph);
        self.emit(&mut sh, signature, report);
    }

    /// A subclass out of range (`info` names the lock, the subclass and the
    /// call site), reported once per call site.
    pub(crate) fn invalid_subclass(&mut self, info: LockInfo) {
        let (subclass, loc) = (info.subclass, info.location);
        let msg = format!("looking up invalid subclass: {subclass} (subclasses are 0..{MAX_SUBCLASSES})");
        self.emit_unlocked(Signature::InvalidSubclass(Site::of(loc)), |ctx, g| {
            ctx.new_report(g, ReportKind::InvalidSubclass, loc, Some(info), None, Vec::new(), msg)
        });
    }

    /// An exhausted limit: the report (once) and the validator stops learning.
    pub(crate) fn limit(&mut self, sh: &mut Shared, what: &str, how: &str, lock: Option<LockInfo>, loc: Loc) {
        let msg = format!(
            "{what} too low! (raise it with {how}); no new dependencies are learned from here on, \
             held locks are still tracked"
        );
        let report = self.new_report(&sh.graph, ReportKind::LimitExceeded, loc, lock, None, Vec::new(), msg);
        self.emit(sh, Signature::LimitExceeded, report);
        self.inner.limit_exhausted(what, how);
    }

    /// The stack of the current acquisition, captured at most once per
    /// acquisition and shared by every edge it adds (None when capture is off).
    pub(crate) fn trace(&self, sh: &mut Shared, slot: &mut Option<Option<Trace>>) -> Option<Trace> {
        slot.get_or_insert_with(|| {
            self.inner.config.backtraces.then(|| {
                sh.traces.intern(super::trace::capture(self.inner.config.backtrace_frames, self.inner.config.unwinder))
            })
        })
        .clone()
    }
}
