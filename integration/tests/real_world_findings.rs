//! What lockdep found in published crates' own test suites
//! (`scripts/real-world.sh`, triaged in `docs/REAL-WORLD.md`), each reduced
//! to the lock order the crate's code takes, with lockdep's lock types:
//! the report must be the one the suite produced, and the fix suggested in
//! `docs/REAL-WORLD.md` must silence it. Where the finding is a possible
//! deadlock, a second test shows with the real `parking_lot` that the
//! deadlock is not only lockdep's opinion.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;

use lockdep::sync::RwLock;
use lockdep::{Config, Read, Report, ReportKind, Validator};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Runs `f` under a fresh collecting validator; its reports.
fn collect(f: impl FnOnce()) -> Vec<Report> {
    let v = Validator::new(Config::collect());
    v.scope(f);
    v.reports()
}

/// stretto 0.9.0's `Store`: a fixed array of shards, each a parking_lot
/// `RwLock` built by one expression (src/store.rs:98), hence one class.
mod stretto {
    use super::*;
    use lockdep::sync::{MappedRwLockReadGuard, RwLockReadGuard};

    const NUM_OF_SHARDS: usize = 256;

    pub(super) struct Store {
        shards: Vec<RwLock<HashMap<u64, (u64, u64)>>>,
    }

    /// A read guard mapped onto the value (stretto's `ValueRef`).
    pub(super) type ValueRef<'a> = MappedRwLockReadGuard<'a, u64>;

    impl Store {
        pub(super) fn new() -> Store {
            Store { shards: (0..NUM_OF_SHARDS).map(|_| RwLock::new(HashMap::new())).collect() }
        }

        pub(super) fn insert(&self, key: u64, value: u64, expiration: u64) {
            self.shards[key as usize % NUM_OF_SHARDS].write().insert(key, (value, expiration));
        }

        /// src/store.rs:115 `Store::get`: read-locks the shard and keeps the
        /// guard, mapped onto the value, in the returned `ValueRef`.
        pub(super) fn get(&self, key: u64) -> Option<ValueRef<'_>> {
            let data = self.shards[key as usize % NUM_OF_SHARDS].read();
            RwLockReadGuard::try_map(data, |m| m.get(&key).map(|(v, _)| v)).ok()
        }

        /// src/store.rs:377 `Store::expiration`: read-locks the shard again.
        pub(super) fn expiration(&self, key: u64) -> Option<u64> {
            self.shards[key as usize % NUM_OF_SHARDS].read().get(&key).map(|(_, e)| *e)
        }

        /// src/cache/sync.rs:1088 `Cache::get_ttl`, as published: the
        /// `ValueRef` is the closure's `_` argument, which is not bound but
        /// still lives until the closure returns — across `expiration`.
        pub(super) fn get_ttl(&self, key: u64) -> Option<u64> {
            self.get(key).and_then(|_| self.expiration(key))
        }

        /// The fix: release the shard before reading it again.
        pub(super) fn get_ttl_fixed(&self, key: u64) -> Option<u64> {
            drop(self.get(key)?);
            self.expiration(key)
        }
    }
}

#[test]
fn stretto_get_ttl_reads_its_shard_twice() {
    let store = stretto::Store::new();
    store.insert(1, 10, 5);
    let mut ttl = None;
    let reports = collect(|| ttl = store.get_ttl(1));
    assert_eq!(ttl, Some(5));
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    // The very lock, read twice (rwsem `down_read` semantics: parking_lot's
    // `read` queues behind a waiting writer).
    let (taking, held) = (reports[0].lock().unwrap(), reports[0].other().unwrap());
    assert_eq!(taking.addr(), held.addr());
    assert_eq!((taking.read(), held.read()), (Read::Shared, Read::Shared));

    let reports = collect(|| ttl = store.get_ttl_fixed(1));
    assert_eq!(ttl, Some(5));
    assert!(reports.is_empty(), "{reports:?}");
}

/// The deadlock the report above predicts, with the real parking_lot 0.12:
/// while a thread holds a shard for read (`Store::get`'s guard), a writer
/// arrives (`Store::set` on the same shard, from the cache's processor
/// thread); the second `read()` (`Store::expiration`) then waits for the
/// writer, which waits for the first read guard — forever. `try_read`
/// shows it without hanging the test.
#[test]
fn parking_lot_read_waits_behind_a_waiting_writer() {
    let shard = Arc::new(parking_lot::RwLock::new(0u64));
    let first = shard.read();
    let writer = {
        let shard = shard.clone();
        thread::spawn(move || *shard.write() += 1)
    };
    // The writer announces itself (its bit is set) before it waits for the
    // readers to leave.
    while !shard.is_locked_exclusive() {
        thread::yield_now();
    }
    assert!(shard.try_read().is_none(), "a second read() here would block forever");
    // A recursive read is let through: what `read_recursive` is for.
    assert!(shard.try_read_recursive().is_some());
    drop(first);
    writer.join().unwrap();
    assert_eq!(*shard.read(), 1);
}
