//! Deadlocks through waits (book chapter 16): a thread waits for something
//! (a notify, a thread's end, a message, a free slot, an initialisation, the
//! other participants of a barrier) while holding a lock that the thing it
//! waits for needs. Every case is reported from a run that did not hang —
//! the two halves run at different times — and each has a control that
//! differs only in the lock involved and stays silent.
//!
//! Synchronisation is by channels and the waits themselves, never sleeps.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use lockdep::std_sync;
use lockdep::{Config, Hook, Mutex, Report, ReportKind, Validator};

fn validator() -> Validator {
    Validator::new(Config::collect().with_backtraces(false))
}

/// The cycles reported, each as its kind and the classes it names.
fn cycles(v: &Validator) -> Vec<Report> {
    v.reports().into_iter().filter(|r| r.kind() == ReportKind::CircularDependency).collect()
}

/// The report is a cycle through a waitable object of `kind` (its class
/// name starts with it) and through the lock class named `lock`, and the
/// report names both sites.
fn assert_cycle_through(v: &Validator, kind: &str, lock: &str) -> Report {
    let all = v.reports();
    let found = cycles(v);
    assert!(!found.is_empty(), "no cycle reported: {all:#?}");
    let r = found
        .into_iter()
        .find(|r| {
            let classes: Vec<&str> = r.chain().iter().flat_map(|s| [s.from().class(), s.to().class()]).collect();
            classes.iter().any(|c| c.starts_with(kind)) && classes.contains(&lock)
        })
        .unwrap_or_else(|| panic!("no cycle through {kind} and {lock}: {all:#?}"));
    // Every step names where it was seen, in this file.
    for step in r.chain() {
        assert!(step.from().location().file().ends_with("waits.rs"), "{r}");
        assert!(step.to().location().file().ends_with("waits.rs"), "{r}");
    }
    let text = r.to_string();
    assert!(text.contains(kind), "{text}");
    println!("{text}");
    r
}

fn assert_silent(v: &Validator) {
    let all = v.reports();
    assert!(all.is_empty(), "expected no report: {all:#?}");
}

// ---------------------------------------------------------------------------
// 1. Condvar: waiting on C while holding L (not C's own mutex), where a
//    notifier of C holds L.

struct Pair {
    flag: Mutex<bool>,
    cv: lockdep::Condvar,
}

impl Pair {
    fn new() -> Pair {
        Pair { flag: Mutex::named(false, "flag"), cv: lockdep::Condvar::new() }
    }
}

/// Waits on the pair's condvar (holding `outer`, if given) until a helper
/// holding nothing notifies it. The waiter tells the helper it is ready
/// while it holds the flag's mutex, which it gives up only inside the wait:
/// the wait has surely happened when the helper sets the flag.
fn wait_once(v: &Validator, p: &Pair, outer: Option<&Mutex<()>>) {
    let (ready, is_ready) = std_mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            v.scope(|| {
                let _outer = outer.map(|o| o.lock());
                let mut flag = p.flag.lock();
                ready.send(()).unwrap();
                while !*flag {
                    p.cv.wait(&mut flag);
                }
                *flag = false;
            })
        });
        is_ready.recv().unwrap();
        v.scope(|| {
            *p.flag.lock() = true;
            p.cv.notify_all();
        });
    });
}

/// Notifies the pair's condvar (nobody waits) while holding `outer`.
fn notify_holding(v: &Validator, p: &Pair, outer: &Mutex<()>) {
    std::thread::scope(|s| {
        s.spawn(|| {
            v.scope(|| {
                let _outer = outer.lock();
                p.cv.notify_one();
            })
        });
    });
}

#[test]
fn condvar_wait_under_a_lock_the_notifier_holds_wait_seen_first() {
    let v = validator();
    let (p, outer) = (Pair::new(), Mutex::named((), "outer"));
    wait_once(&v, &p, Some(&outer));
    assert_silent(&v);
    notify_holding(&v, &p, &outer);
    let r = assert_cycle_through(&v, "Condvar@", "outer");
    // Closed by the notify: reported at it, saying which event.
    assert!(r.message().contains("the event on Condvar@"), "{r}");
    assert_ne!(r.chain()[0].thread().id(), r.chain()[1].thread().id(), "{r}");
}

