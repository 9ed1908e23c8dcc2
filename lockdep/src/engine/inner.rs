//! One validator's shared state and what happens to its reports.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use super::chain::ChainStore;
use super::graph::Graph;
use super::trace::TraceStore;
use crate::report::Report;
use crate::validator::{Action, Config, HookEvent, Validator};

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
    /// Signatures of problems already reported (continue mode).
    pub(crate) seen: HashSet<Vec<u64>>,
    pub(crate) max_depth_seen: usize,
    pub(crate) chain_hits: u64,
    pub(crate) chain_misses: u64,
}

/// The one word of a validator that the steady-state fast path reads:
/// `epoch << 2 | LEARNING | VALIDATING`, alone on its cache line so that
/// slow-path traffic on the validator's locks never invalidates it.
#[repr(align(64))]
pub(crate) struct HotWord(AtomicU64);

/// Set while the validator validates (cleared by a one-shot report).
pub(crate) const VALIDATING: u64 = 1;
/// Set while it learns (cleared when a limit is exhausted: no new classes,
/// dependencies or chains are learned, but held locks are still tracked).
pub(crate) const LEARNING: u64 = 2;

/// Epochs are unique across all validators: a map's class cache is tagged
/// with the epoch it was filled in, so one compare says both "this
/// validator" and "no class was zapped since".
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

fn new_epoch() -> u64 {
    NEXT_EPOCH.fetch_add(1, Ordering::Relaxed) & crate::map::EPOCH_MASK
}

pub(crate) struct Inner {
    pub(crate) id: u32,
    pub(crate) config: Config,
    /// Validating and learning flags and the epoch (bumped whenever classes
    /// are zapped, which flushes every per-thread and per-map cache).
    pub(crate) hot: HotWord,
    pub(crate) shared: Mutex<Shared>,
    reports: Mutex<Vec<Report>>,
    events: Mutex<Vec<HookEvent>>,
    limit_message: AtomicBool,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Set once any validator records events (never cleared: a cheap global
/// filter in front of the per-validator setting).
static ANY_EVENTS: AtomicBool = AtomicBool::new(false);

#[inline]
pub(crate) fn any_records_events() -> bool {
    ANY_EVENTS.load(Ordering::Relaxed)
}

/// Every validator ever created that is still alive (for key unregistration).
pub(crate) fn registry() -> &'static Mutex<Vec<Weak<Inner>>> {
    static REG: OnceLock<Mutex<Vec<Weak<Inner>>>> = OnceLock::new();
    REG.get_or_init(Default::default)
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
            shared: Mutex::new(Shared::default()),
            reports: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
            limit_message: AtomicBool::new(false),
        }
    }

    pub(crate) fn register(self: &Arc<Self>) {
        if super::fork::in_forked_child() {
            return;
        }
        let mut reg = lock(registry());
        reg.retain(|w| w.strong_count() > 0);
        reg.push(Arc::downgrade(self));
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

    /// The current epoch (changes whenever classes are zapped).
    pub(crate) fn epoch(&self) -> u64 {
        self.hot() >> 2
    }

    /// Starts a new epoch: called after zapping classes, with the graph lock
    /// held, so that no cache filled before the zap is trusted after it.
    pub(crate) fn bump_epoch(&self) {
        let e = new_epoch();
        let _ = self.hot.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| Some(e << 2 | (w & 3)));
    }

    /// Stops validating; true for the one call that did it (a one-shot
    /// validator's single report belongs to that caller).
    pub(crate) fn turn_off(&self) -> bool {
        self.hot.0.fetch_and(!VALIDATING, Ordering::AcqRel) & VALIDATING != 0
    }

    /// Stops learning and prints the one message for an exhausted limit.
    pub(crate) fn limit_exhausted(&self, what: &str, how: &str) {
        self.hot.0.fetch_and(!LEARNING, Ordering::AcqRel);
        if !self.limit_message.swap(true, Ordering::Relaxed) {
            eprintln!(
                "lockdep: {what} too low! validator \"{}\" stops learning new dependencies (held locks are still \
                 tracked); raise it with {how}.",
                self.config.name
            );
        }
    }

    pub(crate) fn reports(&self) -> Vec<Report> {
        lock(&self.reports).clone()
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

    /// Stores a report and carries out the configured action. Called with no
    /// engine lock held and with validation suspended on this thread.
    /// `in_teardown`: the thread is exiting; a panic would abort, so warn instead.
    pub(crate) fn dispatch(&self, mut report: Report, in_teardown: bool) {
        if let Some(dir) = &self.config.dump_dir {
            report.dump = super::stats::write_dump(self, &report, dir);
        }
        lock(&self.reports).push(report.clone());
        match &self.config.action {
            Action::Collect => {}
            Action::Warn => warn(&report),
            Action::Panic if in_teardown => warn(&report),
            Action::Panic => panic!("{report}"),
            Action::Abort => {
                eprintln!("{report}");
                std::process::abort();
            }
            Action::Callback(cb) => {
                let cb = cb.clone();
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&report))).is_err() {
                    eprintln!("lockdep: a report callback panicked; the validator goes on");
                }
            }
        }
    }
}

fn warn(report: &Report) {
    eprintln!("{report}");
    tracing::warn!(
        target: "lockdep",
        kind = ?report.kind(),
        thread = %report.thread(),
        location = %report.location(),
        lock = report.lock().map(|l| l.class()).unwrap_or(""),
        "{}",
        report.kind().headline()
    );
}

/// The global validator.
pub(crate) fn global() -> &'static Validator {
    static GLOBAL: OnceLock<Validator> = OnceLock::new();
    super::fork::install(); // before a fork can catch the initialisation half-done
    GLOBAL.get_or_init(|| Validator::new(Config::from_env()))
}

impl Inner {
    /// A new validator, registered for key unregistration.
    pub(crate) fn new_arc(config: Config) -> Arc<Inner> {
        let inner = Arc::new(Inner::new(config));
        inner.register();
        inner
    }
}
