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
/// **Memory after a drop.** When the last clone of a validator is dropped,
/// the storage of its largest tables (classes, dependencies, chains and
/// their indexes), emptied, is kept for the next [`Validator::new`] in the
/// process, so that a program that makes many validators (a test suite)
/// does not grow and fault them in again for each one. One set is kept, the
/// last dropped, and only if it is at most 32 MiB; it stays allocated until
/// a later validator takes it over (and gives it back when dropped, if still
/// at most 32 MiB), or until the process ends. What a validator finds,
/// reports and counts does not depend on it.
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

/// Saving and loading the learned graph (feature `save`; see [`crate::save`]).
#[cfg(feature = "save")]
impl Validator {
    /// The class graph learned so far, as data (one run: this process).
    /// Copied under the graph lock, converted after; empty when validation
    /// is compiled out.
    pub fn saved_graph(&self) -> crate::save::SavedGraph {
        #[cfg(lockdep_on)]
        {
            crate::engine::save::saved_graph(&self.inner)
        }
        #[cfg(not(lockdep_on))]
        {
            crate::save::SavedGraph::empty()
        }
    }

    /// Saves the class graph learned so far to `path` in the JSON format of
    /// [`crate::save`]: to that file (replaced atomically), or — when `path`
    /// is a directory or ends with `/` — to a new file with a unique name
    /// there, safe with many processes saving into one directory at once.
    /// Returns the file written. The stack traces captured with
    /// [`Config::backtraces`] are saved resolved.
    ///
    /// `LOCKDEP_SAVE=path` does this for the global validator when the
    /// process exits (on unix), without stack traces unless
    /// `LOCKDEP_SAVE_TRACES=1` (resolving them loads the program's debug
    /// info, up to a second per process).
    ///
    /// ```
    /// use lockdep::{Config, Validator, sync::Mutex};
    ///
    /// let v = Validator::new(Config::collect());
    /// let (a, b) = (Mutex::named(0, "a"), Mutex::named(0, "b"));
    /// v.scope(|| {
    ///     let _a = a.lock();
    ///     let _b = b.lock();
    /// });
    /// let dir = std::env::temp_dir().join(format!("lockdep-doc-save-{}", std::process::id()));
    /// let file = v.save(dir.join("graph.json")).unwrap();
    /// let g = lockdep::save::SavedGraph::read(&file).unwrap();
    /// if lockdep::ENABLED {
    ///     assert_eq!((g.classes.len(), g.edges.len()), (2, 1));
    /// }
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<std::path::PathBuf> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        self.saved_graph().write(path)
    }

    /// Seeds this validator with a graph saved by [`save`](Validator::save)
    /// (learn in one suite, check in another): its classes and dependencies
    /// are added as if learned here, each checked as a new dependency is, so
    /// that a lock order of this run that closes a cycle with them is
    /// reported. Returns what was added.
    ///
    /// Only classes keyed by construction site (the default of the lock
    /// types) can be matched with this process's locks; classes of explicit
    /// keys and their dependencies are skipped (counted in the summary).
    /// In a report, a loaded dependency's acquisition sites are the call of
    /// `load` and its thread names the saved run and sites. A file that is
    /// not a valid saved graph is an error, whatever the features.
    #[track_caller]
    pub fn load(&self, path: impl AsRef<std::path::Path>) -> Result<crate::save::LoadSummary, crate::save::LoadError> {
        let g = crate::save::SavedGraph::read(path)?;
        Ok(self.seed(&g))
    }

    /// [`load`](Validator::load) from a graph already read.
    #[track_caller]
    pub fn seed(&self, graph: &crate::save::SavedGraph) -> crate::save::LoadSummary {
        #[cfg(lockdep_on)]
        {
            crate::engine::save::seed(&self.inner, graph, std::panic::Location::caller())
        }
        #[cfg(not(lockdep_on))]
        {
            crate::save::LoadSummary {
                skipped_classes: graph.classes.len(),
                skipped_edges: graph.edges.len(),
                ..Default::default()
            }
        }
    }
}
