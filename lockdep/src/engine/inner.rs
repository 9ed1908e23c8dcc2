//! One validator's shared state and what happens to its reports.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::chain::ChainStore;
use super::graph::Graph;
use super::signature::Signature;
use super::trace::TraceStore;
use crate::config::Config;
use crate::events::HookEvent;
use crate::output::say;
use crate::report::Report;

/// Locks a std mutex, ignoring poisoning: the engine's invariants are kept by
/// its own code, which never panics while holding these.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything protected by the graph lock.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) graph: Graph,
    pub(crate) chains: ChainStore,
    pub(crate) traces: TraceStore,
    /// Problems already reported (continue mode).
    pub(crate) seen: HashSet<Signature>,
    pub(crate) max_depth_seen: usize,
    pub(crate) chain_hits: u64,
    pub(crate) chain_misses: u64,
}

impl Shared {
    /// A new validator's state: empty, its graph's and chain store's tables
    /// those a dropped validator left (see `spare.rs`) if any.
    fn with_spare_tables() -> Shared {
        let (graph, chains) = super::spare::tables();
        Shared {
            graph,
            chains,
            traces: TraceStore::default(),
            seen: HashSet::default(),
            max_depth_seen: 0,
            chain_hits: 0,
            chain_misses: 0,
        }
    }
}

/// The one word of a validator that the steady-state fast path reads:
/// `epoch << 2 | LEARNING | VALIDATING`, alone on its cache line so that
/// slow-path traffic on the validator's locks never invalidates it.
#[repr(align(64))]
pub(crate) struct HotWord(pub(crate) AtomicU64);

/// Set while the validator validates (cleared by a one-shot report).
pub(crate) const VALIDATING: u64 = 1;
/// Set while it learns (cleared when a limit is exhausted: no new classes,
/// dependencies or chains are learned from then on, but held locks are still
/// tracked, known chains stay on the fast path and new acquisitions are still
/// checked against the dependencies already learned).
pub(crate) const LEARNING: u64 = 2;

/// Epochs are unique across all validators: a map's class cache is tagged
/// with the epoch it was filled in, so one compare says both "this
/// validator" and "no class was zapped since".
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

fn new_epoch() -> u64 {
    // Epoch 0 never names a cache fill (an empty map slot is all zeros).
    loop {
        let e = NEXT_EPOCH.fetch_add(1, Ordering::Relaxed) & crate::map::EPOCH_MASK;
        if e != 0 {
            return e;
        }
    }
}

pub(crate) struct Inner {
    pub(crate) id: u32,
    pub(crate) config: Config,
    /// Validating and learning flags and the epoch (bumped when a key that
    /// maps may still use is unregistered, which flushes every per-thread
    /// and per-map cache; removing a dynamic key's classes does not).
    pub(crate) hot: HotWord,
    pub(crate) shared: Mutex<Shared>,
    reports: Mutex<Vec<Report>>,
    events: Mutex<Vec<HookEvent>>,
    /// The one message for an exhausted limit: [`NO_MESSAGE`], then
    /// [`MESSAGE_PENDING`] (set under the graph lock), then
    /// [`MESSAGE_PRINTED`] (by the hook, once it released every lock).
    limit_message: AtomicU8,
    /// What the message says, while pending.
    limit_text: Mutex<String>,
}

impl Drop for Inner {
    /// Keeps the tables for the next validator (see `spare.rs`).
    fn drop(&mut self) {
        let shared = self.shared.get_mut().unwrap_or_else(|e| e.into_inner());
        super::spare::keep(&mut shared.graph, &mut shared.chains);
    }
}