#[test]
fn condvar_wait_under_a_lock_the_notifier_holds_event_seen_first() {
    let v = validator();
    let (p, outer) = (Pair::new(), Mutex::named((), "outer"));
    notify_holding(&v, &p, &outer);
    assert_silent(&v);
    wait_once(&v, &p, Some(&outer));
    assert_cycle_through(&v, "Condvar@", "outer");
}

#[test]
fn condvar_control_the_notifier_holds_another_lock() {
    let v = validator();
    let (p, outer, other) = (Pair::new(), Mutex::named((), "outer"), Mutex::named((), "other"));
    wait_once(&v, &p, Some(&outer));
    notify_holding(&v, &p, &other);
    // And the usual pattern: notify under the condvar's own mutex.
    v.scope(|| {
        let _g = p.flag.lock();
        p.cv.notify_one();
    });
    wait_once(&v, &p, None);
    assert_silent(&v);
}

#[test]
fn condvar_timed_wait_is_not_a_wait() {
    let v = validator();
    let (p, outer) = (Pair::new(), Mutex::named((), "outer"));
    notify_holding(&v, &p, &outer);
    v.scope(|| {
        let _outer = outer.lock();
        let mut flag = p.flag.lock();
        p.cv.wait_for(&mut flag, std::time::Duration::from_millis(1));
    });
    assert_silent(&v);
}

/// The std facade's condvar, the same pair of halves.
#[test]
fn std_sync_condvar_wait_under_a_lock_the_notifier_holds() {
    for involved in [true, false] {
        let v = validator();
        let pair = (std_sync::Mutex::new(false), std_sync::Condvar::new());
        let (outer, other) = (std_sync::Mutex::new(()), std_sync::Mutex::new(()));
        let (ready, is_ready) = std_mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                v.scope(|| {
                    let _outer = outer.lock().unwrap();
                    let flag = pair.0.lock().unwrap();
                    ready.send(()).unwrap();
                    let mut flag = pair.1.wait_while(flag, |f| !*f).unwrap();
                    *flag = false;
                })
            });
            is_ready.recv().unwrap();
            v.scope(|| {
                *pair.0.lock().unwrap() = true;
                pair.1.notify_one();
            });
        });
        v.scope(|| {
            let _g = if involved { outer.lock().unwrap() } else { other.lock().unwrap() };
            pair.1.notify_all();
        });
        if involved {
            assert_eq!(cycles(&v).len(), 1, "{:#?}", v.reports());
            assert!(v.reports()[0].message().contains("the event on Condvar@"));
        } else {
            assert_silent(&v);
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Joins: joining under L a thread whose body takes L.

/// Spawns (at one site: one class) a worker that takes `l` if `take`.
fn worker(l: &Arc<Mutex<()>>, take: bool) -> lockdep::thread::JoinHandle<()> {
    let l = Arc::clone(l);
    lockdep::thread::spawn(move || {
        if take {
            drop(l.lock());
        }
    })
}

#[test]
fn join_under_a_lock_the_thread_takes() {
    for involved in [true, false] {
        let v = validator();
        let l = Arc::new(Mutex::named((), "l"));
        let other = Mutex::named((), "other");
        v.scope(|| {
            // The spawned body runs in the spawner's validator.
            worker(&l, true).join().unwrap();
            let w = worker(&l, false);
            let _g = if involved { l.lock() } else { other.lock() };
            w.join().unwrap();
        });
        if involved {
            assert_cycle_through(&v, "thread@", "l");
        } else {
            assert_silent(&v);
        }
    }
}

#[test]
fn join_first_then_a_body_takes_the_lock() {
    let v = validator();
    let l = Arc::new(Mutex::named((), "l"));
    v.scope(|| {
        let w = worker(&l, false);
        {
            let _g = l.lock();
            w.join().unwrap();
        }
        // Reported in the worker, at its `lock()`, in this validator.
        worker(&l, true).join().unwrap();
    });
    assert_cycle_through(&v, "thread@", "l");
}

#[test]
fn recursive_spawning_from_one_site_is_not_a_self_join() {
    fn tree(depth: u32) -> u32 {
        if depth == 0 {
            return 1;
        }
        let a = lockdep::thread::spawn(move || tree(depth - 1));
        let b = lockdep::thread::spawn(move || tree(depth - 1));
        a.join().unwrap() + b.join().unwrap()
    }
    let v = validator();
    assert_eq!(v.scope(|| tree(3)), 8);
    assert_silent(&v);
}

fn scoped_worker<'s>(
    s: &'s lockdep::thread::Scope<'s, '_>,
    l: &'s Mutex<()>,
    take: bool,
) -> lockdep::thread::ScopedJoinHandle<'s, ()> {
    s.spawn(move || {
        if take {
            drop(l.lock());
        }
    })
}

