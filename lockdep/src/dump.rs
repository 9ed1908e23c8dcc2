//! Views of a validator's state, in the style of the kernel's `/proc` files,
//! and a Graphviz rendering of the class graph.
//!
//! | kernel | here |
//! |---|---|
//! | `/proc/lockdep` | [`Validator::dump_classes`] |
//! | `/proc/lockdep_chains` | [`Validator::dump_chains`] |
//! | `/proc/lockdep_stats` | [`Validator::dump_stats`], [`Validator::stats`] |
//! | `lockdep_print_held_locks` | [`Validator::dump_held`] |
//! | — | [`Validator::dump_dot`] (Graphviz; render with `dot -Tsvg`) |
//!
//! When a report fires and a dump directory is configured
//! ([`Config::dump_dir`](crate::Config::dump_dir) or `LOCKDEP_DUMP_DIR`), the
//! DOT file (the cycle's edges in red) and a text file with the three `/proc`
//! views are written there and the report names them.

use crate::validator::Validator;

/// Counters of a validator (the kernel's `/proc/lockdep_stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live lock classes.
    pub classes: usize,
    /// Direct dependencies (edges).
    pub direct_dependencies: usize,
    /// Sum over classes of the classes reachable from each (kernel "indirect dependencies").
    pub indirect_dependencies: usize,
    /// Cached lock chains.
    pub chains: usize,
    /// Entries over all cached chains.
    pub chain_hlocks: usize,
    /// Stored stack-trace frames.
    pub stack_trace_entries: usize,
    /// Distinct stored stack traces.
    pub stack_traces: usize,
    /// Deepest chain validated.
    pub max_depth: usize,
    /// Largest search queue.
    pub max_bfs_queue: usize,
    /// Largest class index.
    pub max_class_index: usize,
    /// Shared chain-store hits (per-thread cache misses that another thread had validated).
    pub chain_hits: u64,
    /// Chains validated.
    pub chain_misses: u64,
    /// Chain-key collisions: always 0, chains are named by interned ids
    /// (exact keys), not by a hash of their contents (kept for the kernel's
    /// statistics layout, where it counts collisions caught under
    /// `CONFIG_DEBUG_LOCKDEP`).
    pub chain_collisions: u64,
    /// Classes removed (unregistered keys).
    pub zapped_classes: usize,
    /// Chains removed with them.
    pub zapped_chains: usize,
    /// New dependencies the topological order proved acyclic without a search.
    pub cycle_searches_skipped: u64,
    /// New dependencies that needed the strong-path search.
    pub cycle_searches: u64,
    /// Whether a weak cycle (allowed by the read rules) ended the
    /// topological order, so that every new dependency is searched.
    pub order_broken: bool,
    /// Whether the validator is still validating (kernel `debug_locks`).
    pub validating: bool,
}

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
}