const NO_MESSAGE: u8 = 0;
const MESSAGE_PENDING: u8 = 1;
const MESSAGE_PRINTED: u8 = 2;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Set once any validator records events (never cleared: a cheap global
/// filter in front of the per-validator setting).
static ANY_EVENTS: AtomicBool = AtomicBool::new(false);

#[inline]
pub(crate) fn any_records_events() -> bool {
    ANY_EVENTS.load(Ordering::Relaxed)
}

impl Inner {
    pub(crate) fn new(config: Config) -> Inner {
        if config.record_events {
            ANY_EVENTS.store(true, Ordering::Relaxed);
        }
        // Ids fit the 24 bits the map's class cache keeps; wrap-around skips 0.
        let id = loop {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
            if id != 0 {
                break id;
            }
        };
        Inner {
            id,
            config,
            hot: HotWord(AtomicU64::new(new_epoch() << 2 | LEARNING | VALIDATING)),
            shared: Mutex::new(Shared::with_spare_tables()),
            reports: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
            limit_message: AtomicU8::new(NO_MESSAGE),
            limit_text: Mutex::new(String::new()),
        }
    }

    /// The hot word (see [`HotWord`]).
    #[inline(always)]
    pub(crate) fn hot(&self) -> u64 {
        self.hot.0.load(Ordering::Acquire)
    }

    pub(crate) fn is_validating(&self) -> bool {
        self.hot() & VALIDATING != 0
    }

    pub(crate) fn is_learning(&self) -> bool {
        self.hot() & LEARNING != 0
    }

    /// The current epoch (see `hot`).
    pub(crate) fn epoch(&self) -> u64 {
        self.hot() >> 2
    }

    /// Starts a new epoch: called after zapping the classes of a key that
    /// live maps may still cache, with the graph lock held, so that no cache
    /// filled before the zap is trusted after it.
    pub(crate) fn bump_epoch(&self) {
        let e = new_epoch();
        let _ = self.hot.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| Some(e << 2 | (w & 3)));
    }

    /// Stops validating; true for the one call that did it (a one-shot
    /// validator's single report belongs to that caller).
    pub(crate) fn turn_off(&self) -> bool {
        self.hot.0.fetch_and(!VALIDATING, Ordering::AcqRel) & VALIDATING != 0
    }

    /// Stops learning and queues the one message for an exhausted limit
    /// (printed by [`Inner::flush_message`], outside every engine lock).
    pub(crate) fn limit_exhausted(&self, what: &str, how: &str) {
        self.hot.0.fetch_and(!LEARNING, Ordering::AcqRel);
        if self.limit_message.load(Ordering::Relaxed) == NO_MESSAGE {
            *lock(&self.limit_text) = format!(
                "lockdep: {what} too low! validator \"{}\" stops learning new dependencies (held locks are still \
                 tracked, and new orders are still checked against the ones learned); raise it with {how}.",
                self.config.name
            );
            let _ =
                self.limit_message.compare_exchange(NO_MESSAGE, MESSAGE_PENDING, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Prints a queued limit message. Called with no engine lock held.
    /// (The test inline, in every slow-path hook; the printing out of line.)
    #[inline(always)]
    pub(crate) fn flush_message(&self) {
        if self.limit_message.load(Ordering::Relaxed) == MESSAGE_PENDING {
            self.print_message();
        }
    }

    #[cold]
    #[inline(never)]
    fn print_message(&self) {
        if self
            .limit_message
            .compare_exchange(MESSAGE_PENDING, MESSAGE_PRINTED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            let text = std::mem::take(&mut *lock(&self.limit_text));
            say!("{text}");
        }
    }

    pub(crate) fn reports(&self) -> Vec<Report> {
        lock(&self.reports).clone()
    }

    /// Keeps a report (see `dispatch`).
    pub(crate) fn store(&self, report: Report) {
        lock(&self.reports).push(report);
    }

    /// The reports, or `None` if another thread holds their lock (for the
    /// exit summary, which must not wait).
    pub(crate) fn try_reports(&self) -> Option<Vec<Report>> {
        match self.reports.try_lock() {
            Ok(r) => Some(r.clone()),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().clone()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    pub(crate) fn take_reports(&self) -> Vec<Report> {
        std::mem::take(&mut *lock(&self.reports))
    }

    pub(crate) fn events(&self) -> Vec<HookEvent> {
        lock(&self.events).clone()
    }

    pub(crate) fn clear_events(&self) {
        lock(&self.events).clear()
    }

    pub(crate) fn record_event(&self, ev: HookEvent) {
        lock(&self.events).push(ev);
    }
}