#[test]
fn scoped_join_explicit_and_implicit_under_a_lock_the_thread_takes() {
    for (involved, explicit) in [(true, true), (true, false), (false, true), (false, false)] {
        let v = validator();
        let (l, other) = (Mutex::named((), "l"), Mutex::named((), "other"));
        v.scope(|| {
            lockdep::thread::scope(|s| scoped_worker(s, &l, true).join().unwrap());
            let _g = if involved { l.lock() } else { other.lock() };
            lockdep::thread::scope(|s| {
                let w = scoped_worker(s, &l, false);
                if explicit {
                    w.join().unwrap();
                }
            });
        });
        if involved {
            assert_cycle_through(&v, "thread@", "l");
        } else {
            assert_silent(&v);
        }
    }
}

// ---------------------------------------------------------------------------
// 3. Channels.

#[test]
fn recv_under_a_lock_the_sender_holds_when_sending() {
    for involved in [true, false] {
        let v = validator();
        let (l, other) = (Mutex::named((), "l"), Mutex::named((), "other"));
        let (tx, rx) = std_sync::mpsc::channel::<u32>();
        std::thread::scope(|s| {
            s.spawn(|| {
                v.scope(|| {
                    let _g = if involved { l.lock() } else { other.lock() };
                    tx.send(1).unwrap();
                })
            });
        });
        v.scope(|| {
            let _g = l.lock();
            assert_eq!(rx.recv().unwrap(), 1); // there already: no block
        });
        if involved {
            assert_cycle_through(&v, "mpsc@", "l");
        } else {
            assert_silent(&v);
        }
    }
}

#[test]
fn send_into_a_full_channel_under_a_lock_the_receiver_holds_when_receiving() {
    for involved in [true, false] {
        let v = Validator::new(Config::collect().with_backtraces(false).with_events(true));
        let (l, other) = (Mutex::named((), "l"), Mutex::named((), "other"));
        // A rendezvous channel: full until a receiver is there.
        let (tx, rx) = std_sync::mpsc::sync_channel::<u32>(0);
        // First half: the receiver holds `l` when it receives.
        std::thread::scope(|s| {
            s.spawn(|| v.scope(|| tx.send(1).unwrap()));
            v.scope(|| {
                let _g = l.lock();
                assert_eq!(rx.recv().unwrap(), 1);
            });
        });
        // Second half: a send finds the channel full (nobody receives until
        // its wait was recorded) while holding `l` (or `other`).
        v.clear_events();
        std::thread::scope(|s| {
            s.spawn(|| {
                v.scope(|| {
                    let _g = if involved { l.lock() } else { other.lock() };
                    tx.send(2).unwrap();
                })
            });
            let waited = |v: &Validator| {
                v.events().iter().any(|e| e.map.starts_with("mpsc space@") && matches!(e.hook, Hook::Acquire { .. }))
            };
            // The sender's wait hook runs before it blocks; receive after it.
            while !waited(&v) {
                std::thread::yield_now();
            }
            assert_eq!(rx.recv().unwrap(), 2);
        });
        if involved {
            assert_cycle_through(&v, "mpsc space@", "l");
        } else {
            assert_silent(&v);
        }
    }
}

