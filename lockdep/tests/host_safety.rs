//! The validator never takes its host down: a closed stderr, a report while
//! the thread is already unwinding, and what remains of validation after a
//! limit ran out.
//!
//! The first two run in a child process (this test binary, re-run with
//! `LOCKDEP_HOST_CHILD=<case>`): before the fix each one panicked or aborted
//! the process, which the parent sees as a failed exit status.

use std::io::Read as _;
use std::process::{Command, Stdio};

use lockdep::*;

const CHILD: &str = "LOCKDEP_HOST_CHILD";

/// Runs `case` in a child whose stderr is closed (`closed_stderr`) or
/// captured; returns (exit success, stderr text).
fn run_child(case: &str, closed_stderr: bool) -> (bool, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", case, "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .env_remove("LOCKDEP_ACTION")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    let stderr = child.stderr.take().unwrap();
    if closed_stderr {
        drop(stderr); // every write the child makes to stderr now fails (EPIPE)
    } else {
        let mut stderr = stderr;
        let _ = stderr.read_to_string(&mut err);
    }
    let status = child.wait().unwrap();
    (status.success(), err)
}

fn is_child(case: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|c| c == case)
}

fn abba(a: &LockdepMap, b: &LockdepMap) {
    for (x, y) in [(a, b), (b, a)] {
        mutex_acquire(x, 0, false);
        mutex_acquire(y, 0, false);
        mutex_release(y);
        mutex_release(x);
    }
}

#[test]
fn a_warning_to_a_closed_stderr_does_not_panic() {
    const CASE: &str = "a_warning_to_a_closed_stderr_does_not_panic";
    if is_child(CASE) {
        static A: LockClassKey = LockClassKey::new();
        static B: LockClassKey = LockClassKey::new();
        let (a, b) = (LockdepMap::new("a", &A), LockdepMap::new("b", &B));
        let v = Validator::new(Config::default()); // continue mode, Warn
        v.scope(|| abba(&a, &b));
        assert_eq!(v.reports()[0].kind(), ReportKind::CircularDependency);
        // A thread exiting with a lock held reports from a thread-local
        // destructor, where a panic aborts.
        std::thread::scope(|s| {
            // An explicit join waits for the thread-local destructors too.
            s.spawn(|| v.scope(|| mutex_acquire(&a, 0, false))).join().unwrap();
        });
        assert_eq!(v.reports().len(), 2, "{:#?}", v.reports());
        return;
    }
    let (ok, _) = run_child(CASE, true);
    assert!(ok, "the child panicked or aborted writing to a closed stderr");
}

#[test]
fn the_limit_message_to_a_closed_stderr_leaves_the_lock_balanced() {
    const CASE: &str = "the_limit_message_to_a_closed_stderr_leaves_the_lock_balanced";
    if is_child(CASE) {
        let (a, b) = (Mutex::new(0), Mutex::new(0));
        let v = Validator::new(Config { max_classes: 1, ..Config::collect() });
        v.scope(|| {
            let _a = a.lock();
            let _b = b.lock(); // the class limit: the message goes to stderr
        });
        let kinds: Vec<ReportKind> = v.reports().iter().map(Report::kind).collect();
        assert_eq!(kinds, [ReportKind::LimitExceeded], "no spurious UnlockImbalance");
        return;
    }
    let (ok, _) = run_child(CASE, true);
    assert!(ok, "the child failed: see the test above run directly");
}

#[test]
fn the_limit_message_is_printed_once() {
    const CASE: &str = "the_limit_message_is_printed_once";
    if is_child(CASE) {
        let locks: Vec<Mutex<u32>> = (0..4).map(|_| Mutex::from_map(0, LockdepMap::new_dynamic("d"))).collect();
        let v = Validator::new(Config { max_classes: 1, ..Config::collect() });
        v.scope(|| {
            for _ in 0..3 {
                let _g: Vec<_> = locks.iter().map(|l| l.lock()).collect();
            }
        });
        return;
    }
    let (ok, err) = run_child(CASE, false);
    assert!(ok, "{err}");
    assert_eq!(err.matches("max_classes too low!").count(), 1, "{err}");
}

#[test]
fn a_report_while_unwinding_warns_instead_of_panicking() {
    const CASE: &str = "a_report_while_unwinding_warns_instead_of_panicking";
    if is_child(CASE) {
        let v = Validator::new(Config::default().with_action(Action::Panic));
        let r = v.scope(|| {
            std::panic::catch_unwind(|| {
                let m = LockdepMap::here("dropped while held");
                mutex_acquire(&m, 0, false);
                panic!("an unrelated panic; `m` is freed while held during its unwind");
            })
        });
        assert!(r.is_err());
        let kinds: Vec<ReportKind> = v.reports().iter().map(Report::kind).collect();
        assert_eq!(kinds, [ReportKind::HeldLockFreed]);
        return;
    }
    let (ok, err) = run_child(CASE, false);
    assert!(ok, "the child aborted (a panic during cleanup):\n{err}");
    assert!(err.contains("HeldLockFreed") || err.contains("freeing memory"), "the report was printed:\n{err}");
}

/// After a limit, orders are still checked against what was learned: a
/// cycle closed by an edge that can no longer be recorded is still found.
#[test]
fn after_a_limit_cycles_over_learned_dependencies_are_still_reported() {
    static A: LockClassKey = LockClassKey::new();
    static B: LockClassKey = LockClassKey::new();
    static C: LockClassKey = LockClassKey::new();
    static D: LockClassKey = LockClassKey::new();
    let [a, b, c, d] = [("a", &A), ("b", &B), ("c", &C), ("d", &D)].map(|(n, k)| LockdepMap::new(n, k));
    let v = Validator::new(Config { max_dependencies: 1, ..Config::collect() });
    let nest = |x: &LockdepMap, y: &LockdepMap| {
        mutex_acquire(x, 0, false);
        mutex_acquire(y, 0, false);
        mutex_release(y);
        mutex_release(x);
    };
    v.scope(|| {
        nest(&a, &b); // learned
        nest(&c, &d); // the limit: not learned
        assert_eq!(v.stats().direct_dependencies, 1);
        nest(&d, &c); // not a cycle: c -> d was never recorded
        nest(&b, &a); // a -> b was: this closes a cycle
        nest(&a, &b); // the known chain is still fine
    });
    let kinds: Vec<ReportKind> = v.reports().iter().map(Report::kind).collect();
    assert_eq!(kinds, [ReportKind::LimitExceeded, ReportKind::CircularDependency], "{:#?}", v.reports());
}
