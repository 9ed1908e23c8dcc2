//! The instruction cost of one uncontended lock + unlock, `lockdep::Mutex`
//! against `parking_lot::Mutex` (the baseline), for callgrind to count.
//!
//! `lockdep/benches/callgrind.sh` runs it under
//! `valgrind --tool=callgrind --toggle-collect=<one of the two functions>`;
//! see `docs/zero-cost.md`. Run directly it only checks that both paths work.
//!
//! Each mode takes its locks once, in `main`, before the counted iterations, so that
//! callgrind counts the steady state: not the validator's one-time setup
//! nor the first acquisition's class registration and chain validation
//! (which, amortised over 1,000 iterations, added ~22 instructions to each
//! lock+unlock before this warm-up was made).
//!
//! `lockdep-nest-rec` / `parking_lot-nest-rec` take a nest of four the way
//! `benches/locks.rs` does (`nest_ld` / `nest_pl`): a recursive function, one
//! frame per lock, so that the tight loop and callgrind see the code criterion
//! times (a frame's prologue and register saves included).
//!
//! Usage: `lock_cost [lockdep|parking_lot|both|lockdep-nest4|parking_lot-nest4|lockdep-nest-rec|parking_lot-nest-rec|lockdep-nest-rec2|parking_lot-nest-rec2|lockdep-nest-rec-outer|parking_lot-nest-rec-outer] [iterations]`.
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

/// A nest of four lockdep mutexes, taken in order and released in reverse.
#[inline(never)]
fn lockdep_nest4(ms: &[lockdep::Mutex<u64>; 4]) {
    let mut a = ms[0].lock();
    let mut b = ms[1].lock();
    let mut c = ms[2].lock();
    let mut d = ms[3].lock();
    *a += 1;
    *b += 1;
    *c += 1;
    *d += 1;
}

/// The same nest of parking_lot mutexes: the baseline.
#[inline(never)]
fn parking_lot_nest4(ms: &[parking_lot::Mutex<u64>; 4]) {
    let mut a = ms[0].lock();
    let mut b = ms[1].lock();
    let mut c = ms[2].lock();
    let mut d = ms[3].lock();
    *a += 2;
    *b += 2;
    *c += 2;
    *d += 2;
}

/// `benches/locks.rs`'s `nest_ld`: one recursive frame per lock.
#[inline(never)]
fn ld_frame(ms: &[lockdep::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock();
        *g += 1;
        ld_frame(rest);
    }
}

/// `benches/locks.rs`'s `nest_pl`: the baseline of [`ld_frame`].
#[inline(never)]
fn pl_frame(ms: &[parking_lot::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock();
        *g += 2;
        pl_frame(rest);
    }
}

/// The counted function around [`ld_frame`] (callgrind's
/// `--toggle-collect` must not name a recursive one: each nested call would
/// toggle the count again).
#[inline(never)]
fn lockdep_nest_rec(ms: &[lockdep::Mutex<u64>]) {
    ld_frame(ms);
}

