//! Views of a validator's state, in the style of the kernel's `/proc` files,
//! and a Graphviz rendering of the class graph.
//!
//! | kernel | here |
//! |---|---|
//! | `/proc/lockdep` | [`Validator::dump_classes`] |
//! | `/proc/lockdep_chains` | [`Validator::dump_chains`] |
//! | `/proc/lockdep_stats` | [`Validator::dump_stats`], [`Validator::stats`] |
//! | `lockdep_print_held_locks` | [`Validator::dump_held`] (text), [`Validator::held_locks`] / [`held_locks`](crate::held_locks) (data) |
//! | — | [`Validator::dump_dot`] (Graphviz; render with `dot -Tsvg`) |
//!
//! When a report fires and a dump directory is configured
//! ([`Config::dump_dir`](crate::Config::dump_dir) or `LOCKDEP_DUMP_DIR`), the
//! DOT file (the cycle's edges in red) and a text file with the three `/proc`
//! views are written there and the report names them.

pub use crate::stats::Stats;
use crate::validator::Validator;

impl Validator {
    /// The validator's counters.
    pub fn stats(&self) -> Stats {
        crate::engine::stats(&self.inner)
    }

    /// Every class with its forward/backward reachable counts and its direct
    /// dependencies (`/proc/lockdep`).
    pub fn dump_classes(&self) -> String {
        crate::engine::dump_classes(&self.inner)
    }

    /// Every cached lock chain (`/proc/lockdep_chains`).
    pub fn dump_chains(&self) -> String {
        crate::engine::dump_chains(&self.inner)
    }

    /// The counters as text (`/proc/lockdep_stats`).
    pub fn dump_stats(&self) -> String {
        crate::engine::dump_stats(&self.inner)
    }

    /// The class graph as Graphviz DOT, each edge labelled with its dependency types.
    pub fn dump_dot(&self) -> String {
        crate::engine::dump_dot(&self.inner, &[])
    }

    /// The locks the *current thread* holds in this validator.
    pub fn dump_held(&self) -> String {
        crate::engine::dump_held(&self.inner)
    }

    /// The locks the *current thread* holds in this validator, as data:
    /// what [`dump_held`](Validator::dump_held) prints, bottom of the stack
    /// first, one [`LockInfo`](crate::LockInfo) per held entry (instance
    /// name and address, class, subclass, read mode, trylock, acquire site).
    /// [`held_locks`](crate::held_locks) asks the thread's current validator.
    ///
    /// Empty when validation is compiled out. Like the kernel, a validator
    /// that stopped validating ([`is_validating`](Validator::is_validating)
    /// false, e.g. after its first report in kernel mode) no longer
    /// maintains the stack: the answer is the stack as it was then.
    ///
    /// ```
    /// use lockdep::{Config, LockClassKey, LockdepMap, Read, Validator};
    ///
    /// static KEY: LockClassKey = LockClassKey::new();
    /// static MAP: LockdepMap = LockdepMap::new("my_rwsem", &KEY);
    ///
    /// let v = Validator::new(Config::collect());
    /// v.scope(|| lockdep::rwsem_acquire_read(&MAP, 0, true));
    /// // Asked from outside the scope: this thread's stack in `v`.
    /// let held = v.held_locks();
    /// if lockdep::ENABLED {
    ///     assert_eq!(held.len(), 1);
    ///     assert_eq!(held[0].instance(), "my_rwsem");
    ///     assert_eq!(held[0].addr(), MAP.addr());
    ///     assert_eq!((held[0].read(), held[0].trylock(), held[0].subclass()), (Read::Shared, true, 0));
    ///     assert_eq!(held[0].location().file(), file!());
    /// } else {
    ///     assert!(held.is_empty());
    /// }
    /// v.scope(|| lockdep::rwsem_release(&MAP));
    /// assert!(v.held_locks().is_empty());
    /// ```
    pub fn held_locks(&self) -> Vec<crate::LockInfo> {
        crate::engine::held_locks_in(&self.inner)
    }
}
