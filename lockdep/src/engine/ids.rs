//! The small ids the engine is built on: [`ClassId`] (a class, never reused
//! by a validator; see [`graph`](super::graph)) and a hasher for maps keyed
//! by ids. Chain ids are in [`held`](super::held).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A class of one validator; never reused by it (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub(crate) struct ClassId(u32);

impl ClassId {
    /// Largest id a class may have.
    pub(crate) const MAX: u32 = u32::MAX - 1;
    /// The class of a lock tracked after the class limit was exhausted: it
    /// is held and released like any other but never validated.
    pub(crate) const UNTRACKED: ClassId = ClassId(u32::MAX);

    pub(crate) fn from_raw(raw: u32) -> ClassId {
        ClassId(raw)
    }
    pub(crate) fn raw(self) -> u32 {
        self.0
    }
}

/// A multiplicative hasher for keys that are already ids (two `u32`s).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// An [`IdMap`] of hashbrown's, for a table whose new keys are known to be
/// new (ids never reused): `insert_unique_unchecked` skips the look-up an
/// insert makes first.
pub(crate) type IdTable<K, V> = hashbrown::HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Entries of a new [`IdIndex`]'s array (a power of two).
pub(crate) const ID_INDEX_MIN: usize = 256;

/// A `u32` value by id, for ids that are handed out once and never reused
/// (from 1 up): a class's graph slot, a chain node's place. An array
/// indexed by the id's low bits, each entry `(id, value)` or empty, and a
/// map for the ids whose entry was taken when they were inserted. Ids are
/// never reused and a removed id's entry is emptied, so an entry whose id
/// matches holds the id's value, and an id not there is in the map or
/// removed. The array has at least twice as many entries as there are ids
/// in the index (it doubles, re-placing them, when they reach half), so
/// most ids find their entry free: an insert and a remove write one word
/// instead of a hash table's insert and remove, and a look-up reads one
/// word (the map only when its id is not there and the map has any id).
/// Under churn the ids move on through the array's entries, so an id whose
/// entry is taken stays in the map until it is removed.
pub(crate) struct IdIndex {
    /// `(id << 32) | value`; 0: empty (ids start at 1).
    pub(super) array: Box<[u64]>,
    /// The ids whose entry was taken.
    pub(super) more: IdTable<u32, u32>,
    /// Ids in the index (in the array or the map).
    pub(super) len: usize,
}

impl Default for IdIndex {
    fn default() -> Self {
        IdIndex { array: vec![0; ID_INDEX_MIN].into_boxed_slice(), more: IdTable::default(), len: 0 }
    }
}

impl IdIndex {
    #[inline(always)]
    fn at(&self, id: u32) -> usize {
        id as usize & (self.array.len() - 1)
    }

    /// The value of `id`.
    #[inline(always)]
    pub(crate) fn get(&self, id: u32) -> Option<u32> {
        let v = self.array[self.at(id)];
        if (v >> 32) as u32 == id {
            Some(v as u32)
        } else if self.more.is_empty() {
            None
        } else {
            self.more.get(&id).copied()
        }
    }

    /// Inserts the new `id` (never inserted before: ids are handed out
    /// once) with `value`.
    pub(crate) fn insert(&mut self, id: u32, value: u32) {
        if 2 * (self.len + 1) > self.array.len() {
            self.grow();
        }
        self.len += 1;
        self.place(id, value);
    }

    /// Sets the value of `id`, which is in the index.
    pub(crate) fn set(&mut self, id: u32, value: u32) {
        let at = self.at(id);
        if (self.array[at] >> 32) as u32 == id {
            self.array[at] = (u64::from(id) << 32) | u64::from(value);
        } else if let Some(v) = self.more.get_mut(&id) {
            *v = value;
        }
    }

    /// (The free entry inlined; a taken one, the map's insert, out of line:
    /// most ids find their entry free.)
    #[inline(always)]
    fn place(&mut self, id: u32, value: u32) {
        let at = self.at(id);
        if self.array[at] == 0 {
            self.array[at] = (u64::from(id) << 32) | u64::from(value);
        } else {
            self.place_more(id, value);
        }
    }

