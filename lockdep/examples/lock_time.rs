//! Time per operation of `lockdep::Mutex` against `parking_lot::Mutex` in
//! one process, for comparing two builds on a loaded machine
//! (docs/PERFORMANCE.md, round 9): the lockdep and parking_lot batches
//! alternate, each batch runs at one of 64 stack depths (64 bytes apart:
//! where the stack lies relative to the data moves a recursive nest's time
//! by up to ~1 ns, and it moves with anything above it on the stack, even the
//! length of the program's path), and what is printed is, per side, the
//! median over the depths of the fastest of `reps` batches at that depth.
//!
//! Usage: `lock_time rec|rec2|rec8|wrec2|wrec|wrec8|rrec|nest4|nest2|one|pad8|alu8 [reps] [iterations per batch]`:
//! `rec` is `benches/locks.rs`'s recursive nest of four (`nest_ld` /
//! `nest_pl`), `rec2` the same on two locks (criterion's nest of two),
//! `rec8` on eight (criterion's nest of eight), `wrec2` / `wrec` / `wrec8` the
//! same over `RwLock`s taken for write (criterion's `rwlock-write-nest*`),
//! `rrec` a nest of four taken for read (`rwlock-read-nest4`),
//! `nest4` a straight-line nest of four, `nest2` one of two, `one` a lone
//! lock+unlock. `pad8` and `alu8` time no lockdep lock: in the "lockdep"
//! column, parking_lot's recursive nest of eight over mutexes padded to
//! `lockdep::Mutex<u64>`'s size, or with 64 register-only additions a frame
//! (lockdep's extra instruction count without its memory); what a busy
//! host's episodes slow (docs/PERFORMANCE.md, round 13).
use std::hint::black_box;
use std::time::Instant;

#[path = "shared/nests.rs"]
mod nests;
use nests::*;

/// The first two of four locks, for the nest of two.
fn two<T>(ms: &[T; 4]) -> &[T; 2] {
    ms[..2].try_into().expect("four locks")
}

fn time(m: u64, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..m {
        f();
    }
    t.elapsed().as_nanos() as f64 / m as f64
}

/// Runs `f` with the stack `N` bytes deeper.
#[inline(never)]
fn padded<const N: usize>(f: &mut dyn FnMut()) {
    let pad = [0u8; N];
    black_box(&pad);
    f();
    black_box(&pad);
}

