//! A realistic workload on `vmalock` with lockdep on: page-fault handlers
//! racing mmap writers.
//!
//! * **Fault handlers** look an address up with [`lock_vma_under_rcu`] (the
//!   per-VMA read lock, no mmap lock) and fall back to [`mmap_read_lock`]
//!   when that fails, as the kernel's fault path does.
//! * **Writers** take [`mmap_write_lock`] and either write-lock a VMA and
//!   change its flags (mprotect-like) or write-lock it, detach it and put a
//!   fresh VMA over the same range (munmap + mmap-like).
//!
//! Every served fault checks invariants: the VMA covers the address, its
//! `vm_refcnt` counts the reader, and
//! [`vma_assert_stabilised`] is silent. The optional injected bug is the
//! lock-order inversion of the vmalock spec's S57: a fault handler that,
//! holding a VMA read lock, takes the mmap lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockdep::{Report, Validator};
use vmalock::*;

/// Where the simulated address space starts, and the size of each VMA.
pub const BASE: u64 = 0x10_0000;
/// Size of each VMA.
pub const VMA_SIZE: u64 = 0x4000;

/// How long the storm runs.
#[derive(Clone, Copy, Debug)]
pub enum Length {
    /// For this long.
    Time(Duration),
    /// Until every fault thread served this many faults and every writer
    /// did this many operations (bounded runs for tests).
    Ops(u64),
}

/// Workload parameters.
#[derive(Clone, Debug)]
pub struct Options {
    /// Fault-handler threads.
    pub fault_threads: usize,
    /// Writer threads.
    pub writer_threads: usize,
    /// Number of VMAs in the address space.
    pub vmas: usize,
    /// How long to run.
    pub length: Length,
    /// Seed of the per-thread random generators.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { fault_threads: 3, writer_threads: 1, vmas: 32, length: Length::Time(Duration::from_secs(3)), seed: 1 }
    }
}

/// Counters shared by the threads while they run.
#[derive(Default, Debug)]
pub struct Progress {
    /// Faults served under a per-VMA read lock.
    pub per_vma: AtomicU64,
    /// Faults served under the mmap read lock after the per-VMA path gave up.
    pub fallback: AtomicU64,
    /// Writer operations (mprotect- and munmap-like).
    pub writer_ops: AtomicU64,
    /// VMAs replaced (detached and mapped again).
    pub replaced: AtomicU64,
    /// Invariant checks that passed.
    pub checks: AtomicU64,
    /// Invariant checks that failed (must stay 0).
    pub violations: AtomicU64,
}

/// What a run found.
#[derive(Debug)]
pub struct Summary {
    /// Faults served under a per-VMA read lock.
    pub per_vma: u64,
    /// Faults served under the mmap read lock.
    pub fallback: u64,
    /// Writer operations.
    pub writer_ops: u64,
    /// VMAs replaced.
    pub replaced: u64,
    /// Invariant checks passed.
    pub checks: u64,
    /// Invariant checks failed.
    pub violations: u64,
    /// The kernel model's warnings (assertions that fired).
    pub warnings: Vec<Warning>,
    /// The validator's reports during the storm.
    pub reports: Vec<Report>,
    /// How long it ran.
    pub elapsed: Duration,
}

