//! The demo's own logic (examples/fault_storm.rs, included as a module):
//! the injected bug inverts the order the mmap writers teach lockdep, so a
//! storm without writers (`--writers 0`) must still show it.

use integration::workload::{self, Length, Options, World};
use lockdep::{Config, ReportKind, Validator};

#[allow(dead_code)]
#[path = "../examples/fault_storm.rs"]
mod fault_storm;

fn validator() -> Validator {
    Validator::new(Config::collect().with_name("demo-test").with_backtraces(false))
}

/// A storm of fault handlers only: no writer teaches mmap_lock -> vm_lock.
fn storm_without_writers(world: &World, v: &Validator) {
    let opts = Options { fault_threads: 2, writer_threads: 0, vmas: 8, length: Length::Ops(500), seed: 3 };
    let s = workload::run(world, &opts, v, &mut |_, _| {});
    assert_eq!((s.writer_ops, s.reports.len()), (0, 0));
}

#[test]
fn without_a_writer_the_bug_alone_is_not_a_cycle() {
    // Why the demo must teach the order first: nothing to invert yet.
    let (world, v) = (World::new(8), validator());
    storm_without_writers(&world, &v);
    let reports = workload::run_injected_bug(&world, &v);
    assert!(reports.iter().all(|r| r.kind() != ReportKind::CircularDependency), "{reports:#?}");
}

#[test]
fn with_writers_zero_the_demo_still_shows_the_bug() {
    let (world, v) = (World::new(8), validator());
    storm_without_writers(&world, &v);
    let reports = fault_storm::injected_bug(&world, &v, false, 3);
    assert_eq!(reports.iter().map(|r| r.kind()).collect::<Vec<_>>(), [ReportKind::CircularDependency]);
    let chain = reports[0].chain();
    assert_eq!(chain[0].thread().name(), Some("writer-0"), "the lesson's writer recorded mmap_lock -> vm_lock");
    assert_eq!((chain[0].from().class(), chain[0].to().class()), ("mmap_lock", "vm_lock"));
}