// ---------------------------------------------------------------------------
// 4. Once-style initialisation.

/// Cells made at one site: one class.
fn cell() -> std_sync::OnceLock<u32> {
    std_sync::OnceLock::new()
}

#[test]
fn oncelock_init_under_a_lock_an_initialiser_takes() {
    for involved in [true, false] {
        let v = validator();
        let (l, other) = (Mutex::named((), "l"), Mutex::named((), "other"));
        let (a, b) = (cell(), cell());
        // Another thread initialises `a`, taking `l` in the initialiser.
        std::thread::scope(|s| {
            s.spawn(|| {
                v.scope(|| {
                    a.get_or_init(|| {
                        drop(l.lock());
                        1
                    })
                })
            });
        });
        v.scope(|| {
            let _g = if involved { l.lock() } else { other.lock() };
            assert_eq!(*b.get_or_init(|| 2), 2);
            // An initialised cell is not waited for.
            assert_eq!(*a.get_or_init(|| 3), 1);
        });
        if involved {
            assert_cycle_through(&v, "OnceLock@", "l");
        } else {
            assert_silent(&v);
        }
    }
}

#[test]
fn once_call_once_under_a_lock_the_closure_takes() {
    fn once() -> std_sync::Once {
        std_sync::Once::new()
    }
    let v = validator();
    let l = Mutex::named((), "l");
    let (a, b) = (once(), once());
    v.scope(|| {
        a.call_once(|| drop(l.lock()));
        let _g = l.lock();
        b.call_once(|| {});
    });
    assert_cycle_through(&v, "Once@", "l");
}

#[test]
fn recursive_init_of_the_same_cell_is_reported_and_refused() {
    let v = validator();
    let c = cell();
    let panicked = v.scope(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *c.get_or_init(|| *c.get_or_init(|| 1) + 1)))
    });
    let err = panicked.expect_err("a recursive initialisation must not deadlock");
    let msg = err.downcast_ref::<String>().map(String::as_str).unwrap_or("");
    assert!(msg.contains("initialised again from its own initialisation"), "{msg}");
    let reports = v.reports();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind(), ReportKind::RecursiveLocking);
    assert!(reports[0].lock().unwrap().class().starts_with("OnceLock@"));
    assert!(lockdep::held_locks().is_empty());
}

#[test]
fn nested_init_of_another_cell_of_the_class_is_silent() {
    let v = validator();
    let (a, b) = (cell(), cell());
    let n = v.scope(|| *a.get_or_init(|| *b.get_or_init(|| 1) + 1));
    assert_eq!(n, 2);
    assert_silent(&v);
}

// ---------------------------------------------------------------------------
// 5. Barrier.

#[test]
fn barrier_wait_under_a_lock_another_participant_holds_when_arriving() {
    for involved in [true, false] {
        let v = validator();
        let (l, other) = (Mutex::named((), "l"), Mutex::named((), "other"));
        let barrier = std_sync::Barrier::new(2);
        std::thread::scope(|s| {
            // Participant A waits holding `l` (generation 1), then nothing.
            s.spawn(|| {
                v.scope(|| {
                    {
                        let _g = l.lock();
                        barrier.wait();
                    }
                    barrier.wait();
                })
            });
            // Participant B arrives with nothing, then holding `l` (or `other`).
            v.scope(|| {
                barrier.wait();
                let _g = if involved { l.lock() } else { other.lock() };
                barrier.wait();
            });
        });
        if involved {
            assert_cycle_through(&v, "Barrier@", "l");
        } else {
            assert_silent(&v);
        }
    }
}

