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
//! Usage: `lock_cost [lockdep|parking_lot|both|lockdep-nest4|parking_lot-nest4|lockdep-nest-rec|parking_lot-nest-rec|lockdep-nest-rec2|parking_lot-nest-rec2|lockdep-nest-rec8|parking_lot-nest-rec8|lockdep-nest-rec-outer|parking_lot-nest-rec-outer|lockdep-write-rec|parking_lot-write-rec|lockdep-write-rec2|parking_lot-write-rec2|lockdep-write-rec8|parking_lot-write-rec8|lockdep-read-rec|parking_lot-read-rec] [iterations]`.
//! The `*-write-rec*` and `*-read-rec` modes are the recursive nests over
//! `RwLock`s taken for write or for read (`benches/locks.rs`'s `wnest` and
//! `rnest` groups).
use std::hint::black_box;

#[path = "shared/nests.rs"]
mod nests;
use nests::*;

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

/// The counted function around [`ldw_frame`] (`lockdep-write-rec*`).
#[inline(never)]
fn lockdep_write_rec(ms: &[lockdep::RwLock<u64>]) {
    ldw_frame(ms);
}

/// The counted function around [`plw_frame`].
#[inline(never)]
fn parking_lot_write_rec(ms: &[parking_lot::RwLock<u64>]) {
    plw_frame(ms);
}

/// The counted function around [`ldr_frame`] (`lockdep-read-rec*`).
#[inline(never)]
fn lockdep_read_rec(ms: &[lockdep::RwLock<u64>]) -> u64 {
    ldr_frame(ms)
}

/// The counted function around [`plr_frame`].
#[inline(never)]
fn parking_lot_read_rec(ms: &[parking_lot::RwLock<u64>]) -> u64 {
    plr_frame(ms)
}

/// `n` recursive write nests (`write`) or read nests of `ms`, in the counted
/// function, after a warm-up outside it.
fn count_ld_rw(ms: &[lockdep::RwLock<u64>], write: bool, n: u64) {
    if write {
        ldw_frame(ms);
        for _ in 0..n {
            lockdep_write_rec(black_box(ms));
        }
        assert_eq!(*ms[ms.len() - 1].read(), n + 1);
    } else {
        let mut sum = ldr_frame(ms);
        for _ in 0..n {
            sum += lockdep_read_rec(black_box(ms));
        }
        assert_eq!(sum, n + 1);
    }
}

/// The baseline of [`count_ld_rw`].
fn count_pl_rw(ms: &[parking_lot::RwLock<u64>], write: bool, n: u64) {
    if write {
        plw_frame(ms);
        for _ in 0..n {
            parking_lot_write_rec(black_box(ms));
        }
        assert_eq!(*ms[ms.len() - 1].read(), 2 * (n + 1));
    } else {
        let mut sum = plr_frame(ms);
        for _ in 0..n {
            sum += parking_lot_read_rec(black_box(ms));
        }
        assert_eq!(sum, 2 * (n + 1));
    }
}

/// One class a lock (a key each; the ninth is `lockdep-nest-rec-outer`'s
/// outer lock). Each mode runs in a process of its own.
static KEYS: [lockdep::LockClassKey; 9] = [const { lockdep::LockClassKey::new() }; 9];

/// `N` lockdep mutexes, each its own class.
fn ld_locks<const N: usize>() -> [lockdep::Mutex<u64>; N] {
    std::array::from_fn(|i| lockdep::Mutex::with_key(0, &KEYS[i]))
}

/// `n` recursive nests of `ms` in the counted function, after a warm-up
/// outside it.
fn count_ld_rec(ms: &[lockdep::Mutex<u64>], n: u64) {
    ld_frame(ms);
    for _ in 0..n {
        lockdep_nest_rec(black_box(ms));
    }
    assert_eq!(*ms[ms.len() - 1].lock(), n + 1);
}

/// The baseline of [`count_ld_rec`].
fn count_pl_rec(ms: &[parking_lot::Mutex<u64>], n: u64) {
    pl_frame(ms);
    for _ in 0..n {
        parking_lot_nest_rec(black_box(ms));
    }
    assert_eq!(*ms[ms.len() - 1].lock(), 2 * (n + 1));
}

/// The nest's length a `*-write-rec*` / `*-read-rec` mode names.
fn rw_len(which: &str) -> usize {
    if which.ends_with("rec2") {
        2
    } else if which.ends_with("rec8") {
        8
    } else {
        4
    }
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
    // The recursive nests (`benches/locks.rs`'s shape): of four, of two,
    // and of four under one more lock held across the loop (then no
    // acquisition in the recursion is a chain head: is the recursive shape's
    // extra cost the fast path's head-or-nested test? PERFORMANCE.md, round 8).
    match which.as_str() {
        "lockdep-nest-rec" => count_ld_rec(&ld_locks::<4>(), n),
        "lockdep-nest-rec2" => count_ld_rec(&ld_locks::<2>(), n),
        "lockdep-nest-rec8" => count_ld_rec(&ld_locks::<8>(), n),
        "lockdep-nest-rec-outer" => {
            let outer = lockdep::Mutex::with_key(0, &KEYS[8]);
            let _held = outer.lock();
            count_ld_rec(&ld_locks::<4>(), n);
        }
        // The same recursive shape over rwlocks, for write and for read (one
        // class a lock, as for the mutexes).
        "lockdep-write-rec" | "lockdep-write-rec2" | "lockdep-write-rec8" | "lockdep-read-rec" => {
            let ls: [lockdep::RwLock<u64>; 8] = std::array::from_fn(|i| lockdep::RwLock::with_key(0, &KEYS[i]));
            count_ld_rw(&ls[..rw_len(&which)], which.contains("write"), n);
        }
        "parking_lot-write-rec" | "parking_lot-write-rec2" | "parking_lot-write-rec8" | "parking_lot-read-rec" => {
            let ls = [(); 8].map(|_| parking_lot::RwLock::new(0));
            count_pl_rw(&ls[..rw_len(&which)], which.contains("write"), n);
        }
        "parking_lot-nest-rec" => count_pl_rec(&[(); 4].map(|_| parking_lot::Mutex::new(0)), n),
        "parking_lot-nest-rec2" => count_pl_rec(&[(); 2].map(|_| parking_lot::Mutex::new(0)), n),
        "parking_lot-nest-rec8" => count_pl_rec(&[(); 8].map(|_| parking_lot::Mutex::new(0)), n),
        "parking_lot-nest-rec-outer" => {
            let outer = parking_lot::Mutex::new(0);
            let _held = outer.lock();
            count_pl_rec(&[(); 4].map(|_| parking_lot::Mutex::new(0)), n);
        }
        _ => {}
    }
    if which == "lockdep-nest4" {
        let ms = ld_locks::<4>();
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
