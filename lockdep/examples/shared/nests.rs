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

/// [`ld_frame`] over `lockdep::RwLock`s taken for write (`benches/locks.rs`'s
/// `wnest_ld`).
#[inline(never)]
pub fn ldw_frame(ms: &[lockdep::RwLock<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.write();
        *g += 1;
        ldw_frame(rest);
    }
}

/// The baseline of [`ldw_frame`]: parking_lot's rwlocks taken for write.
#[inline(never)]
pub fn plw_frame(ms: &[parking_lot::RwLock<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.write();
        *g += 2;
        plw_frame(rest);
    }
}

/// [`ld_frame`] over `lockdep::RwLock`s taken for read (`benches/locks.rs`'s
/// `rnest_ld`).
#[inline(never)]
pub fn ldr_frame(ms: &[lockdep::RwLock<u64>]) -> u64 {
    match ms.split_first() {
        Some((first, rest)) => {
            let g = first.read();
            *g + ldr_frame(rest)
        }
        None => 1,
    }
}

/// The baseline of [`ldr_frame`]: parking_lot's rwlocks taken for read.
#[inline(never)]
pub fn plr_frame(ms: &[parking_lot::RwLock<u64>]) -> u64 {
    match ms.split_first() {
        Some((first, rest)) => {
            let g = first.read();
            *g + plr_frame(rest)
        }
        None => 2,
    }
}

/// parking_lot's mutex padded to the size of `lockdep::Mutex<u64>` (120
/// bytes): [`pad_frame`] is [`pl_frame`] with lockdep's memory footprint for
/// the locks and none of its work (`lock_time pad8`).
pub struct Padded {
    pub m: parking_lot::Mutex<u64>,
    _pad: [u8; 104],
}

impl Default for Padded {
    fn default() -> Self {
        Padded { m: parking_lot::Mutex::new(0), _pad: [0; 104] }
    }
}

/// [`pl_frame`] over [`Padded`] mutexes.
#[inline(never)]
pub fn pad_frame(ms: &[Padded]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.m.lock();
        *g += 3;
        pad_frame(rest);
    }
}

/// [`pl_frame`] plus 64 register-only additions a frame (four chains of 16)
/// and nothing else: lockdep's extra instruction count without its memory
/// (`lock_time alu8`).
#[inline(never)]
pub fn alu_frame(ms: &[parking_lot::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock();
        *g += 4;
        alu_work();
        alu_frame(rest);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn alu_work() {
    // SAFETY: writes four scratch registers, declared as outputs; no memory,
    // no stack.
    unsafe {
        std::arch::asm!(
            ".rept 16", "add {a}, 1", "add {b}, 2", "add {c}, 3", "add {d}, 4", ".endr",
            a = out(reg) _, b = out(reg) _, c = out(reg) _, d = out(reg) _,
            options(nomem, nostack)
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn alu_work() {
    let mut a = std::hint::black_box([0u64; 4]);
    for _ in 0..16 {
        for (i, x) in a.iter_mut().enumerate() {
            *x = x.wrapping_add(i as u64 + 1);
        }
    }
    std::hint::black_box(a);
}
