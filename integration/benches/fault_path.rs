//! The vmalock fault path: a page fault served under a per-VMA read lock
//! (`lock_vma_under_rcu` + `vma_end_read`) against one served under the mmap
//! read lock (`mmap_read_lock` + `vma_lookup` + `mmap_read_unlock`), alone and
//! while a writer works on *another* VMA under the mmap write lock — the
//! reason per-VMA locks exist: faults must not wait behind that writer.
//! Baseline in the same run: a parking_lot `RwLock` read lock + unlock.
//! Validation is compiled in (the integration crate enables lockdep).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use integration::workload::{BASE, VMA_SIZE, World};
use lockdep::{Config, Validator};
use vmalock::*;

fn per_vma(world: &World, addr: u64) {
    let vma = lock_vma_under_rcu(&world.mm, addr).expect("attached and not write-locked");
    black_box(vma.vm_start());
    vma_end_read(&vma);
}

fn mmap_path(world: &World, addr: u64) {
    mmap_read_lock(&world.mm).expect("never a wait-for cycle here");
    black_box(world.mm.vma_lookup(addr).map(|v| v.vm_start()));
    mmap_read_unlock(&world.mm);
}

/// Runs `iters` faults on VMA 0 while (optionally) a writer keeps taking the
/// mmap write lock and write-locking VMA 1, holding it a little each time.
fn faults(iters: u64, writer: bool, op: fn(&World, u64)) -> Duration {
    let v = Validator::new(Config::collect().with_backtraces(false));
    let world = World::new(2);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        if writer {
            s.spawn(|| {
                v.scope(|| {
                    while !stop.load(Ordering::Relaxed) {
                        mmap_write_lock(&world.mm).expect("never a wait-for cycle here");
                        if let Some(vma) = world.mm.vma_lookup(BASE + VMA_SIZE) {
                            vma_start_write(&vma).expect("never a wait-for cycle here");
                            vma.set_flags(vma.flags() ^ 1);
                            // Hold the mmap write lock for a while, as mprotect does.
                            let t = Instant::now();
                            while t.elapsed() < Duration::from_micros(20) {
                                std::hint::spin_loop();
                            }
                        }
                        mmap_write_unlock(&world.mm);
                    }
                })
            });
        }
        let elapsed = v.scope(|| {
            op(&world, BASE + 8); // learn the chains
            let t = Instant::now();
            for _ in 0..iters {
                op(&world, BASE + 8);
            }
            t.elapsed()
        });
        stop.store(true, Ordering::Relaxed);
        assert!(v.reports().is_empty());
        elapsed
    })
}

fn fault_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("fault-path");
    let rw = parking_lot::RwLock::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| *black_box(&rw).read()));
    g.bench_function("per-vma/alone", |b| b.iter_custom(|i| faults(i, false, per_vma)));
    g.bench_function("mmap-lock/alone", |b| b.iter_custom(|i| faults(i, false, mmap_path)));
    g.bench_function("per-vma/with-writer", |b| b.iter_custom(|i| faults(i, true, per_vma)));
    g.bench_function("mmap-lock/with-writer", |b| b.iter_custom(|i| faults(i, true, mmap_path)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = fault_path
}
criterion_main!(benches);
