//! `lockdep::sync::Condvar`: waits release and re-acquire the mutex in the
//! validator as well as for real.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::flavour::{Condvar, Mutex};
use lockdep::{Config, Hook, Read, ReportKind, Validator};

/// The lock types under test: `lockdep::sync`'s. `sync_lock_api05.rs` runs
/// this file's tests again with `lockdep::sync::lock_api05`'s (`lock_api`
/// 0.5 guards), through its own `flavour` module.
#[allow(dead_code, unused_imports)]
mod flavour {
    pub use lockdep::sync::{Condvar, Mutex};
}

fn collect() -> Validator {
    Validator::new(Config::collect())
}

/// A bounded work queue: producers wait while it is full, consumers while it
/// is empty.
struct Queue {
    items: Mutex<(VecDeque<Option<u32>>, usize)>,
    not_empty: Condvar,
    not_full: Condvar,
}

const CAPACITY: usize = 4;

impl Queue {
    fn new() -> Queue {
        Queue {
            items: Mutex::named((VecDeque::new(), 0), "queue"),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    fn push(&self, item: Option<u32>) {
        let mut q = self.items.lock();
        self.not_full.wait_while(&mut q, |(items, _)| items.len() >= CAPACITY);
        q.0.push_back(item);
        drop(q);
        self.not_empty.notify_one();
    }

    fn pop(&self) -> Option<u32> {
        let mut q = self.items.lock();
        while q.0.is_empty() {
            q.1 += 1; // times this consumer had to wait
            self.not_empty.wait(&mut q);
        }
        let item = q.0.pop_front().unwrap();
        self.not_full.notify_one();
        item
    }
}

#[test]
fn producer_consumer_is_silent() {
    let v = collect();
    let queue = Arc::new(Queue::new());
    let log = Arc::new(Mutex::named(Vec::new(), "log"));
    let consumer = {
        let (v, queue, log) = (v.clone(), queue.clone(), log.clone());
        std::thread::Builder::new()
            .name("consumer".into())
            .spawn(move || {
                v.scope(|| {
                    let mut sum = 0;
                    while let Some(x) = queue.pop() {
                        sum += x;
                        log.lock().push(x); // queue released by then: no queue -> log order
                    }
                    sum
                })
            })
            .unwrap()
    };
    let producer = {
        let (v, queue) = (v.clone(), queue.clone());
        std::thread::Builder::new()
            .name("producer".into())
            .spawn(move || {
                v.scope(|| {
                    for i in 1..=100 {
                        queue.push(Some(i));
                    }
                    queue.push(None);
                })
            })
            .unwrap()
    };
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), 5050);
    assert_eq!(log.lock().len(), 100);
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
}

#[test]
fn wait_releases_and_reacquires_in_the_validator_at_the_wait_site() {
    let v = Validator::new(Config::collect().with_events(true));
    let m = Mutex::named(false, "flag");
    let cv = Condvar::new();
    let line = line!() + 3;
    v.scope(|| {
        let mut g = m.lock();
        let r = cv.wait_for(&mut g, Duration::ZERO);
        assert!(r.timed_out());
        lockdep::lockdep_assert_held!(m);
        drop(g);
    });
    assert!(v.reports().is_empty());
    let events = v.events();
    if !lockdep::ENABLED {
        assert!(events.is_empty());
        return;
    }
    let acquire = Hook::Acquire { subclass: 0, trylock: false, read: Read::Exclusive, check: true, nest_lock: None };
    let hooks: Vec<_> = events.iter().map(|e| e.hook).collect();
    assert_eq!(hooks, [acquire, Hook::Acquired, Hook::Release, acquire, Hook::Acquired, Hook::Release]);
    // The wait's release and re-acquisition are reported at the wait.
    assert_eq!(events[2].location.line(), line);
    assert_eq!(events[3].location.line(), line);
}

#[test]
fn a_lock_held_across_a_wait_is_still_ordered_against_the_mutex() {
    // Waiting while holding `outer` re-acquires `queue` under it: outer -> queue.
    // Taking them the other way round elsewhere is an inversion.
    let v = collect();
    let outer = Mutex::named((), "outer");
    let queue = Mutex::named(0, "queue");
    let cv = Condvar::new();
    v.scope(|| {
        let _o = outer.lock();
        let mut q = queue.lock();
        let _ = cv.wait_for(&mut q, Duration::ZERO);
        drop(q);
        drop(_o);
        let _q = queue.lock();
        let _o = outer.lock();
    });
    let kinds: Vec<_> = v.reports().iter().map(|r| r.kind()).collect();
    if lockdep::ENABLED {
        assert_eq!(kinds, [ReportKind::CircularDependency]);
    } else {
        assert!(kinds.is_empty());
    }
}

#[test]
fn notify_without_waiters_wakes_nobody() {
    let cv = Condvar::new();
    assert!(!cv.notify_one());
    assert_eq!(cv.notify_all(), 0);
}
