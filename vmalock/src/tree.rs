//! The VMA tree (`mm_mt`): an address-range map with RCU-like lookups.
//!
//! The map is an immutable `BTreeMap` snapshot behind an [`ArcSwap`]:
//! lookups load the current snapshot without any lock (arc-swap's
//! lock-free load) and may therefore return a VMA that a writer has since
//! removed, detached or recycled — exactly the staleness the kernel's maple
//! tree exposes to RCU readers. Writers (who hold the mmap write lock in
//! correct use) copy the map, change the copy and publish it. A VMA is kept
//! alive by its `Arc`, which stands in for the kernel's type-stable
//! (`SLAB_TYPESAFE_BY_RCU`) VMA memory: "freed and recycled" is modelled by
//! re-initialising the same `Vma` object.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::vma::Vma;

/// One tree slot: the range it was stored under (the VMA's own fields may
/// have changed since) and the VMA.
#[derive(Clone)]
pub(crate) struct Slot {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) vma: Arc<Vma>,
}

/// Keyed by the last address of the slot (`end - 1`).
type Map = BTreeMap<u64, Slot>;

pub(crate) struct VmaTree {
    snap: ArcSwap<Map>,
    writer: parking_lot::Mutex<()>,
}

impl VmaTree {
    pub(crate) fn new() -> VmaTree {
        VmaTree { snap: ArcSwap::from_pointee(Map::new()), writer: parking_lot::Mutex::new(()) }
    }

    /// `mas_walk`: the VMA whose slot contains `addr`.
    pub(crate) fn walk(&self, addr: u64) -> Option<Arc<Vma>> {
        let snap = self.snap.load();
        snap.range(addr..).next().filter(|(_, s)| s.start <= addr).map(|(_, s)| s.vma.clone())
    }

    /// The first slot ending after `addr` (containing it or above it).
    pub(crate) fn next_from(&self, addr: u64) -> Option<Slot> {
        let snap = self.snap.load();
        snap.range(addr..).next().map(|(_, s)| s.clone())
    }

    /// Stores `vma` under its current range, displacing every overlapping VMA.
    pub(crate) fn insert(&self, vma: &Arc<Vma>) -> Vec<Arc<Vma>> {
        let (start, end) = (vma.vm_start(), vma.vm_end());
        assert!(start < end, "empty VMA range {start:#x}..{end:#x}");
        let _w = self.writer.lock();
        let mut map: Map = (**self.snap.load()).clone();
        let overlapping: Vec<u64> = map.range(start..).take_while(|(_, s)| s.start < end).map(|(k, _)| *k).collect();
        let displaced = overlapping.iter().filter_map(|k| map.remove(k)).map(|s| s.vma).collect();
        map.insert(end - 1, Slot { start, end, vma: vma.clone() });
        self.snap.store(Arc::new(map));
        displaced
    }

    /// Removes `vma` (by identity) wherever it is stored.
    pub(crate) fn remove(&self, vma: &Vma) -> bool {
        let _w = self.writer.lock();
        let mut map: Map = (**self.snap.load()).clone();
        let before = map.len();
        map.retain(|_, s| !std::ptr::eq(&*s.vma, vma));
        let removed = map.len() != before;
        if removed {
            self.snap.store(Arc::new(map));
        }
        removed
    }

    /// Every VMA, in address order.
    pub(crate) fn all(&self) -> Vec<Arc<Vma>> {
        self.snap.load().values().map(|s| s.vma.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.snap.load().len()
    }
}