    /// [`place`](Self::place) of an id whose entry is taken.
    #[cold]
    #[inline(never)]
    fn place_more(&mut self, id: u32, value: u32) {
        // SAFETY: (hashbrown's contract, not memory safety) `id` is new
        // (ids are handed out once) or being re-placed from the array
        // (which had it once): `more` has no entry for it.
        unsafe { self.more.insert_unique_unchecked(id, value) };
    }

    /// Doubles the array and re-places every id.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let bigger = vec![0; 2 * self.array.len()].into_boxed_slice();
        let old = std::mem::replace(&mut self.array, bigger);
        let more = std::mem::take(&mut self.more);
        let live = old.iter().filter(|&&v| v != 0).map(|&v| ((v >> 32) as u32, v as u32));
        for (id, value) in live.chain(more) {
            self.place(id, value);
        }
    }

    /// Empties the index, keeping its array (zeroed) and its map's
    /// capacity: a new validator's index that starts at a dropped one's size
    /// (see `spare.rs`). An array larger than [`ID_INDEX_MIN`] only makes
    /// an id's entry likelier to be free.
    pub(crate) fn clear(&mut self) {
        self.array.fill(0);
        self.more.clear();
        self.len = 0;
    }

    /// Bytes of its array and its map's entries (its capacity, not its
    /// contents).
    pub(crate) fn bytes(&self) -> usize {
        self.array.len() * std::mem::size_of::<u64>() + self.more.capacity() * std::mem::size_of::<(u32, u32)>()
    }

    /// Removes `id`; its value if it was in the index.
    pub(crate) fn remove(&mut self, id: u32) -> Option<u32> {
        let at = self.at(id);
        let v = self.array[at];
        let value = if (v >> 32) as u32 == id {
            self.array[at] = 0;
            v as u32
        } else {
            self.more.remove(&id)?
        };
        self.len -= 1;
        Some(value)
    }
}

/// A fast hasher for the engine's composite keys (class keys, class pairs,
/// names): each word is folded in by a rotate, xor and multiply, and
/// `finish` brings the well-mixed high bits down to the low bits the table
/// indexes by. Not collision-resistant, and it need not be: the keys come
/// from the program's own locks, not from an adversary. (`SipHash`, the
/// std default, cost a third of a new dependency's instructions.)
#[derive(Default)]
pub(crate) struct MixHasher(u64);

impl MixHasher {
    #[inline]
    fn add(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Hasher for MixHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A map keyed by composite engine keys, with [`MixHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<MixHasher>>;
/// A [`FastMap`] of hashbrown's (see [`IdTable`]).
pub(crate) type FastTable<K, V> = hashbrown::HashMap<K, V, BuildHasherDefault<MixHasher>>;
/// A set of composite engine keys, with [`MixHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<MixHasher>>;

/// A short list of ids: up to three inline, more on the heap. The engine's
/// per-class and per-chain lists (a class's edges each way, a chain's
/// extensions, a class's chains) mostly hold one or two ids in a large
/// graph, and an allocation per list was a quarter of a new dependency's
/// cost. Reads go through the slice it derefs to.
///
/// 16 bytes for 4-byte ids (a boxed `Vec` for the rare long list, rather
/// than a `Vec`'s 24 bytes in every list): the tables these lists live in
/// are walked on every new dependency, and their size is what a large
/// graph pays in cache misses.
///
/// The tag and the inline count are two bytes each (`repr(u16)`), so that
/// the inline case has no padding: an empty list is then 16 defined bytes,
/// which the compiler writes as constant stores. With a one-byte
/// count the byte between it and the ids was padding, and every empty list
/// made (a new class's two edge lists, a new chain's extensions, the chain
/// store's per-class entries) was built on the stack and copied, ~25
/// instructions an entry of `ChainStore::grow`
/// (PERFORMANCE.md, round 12, h12f).
#[repr(u16)]
pub(crate) enum SmallList<T: Copy + Default> {
    Inline(u16, [T; 3]),
    #[allow(clippy::box_collection)] // the box keeps the enum at 16 bytes
    Heap(Box<Vec<T>>),
}

impl<T: Copy + Default> Default for SmallList<T> {
    fn default() -> Self {
        SmallList::Inline(0, [T::default(); 3])
    }
}

impl<T: Copy + Default> std::ops::Deref for SmallList<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            SmallList::Inline(n, a) => &a[..usize::from(*n)],
            SmallList::Heap(v) => v,
        }
    }
}

