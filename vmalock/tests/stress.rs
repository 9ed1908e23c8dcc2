//! A randomized multi-thread run of the whole scheme (readers through
//! `lock_vma_under_rcu` and `lock_next_vma`, a writer write-locking,
//! replacing, detaching and recycling VMAs), checking the protocol's
//! guarantees as it goes. Complements the exhaustive but tiny loom models.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lockdep::{Config, Validator};
use vmalock::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SLOTS: u64 = 8;

fn slot(i: u64) -> (u64, u64) {
    (0x10000 + i * 0x1000, 0x10000 + (i + 1) * 0x1000)
}

/// A read-locked VMA must belong to `mm`, must not be write-locked and
/// must stay attached until released.
fn check_read_locked(mm: &Arc<Mm>, v: &Vma) {
    assert!(v.vm_mm().is_some_and(|m| Arc::ptr_eq(&m, mm)));
    assert!(v.vm_refcnt() >= 2, "{:#x}", v.vm_refcnt());
    assert_ne!(v.vm_lock_seq(), mm.mm_lock_seq(), "read-locked VMA is write-locked");
}

#[test]
fn readers_writer_detach_recycle() {
    let k = Kernel::new(VmConfig::default());
    let v = Validator::new(Config::kernel());
    let mm = Mm::new(&k);
    let other = Mm::new(&k);
    v.scope(|| {
        mmap_write_lock(&mm).unwrap();
        for i in 0..SLOTS {
            let (s, e) = slot(i);
            let x = Vma::new(&mm, s, e);
            vma_start_write(&x).unwrap();
            vma_mark_attached(&x);
            mm.insert_vma(&x);
        }
        mmap_write_unlock(&mm);
    });
    let stop = AtomicBool::new(false);
    let iterations = 20000;
    std::thread::scope(|s| {
        for seed in 1..=3u64 {
            let (mm, v, stop) = (&mm, &v, &stop);
            s.spawn(move || {
                v.scope(|| {
                    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    while !stop.load(Ordering::Relaxed) {
                        if rng.below(4) == 0 {
                            rcu_read_lock();
                            let mut it = VmaIterator::new(0);
                            let mut from = 0;
                            while let Ok(Some(x)) = lock_next_vma(mm, &mut it, from) {
                                check_read_locked(mm, &x);
                                from = x.vm_end();
                                vma_end_read(&x);
                            }
                            rcu_read_unlock();
                        } else {
                            let addr = slot(rng.below(SLOTS)).0 + rng.below(0x1000);
                            if let Some(x) = lock_vma_under_rcu(mm, addr) {
                                assert!(x.contains(addr));
                                check_read_locked(mm, &x);
                                vma_assert_stabilised(&x);
                                vma_end_read(&x);
                            }
                        }
                    }
                })
            });
        }
        let (mm, other, v, stop) = (&mm, &other, &v, &stop);
        s.spawn(move || {
            v.scope(|| {
                let mut rng = Rng(0xDEAD_BEEF);
                let mut spare: Vec<Arc<Vma>> = Vec::new();
                for _ in 0..iterations {
                    mmap_write_lock(mm).unwrap();
                    let i = rng.below(SLOTS);
                    let (s, e) = slot(i);
                    let old = mm.vma_lookup(s).expect("every slot is mapped");
                    match rng.below(3) {
                        0 => {
                            vma_start_write(&old).unwrap();
                            vma_assert_write_locked(&old);
                        }
                        _ => {
                            // Replace the VMA: a recycled one if we have it.
                            let new = match spare.pop() {
                                Some(x) => {
                                    x.recycle(mm, s, e);
                                    x
                                }
                                None => Vma::new(mm, s, e),
                            };
                            vma_start_write(&old).unwrap();
                            vma_start_write(&new).unwrap();
                            vma_mark_attached(&new);
                            mm.insert_vma(&new);
                            vma_mark_detached(&old).unwrap();
                            assert_eq!(old.vm_refcnt(), 0);
                            // Sometimes it goes to the other mm first.
                            if rng.below(4) == 0 {
                                old.recycle(other, s, e);
                            }
                            spare.push(old);
                        }
                    }
                    if rng.below(2) == 0 {
                        mmap_write_downgrade(mm);
                        mmap_read_unlock(mm);
                    } else {
                        mmap_write_unlock(mm);
                    }
                }
                stop.store(true, Ordering::Relaxed);
            })
        });
    });
    for x in mm.vmas() {
        assert_eq!(x.vm_refcnt(), 1);
    }
    assert!(k.warnings().is_empty(), "{:?}", k.warnings());
    assert!(k.invariant_violations().is_empty(), "{:?}", k.invariant_violations());
    assert!(v.reports().is_empty(), "{:?}", v.reports().iter().map(|r| r.kind()).collect::<Vec<_>>());
}
