//! The engine when validation is compiled out: the same entry points, empty.

use std::panic::Location;
use std::sync::{Arc, OnceLock};

use crate::class::{LockClassKey, Read};
use crate::config::Config;
use crate::events::HookEvent;
use crate::map::LockdepMap;
use crate::report::Report;

pub(crate) struct Inner {
    pub(crate) config: Config,
}

impl Inner {
    pub(crate) fn new(config: Config) -> Inner {
        Inner { config }
    }
    pub(crate) fn reports(&self) -> Vec<Report> {
        Vec::new()
    }
    pub(crate) fn take_reports(&self) -> Vec<Report> {
        Vec::new()
    }
    pub(crate) fn is_validating(&self) -> bool {
        false
    }
    pub(crate) fn is_learning(&self) -> bool {
        false
    }
    pub(crate) fn events(&self) -> Vec<HookEvent> {
        Vec::new()
    }
    pub(crate) fn clear_events(&self) {}
}

pub(crate) fn global() -> &'static Arc<Inner> {
    static GLOBAL: OnceLock<Arc<Inner>> = OnceLock::new();
    GLOBAL.get_or_init(|| Inner::new_arc(Config::from_env()))
}

/// Nothing to pop when validation is compiled out.
pub(crate) struct ScopeGuard;

pub(crate) fn enter_scope(_: &Arc<Inner>) -> ScopeGuard {
    ScopeGuard
}

#[inline(always)]
pub(crate) fn acquire(
    _: &LockdepMap,
    _: u32,
    _: bool,
    _: Read,
    _: bool,
    _: Option<&LockdepMap>,
    _: &'static Location<'static>,
) {
}
#[inline(always)]
pub(crate) fn try_acquire_fast(
    _: &LockdepMap,
    _: u32,
    _: bool,
    _: Read,
    _: bool,
    _: &'static Location<'static>,
) -> bool {
    false
}
#[inline(always)]
pub(crate) fn acquire_slow(
    _: &LockdepMap,
    _: u32,
    _: bool,
    _: Read,
    _: bool,
    _: Option<&LockdepMap>,
    _: &'static Location<'static>,
) {
}
#[inline(always)]
pub(crate) fn release(_: &LockdepMap, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn release_fast(_: &LockdepMap) -> bool {
    false
}
#[inline(always)]
pub(crate) fn release_slow(_: &LockdepMap, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn downgrade(_: &LockdepMap, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn set_subclass(_: &LockdepMap, _: u32, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn is_held(_: &LockdepMap, _: Option<Read>) -> Option<bool> {
    None
}
#[inline(always)]
pub(crate) fn contended(_: &LockdepMap, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn acquired(_: &LockdepMap, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn might_lock(_: &LockdepMap, _: Read, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn might_lock_nested(_: &LockdepMap, _: u32, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn event(_: &LockdepMap, _: u32, _: Option<usize>, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn debug_check_no_locks_freed(_: &LockdepMap) {}
#[inline(always)]
pub(crate) fn lockdep_unregister_key(_: &LockClassKey, _: bool) {}

impl Inner {
    pub(crate) fn new_arc(config: Config) -> Arc<Inner> {
        std::sync::Arc::new(Inner::new(config))
    }
}

pub(crate) fn stats(_: &Inner) -> crate::stats::Stats {
    crate::stats::Stats::default()
}
pub(crate) fn dump_classes(_: &Inner) -> String {
    String::new()
}
pub(crate) fn dump_chains(_: &Inner) -> String {
    String::new()
}
pub(crate) fn dump_stats(_: &Inner) -> String {
    String::new()
}
pub(crate) fn dump_dot(_: &Inner, _: &[(u32, u32)]) -> String {
    String::new()
}
pub(crate) fn dump_held(_: &std::sync::Arc<Inner>) -> String {
    String::new()
}
pub(crate) fn held_locks() -> Vec<crate::report::LockInfo> {
    Vec::new()
}
pub(crate) fn held_locks_in(_: &Arc<Inner>) -> Vec<crate::report::LockInfo> {
    Vec::new()
}

#[inline(always)]
pub(crate) fn assert_held(
    _: &LockdepMap,
    _: Option<Read>,
    _: impl FnOnce() -> Option<crate::report::ThreadInfo>,
    _: &'static Location<'static>,
) {
}
#[inline(always)]
pub(crate) fn assert_not_held(_: &LockdepMap, _: &'static Location<'static>) {}
#[inline(always)]
pub(crate) fn assert_none_held(_: &'static Location<'static>) {}

#[inline(always)]
pub(crate) fn other_holder(_: &LockdepMap) -> Option<crate::report::ThreadInfo> {
    None
}

/// Never built when validation is compiled out (nothing is known to be held).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct HeldAnnotation;

impl HeldAnnotation {
    pub(crate) fn nest_lock(&self) -> Option<usize> {
        None
    }
}

#[inline(always)]
pub(crate) fn held_annotation(_: &LockdepMap) -> Option<HeldAnnotation> {
    None
}
#[inline(always)]
pub(crate) fn unlock_annotations(_: &LockdepMap) -> Option<(Option<HeldAnnotation>, bool)> {
    None
}
#[inline(always)]
pub(crate) fn reacquire(_: &LockdepMap, _: HeldAnnotation, _: Read, _: &'static Location<'static>) {}

#[inline(always)]
pub(crate) fn in_forked_child() -> bool {
    false
}
