//! The fault-storm workload as tests: silent without the bug (no false
//! positives, invariants hold, no hang), exactly the expected report with it.

use integration::workload::{self, Length, Options, World};
use lockdep::{Config, Read, ReportKind, Validator};

fn validator() -> Validator {
    Validator::new(Config::collect().with_name("workload-test").with_backtraces(false))
}

fn bounded(fault_threads: usize, writer_threads: usize, seed: u64) -> Options {
    Options { fault_threads, writer_threads, vmas: 16, length: Length::Ops(3_000), seed }
}

fn assert_clean(s: &workload::Summary) {
    assert_eq!(s.violations, 0, "invariant violations");
    assert!(s.warnings.is_empty(), "kernel warnings: {:?}", s.warnings);
    assert!(s.reports.is_empty(), "false positives:\n{}", s.reports.iter().map(|r| r.to_string()).collect::<String>());
    assert!(s.checks > 0 && s.writer_ops > 0);
    assert!(s.per_vma + s.fallback > 0);
}

#[test]
fn storm_without_the_bug_is_silent_on_two_to_four_threads() {
    for (faults, writers, seed) in [(1, 1, 1), (2, 1, 2), (3, 1, 3), (2, 2, 4)] {
        let world = World::new(16);
        let v = validator();
        let s = workload::run(&world, &bounded(faults, writers, seed), &v, &mut |_, _| {});
        assert_clean(&s);
        assert_eq!(s.per_vma + s.fallback, 3_000 * faults as u64);
        assert_eq!(s.writer_ops, 3_000 * writers as u64);
        if lockdep::ENABLED {
            // The writers taught it mmap_lock -> vm_lock, and nothing else.
            assert_eq!(v.stats().direct_dependencies, 1, "{}", v.dump_classes());
        }
    }
}

#[test]
fn the_injected_bug_gives_exactly_the_expected_report() {
    let world = World::new(16);
    let v = validator();
    let s = workload::run(&world, &bounded(2, 1, 7), &v, &mut |_, _| {});
    assert_clean(&s);
    let reports = workload::run_injected_bug(&world, &v);
    if !lockdep::ENABLED {
        assert!(reports.is_empty());
        return;
    }
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CircularDependency);
    assert_eq!(r.thread().name(), Some("fault-buggy"));
    let (lock, held) = (r.lock().unwrap(), r.other().unwrap());
    assert_eq!((lock.class(), lock.read()), ("mmap_lock", Read::Shared));
    assert_eq!((held.class(), held.read(), held.trylock()), ("vm_lock", Read::Shared, true));
    let chain: Vec<(&str, &str)> = r.chain().iter().map(|s| (s.from().class(), s.to().class())).collect();
    assert_eq!(chain, [("mmap_lock", "vm_lock"), ("vm_lock", "mmap_lock")]);
    assert_eq!(r.chain()[0].thread().name(), Some("writer-0"), "the writer recorded mmap_lock -> vm_lock");
    // Running the bug again reports nothing new: one report per distinct problem.
    assert!(workload::run_injected_bug(&world, &v).is_empty());
}
