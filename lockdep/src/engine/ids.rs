//! The small ids the engine is built on: [`ClassId`] (a class, never reused
//! by a validator; see [`graph`](super::graph)) and a hasher for maps keyed
//! by ids. Chain ids are in [`held`](super::held).

use std::collections::HashMap;
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
