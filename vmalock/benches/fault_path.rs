//! The fault path with validation compiled out and in: the same page fault,
//! served under a per-VMA read lock (`lock_vma_under_rcu` + `vma_end_read`)
//! and under the mmap read lock (`mmap_read_lock` + `vma_lookup` +
//! `mmap_read_unlock`), in one thread, with a parking_lot read lock + unlock
//! as the uninstrumented baseline of the same run. Groups are suffixed `-off`
//! or `-on`:
//!
//! ```sh
//! cargo bench -p vmalock --bench fault_path                                              # compiled out
//! cargo bench -p vmalock --features lockdep,lockdep/enabled-in-release --bench fault_path # compiled in
//! ```
//!
//! Validation's share is the ratio of a path's `-on` time to its `-off`
//! time (each over the baseline of its own run; see docs/PERFORMANCE.md).
//! Stack-trace capture is off (a fault in the steady state never captures).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lockdep::{Config, Validator};
use vmalock::*;

const BASE: u64 = 0x10_0000;
const VMA_SIZE: u64 = 0x4000;

/// An address space with two VMAs from `BASE`.
fn world() -> Arc<Mm> {
    let kernel = Kernel::new(VmConfig::default());
    let mm = Mm::new(&kernel);
    mmap_write_lock(&mm).expect("a new mm is not contended");
    for i in 0..2 {
        let start = BASE + i * VMA_SIZE;
        let vma = Vma::new(&mm, start, start + VMA_SIZE);
        vma_start_write(&vma).expect("a detached VMA never waits");
        vma_mark_attached(&vma);
        mm.insert_vma(&vma);
    }
    mmap_write_unlock(&mm);
    mm
}

fn per_vma(mm: &Mm) {
    let vma = lock_vma_under_rcu(mm, BASE + 8).expect("attached and not write-locked");
    black_box(vma.vm_start());
    vma_end_read(&vma);
}

fn mmap_path(mm: &Mm) {
    mmap_read_lock(mm).expect("never a wait-for cycle here");
    black_box(mm.vma_lookup(BASE + 8).map(|v| v.vm_start()));
    mmap_read_unlock(mm);
}

fn fault_path(c: &mut Criterion) {
    let suffix = if lockdep::ENABLED { "on" } else { "off" };
    let v = Validator::new(Config::collect().with_backtraces(false));
    v.scope(|| {
        let mm = world();
        per_vma(&mm); // learn the chains
        mmap_path(&mm);
        let mut g = c.benchmark_group(format!("fault-path-{suffix}"));
        let rw = parking_lot::RwLock::new(0u64);
        g.bench_function("parking_lot", |b| b.iter(|| *black_box(&rw).read()));
        g.bench_function("per-vma", |b| b.iter(|| per_vma(black_box(&mm))));
        g.bench_function("mmap-lock", |b| b.iter(|| mmap_path(black_box(&mm))));
        g.finish();
    });
    assert!(v.reports().is_empty(), "{:?}", v.reports());
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = fault_path
}
criterion_main!(benches);
