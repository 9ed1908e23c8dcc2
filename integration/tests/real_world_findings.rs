//! What lockdep found in published crates' own test suites
//! (`scripts/real-world.sh`, triaged in `docs/REAL-WORLD.md`), each reduced
//! to the lock order the crate's code takes, with lockdep's lock types:
//! the report must be the one the suite produced, and the fix suggested in
//! `docs/REAL-WORLD.md` must silence it. Where the finding is a possible
//! deadlock, a second test shows with the real `parking_lot` that the
//! deadlock is not only lockdep's opinion.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;

use lockdep::sync::RwLock;
use lockdep::{Config, NestedSite, Read, Report, ReportKind, Validator};

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

/// moka 0.12.16's `ValueInitializer` (src/sync/value_initializer.rs): the
/// waiters that make concurrent `get_with`/`and_compute_with` calls on one
/// key run a single init closure.
mod moka {
    use super::*;

    /// A waiter: the init closure's result, behind a parking_lot `RwLock`
    /// that its owner write-locks for as long as the closure runs.
    pub(super) type Waiter = Arc<RwLock<Option<u64>>>;

    /// The waiter map (moka: a lock-free `cht::SegmentedHashMap`; here a
    /// plain std mutex, which lockdep does not see either).
    #[derive(Default)]
    pub(super) struct Waiters {
        map: std::sync::Mutex<HashMap<u64, Waiter>>,
    }

    impl Waiters {
        /// Every waiter comes from this one expression, hence one class
        /// (src/sync/value_initializer.rs:98 in `try_init_or_read`, :198 in
        /// `try_compute`).
        pub(super) fn new_waiter() -> Waiter {
            Arc::new(RwLock::new(None))
        }

        /// `try_insert_waiter`: publishes `mine`, or returns the waiter
        /// already there.
        pub(super) fn try_insert(&self, key: u64, mine: &Waiter) -> Option<Waiter> {
            let mut map = self.map.lock().unwrap();
            match map.get(&key) {
                Some(theirs) => Some(theirs.clone()),
                None => {
                    map.insert(key, mine.clone());
                    None
                }
            }
        }

        /// `try_init_or_read`, reduced to its locking: write-lock a new
        /// waiter (:99), try to publish it; if another thread's waiter is
        /// there, read it (:110) — waiting for that thread's init closure —
        /// while still holding the write lock on one's own, *unpublished*,
        /// waiter. `nested` reads with subclass 1: the annotation kernel
        /// code would write. `found` runs when another waiter was found.
        pub(super) fn init_or_read(
            &self,
            key: u64,
            init: impl FnOnce() -> u64,
            nested: bool,
            found: impl FnOnce(),
        ) -> u64 {
            let waiter = Self::new_waiter();
            let mut mine = waiter.write();
            if let Some(theirs) = self.try_insert(key, &waiter) {
                found();
                let theirs = if nested { theirs.read_nested(1) } else { theirs.read() };
                return theirs.expect("their init closure ran");
            }
            let value = init();
            *mine = Some(value);
            self.map.lock().unwrap().remove(&key);
            value
        }
    }
}

/// Two threads ask for one key at once: the second waits on the first's
/// waiter while holding its own. Same class, write then read: reported as
/// recursive locking, though it cannot deadlock (see docs/REAL-WORLD.md).
#[test]
fn moka_waiter_read_under_own_waiter_is_reported() {
    let waiters = moka::Waiters::default();
    // The first caller's waiter, published and already done with (the
    // single-threaded equivalent of a first caller that finished).
    let first = moka::Waiters::new_waiter();
    *first.write() = Some(7);
    assert!(waiters.try_insert(1, &first).is_none());
    let mut got = 0;
    let reports =
        collect(|| got = waiters.init_or_read(1, || unreachable!("the first caller's value is read"), false, || {}));
    assert_eq!(got, 7);
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    let (taking, held) = (reports[0].lock().unwrap(), reports[0].other().unwrap());
    assert_ne!(taking.addr(), held.addr(), "two waiters, one class");
    assert_eq!((taking.read(), held.read()), (Read::Shared, Read::Exclusive));

    // Kernel code would annotate the inner acquisition (`down_read_nested`):
    // moka, through parking_lot, cannot.
    let reports = collect(|| got = waiters.init_or_read(1, || unreachable!(), true, || {}));
    assert_eq!(got, 7);
    assert!(reports.is_empty(), "{reports:?}");
}

