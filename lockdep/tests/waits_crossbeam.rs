//! Deadlocks through crossbeam's channels (`lockdep::crossbeam_channel`,
//! book chapter 16): a receive under a lock that a sender held when it sent,
//! a send into a full channel under a lock that a receiver held when it
//! received. Each case from runs that did not hang, each with a control
//! that differs only in the lock involved and stays silent. Synchronisation
//! by channels and the validator's own event log, never sleeps.

use lockdep::crossbeam_channel::{bounded, unbounded};
use lockdep::{Config, Hook, Mutex, Report, ReportKind, Validator};

fn validator() -> Validator {
    Validator::new(Config::collect().with_backtraces(false).with_events(true))
}

/// The reports are all circular dependencies, one of them through a
/// waitable object whose class starts with `kind` and the lock class `lock`,
/// every step seen in this file.
fn assert_cycle_through(v: &Validator, kind: &str, lock: &str) -> Report {
    let all = v.reports();
    assert!(!all.is_empty() && all.iter().all(|r| r.kind() == ReportKind::CircularDependency), "{all:#?}");
    let r = all
        .iter()
        .find(|r| {
            let classes: Vec<&str> = r.chain().iter().flat_map(|s| [s.from().class(), s.to().class()]).collect();
            classes.iter().any(|c| c.starts_with(kind)) && classes.contains(&lock)
        })
        .unwrap_or_else(|| panic!("no cycle through {kind} and {lock}: {all:#?}"))
        .clone();
    for step in r.chain() {
        assert!(step.from().location().file().ends_with("waits_crossbeam.rs"), "{r}");
        assert!(step.to().location().file().ends_with("waits_crossbeam.rs"), "{r}");
    }
    r
}

#[test]
fn recv_under_a_lock_a_sender_holds_when_sending() {
    for involved in [true, false] {
        let v = validator();
        let (l, other) = (Mutex::named((), "l"), Mutex::named((), "other"));
        let (tx, rx) = unbounded::<u32>();
        std::thread::scope(|s| {
            s.spawn(|| {
                v.scope(|| {
                    let _g = if involved { l.lock() } else { other.lock() };
                    tx.send(1).unwrap();
                })
            });
        });
        // A second receiver of the same channel: the same waitable object.
        let rx2 = rx.clone();
        v.scope(|| {
            let _g = l.lock();
            assert_eq!(rx2.recv().unwrap(), 1); // there already: no block
        });
        if involved {
            assert_cycle_through(&v, "mpsc@", "l");
        } else {
            assert!(v.reports().is_empty(), "{:#?}", v.reports());
        }
    }
}

#[test]
fn try_and_timed_receives_are_not_waits() {
    let v = validator();
    let l = Mutex::named((), "l");
    let (tx, rx) = unbounded::<u32>();
    v.scope(|| {
        let _g = l.lock();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
    });
    v.scope(|| {
        let _g = l.lock();
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(60)), Ok(2));
    });
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
}

#[test]
fn send_into_a_full_channel_under_a_lock_a_receiver_holds_when_receiving() {
    for involved in [true, false] {
        let v = validator();
        let (l, other) = (Mutex::named((), "l"), Mutex::named((), "other"));
        // A rendezvous channel: full until a receiver is there.
        let (tx, rx) = bounded::<u32>(0);
        // First half: a receiver holds `l` when it receives.
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
        let rx2 = rx.clone();
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
            assert_eq!(rx2.recv().unwrap(), 2);
        });
        if involved {
            assert_cycle_through(&v, "mpsc space@", "l");
            // And through the data: the first half's receiver waited for
            // data holding `l`, which this sender holds when it sends.
            assert_cycle_through(&v, "mpsc@", "l");
            assert_eq!(v.reports().len(), 2, "{:#?}", v.reports());
        } else {
            assert!(v.reports().is_empty(), "{:#?}", v.reports());
        }
    }
}

#[test]
fn channels_from_two_lines_are_two_classes() {
    // A receive under `l` on one channel, a send holding `l` on another:
    // nothing links them.
    let v = validator();
    let l = Mutex::named((), "l");
    let (tx_a, _rx_a) = unbounded::<u32>();
    let (tx_b, rx_b) = unbounded::<u32>();
    v.scope(|| {
        let _g = l.lock();
        tx_a.send(1).unwrap();
    });
    tx_b.send(2).unwrap();
    v.scope(|| {
        let _g = l.lock();
        assert_eq!(rx_b.recv(), Ok(2));
    });
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
}
