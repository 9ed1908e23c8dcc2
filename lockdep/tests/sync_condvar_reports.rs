//! Condvar behaviour that only shows with validation compiled in (a report
//! made inside a wait).

use std::sync::Arc;
use std::time::Duration;

use lockdep::{Condvar, Config, Mutex, ReportKind, Validator};

/// A report made by a wait's release runs outside the condvar's internal
/// lock: a report callback may notify that very condvar. (When the hook ran
/// inside it, the notify below deadlocked on the internal lock.)
#[test]
fn a_report_callback_may_notify_the_condvar_a_wait_is_releasing_for() {
    let cv = Arc::new(Condvar::new());
    let notifier = cv.clone();
    let action = lockdep::Action::Callback(Arc::new(move |_: &lockdep::Report| {
        notifier.notify_all();
    }));
    let (done, finished) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let v = Validator::new(Config::collect().with_backtraces(false).with_action(action));
        v.scope(|| {
            let m = Mutex::named(0u32, "m");
            let mut g = m.lock();
            // Unbalance the validator: the wait's release is then reported.
            lockdep::mutex_release(m.lockdep_map());
            cv.wait_for(&mut g, Duration::from_millis(1));
            lockdep::mutex_acquire(m.lockdep_map(), 0, false);
        });
        let kinds: Vec<ReportKind> = v.reports().iter().map(|r| r.kind()).collect();
        done.send(kinds).unwrap();
    });
    // A watchdog, not synchronisation: a regression hangs the waiter forever.
    let kinds = finished.recv_timeout(Duration::from_secs(60)).expect("the wait deadlocked in its report");
    waiter.join().unwrap();
    assert!(kinds.contains(&ReportKind::UnlockImbalance), "{kinds:?}");
}