fn at_depth(k: usize, f: &mut dyn FnMut()) {
    macro_rules! pads { ($($n:literal)*) => { match k { $($n => padded::<{ $n * 64 }>(f),)* _ => unreachable!() } } }
    pads!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
          32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap();
    let reps: usize = args.next().map_or(3, |s| s.parse().unwrap());
    let m: u64 = args.next().map_or(20_000, |s| s.parse().unwrap());
    static KEYS: [lockdep::LockClassKey; 8] = [const { lockdep::LockClassKey::new() }; 8];
    static RW_KEYS: [lockdep::LockClassKey; 8] = [const { lockdep::LockClassKey::new() }; 8];
    let ld8: Box<[lockdep::Mutex<u64>; 8]> = Box::new(std::array::from_fn(|i| lockdep::Mutex::with_key(0, &KEYS[i])));
    let pl8: Box<[parking_lot::Mutex<u64>; 8]> = Box::new([(); 8].map(|_| parking_lot::Mutex::new(0)));
    let pd8: Box<[Padded; 8]> = Box::new(std::array::from_fn(|_| Padded::default()));
    let ldw8: Box<[lockdep::RwLock<u64>; 8]> =
        Box::new(std::array::from_fn(|i| lockdep::RwLock::with_key(0, &RW_KEYS[i])));
    let plw8: Box<[parking_lot::RwLock<u64>; 8]> = Box::new([(); 8].map(|_| parking_lot::RwLock::new(0)));
    ldw_frame(&ldw8[..]);
    ldr_frame(&ldw8[..4]);
    let ld: &[lockdep::Mutex<u64>; 4] = ld8[..4].try_into().expect("eight locks");
    let pl: &[parking_lot::Mutex<u64>; 4] = pl8[..4].try_into().expect("eight locks");
    ld_frame(&ld8[..]);
    ld_frame(&ld[..]);
    ld_frame(&ld[..2]);
    lockdep_nest4(ld);
    lockdep_nest2(two(ld));
    lockdep_lock_unlock(&ld[0]);
    // Per stack depth, the fastest batch.
    let mut amins = vec![f64::MAX; 64];
    let mut bmins = vec![f64::MAX; 64];
    for _ in 0..reps {
        for k in 0..64 {
            let (mut x, mut y) = (0.0, 0.0);
            match which.as_str() {
                "rec" => {
                    at_depth(k, &mut || x = time(m, || ld_frame(black_box(&ld[..]))));
                    at_depth(k, &mut || y = time(m, || pl_frame(black_box(&pl[..]))));
                }
                "rec2" => {
                    at_depth(k, &mut || x = time(m, || ld_frame(black_box(&ld[..2]))));
                    at_depth(k, &mut || y = time(m, || pl_frame(black_box(&pl[..2]))));
                }
                "wrec2" | "wrec" | "wrec8" => {
                    let n = match which.as_str() {
                        "wrec2" => 2,
                        "wrec" => 4,
                        _ => 8,
                    };
                    at_depth(k, &mut || x = time(m, || ldw_frame(black_box(&ldw8[..n]))));
                    at_depth(k, &mut || y = time(m, || plw_frame(black_box(&plw8[..n]))));
                }
                "rrec" => {
                    at_depth(k, &mut || x = time(m, || _ = black_box(ldr_frame(black_box(&ldw8[..4])))));
                    at_depth(k, &mut || y = time(m, || _ = black_box(plr_frame(black_box(&plw8[..4])))));
                }
                // Not lockdep: parking_lot's nest of eight with lockdep's
                // lock footprint, or with lockdep's extra instruction count
                // as register-only additions, against the plain one (what an
                // episode of a busy host slows: PERFORMANCE.md, round 13).
                "pad8" => {
                    at_depth(k, &mut || x = time(m, || pad_frame(black_box(&pd8[..]))));
                    at_depth(k, &mut || y = time(m, || pl_frame(black_box(&pl8[..]))));
                }
                "alu8" => {
                    at_depth(k, &mut || x = time(m, || alu_frame(black_box(&pl8[..]))));
                    at_depth(k, &mut || y = time(m, || pl_frame(black_box(&pl8[..]))));
                }
                "rec8" => {
                    at_depth(k, &mut || x = time(m, || ld_frame(black_box(&ld8[..]))));
                    at_depth(k, &mut || y = time(m, || pl_frame(black_box(&pl8[..]))));
                }
                "nest2" => {
                    at_depth(k, &mut || x = time(m, || lockdep_nest2(black_box(two(ld)))));
                    at_depth(k, &mut || y = time(m, || parking_lot_nest2(black_box(two(pl)))));
                }
                "nest4" => {
                    at_depth(k, &mut || x = time(m, || lockdep_nest4(black_box(ld))));
                    at_depth(k, &mut || y = time(m, || parking_lot_nest4(black_box(pl))));
                }
                "one" => {
                    at_depth(k, &mut || x = time(m, || lockdep_lock_unlock(black_box(&ld[0]))));
                    at_depth(k, &mut || y = time(m, || parking_lot_lock_unlock(black_box(&pl[0]))));
                }
                _ => panic!("mode: rec, rec2, rec8, wrec2, wrec, wrec8, rrec, nest4, nest2, one, pad8, alu8"),
            }
            amins[k] = amins[k].min(x);
            bmins[k] = bmins[k].min(y);
        }
    }
    let median = |v: &[f64]| {
        let mut w = v.to_vec();
        w.sort_by(|a, b| a.total_cmp(b));
        w[w.len() / 2]
    };
    let (a, b) = (median(&amins), median(&bmins));
    let lo = amins.iter().copied().fold(f64::MAX, f64::min);
    let hi = amins.iter().copied().fold(0.0, f64::max);
    println!(
        "{which}: lockdep {a:.2} ns, parking_lot {b:.2} ns, ratio {:.3} (lockdep over the stack depths {lo:.2} to {hi:.2} ns)",
        a / b
    );
}