/// The counted function around [`pl_frame`].
#[inline(never)]
fn parking_lot_nest_rec(ms: &[parking_lot::Mutex<u64>]) {
    pl_frame(ms);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "both".to_owned());
    let n: u64 = args.next().map_or(1000, |s| s.parse().expect("iterations: a number"));
    let ours = lockdep::Mutex::new(0);
    let base = parking_lot::Mutex::new(0);
    if which == "lockdep" || which == "both" {
        *ours.lock() += 1; // the warm-up, outside the counted function
        for _ in 0..n {
            lockdep_lock_unlock(black_box(&ours));
        }
        assert_eq!(*ours.lock(), n + 1);
    }
    if which == "parking_lot" || which == "both" {
        *base.lock() += 2;
        for _ in 0..n {
            parking_lot_lock_unlock(black_box(&base));
        }
        assert_eq!(*base.lock(), 2 * (n + 1));
    }
    if which == "lockdep-nest-rec" {
        static KEYS: [lockdep::LockClassKey; 4] = [const { lockdep::LockClassKey::new() }; 4];
        let ms = [0, 1, 2, 3].map(|i| lockdep::Mutex::with_key(0, &KEYS[i]));
        ld_frame(&ms); // the warm-up, outside the counted function
        for _ in 0..n {
            lockdep_nest_rec(black_box(&ms));
        }
        assert_eq!(*ms[3].lock(), n + 1);
    }
    // The recursive nest under one more lock held across the loop: no
    // acquisition in the recursion is a chain head (is the recursive shape's
    // extra cost the fast path's head-or-nested test? PERFORMANCE.md, round 8).
    if which == "lockdep-nest-rec-outer" {
        static KEYS: [lockdep::LockClassKey; 5] = [const { lockdep::LockClassKey::new() }; 5];
        let outer = lockdep::Mutex::with_key(0, &KEYS[4]);
        let ms = [0, 1, 2, 3].map(|i| lockdep::Mutex::with_key(0, &KEYS[i]));
        let _held = outer.lock();
        ld_frame(&ms);
        for _ in 0..n {
            lockdep_nest_rec(black_box(&ms));
        }
        assert_eq!(*ms[3].lock(), n + 1);
    }
    if which == "parking_lot-nest-rec-outer" {
        let outer = parking_lot::Mutex::new(0);
        let ms = [(); 4].map(|_| parking_lot::Mutex::new(0));
        let _held = outer.lock();
        pl_frame(&ms);
        for _ in 0..n {
            parking_lot_nest_rec(black_box(&ms));
        }
        assert_eq!(*ms[3].lock(), 2 * (n + 1));
    }
    // Criterion's nest of two (`benches/locks.rs`'s `nest_ld` on two locks).
    if which == "lockdep-nest-rec2" {
        static KEYS: [lockdep::LockClassKey; 2] = [const { lockdep::LockClassKey::new() }; 2];
        let ms = [0, 1].map(|i| lockdep::Mutex::with_key(0, &KEYS[i]));
        ld_frame(&ms);
        for _ in 0..n {
            lockdep_nest_rec(black_box(&ms));
        }
        assert_eq!(*ms[1].lock(), n + 1);
    }
    if which == "parking_lot-nest-rec2" {
        let ms = [(); 2].map(|_| parking_lot::Mutex::new(0));
        pl_frame(&ms);
        for _ in 0..n {
            parking_lot_nest_rec(black_box(&ms));
        }
        assert_eq!(*ms[1].lock(), 2 * (n + 1));
    }
    if which == "parking_lot-nest-rec" {
        let ms = [(); 4].map(|_| parking_lot::Mutex::new(0));
        pl_frame(&ms);
        for _ in 0..n {
            parking_lot_nest_rec(black_box(&ms));
        }
        assert_eq!(*ms[3].lock(), 2 * (n + 1));
    }
    if which == "lockdep-nest4" {
        // Four classes: one key each.
        static KEYS: [lockdep::LockClassKey; 4] = [const { lockdep::LockClassKey::new() }; 4];
        let ms = [0, 1, 2, 3].map(|i| lockdep::Mutex::with_key(0, &KEYS[i]));
        {
            let g: Vec<_> = ms.iter().map(|m| m.lock()).collect();
            g.into_iter().rev().for_each(|mut g| *g += 1);
        }
        for _ in 0..n {
            lockdep_nest4(black_box(&ms));
        }
        assert_eq!(*ms[3].lock(), n + 1);
    }
    if which == "parking_lot-nest4" {
        let ms = [(); 4].map(|_| parking_lot::Mutex::new(0));
        {
            let g: Vec<_> = ms.iter().map(|m| m.lock()).collect();
            g.into_iter().rev().for_each(|mut g| *g += 2);
        }
        for _ in 0..n {
            parking_lot_nest4(black_box(&ms));
        }
        assert_eq!(*ms[3].lock(), 2 * (n + 1));
    }
    println!("validation compiled in: {}; {n} lock+unlock of {which}", lockdep::ENABLED);
}
