//! The lock shapes `lock_cost` counts (under callgrind) and `lock_time`
//! times, shared by the two examples (each `#[path]`-includes this file and
//! uses a part of it). Every function is `#[inline(never)]`, so that
//! callgrind's `--toggle-collect` can name it and both examples run the same
//! code; the lockdep and parking_lot versions add different constants only so
//! that LLVM keeps two symbols (identical bodies compile to identical machine
//! code, and rustc's function merging would fold them into one).
#![allow(dead_code)]

/// One lock + unlock of the instrumented mutex.
#[inline(never)]
pub fn lockdep_lock_unlock(m: &lockdep::Mutex<u64>) {
    let mut g = m.lock();
    *g += 1;
}

/// One lock + unlock of parking_lot's mutex: the baseline.
#[inline(never)]
pub fn parking_lot_lock_unlock(m: &parking_lot::Mutex<u64>) {
    let mut g = m.lock();
    *g += 2;
}

/// A straight-line nest of four lockdep mutexes, taken in order and
/// released in reverse.
#[inline(never)]
pub fn lockdep_nest4(ms: &[lockdep::Mutex<u64>; 4]) {
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
pub fn parking_lot_nest4(ms: &[parking_lot::Mutex<u64>; 4]) {
    let mut a = ms[0].lock();
    let mut b = ms[1].lock();
    let mut c = ms[2].lock();
    let mut d = ms[3].lock();
    *a += 2;
    *b += 2;
    *c += 2;
    *d += 2;
}

/// A straight-line nest of two lockdep mutexes.
#[inline(never)]
pub fn lockdep_nest2(ms: &[lockdep::Mutex<u64>; 2]) {
    let mut a = ms[0].lock();
    let mut b = ms[1].lock();
    *a += 1;
    *b += 1;
}

/// The same nest of parking_lot mutexes: the baseline.
#[inline(never)]
pub fn parking_lot_nest2(ms: &[parking_lot::Mutex<u64>; 2]) {
    let mut a = ms[0].lock();
    let mut b = ms[1].lock();
    *a += 2;
    *b += 2;
}

/// `benches/locks.rs`'s `nest_ld`: one recursive frame per lock, each
/// holding its guard across the call below.
#[inline(never)]
pub fn ld_frame(ms: &[lockdep::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock();
        *g += 1;
        ld_frame(rest);
    }
}

/// `benches/locks.rs`'s `nest_pl`: the baseline of [`ld_frame`].
#[inline(never)]
pub fn pl_frame(ms: &[parking_lot::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock();
        *g += 2;
        pl_frame(rest);
    }
}
