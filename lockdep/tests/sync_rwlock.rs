//! `lockdep::sync::RwLock` in realistic patterns: read modes, upgrades,
//! downgrades, with the verdict expected when validation is compiled in.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use crate::flavour::{Mutex, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
use lockdep::{AsLockdepMap, Config, Hook, Read, Report, ReportKind, Validator};

/// The lock types under test: `lockdep::sync`'s. `sync_lock_api05.rs` runs
/// this file's tests again with `lockdep::sync::lock_api05`'s (`lock_api`
/// 0.5 guards), through its own `flavour` module.
#[allow(dead_code, unused_imports)]
mod flavour {
    pub use lockdep::sync::{Mutex, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
}

fn collect() -> Validator {
    Validator::new(Config::collect())
}

fn expect(v: &Validator, on: &[ReportKind]) -> Vec<Report> {
    let reports = v.reports();
    if lockdep::ENABLED {
        assert_eq!(reports.iter().map(Report::kind).collect::<Vec<_>>(), on, "reports: {reports:#?}");
    } else {
        assert!(reports.is_empty());
    }
    reports
}

// ---------------------------------------------------------------------------
// A read-mostly cache with statistics behind a mutex.

#[derive(Default)]
struct Stats {
    hits: u64,
    misses: u64,
}

struct Cache {
    entries: RwLock<HashMap<u64, String>>,
    stats: Mutex<Stats>,
}

impl Cache {
    fn new() -> Cache {
        Cache {
            entries: RwLock::named(HashMap::new(), "cache.entries"),
            stats: Mutex::named(Stats::default(), "cache.stats"),
        }
    }

    fn get(&self, key: u64) -> String {
        {
            let entries = self.entries.read();
            if let Some(v) = entries.get(&key) {
                self.stats.lock().hits += 1; // entries(read) -> stats
                return v.clone();
            }
        }
        let value = format!("value-{key}"); // the slow fetch, no lock held
        let mut entries = self.entries.write();
        self.stats.lock().misses += 1; // entries(write) -> stats
        entries.entry(key).or_insert(value).clone()
    }