#[test]
fn barrier_one_participant_holding_a_lock_across_its_wait_is_silent() {
    let v = validator();
    let l = Mutex::named((), "l");
    let barrier = std_sync::Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            v.scope(|| {
                for _ in 0..2 {
                    let _g = l.lock();
                    barrier.wait();
                }
            })
        });
        v.scope(|| {
            barrier.wait();
            barrier.wait();
        });
    });
    assert_silent(&v);
}

// ---------------------------------------------------------------------------
// 6. Mixed: lock -> wait -> lock over three threads.

#[test]
fn lock_wait_lock_cycle_over_three_threads() {
    for involved in [true, false] {
        let v = validator();
        let (l1, l2, l3) = (Mutex::named((), "l1"), Mutex::named((), "l2"), Mutex::named((), "l3"));
        let p = Pair::new();
        // Thread 1: l1 -> l2.
        std::thread::scope(|s| {
            s.spawn(|| {
                v.scope(|| {
                    let _a = l1.lock();
                    drop(l2.lock());
                })
            });
        });
        // Thread 2: waits on the condvar holding l2 (l2 -> C).
        wait_once(&v, &p, Some(&l2));
        assert_silent(&v);
        // Thread 3: notifies holding l1 (C -> l1), or l3.
        notify_holding(&v, &p, if involved { &l1 } else { &l3 });
        if involved {
            let r = assert_cycle_through(&v, "Condvar@", "l1");
            assert_eq!(r.chain().len(), 3, "{r}");
        } else {
            assert_silent(&v);
        }
    }
}

// ---------------------------------------------------------------------------
// The dump draws waitable objects as their own shape.

#[test]
fn the_dump_draws_waitable_objects_as_diamonds() {
    let v = validator();
    let (p, outer) = (Pair::new(), Mutex::named((), "outer"));
    wait_once(&v, &p, Some(&outer));
    let dot = v.dump_dot();
    let line = |needle: &str| dot.lines().find(|l| l.contains(needle)).unwrap_or_default().to_owned();
    assert!(line("Condvar@").contains("shape=diamond"), "{dot}");
    assert!(line("label=\"outer\"").contains("shape=box"), "{dot}");
}

/// A wait reported under `Action::Panic` unwinds before blocking, with the
/// mutex locked and held for the validator: the guard's drop balances it.
#[test]
fn a_wait_reported_with_action_panic_unwinds_with_its_mutex_held() {
    let v = Validator::new(Config::collect().with_backtraces(false).with_action(lockdep::Action::Panic));
    let (p, outer) = (Pair::new(), Mutex::named((), "outer"));
    notify_holding(&v, &p, &outer);
    let result = v.scope(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _o = outer.lock();
            let mut flag = p.flag.lock();
            p.cv.wait(&mut flag); // reported: unwinds before blocking
        }))
    });
    assert!(result.is_err(), "the report did not panic");
    let kinds: Vec<ReportKind> = v.reports().iter().map(Report::kind).collect();
    assert_eq!(kinds, [ReportKind::CircularDependency]);
    assert!(p.flag.try_lock().is_some());
    assert!(v.scope(lockdep::held_locks).is_empty());
}

#[test]
fn assert_none_held_in_a_thread_body_ignores_the_body_pseudo_lock() {
    let v = validator();
    let l = Arc::new(Mutex::named((), "l"));
    v.scope(|| {
        let l2 = Arc::clone(&l);
        lockdep::thread::spawn(move || {
            // The body "holds" its thread's pseudo-lock, and nothing else.
            assert_eq!(lockdep::held_locks().len(), 1);
            lockdep::lockdep_assert_none_held!();
            let _g = l2.lock();
            lockdep::lockdep_assert_none_held!(); // holds `l`: reported
        })
        .join()
        .unwrap();
    });
    let all = v.reports();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].kind(), ReportKind::AssertionFailed);
    assert!(all[0].to_string().contains("holds 1 lock"), "{}", all[0]);
}
