//! The learned lock graph as a file (feature `save`): saved at exit, merged
//! across runs, checked for cycles no single run saw, compared against a
//! baseline.
//!
//! Each process of a test suite or CI job sees only part of a program's
//! lock orders; a cycle whose two halves are taken by two different test
//! binaries is invisible to each. Saving every run's graph and checking
//! their union finds it. The principal items:
//!
//! * [`SavedGraph`] — a graph as data, and its JSON format: read with
//!   [`SavedGraph::read`] / [`SavedGraph::from_json`] (untrusted input:
//!   limits, one [`LoadError`], never a panic), merged with
//!   [`SavedGraph::merge`], compared with [`SavedGraph::new_orders`], its
//!   cycles found with [`SavedGraph::cycles`] (the validator's own search),
//!   each shown by [`Cycle::render`] in the validator's report grammar;
//! * [`Validator::save`](crate::Validator::save) and `LOCKDEP_SAVE=path`
//!   (the global validator, at process exit) write one;
//!   [`Validator::load`](crate::Validator::load) seeds a validator from one;
//! * the `lockdep` command (the `lockdep-cli` crate) merges, checks, diffs
//!   and draws them.
//!
//! # The format (version 2)
//!
//! UTF-8 JSON, one object:
//!
//! ```json
//! {
//!   "format": "lockdep-graph",
//!   "version": 2,
//!   "runs": [ { "name": "my_tests-1f2e", "pid": 4711, "validator": "global", "saved_at": 1767225600 } ],
//!   "classes": [
//!     { "name": "Mutex<Account>@src/bank.rs:10", "key": { "site": "src/bank.rs:10:19" }, "type": "bank::Account" },
//!     { "name": "ledger", "key": { "addr": "0x55d0c3a1b2c0" }, "subclass": 1, "version": 2 }
//!   ],
//!   "edges": [
//!     { "from": 0, "to": 1, "types": ["EN"], "distance": 1,
//!       "seen": [ { "run": 0, "thread": "worker",
//!                   "held":  { "instance": "account", "read": "write", "site": "src/bank.rs:21:9" },
//!                   "taken": { "instance": "ledger", "read": "read", "site": "src/bank.rs:22:9" },
//!                   "trace": [ { "function": "bank::transfer", "file": "src/bank.rs", "line": 22 } ] } ] }
//!   ]
//! }
//! ```
//!
//! | key | meaning |
//! |---|---|
//! | `format`, `version` | always `"lockdep-graph"` and `2`; a reader refuses other values (version 1, which keyed classes by site only, with a message to save the graph again) |
//! | `runs[]` | the processes (or merged files) the graph comes from: `name` (the program's file name), optional `pid`, `validator`, `saved_at` (Unix seconds), `source` (the file a merge read it from) |
//! | `classes[]` | `name`; `key`: `{"site": "file:line:col"}` for a construction-site class, `{"addr": "0x…"}` for a [`LockClassKey`](crate::LockClassKey); `type`: for a site class made by a lock type, the protected data's [`type_name`](std::any::type_name) (absent otherwise); `subclass` and `version` (the `#n` of a shared name), omitted when 0 |
//! | `edges[]` | `from` → `to` (class indices): a lock of `to` taken while one of `from` was held; `types`: the kernel's `EN`/`ER`/`SN`/`SR` seen; `distance`: the fewest held locks between them (1 = directly on top) |
//! | `edges[].seen[]` | per run that saw it (the first first): `run` (index), `thread` (its name; absent if unnamed), `held` and `taken` (instance name, `read` mode `write`/`read`/`read-recursive`, `trylock` if so, acquisition `site`), `trace` (resolved frames, when backtraces were captured) |
//!
//! Across runs a class is one class by its [`Identity`]: the site, type and
//! subclass of a site key — the same in every binary built from the same
//! source — or the displayed name (`name#version/subclass`) of an address
//! key, whose address means nothing in another process. Give locks with
//! explicit keys distinct names if their graphs are to be merged.
//!
//! A reader ignores keys it does not know; a change that older readers
//! could misread bumps the version.

pub(crate) mod format;
mod load;
mod merge;
mod render;
pub(crate) mod write;

pub use format::{
    Cycle, End, FORMAT, Identity, Key, LoadSummary, Origin, Run, SavedClass, SavedEdge, SavedFrame, SavedGraph, Site,
    VERSION,
};
pub use load::{Limits, LoadError, LoadErrorKind};
pub use merge::{MAX_MERGED_ORIGINS, NewOrder};

impl SavedGraph {
    /// The cycles of this graph, found with the validator's own exact
    /// strong-path search: the dependencies are inserted one type at a time,
    /// in order (for a merge: the first run's first), into an empty class
    /// graph, each checked as the validator checks a new dependency. A
    /// dependency that would close a strong cycle is reported as a
    /// [`Cycle`] and left out, as the validator leaves it out — so, as with
    /// the validator, a cycle through it is found once that one is fixed.
    ///
    /// Only a graph whose runs each ran under the validator has no cycle
    /// of its own: every cycle found spans at least two runs (or a graph
    /// edited by hand). Needs validation compiled in (the search is the
    /// validator's); without it the answer is empty.
    pub fn cycles(&self) -> Vec<Cycle> {
        #[cfg(lockdep_on)]
        {
            crate::engine::save::cycles(self)
        }
        #[cfg(not(lockdep_on))]
        {
            Vec::new()
        }
    }

    /// This graph as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail (string keys, no maps).
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes this graph to `path`: a file (replaced atomically: readers
    /// see the old file or the new one), or — when `path` is a directory or
    /// ends with `/` — a new file with a unique name in that directory,
    /// safe with many processes writing there at once. Returns the file
    /// written.
    pub fn write(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<std::path::PathBuf> {
        write::write_graph(self, path.as_ref())
    }
}