    fn report(&self) -> (u64, u64) {
        let s = self.stats.lock();
        (s.hits, s.misses)
    }
}

#[test]
fn cache_read_then_mutex_from_two_threads_is_silent() {
    let v = collect();
    let cache = Arc::new(Cache::new());
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|t| {
            let (v, cache, start) = (v.clone(), cache.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                v.scope(|| {
                    for i in 0..50 {
                        assert_eq!(cache.get((i * (t + 1)) % 7), format!("value-{}", (i * (t + 1)) % 7));
                    }
                });
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let (hits, misses) = v.scope(|| cache.report());
    assert_eq!(hits + misses, 100);
    expect(&v, &[]);
}

#[test]
fn cache_stats_taken_first_then_entries_is_an_inversion() {
    let v = collect();
    let cache = Cache::new();
    v.scope(|| {
        cache.get(1);
        cache.get(1);
        // A "reset" path that takes the locks the other way round.
        let mut stats = cache.stats.lock();
        let entries = cache.entries.read(); // stats -> entries(read): inverts entries -> stats
        stats.hits = entries.len() as u64;
    });
    expect(&v, &[ReportKind::CircularDependency]);
}

// ---------------------------------------------------------------------------
// The raw lock first: a validated `read`, `write`, `upgradable_read` and
// `read_recursive` try the raw lock before the validator records them (as
// `Mutex::lock` does), and let it go again when the acquisition must be
// validated first.

/// This thread's held locks (address, mode) are `expected`, when validation
/// is compiled in.
fn held_as(expected: &[(usize, Read)]) {
    let held: Vec<_> = lockdep::held_locks().iter().map(|l| (l.addr(), l.read())).collect();
    if lockdep::ENABLED {
        assert_eq!(held, expected);
    }
}

#[test]
fn rwlock_acquisitions_taken_by_their_trylock_leave_the_lock_and_the_held_stack_as_taken() {
    let v = collect();
    let a = RwLock::named(0u32, "a");
    let b = RwLock::named(0u32, "b");
    let c = RwLock::named(0u32, "c");
    let mut line = 0;
    v.scope(|| {
        // Pass 1: new classes and chains, so each acquisition's trylock is
        // let go and the acquisition validated first; pass 2: the steady
        // state, recorded after the trylock took the lock.
        for _ in 0..2 {
            {
                let mut w = a.write();
                let r = b.read();
                *w += *r + 1;
                assert!(a.is_locked_exclusive() && b.is_locked() && !b.is_locked_exclusive());
                held_as(&[(a.lockdep_map().addr(), Read::Exclusive), (b.lockdep_map().addr(), Read::Shared)]);
            }
            assert!(!a.is_locked() && !b.is_locked() && lockdep::held_locks().is_empty());
            {
                let u = c.upgradable_read();
                let r = b.read_recursive();
                assert_eq!((*u, *r), (0, 0), "c and b are only read");
                assert!(c.is_locked() && !c.is_locked_exclusive() && b.is_locked() && !b.is_locked_exclusive());
                held_as(&[(c.lockdep_map().addr(), Read::Exclusive), (b.lockdep_map().addr(), Read::SharedRecursive)]);
            }
            assert!(!c.is_locked() && !b.is_locked() && lockdep::held_locks().is_empty());
        }
        // A new order after the steady state is still seen: b(write) ->
        // a(read) closes a -> b(read).
        let _w = b.write();
        line = line!() + 1;
        let _r = a.read();
    });
    assert_eq!(*a.read(), 2);
    let reports = expect(&v, &[ReportKind::CircularDependency]);
    if let Some(r) = reports.first() {
        assert_eq!(r.location().line(), line);
    }
}

// ---------------------------------------------------------------------------
// Recursive reads.

#[test]
fn recursive_read_through_read_is_reported() {
    let v = collect();
    let config = RwLock::named(vec![1, 2, 3], "config");
    let line = line!() + 3;
    v.scope(|| {
        let outer = config.read();
        let inner = config.read(); // a writer queued in between would deadlock both
        assert_eq!(outer.len(), inner.len());
    });
    let reports = expect(&v, &[ReportKind::RecursiveLocking]);
    if let Some(r) = reports.first() {
        assert_eq!(r.location().line(), line);
        assert_eq!(r.lock().unwrap().read(), Read::Shared);
        assert_eq!(r.other().unwrap().read(), Read::Shared);
    }
}

#[test]
fn recursive_read_through_read_recursive_is_silent() {
    let v = collect();
    let config = RwLock::named(vec![1, 2, 3], "config");
    v.scope(|| {
        let outer = config.read_recursive();
        let inner = config.read_recursive();
        assert_eq!(outer.len(), inner.len());
        // A recursive reader under a plain reader is fine too.
        drop(inner);
        drop(outer);
        let outer = config.read();
        let inner = config.read_recursive();
        assert_eq!(outer.len(), inner.len());
    });
    expect(&v, &[]);
}

#[test]
fn try_read_under_write_of_the_same_lock_is_not_reported() {
    // A real `try_read` of a lock this thread write-locked fails before any
    // hook runs, so the validator's rule is tested at the hook level: a
    // read trylock that *succeeded* on the held lock's own map (as a lock
    // with recursive readers would let it) is tracked, never validated.
    let v = collect();
    let l = RwLock::named(0, "l");
    let map = l.as_lockdep_map();
    v.scope(|| {
        let _w = l.write();
        assert!(l.try_read().is_none());
        lockdep::rwlock_acquire_read(map, 0, true);
        lockdep::lockdep_assert_held_read!(map); // the try's entry is on top
        lockdep::rwlock_release(map);
        lockdep::lockdep_assert_held_write!(map);
    });
    expect(&v, &[]);
    // The same acquisition, blocking, is recursive locking.
    v.scope(|| {
        let _w = l.write();
        lockdep::rwlock_acquire_read(map, 0, false);
        lockdep::rwlock_release(map);
    });
    expect(&v, &[ReportKind::RecursiveLocking]);
}

#[test]
fn try_read_under_write_of_the_same_class_is_not_reported() {
    // Two locks of one class (one construction site): the try succeeds for
    // real, and is not validated; a blocking read in its place is reported.
    let v = collect();
    let locks: Vec<RwLock<u32>> = (0..2).map(|_| RwLock::new(0)).collect();
    v.scope(|| {
        let _w = locks[0].write();
        let r = locks[1].try_read();
        assert!(r.is_some(), "the other lock is free");
        lockdep::lockdep_assert_held_read!(locks[1]);
    });
    expect(&v, &[]);
    v.scope(|| {
        let _w = locks[0].write();
        let _r = locks[1].read();
    });
    expect(&v, &[ReportKind::RecursiveLocking]);
}

// ---------------------------------------------------------------------------
// Downgrades and upgrades.

#[test]
fn downgrade_turns_the_held_entry_into_a_reader() {
    let v = Validator::new(Config::collect().with_events(true));
    let table = RwLock::named(Vec::<u32>::new(), "table");
    let index = Mutex::named(0usize, "index");
    v.scope(|| {
        let mut w = table.write();
        w.push(7);
        let r = RwLockWriteGuard::downgrade(w);
        lockdep::lockdep_assert_held_read!(table);
        *index.lock() = r.len(); // table(read) -> index
        drop(r);
        lockdep::lockdep_assert_not_held!(table);
    });
    expect(&v, &[]);
    if lockdep::ENABLED {
        let hooks: Vec<_> = v.events().into_iter().filter(|e| e.map == "table").map(|e| e.hook).collect();
        assert_eq!(
            hooks[0],
            Hook::Acquire { subclass: 0, trylock: false, read: Read::Exclusive, check: true, nest_lock: None }
        );
        assert_eq!(&hooks[1..], [Hook::Acquired, Hook::Downgrade, Hook::Release]);
    }
}

#[test]
fn upgradable_read_upgrade_and_downgrade_are_silent() {
    let v = collect();
    let l = RwLock::named(1, "counter");
    v.scope(|| {
        let u = l.upgradable_read();
        lockdep::lockdep_assert_held_write!(l); // validated as exclusive
        let mut w = RwLockUpgradableReadGuard::upgrade(u);
        *w += 1;
        let u = RwLockWriteGuard::downgrade_to_upgradable(w);
        let r = RwLockUpgradableReadGuard::downgrade(u);
        lockdep::lockdep_assert_held_read!(l);
        assert_eq!(*r, 2);
    });
    expect(&v, &[]);
}

#[test]
fn read_under_an_upgradable_read_of_the_same_lock_is_reported() {
    // A writer queued behind the upgradable reader blocks the new reader.
    let v = collect();
    let l = RwLock::new(1);
    v.scope(|| {
        let _u = l.upgradable_read();
        let _r = l.read();
    });
    expect(&v, &[ReportKind::RecursiveLocking]);
}

#[test]
fn write_nested_and_nest_lock_annotations() {
    let v = collect();
    let dirs: Vec<RwLock<u32>> = (0..3).map(RwLock::new).collect();
    let rename_lock = Mutex::named((), "rename_lock");
    v.scope(|| {
        // Parent then child of one class (the kernel's inode locking).
        let _p = dirs[0].write();
        let _c = dirs[1].write_nested(1);
        let _r = dirs[2].read_nested(2);
    });
    expect(&v, &[]);
    let v = collect();
    v.scope(|| {
        let _serialised = rename_lock.lock();
        let _a = dirs[2].write_nest_lock(&rename_lock);
        let _b = dirs[0].write_nest_lock(&rename_lock);
    });
    expect(&v, &[]);
}
