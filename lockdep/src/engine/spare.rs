//! A dropped validator's largest tables, kept for the next one.
//!
//! A validator's class, edge, key and chain tables grow by doubling: each
//! doubling allocates a new buffer, copies or rehashes every entry into it
//! and frees the old one, and past glibc's thresholds the memory comes fresh
//! from the kernel (one minor page fault per 4 KiB first touched) and goes
//! back to it when the validator is dropped. A program that makes validator
//! after validator (a test suite: one per test) paid that again for each.
//! So when a validator is dropped, its tables are emptied and kept here —
//! one set, the last dropped, at most [`MAX_BYTES`] of them — and the next
//! [`Inner::new`](super::inner::Inner::new) starts from them: the same empty
//! tables as a fresh validator's, but for their capacity. Nothing a validator
//! reports, counts or limits depends on a table's capacity.
//!
//! The memory kept idle is at most [`MAX_BYTES`] (documented on
//! `Validator`): tables larger than that are freed with their validator,
//! as before. The lock here is a leaf, only ever
//! tried (never waited for): a contended or poisoned stash is skipped, the
//! tables then made or freed as they were before.

use std::sync::{Mutex, TryLockError};

use super::chain::{ChainStore, ChainTables};
use super::graph::{Graph, GraphTables};

/// The most bytes of tables kept (a 10,000-class chain's tables are about
/// 8 MiB).
pub(crate) const MAX_BYTES: usize = 32 << 20;

/// The kept tables of a graph and its chain store.
pub(crate) struct Spare {
    graph: GraphTables,
    chains: ChainTables,
}

static SPARE: Mutex<Option<Spare>> = Mutex::new(None);

/// Runs `f` on the stash unless its lock is taken or poisoned.
fn try_with<R>(f: impl FnOnce(&mut Option<Spare>) -> R) -> Option<R> {
    match SPARE.try_lock() {
        Ok(mut g) => Some(f(&mut g)),
        Err(TryLockError::WouldBlock | TryLockError::Poisoned(_)) => None,
    }
}

/// A new validator's graph and chain store: empty, with the kept tables'
/// capacity if there are any.
pub(crate) fn tables() -> (Graph, ChainStore) {
    match try_with(Option::take).flatten() {
        Some(Spare { graph, chains }) => (Graph::with_tables(graph), ChainStore::with_tables(chains)),
        None => (Graph::default(), ChainStore::default()),
    }
}

/// Keeps the tables of a dropped validator's graph and chain store (emptied
/// here, outside the stash's lock) unless they are larger than
/// [`MAX_BYTES`]; they replace any kept before, which are freed after the
/// lock is released.
pub(crate) fn keep(graph: &mut Graph, chains: &mut ChainStore) {
    let spare = Spare { graph: graph.take_tables(), chains: chains.take_tables() };
    if spare.graph.bytes() + spare.chains.bytes() > MAX_BYTES {
        return;
    }
    let old = try_with(|s| s.replace(spare));
    drop(old);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::KeyId;

    fn key(i: usize) -> KeyId {
        KeyId::Key { addr: 0x1000 + i * 8, generation: 0 }
    }

    #[test]
    fn kept_tables_come_back_empty_with_their_capacity() {
        let mut g = Graph::default();
        for i in 0..3000 {
            g.register(key(i), 0, "spare", usize::MAX).unwrap();
        }
        let tables = g.take_tables();
        assert!(g.classes.is_empty() && g.lookup(key(1), 0).is_none());
        assert!(tables.bytes() >= 3000 * std::mem::size_of::<crate::engine::graph::Class>());
        // A graph made from kept tables has their room and nothing else:
        // ids, slots and versions start over as in a fresh graph.
        let mut g = Graph::with_tables(tables);
        assert!(g.classes.capacity() >= 3000);
        assert!(g.lookup(key(1), 0).is_none());
        let a = g.register(key(7), 0, "spare", usize::MAX).unwrap();
        let fresh = Graph::default().register(key(7), 0, "spare", usize::MAX).unwrap();
        assert_eq!(a, fresh);
        assert_eq!((g.nr_classes, g.class_name(a)), (1, "spare".to_owned()));
        assert_eq!(g.slot(a).map(|s| s.index()), Some(0));
        assert!(!g.is_alive(crate::engine::ids::ClassId::from_raw(2)));
    }
}
