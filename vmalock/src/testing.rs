//! Test support: fixture F0 of the specification's §5.0.
//!
//! ```
//! use vmalock::{Kernel, VmConfig, testing::F0};
//! let k = Kernel::new(VmConfig::default());
//! let f = F0::build(&k);
//! assert_eq!(f.m.mm_lock_seq(), 2);
//! assert_eq!((f.a.vm_refcnt(), f.a.vm_lock_seq()), (1, 1));
//! assert_eq!(f.n.mm_lock_seq(), 0);
//! ```

use std::sync::Arc;

use crate::kernel::Kernel;
use crate::mm::Mm;
use crate::mmap_lock::{mmap_write_lock, mmap_write_unlock};
use crate::vma::Vma;
use crate::vma_write::{vma_mark_attached, vma_start_write};

/// Fixture F0: mm `M` (`mm_lock_seq == 2`) with `A = [0x1000,0x2000)`,
/// `B = [0x2000,0x3000)` and `C = [0x5000,0x6000)` attached (`vm_refcnt ==
/// 1`, `vm_lock_seq == 1`), and an empty mm `N` (`mm_lock_seq == 0`).
#[derive(Debug)]
pub struct F0 {
    /// The mm `M`.
    pub m: Arc<Mm>,
    /// The empty mm `N`.
    pub n: Arc<Mm>,
    /// VMA `A = [0x1000, 0x2000)`.
    pub a: Arc<Vma>,
    /// VMA `B = [0x2000, 0x3000)`.
    pub b: Arc<Vma>,
    /// VMA `C = [0x5000, 0x6000)`.
    pub c: Arc<Vma>,
}

impl F0 {
    /// Builds F0 the way §5.0 says: `mmap_write_lock(M)`, then for each new
    /// detached VMA `vma_start_write` + `vma_mark_attached` + insertion, then
    /// `mmap_write_unlock(M)`. This records `M` events but no `V` events, so
    /// a validator sees no `mmap_lock → vm_lock` edge. Run it inside the
    /// scenario's validator scope (or clear that validator's events after).
    #[track_caller]
    pub fn build(kernel: &Arc<Kernel>) -> F0 {
        let m = Mm::new(kernel);
        let n = Mm::new(kernel);
        mmap_write_lock(&m).expect("a new mm is not contended");
        let map = |start, end| {
            let v = Vma::new(&m, start, end);
            vma_start_write(&v).expect("a detached VMA never waits");
            vma_mark_attached(&v);
            m.insert_vma(&v);
            v
        };
        let (a, b, c) = (map(0x1000, 0x2000), map(0x2000, 0x3000), map(0x5000, 0x6000));
        mmap_write_unlock(&m);
        F0 { m, n, a, b, c }
    }
}