/// xorshift64*: small, seedable, good enough to pick addresses.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` and `stream` (never the all-zero state).
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng((seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The simulated process: a kernel model and one address space.
#[derive(Debug)]
pub struct World {
    /// The kernel model (configuration and warning log).
    pub kernel: Arc<Kernel>,
    /// The address space.
    pub mm: Arc<Mm>,
    /// Number of VMAs.
    pub vmas: usize,
}

impl World {
    /// An address space with `vmas` VMAs of [`VMA_SIZE`] from [`BASE`].
    pub fn new(vmas: usize) -> World {
        let kernel = Kernel::new(VmConfig::default());
        let mm = Mm::new(&kernel);
        mmap_write_lock(&mm).expect("a new mm is not contended");
        for i in 0..vmas as u64 {
            map_vma(&mm, BASE + i * VMA_SIZE);
        }
        mmap_write_unlock(&mm);
        World { kernel, mm, vmas }
    }

    fn random_addr(&self, rng: &mut Rng) -> u64 {
        BASE + rng.below(self.vmas as u64 * VMA_SIZE)
    }
}

/// Maps a fresh VMA at `start` (the caller holds the mmap write lock).
fn map_vma(mm: &Arc<Mm>, start: u64) -> Arc<Vma> {
    let vma = Vma::new(mm, start, start + VMA_SIZE);
    vma_start_write(&vma).expect("a detached VMA never waits");
    vma_mark_attached(&vma);
    mm.insert_vma(&vma);
    vma
}

fn check(p: &Progress, ok: bool) {
    if ok {
        p.checks.fetch_add(1, Ordering::Relaxed);
    } else {
        p.violations.fetch_add(1, Ordering::Relaxed);
    }
}

/// One page fault at `addr`, the kernel's way: the per-VMA lock first, the
/// mmap lock if that fails. With `buggy`, the per-VMA path also takes the
/// mmap lock while it holds the VMA read lock (the S57 inversion).
pub fn handle_fault(world: &World, addr: u64, p: &Progress, buggy: bool) {
    let mm = &world.mm;
    if let Some(vma) = lock_vma_under_rcu(mm, addr) {
        // Our reader reference is counted (a writer may have added the
        // exclude-readers flag and be waiting for us to leave).
        let readers = vma.vm_refcnt() & !VM_REFCNT_EXCLUDE_READERS_FLAG;
        check(p, vma.contains(addr) && readers >= 1);
        vma_assert_stabilised(&vma);
        if buggy {
            // "Just peek at the neighbouring mapping": takes the mmap lock
            // while holding a VMA read lock. Can deadlock against a writer
            // that holds the mmap lock and waits for this VMA's readers (the
            // model then abandons one of the two waits instead of hanging).
            if mmap_read_lock(mm).is_ok() {
                check(p, mm.find_vma(addr).is_some());
                mmap_read_unlock(mm);
            }
        }
        vma_end_read(&vma);
        p.per_vma.fetch_add(1, Ordering::Relaxed);
        return;
    }
    mmap_read_lock(mm).expect("a fault handler holding no lock cannot close a wait-for cycle");
    if let Some(vma) = mm.vma_lookup(addr) {
        vma_assert_stabilised(&vma);
        check(p, vma.contains(addr));
    }
    mmap_read_unlock(mm);
    p.fallback.fetch_add(1, Ordering::Relaxed);
}

/// One writer operation on a random VMA: mprotect-like or munmap+mmap-like.
pub fn writer_op(world: &World, rng: &mut Rng, p: &Progress) {
    let mm = &world.mm;
    let addr = world.random_addr(rng);
    mmap_write_lock(mm).expect("a writer holding no lock cannot close a wait-for cycle");
    if let Some(vma) = mm.vma_lookup(addr) {
        // Write-locked (the wait cannot be abandoned: no fault handler takes
        // the mmap lock while it holds a VMA read lock), and no reader gets
        // in (transient readers may still be counted while they back off,
        // but never the flag).
        let locked = vma_start_write(&vma).is_ok();
        check(p, locked && __is_vma_write_locked(&vma) && vma.vm_refcnt() < VM_REFCNT_EXCLUDE_READERS_FLAG);
        if rng.below(2) == 0 {
            // mprotect: change the protection bits under the VMA write lock.
            vma.set_flags(vma.flags() ^ 0b10);
        } else {
            // munmap + mmap: unlink, detach (waits out stale readers), map anew.
            let start = vma.vm_start();
            check(p, mm.remove_vma(&vma));
            check(p, vma_mark_detached(&vma).is_ok() && vma.vm_refcnt() == 0);
            map_vma(mm, start);
            p.replaced.fetch_add(1, Ordering::Relaxed);
        }
    }
    mmap_write_unlock(mm);
    p.writer_ops.fetch_add(1, Ordering::Relaxed);
}

/// Runs the storm: fault handlers and writers on their own threads, every
/// one of them in `validator`'s scope. `tick` is called about once a second
/// with the live counters (for a progress line).
pub fn run(world: &World, opts: &Options, validator: &Validator, tick: &mut dyn FnMut(&Progress, Duration)) -> Summary {
    let progress = Progress::default();
    let stop = AtomicBool::new(false);
    let start = Barrier::new(opts.fault_threads + opts.writer_threads + 1);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..opts.fault_threads {
            let (progress, stop, start) = (&progress, &stop, &start);
            std::thread::Builder::new()
                .name(format!("fault-{t}"))
                .spawn_scoped(s, move || {
                    validator.scope(|| {
                        let mut rng = Rng::new(opts.seed, t as u64);
                        start.wait();
                        let mut n = 0;
                        while !stop.load(Ordering::Relaxed) && !done(opts, n) {
                            handle_fault(world, world.random_addr(&mut rng), progress, false);
                            n += 1;
                        }
                    })
                })
                .expect("spawn fault thread");
        }
        for t in 0..opts.writer_threads {
            let (progress, stop, start) = (&progress, &stop, &start);
            std::thread::Builder::new()
                .name(format!("writer-{t}"))
                .spawn_scoped(s, move || {
                    validator.scope(|| {
                        let mut rng = Rng::new(opts.seed, 1000 + t as u64);
                        start.wait();
                        let mut n = 0;
                        while !stop.load(Ordering::Relaxed) && !done(opts, n) {
                            writer_op(world, &mut rng, progress);
                            n += 1;
                        }
                    })
                })
                .expect("spawn writer thread");
        }
        start.wait();
        if let Length::Time(d) = opts.length {
            // The main thread only keeps time and prints progress.
            let mut next = Duration::from_secs(1);
            while t0.elapsed() < d {
                std::thread::sleep(Duration::from_millis(50).min(d.saturating_sub(t0.elapsed())));
                if t0.elapsed() >= next {
                    tick(&progress, t0.elapsed());
                    next += Duration::from_secs(1);
                }
            }
            stop.store(true, Ordering::Relaxed);
        }
    });
    let elapsed = t0.elapsed();
    Summary {
        per_vma: progress.per_vma.load(Ordering::Relaxed),
        fallback: progress.fallback.load(Ordering::Relaxed),
        writer_ops: progress.writer_ops.load(Ordering::Relaxed),
        replaced: progress.replaced.load(Ordering::Relaxed),
        checks: progress.checks.load(Ordering::Relaxed),
        violations: progress.violations.load(Ordering::Relaxed),
        warnings: world.kernel.warnings(),
        reports: validator.reports(),
        elapsed,
    }
}

fn done(opts: &Options, n: u64) -> bool {
    matches!(opts.length, Length::Ops(max) if n >= max)
}

/// The injected bug, run on one thread after the storm (so it cannot
/// actually deadlock): a fault handler that takes the mmap lock while it
/// holds a VMA read lock. Returns the reports it caused.
pub fn run_injected_bug(world: &World, validator: &Validator) -> Vec<Report> {
    let before = validator.reports().len();
    let p = Progress::default();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("fault-buggy".into())
            .spawn_scoped(s, || validator.scope(|| handle_fault(world, BASE + VMA_SIZE / 2, &p, true)))
            .expect("spawn buggy fault thread");
    });
    validator.reports().split_off(before)
}
