//! A validator made after another was dropped starts from the dropped one's
//! emptied tables (`engine/spare.rs`): it must find, report and count exactly
//! what the first one did on the same program. (One test in this binary: no
//! other validator is made or dropped in between, so the second validator
//! takes the first one's tables.)

use lockdep::*;

fn pair(a: &LockdepMap, b: &LockdepMap) {
    mutex_acquire(a, 0, false);
    mutex_acquire(b, 0, false);
    mutex_release(b);
    mutex_release(a);
}

/// A chain of `maps` (2,000: every table doubles several times), a cycle closed
/// across it, a nested pair with a subclass, and dynamic classes created,
/// locked under the chain and removed; the validator's reports as text and
/// its counters.
fn run(maps: &[LockdepMap]) -> (Vec<String>, Stats) {
    let v = Validator::new(Config::collect().with_backtraces(false));
    v.scope(|| {
        for w in maps.windows(2) {
            pair(&w[0], &w[1]);
        }
        for i in 0..200 {
            let d = LockdepMap::new_dynamic("plugin");
            pair(&maps[i * 7 % maps.len()], &d);
        }
        mutex_acquire(&maps[10], 0, false);
        mutex_acquire(&maps[10], 1, false);
        mutex_release(&maps[10]);
        mutex_release(&maps[10]);
        let n = maps.len();
        pair(&maps[n * 5 / 6], &maps[n / 30]); // closes a path along the chain
    });
    let reports = v.reports().iter().map(|r| r.to_string()).collect();
    (reports, v.stats())
}

#[test]
fn a_validator_on_a_dropped_ones_tables_sees_what_a_fresh_one_saw() {
    let keys: &'static [LockClassKey] = Box::leak((0..2_000).map(|_| LockClassKey::new()).collect());
    let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("chain", k)).collect();
    let first = run(&maps);
    let second = run(&maps);
    if ENABLED {
        assert_eq!(first.0.len(), 1, "{:#?}", first.0);
        assert!(first.0[0].to_lowercase().contains("circular"), "{}", first.0[0]);
        assert!(first.1.direct_dependencies >= maps.len() - 1);
    }
    assert_eq!(first, second);
    // And a third, after a validator with more tables than the second had.
    assert_eq!(run(&maps[..1_000]), run(&maps[..1_000]));
}
