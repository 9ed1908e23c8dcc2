//! The frame cap of a captured stack trace (`Config::backtrace_frames`,
//! `LOCKDEP_BACKTRACE_FRAMES`): the unwind stops at the cap, for the
//! traces of dependencies and of reports alike.

use std::hint::black_box;

use lockdep::*;

/// Runs `f` under `depth` more frames of this file's own.
#[inline(never)]
fn deep(depth: usize, f: &dyn Fn()) -> usize {
    if depth == 0 {
        f();
        return 0;
    }
    // Not a tail call: the frame stays on the stack.
    black_box(deep(black_box(depth - 1), f)) + 1
}

/// A two-class cycle made 60 frames below the test, under `config`; the
/// captured lengths of both dependencies' traces and of the report's.
fn cycle_trace_lengths(config: Config) -> (Vec<usize>, usize) {
    let (ka, kb) = (Box::leak(Box::new(LockClassKey::new())), Box::leak(Box::new(LockClassKey::new())));
    let (a, b) = (LockdepMap::new("A", ka), LockdepMap::new("B", kb));
    let v = Validator::new(config);
    v.scope(|| {
        deep(60, &|| {
            for (x, y) in [(&a, &b), (&b, &a)] {
                mutex_acquire(x, 0, false);
                mutex_acquire(y, 0, false);
                mutex_release(y);
                mutex_release(x);
            }
        });
    });
    let reports = v.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CircularDependency);
    let steps = r.chain().iter().map(|s| s.trace().expect("trace captured").len()).collect();
    (steps, r.backtrace().expect("report trace").len())
}

#[test]
fn the_cap_bounds_every_captured_trace() {
    for cap in [1, 5, 48] {
        let (steps, report) = cycle_trace_lengths(Config::collect().with_backtraces(true).with_backtrace_frames(cap));
        assert_eq!(steps, vec![cap, cap], "cap {cap}");
        assert_eq!(report, cap, "cap {cap}");
    }
}

#[test]
fn the_default_cap_is_documented_and_applies() {
    let config = Config::collect().with_backtraces(true);
    assert_eq!(config.backtrace_frames, Config::DEFAULT_BACKTRACE_FRAMES);
    assert_eq!(Config::DEFAULT_BACKTRACE_FRAMES, 32);
    let (steps, report) = cycle_trace_lengths(config);
    assert_eq!(steps, vec![32, 32]);
    assert_eq!(report, 32);
}

#[test]
fn a_cap_of_zero_is_taken_as_one() {
    assert_eq!(Config::collect().with_backtrace_frames(0).backtrace_frames, 1);
}

#[test]
fn a_shallow_stack_is_kept_whole_under_the_cap() {
    // A thread's stack is far shallower than 1,000 frames: the unwind ends
    // at the stack's start, not at the cap.
    let (steps, _) = cycle_trace_lengths(Config::collect().with_backtraces(true).with_backtrace_frames(1000));
    assert!(steps.iter().all(|&n| n > 60 && n < 1000), "{steps:?}");
}
