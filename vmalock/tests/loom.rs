//! loom models of the `vm_refcnt` protocol: reader increment vs writer
//! exclusion vs detach, 2–3 threads, every interleaving up to the
//! preemption bound.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p vmalock --release --test loom`.
//! Without `--cfg loom` this file is empty. Lockdep must be compiled out
//! (no `lockdep` feature): loom threads share one OS thread.
//!
//! loom is only a dev-dependency, so the library cannot name it: this test
//! compiles the crate's own sources (`#[path]` modules) with a loom-backed
//! `sync` module in place of `src/sync.rs` — loom's primitives and
//! thread-locals, and the rest of `src/sync/common.rs` unchanged — the
//! crossbeam "primitive" swap done at the test boundary.
#![cfg(loom)]
// The models drive a part of the sources they compile.
#![allow(dead_code)]

#[path = "../src/events.rs"]
mod events;
#[path = "../src/hang.rs"]
mod hang;
#[path = "../src/kernel.rs"]
mod kernel;
#[path = "../src/keys.rs"]
mod keys;
#[path = "../src/mm.rs"]
mod mm;
#[path = "../src/mmap_lock.rs"]
mod mmap_lock;
#[path = "../src/model_wait.rs"]
mod model_wait;
#[path = "../src/pause.rs"]
mod pause;
#[path = "../src/rcu.rs"]
mod rcu;
#[path = "../src/rwsem.rs"]
mod rwsem;
#[path = "../src/tree.rs"]
mod tree;
#[path = "../src/vma.rs"]
mod vma;
#[path = "../src/vma_assert.rs"]
mod vma_assert;
#[path = "../src/vma_read.rs"]
mod vma_read;
#[path = "../src/vma_write.rs"]
mod vma_write;
#[path = "../src/warn.rs"]
mod warn;

/// `src/sync.rs` on loom's primitives.
/// `src/sync.rs` on loom's primitives (see `loom/sync.rs`).
#[path = "loom/sync.rs"]
mod sync;

use std::sync::Arc;

use kernel::{Errno, Kernel, VmConfig};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use mm::Mm;
use mmap_lock::*;
use rcu::*;
use vma::*;
use vma_read::*;
use vma_write::*;

/// `loom::model` with the preemption bound defaulting to 2 when
/// `LOOM_MAX_PREEMPTIONS` is not set, so the suite stays within minutes.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

/// mm with one attached VMA `[0x1000, 0x2000)`, `mm_lock_seq == 2`.
fn setup() -> (Arc<Kernel>, Arc<Mm>, Arc<Vma>) {
    let k = Kernel::new(VmConfig::default());
    let mm = Mm::new(&k);
    mmap_write_lock(&mm).unwrap();
    let a = Vma::new(&mm, 0x1000, 0x2000);
    vma_start_write(&a).unwrap();
    vma_mark_attached(&a);
    mm.insert_vma(&a);
    mmap_write_unlock(&mm);
    (k, mm, a)
}

/// Shared flags for the mutual-exclusion check (Dekker style: each side
/// announces itself, then checks the other).
#[derive(Default)]
struct Excl {
    readers_inside: AtomicUsize,
    writer_inside: AtomicBool,
}

impl Excl {
    fn reader_enter(&self) {
        self.readers_inside.fetch_add(1, SeqCst);
        assert!(!self.writer_inside.load(SeqCst), "a reader got in while the VMA is write-locked");
    }
    fn reader_leave(&self) {
        self.readers_inside.fetch_sub(1, SeqCst);
    }
    fn writer_enter(&self) {
        self.writer_inside.store(true, SeqCst);
        assert_eq!(self.readers_inside.load(SeqCst), 0, "the VMA was write-locked while a reader is inside");
    }
    fn writer_leave(&self) {
        self.writer_inside.store(false, SeqCst);
    }
}

/// One RCU reader of `a` (found earlier, possibly stale): read-locks it if
/// it can, checks exclusion, unlocks. Returns whether it got the lock.
fn reader(mm: &Mm, a: &Arc<Vma>, x: &Excl) -> bool {
    rcu_read_lock();
    match vma_start_read(mm, a) {
        Ok(Some(v)) => {
            rcu_read_unlock();
            x.reader_enter();
            assert!(v.vm_refcnt() >= 2);
            x.reader_leave();
            vma_end_read(&v);
            true
        }
        Ok(None) | Err(_) => false,
    }
}

