//! The global validator is configured from the environment on first use.
//! (Its own test binary: the environment must be set before anything in the
//! process touches the global validator.)

use lockdep::{Action, LockClassKey, LockdepMap, ReportKind, Validator};

#[test]
fn global_validator_reads_the_environment() {
    // SAFETY: single-threaded at this point: this is the only test in the
    // binary and nothing else runs yet.
    unsafe {
        std::env::set_var("LOCKDEP_MODE", "kernel");
        std::env::set_var("LOCKDEP_ACTION", "collect");
        std::env::set_var("LOCKDEP_RECORD_EVENTS", "1");
        std::env::set_var("LOCKDEP_MAX_DEPTH", "12");
        std::env::set_var("LOCKDEP_BACKTRACE", "0");
    }
    let g = Validator::global();
    let c = g.config();
    assert!(c.one_shot);
    assert!(matches!(c.action, Action::Collect));
    assert!(c.record_events);
    assert_eq!(c.max_depth, 12);
    assert!(!c.backtraces);
    assert_eq!(c.name, "global");
    // Hooks outside any scope go to it.
    static K: LockClassKey = LockClassKey::new();
    let m = LockdepMap::new("outside-any-scope", &K);
    lockdep::mutex_release(&m);
    assert_eq!(g.reports().iter().map(|r| r.kind()).collect::<Vec<_>>(), [ReportKind::UnlockImbalance]);
    assert!(!g.is_validating(), "kernel mode: one report, then off");
    assert_eq!(g.events().len(), 1);
}
