//! [`Validator`]: one independent validation state (classes, graph, reports),
//! its [`Config`] and what it does with a report ([`Action`]).
//!
//! Hooks made by a thread go to the validator of its innermost
//! [`Validator::scope`], or to the global validator (configured from the
//! environment, see [`Config::from_env`]) outside any scope — like `tracing`'s
//! scoped default dispatcher.

use std::fmt;
use std::sync::Arc;

pub use crate::config::{Action, Config};
pub use crate::events::{Hook, HookEvent};
use crate::report::Report;

/// An independent validator: its own classes, dependency graph, chains,
/// per-thread held-lock stacks and reports. Cheap to clone (shared).
///
/// ```
/// use lockdep::{Config, LockClassKey, LockdepMap, Read, ReportKind, Validator};
/// static A: LockClassKey = LockClassKey::new();
/// static B: LockClassKey = LockClassKey::new();
/// let (a, b) = (LockdepMap::new("a", &A), LockdepMap::new("b", &B));
/// let v = Validator::new(Config::collect());
/// v.scope(|| {
///     lockdep::mutex_acquire(&a, 0, false);
///     lockdep::mutex_acquire(&b, 0, false);
///     lockdep::mutex_release(&b);
///     lockdep::mutex_release(&a);
///     lockdep::mutex_acquire(&b, 0, false);
///     lockdep::mutex_acquire(&a, 0, false); // B -> A closes the cycle
///     lockdep::mutex_release(&a);
///     lockdep::mutex_release(&b);
/// });
/// if lockdep::ENABLED {
///     assert_eq!(v.reports()[0].kind(), ReportKind::CircularDependency);
/// }
/// ```
#[derive(Clone)]
pub struct Validator {
    pub(crate) inner: Arc<crate::engine::Inner>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator").field("name", &self.inner.config.name).finish_non_exhaustive()
    }
}

impl Validator {
    /// A new validator.
    pub fn new(config: Config) -> Validator {
        Validator { inner: crate::engine::Inner::new_arc(config) }
    }

    /// The global validator (hooks outside any scope go there), configured
    /// from the environment on first use ([`Config::from_env`]).
    pub fn global() -> &'static Validator {
        static GLOBAL: std::sync::OnceLock<Validator> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| Validator { inner: crate::engine::global().clone() })
    }

    /// Runs `f` with every hook made by *this thread* routed to this
    /// validator. Scopes nest; threads spawned inside `f` must enter the
    /// scope themselves.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = crate::engine::enter_scope(&self.inner);
        f()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Every report so far, oldest first.
    pub fn reports(&self) -> Vec<Report> {
        self.inner.reports()
    }

    /// Removes and returns every report so far.
    pub fn take_reports(&self) -> Vec<Report> {
        self.inner.take_reports()
    }

    /// Whether the validator still validates: false when compiled out, once a
    /// one-shot validator has reported, or once a limit was exhausted.
    ///
    /// The two "off" states differ: after a one-shot report every hook is
    /// ignored and held-lock queries answer "unknown" (true), like the kernel;
    /// after an exhausted limit no new classes, dependencies or chains are
    /// learned, but held locks are still tracked, so unlock-balance checks and
    /// held-lock queries stay exact.
    pub fn is_validating(&self) -> bool {
        crate::ENABLED && self.inner.is_validating() && self.inner.is_learning()
    }

    /// Every hook call recorded so far (needs [`Config::record_events`]).
    pub fn events(&self) -> Vec<HookEvent> {
        self.inner.events()
    }

    /// Forgets the recorded events.
    pub fn clear_events(&self) {
        self.inner.clear_events()
    }
}