/// The same, with the two callers really concurrent: the second blocks in
/// the read until the first's init closure is done, and nothing deadlocks
/// — the waiter the second holds is not in the map, so no thread can wait
/// for it.
#[test]
fn moka_concurrent_callers_share_one_init() {
    let reports = moka_concurrent_callers(Config::collect());
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
}

/// Two concurrent `init_or_read` calls on one key under a validator with
/// `config`: the first runs the init closure, the second reads its waiter.
/// The reports.
fn moka_concurrent_callers(config: Config) -> Vec<Report> {
    let waiters = Arc::new(moka::Waiters::default());
    let (in_init, found) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let v = Validator::new(config);
    let first = {
        let (waiters, in_init, found, v) = (waiters.clone(), in_init.clone(), found.clone(), v.clone());
        thread::spawn(move || {
            let init = || {
                in_init.wait();
                found.wait(); // until the second caller found this waiter (it then reads it)
                7
            };
            v.scope(|| waiters.init_or_read(1, init, false, || unreachable!("first")))
        })
    };
    in_init.wait(); // the first caller's waiter is published and write-locked
    let second = {
        let (waiters, v) = (waiters.clone(), v.clone());
        thread::spawn(move || {
            v.scope(|| {
                waiters.init_or_read(
                    1,
                    || unreachable!("second"),
                    false,
                    || {
                        found.wait();
                    },
                )
            })
        })
    };
    assert_eq!(first.join().unwrap(), 7);
    assert_eq!(second.join().unwrap(), 7);
    v.reports()
}

/// No false positive for moka's waiters once their construction site is
/// listed as a nested site — what a user does without touching moka:
/// `LOCKDEP_NESTED_SITES=src/sync/value_initializer.rs:98,src/sync/value_initializer.rs:198`
/// for the global validator (as `scripts/real-world.sh` does), or
/// `Config::with_nested_site` for a validator of their own, as here. The
/// waiter read under one's own is then one level down (subclass 1), while
/// the same waiter taken twice is still reported (lockdep's
/// `tests/nested_sites.rs`). lockdep cannot tell from the lock calls alone
/// that the held waiter is unpublished; the list says so.
#[test]
fn moka_unpublished_waiter_nesting_false_positive() {
    let waiters = moka::Waiters::default();
    let first = moka::Waiters::new_waiter();
    *first.write() = Some(7);
    assert!(waiters.try_insert(1, &first).is_none());
    // The site, as a user writes it: from the report's class name,
    // `RwLock<Option<u64>>@integration/tests/real_world_findings.rs:<line>`
    // (the line of `RwLock::new(None)` in `Waiters::new_waiter`).
    let reports = collect(|| {
        waiters.init_or_read(1, || unreachable!(), false, || {});
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    let class = reports[0].lock().unwrap().class().to_owned();
    assert!(class.starts_with("RwLock<Option<u64>>@"), "{class}");
    let site: NestedSite = class.rsplit_once('@').unwrap().1.parse().unwrap();
    assert_eq!(site.file, file!());
    let annotated = || Config::collect().with_nested_site(site.clone());

    let v = Validator::new(annotated());
    let got = v.scope(|| waiters.init_or_read(1, || unreachable!(), false, || {}));
    assert_eq!(got, 7);
    assert!(v.reports().is_empty(), "{:?}", v.reports());

    let reports = moka_concurrent_callers(annotated());
    assert!(reports.is_empty(), "{reports:?}");
}

/// What made tokio's reports hard to triage: a report other than a
/// circular dependency had no stack trace, although `Report::backtrace` is
/// documented as "the stack of the hook that found the problem (when
/// capture is on)". With the acquisition sites inside a wrapper (tokio's
/// `loom::std::parking_lot`), the report could not say which locks it was
/// about. Every report that goes out now carries the stack of the call
/// that found it (`Ctx::emit`, `lockdep/src/engine/emit.rs`).
#[test]
fn recursive_locking_report_has_a_backtrace() {
    let lock = RwLock::new(0);
    let v = Validator::new(Config::collect().with_backtraces(true));
    v.scope(|| {
        let _first = lock.read();
        let _second = lock.read();
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert!(reports[0].backtrace().is_some(), "capture is on, yet the report has no stack");
}