impl<T: Copy + Default> SmallList<T> {
    /// (The inline case inlined, the rest out of line: a new dependency
    /// pushes onto four lists, nearly always short ones.)
    #[inline(always)]
    pub(crate) fn push(&mut self, x: T) {
        match self {
            SmallList::Inline(n, a) if usize::from(*n) < a.len() => {
                a[usize::from(*n)] = x;
                *n += 1;
            }
            _ => self.push_long(x),
        }
    }

    /// [`push`](Self::push) onto a full inline list or a heap one.
    #[cold]
    #[inline(never)]
    fn push_long(&mut self, x: T) {
        match self {
            SmallList::Inline(_, a) => {
                let mut v = Vec::with_capacity(6);
                v.extend_from_slice(&a[..]);
                v.push(x);
                *self = SmallList::Heap(Box::new(v));
            }
            SmallList::Heap(v) => v.push(x),
        }
    }

    /// Removes the last id (as `Vec::pop`).
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        match self {
            SmallList::Inline(n, a) => {
                let last = usize::from(n.checked_sub(1)?);
                *n -= 1;
                Some(a[last])
            }
            SmallList::Heap(v) => v.pop(),
        }
    }

    /// Removes the `i`-th id, the last one taking its place (as
    /// `Vec::swap_remove`; panics when `i` is out of range).
    #[inline]
    pub(crate) fn swap_remove(&mut self, i: usize) -> T {
        match self {
            SmallList::Inline(n, a) => {
                let len = usize::from(*n);
                assert!(i < len, "swap_remove index {i} out of range {len}");
                let x = a[i];
                a[i] = a[len - 1];
                *n -= 1;
                x
            }
            SmallList::Heap(v) => v.swap_remove(i),
        }
    }
}

/// Asks the processor to bring the line at `addr` into the cache, to be
/// written: a hint, never a fault, whatever the address (no-op off x86_64).
#[inline(always)]
pub(crate) fn prefetch_write(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache: it reads and writes no
    // memory and does not fault, valid address or not.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_ET0>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

#[cfg(test)]
mod tests {
    use super::SmallList;

    #[test]
    fn small_list_of_ids_is_two_words() {
        assert_eq!(std::mem::size_of::<SmallList<u32>>(), 16);
    }

    #[test]
    fn small_list_behaves_like_a_vec_inline_and_on_the_heap() {
        let mut l: SmallList<u32> = SmallList::default();
        let mut v: Vec<u32> = Vec::new();
        for x in 1..=6 {
            l.push(x);
            v.push(x);
            assert_eq!(&l[..], &v[..]);
        }
        for i in [1, 0, 3, 0, 1, 0] {
            assert_eq!(l.swap_remove(i), v.swap_remove(i));
            assert_eq!(&l[..], &v[..]);
        }
        let mut l: SmallList<u32> = SmallList::default();
        l.push(7);
        l.push(8);
        assert_eq!(l.swap_remove(0), 7);
        assert_eq!(&l[..], &[8]);
        assert_eq!(l.swap_remove(0), 8);
        assert!(l.is_empty());
        assert_eq!(l.pop(), None);
        for x in 1..=5 {
            l.push(x);
            v.push(x);
        }
        while let Some(x) = v.pop() {
            assert_eq!(l.pop(), Some(x), "inline and on the heap");
            assert_eq!(&l[..], &v[..]);
        }
        assert_eq!(l.pop(), None);
    }
}