#[test]
fn reader_vs_writer() {
    model(|| {
        let (k, mm, a) = setup();
        let x = Arc::new(Excl::default());
        let r = {
            let (mm, a, x) = (mm.clone(), a.clone(), x.clone());
            thread::spawn(move || reader(&mm, &a, &x))
        };
        mmap_write_lock(&mm).unwrap();
        vma_start_write(&a).unwrap();
        x.writer_enter();
        assert_eq!(a.vm_lock_seq(), mm.mm_lock_seq());
        x.writer_leave();
        mmap_write_unlock(&mm);
        r.join().unwrap();
        assert_eq!(a.vm_refcnt(), 1);
        assert!(k.warnings().is_empty(), "{:?}", k.warnings());
    });
}

#[test]
fn reader_vs_detach() {
    // A stale reader races with write-lock + removal + detach.
    model(|| {
        let (k, mm, a) = setup();
        let x = Arc::new(Excl::default());
        let r = {
            let (mm, a, x) = (mm.clone(), a.clone(), x.clone());
            thread::spawn(move || reader(&mm, &a, &x))
        };
        mmap_write_lock(&mm).unwrap();
        vma_start_write(&a).unwrap();
        x.writer_enter();
        mm.remove_vma(&a);
        vma_mark_detached(&a).unwrap();
        assert_eq!(a.vm_refcnt(), 0);
        x.writer_leave();
        mmap_write_unlock(&mm);
        r.join().unwrap();
        assert_eq!(a.vm_refcnt(), 0, "detached is terminal for readers");
        assert!(k.warnings().is_empty(), "{:?}", k.warnings());
    });
}

#[test]
fn stale_reader_vs_recycle_into_another_mm() {
    // A stale reader of A (looked up in M) races with A being detached from
    // M and recycled into N. It may read-lock A only as a VMA of M; a
    // recycled A must send it back (vm_mm != mm) after dropping its
    // transient reference, waking N's writer if needed.
    model(|| {
        let (k, m, a) = setup();
        let n = Mm::new(&k);
        let r = {
            let (m, a) = (m.clone(), a.clone());
            thread::spawn(move || {
                rcu_read_lock();
                if let Ok(Some(v)) = vma_start_read(&m, &a) {
                    rcu_read_unlock();
                    assert!(v.vm_mm().is_some_and(|vm| Arc::ptr_eq(&vm, &m)), "read-locked as a VMA of another mm");
                    vma_end_read(&v);
                }
            })
        };
        mmap_write_lock(&m).unwrap();
        vma_start_write(&a).unwrap();
        m.remove_vma(&a);
        vma_mark_detached(&a).unwrap();
        mmap_write_unlock(&m);
        mmap_write_lock(&n).unwrap();
        a.recycle(&n, 0x1000, 0x2000);
        vma_start_write(&a).unwrap();
        vma_mark_attached(&a);
        n.insert_vma(&a);
        mmap_write_unlock(&n);
        r.join().unwrap();
        assert_eq!(a.vm_refcnt(), 1);
        assert!(k.warnings().is_empty(), "{:?}", k.warnings());
    });
}

#[test]
fn two_readers_vs_writer() {
    model(|| {
        let (k, mm, a) = setup();
        let x = Arc::new(Excl::default());
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (mm, a, x) = (mm.clone(), a.clone(), x.clone());
                thread::spawn(move || reader(&mm, &a, &x))
            })
            .collect();
        mmap_write_lock(&mm).unwrap();
        vma_start_write(&a).unwrap();
        x.writer_enter();
        x.writer_leave();
        mmap_write_unlock(&mm);
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(a.vm_refcnt(), 1);
        assert!(k.warnings().is_empty(), "{:?}", k.warnings());
    });
}

#[test]
fn killable_writer_vs_reader_and_signal() {
    // The reader holds a read lock while the killable writer waits; the
    // writer's thread has a fatal signal pending from the start. Either the
    // reader leaves first (success) or the writer gives up with -EINTR and
    // the flag is removed; never a hang, never a lost reader.
    model(|| {
        let (k, mm, a) = setup();
        rcu_read_lock();
        let held = vma_start_read(&mm, &a).unwrap().unwrap();
        rcu_read_unlock();
        let w = {
            let (k, mm, a) = (k.clone(), mm.clone(), a.clone());
            thread::spawn(move || {
                let _signal = k.send_fatal_signal(std::thread::current().id());
                mmap_write_lock(&mm).unwrap();
                let r = vma_start_write_killable(&a);
                mmap_write_unlock(&mm);
                r
            })
        };
        vma_end_read(&held);
        let r = w.join().unwrap();
        assert!(matches!(r, Ok(()) | Err(Errno::EINTR)));
        assert_eq!(a.vm_refcnt(), 1);
        assert!(k.warnings().is_empty(), "{:?}", k.warnings());
    });
}
