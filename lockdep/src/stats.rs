//! [`Stats`]: a validator's counters (the kernel's `/proc/lockdep_stats`),
//! as data.

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
