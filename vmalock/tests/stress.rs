//! A randomized multi-thread run of the whole scheme (readers through
//! `lock_vma_under_rcu` and `lock_next_vma`, a writer write-locking,
//! replacing, detaching and recycling VMAs), checking the protocol's
//! guarantees as it goes. Complements the exhaustive but tiny loom models.
//!
//! Readers prove they get read locks: every read-locked VMA is checked
//! (reference count, sequence number and, with lockdep compiled in, the
//! validator's held-lock stack in read mode, then not held after
//! `vma_end_read`); halfway through, the writer waits until every reader has
//! read-locked a VMA again; and each reader read-locks one more VMA after the
//! writer is done, which must succeed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use lockdep::{Config, Read, Validator};
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

/// Fails with `what` unless `ok`.
fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

/// A read-locked VMA must belong to `mm`, must not be write-locked and
/// must stay attached until released; with lockdep, this thread holds its
/// lock for read (while `validator` validates: one-shot, it stops at a
/// report, which fails the test at the end). An error, not a panic: the
/// reader must release the VMA before failing, or the writer would wait
/// for it forever.
fn check_read_locked(mm: &Arc<Mm>, v: &Vma, validator: &Validator) -> Result<(), String> {
    ensure(v.vm_mm().is_some_and(|m| Arc::ptr_eq(&m, mm)), || "a read-locked VMA of another mm".into())?;
    ensure(v.vm_refcnt() >= 2, || format!("read-locked VMA with vm_refcnt {:#x}", v.vm_refcnt()))?;
    ensure(v.vm_lock_seq() != mm.mm_lock_seq(), || "read-locked VMA is write-locked".into())?;
    if lockdep::ENABLED && validator.is_validating() {
        let map = v.vmlock_dep_map();
        ensure(lockdep::lock_is_held_type(map, Some(Read::Shared)), || "the reader does not hold V for read".into())?;
        ensure(!lockdep::lock_is_held_type(map, Some(Read::Exclusive)), || "the reader holds V for write".into())?;
    }
    Ok(())
}

/// After `vma_end_read`: this thread no longer holds the VMA lock.
fn check_released(v: &Vma, validator: &Validator) -> Result<(), String> {
    let held = lockdep::ENABLED && validator.is_validating() && lockdep::lock_is_held(v.vmlock_dep_map());
    ensure(!held, || "vma_end_read left the read lock held".into())
}

/// Where the writer waits for every reader's next read lock, or for a
/// reader to fail (so that a failing reader fails the test, not hangs it).
#[derive(Default)]
struct Meeting {
    open: AtomicBool,
    /// (readers arrived, a reader panicked)
    state: Mutex<(usize, bool)>,
    cv: Condvar,
}

impl Meeting {
    fn update(&self, f: impl FnOnce(&mut (usize, bool))) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.cv.notify_all();
    }

    /// Waits until `n` readers arrived; false if one panicked.
    fn wait_for(&self, n: usize) -> bool {
        let mut s = self.state.lock().unwrap();
        while s.0 < n && !s.1 {
            s = self.cv.wait(s).unwrap();
        }
        !s.1
    }
}

/// Tells the meeting a reader panicked, or stops the readers when the
/// writer ends (normally or not).
struct OnExit<'a>(&'a Meeting, Option<&'a AtomicBool>);

impl Drop for OnExit<'_> {
    fn drop(&mut self) {
        match self.1 {
            Some(stop) => stop.store(true, Ordering::Relaxed),
            None if std::thread::panicking() => self.0.update(|s| s.1 = true),
            None => {}
        }
    }
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
    const READERS: usize = 3;
    let meeting = Meeting::default();
    let reads: Vec<u64> = std::thread::scope(|s| {
        let readers: Vec<_> = (1..=READERS as u64)
            .map(|seed| {
                let (mm, v, stop, meeting) = (&mm, &v, &stop, &meeting);
                s.spawn(move || {
                    let _fail = OnExit(meeting, None);
                    v.scope(|| {
                        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                        let (mut reads, mut met) = (0u64, false);
                        // Checks a read-locked VMA, then releases it (then fails, if
                        // the check did).
                        let mut read_locked = |x: &Vma, addr: Option<u64>| -> Result<(), String> {
                            let checked = check_read_locked(mm, x, v).and_then(|()| {
                                ensure(addr.is_none_or(|a| x.contains(a)), || "the VMA misses the address".into())
                            });
                            if addr.is_some() {
                                vma_assert_stabilised(x);
                            }
                            reads += 1;
                            if !met && meeting.open.load(Ordering::Acquire) {
                                met = true;
                                meeting.update(|s| s.0 += 1);
                            }
                            vma_end_read(x);
                            checked.and_then(|()| check_released(x, v))
                        };
                        while !stop.load(Ordering::Relaxed) {
                            if rng.below(4) == 0 {
                                rcu_read_lock();
                                let mut it = VmaIterator::new(0);
                                let mut from = 0;
                                let mut failed = Ok(());
                                while let Ok(Some(x)) = lock_next_vma(mm, &mut it, from) {
                                    from = x.vm_end();
                                    failed = read_locked(&x, None);
                                    if failed.is_err() {
                                        break;
                                    }
                                }
                                rcu_read_unlock();
                                failed.unwrap();
                            } else {
                                let addr = slot(rng.below(SLOTS)).0 + rng.below(0x1000);
                                if let Some(x) = lock_vma_under_rcu(mm, addr) {
                                    read_locked(&x, Some(addr)).unwrap();
                                }
                            }
                        }
                        // The writer is done: a read lock must be granted.
                        let addr = slot(seed % SLOTS).0;
                        let x = lock_vma_under_rcu(mm, addr).expect("no writer left, yet no read lock");
                        read_locked(&x, Some(addr)).unwrap();
                        reads
                    })
                })
            })
            .collect();
        let (mm, other, v, stop, meeting) = (&mm, &other, &v, &stop, &meeting);
        s.spawn(move || {
            let _stop = OnExit(meeting, Some(stop));
            v.scope(|| {
                let mut rng = Rng(0xDEAD_BEEF);
                let mut spare: Vec<Arc<Vma>> = Vec::new();
                for i in 0..iterations {
                    if i == iterations / 2 {
                        // Holding nothing: every reader's next try succeeds.
                        meeting.open.store(true, Ordering::Release);
                        assert!(meeting.wait_for(READERS), "a reader failed");
                    }
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
            })
        });
        readers.into_iter().map(|r| r.join().expect("reader")).collect()
    });
    // Each reader got a read lock at the meeting and one after the writer (at least).
    assert!(reads.iter().all(|&n| n >= 2), "read locks per reader: {reads:?}");
    for x in mm.vmas() {
        assert_eq!(x.vm_refcnt(), 1);
    }
    assert!(k.warnings().is_empty(), "{:?}", k.warnings());
    assert!(k.invariant_violations().is_empty(), "{:?}", k.invariant_violations());
    assert!(v.reports().is_empty(), "{:?}", v.reports().iter().map(|r| r.kind()).collect::<Vec<_>>());
}
