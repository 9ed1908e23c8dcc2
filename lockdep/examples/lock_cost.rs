//! The instruction cost of one uncontended lock + unlock, `lockdep::Mutex`
//! against `parking_lot::Mutex` (the baseline), for callgrind to count.
//!
//! `lockdep/benches/callgrind.sh` runs it under
//! `valgrind --tool=callgrind --toggle-collect=<one of the two functions>`;
//! see `docs/zero-cost.md`. Run directly it only checks that both paths work.
//!
//! Usage: `lock_cost [lockdep|parking_lot|both] [iterations]`.
use std::hint::black_box;

// The two functions add different constants only so that LLVM keeps two
// symbols: with identical bodies they compile to identical machine code, and
// rustc's function merging folds them into one symbol (callgrind could then
// not count them apart).

/// One lock + unlock of the instrumented mutex.
#[inline(never)]
fn lockdep_lock_unlock(m: &lockdep::Mutex<u64>) {
    let mut g = m.lock();
    *g += 1;
}

/// One lock + unlock of parking_lot's mutex: the baseline.
#[inline(never)]
fn parking_lot_lock_unlock(m: &parking_lot::Mutex<u64>) {
    let mut g = m.lock();
    *g += 2;
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "both".to_owned());
    let n: u64 = args.next().map_or(1000, |s| s.parse().expect("iterations: a number"));
    let ours = lockdep::Mutex::new(0);
    let base = parking_lot::Mutex::new(0);
    if which == "lockdep" || which == "both" {
        for _ in 0..n {
            lockdep_lock_unlock(black_box(&ours));
        }
        assert_eq!(*ours.lock(), n);
    }
    if which == "parking_lot" || which == "both" {
        for _ in 0..n {
            parking_lot_lock_unlock(black_box(&base));
        }
        assert_eq!(*base.lock(), 2 * n);
    }
    println!("validation compiled in: {}; {n} lock+unlock of {which}", lockdep::ENABLED);
}
