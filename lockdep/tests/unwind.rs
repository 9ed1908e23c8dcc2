//! The cached unwinder (`Unwinder::Cached`, engine/unwind.rs) against
//! libgcc's (`backtrace::trace`), on x86_64 and aarch64 Linux where it is
//! built, and the switch back to libgcc (`Config::unwinder`).
//!
//! How two captures are compared: `probe` captures with both unwinders, one
//! after the other. Each list starts with frames of its own capture
//! machinery (lockdep's `capture` functions, backtrace's), which differ; the
//! first frame that resolves to `probe` itself is the return address of
//! each capture's call, which differs too (two call sites). Everything after
//! that frame — `probe`'s caller outwards, to the end of the stack or the
//! cap — is the same stack, and must be the same list of addresses. (At
//! the end of a stack libgcc reports one frame more, of address 0: the
//! "return address" of the outermost frame, whose CFI leaves it undefined.
//! It is no frame, and resolves to nothing; the cached unwinder ends before
//! it. The comparison drops it.)

// Where the cached unwinder is built (elsewhere `Unwinder::Cached` is
// libgcc's, and this file has nothing to compare).
#![cfg(all(target_os = "linux", target_env = "gnu", any(target_arch = "x86_64", target_arch = "aarch64")))]

use std::cell::RefCell;
use std::fmt::Debug;
use std::hint::black_box;

use lockdep::*;

/// Frames to ask for when the whole stack is wanted.
const ALL: usize = 1000;

/// Both unwinders' frames, from here: (cached, libgcc).
#[inline(never)]
fn probe(max_frames: usize) -> (Vec<usize>, Vec<usize>) {
    let cached = Trace::capture(max_frames, Unwinder::Cached).expect("the cached unwinder walks a thread's stack");
    let mut libgcc = Vec::new();
    backtrace::trace(|frame| {
        libgcc.push(frame.ip() as usize);
        libgcc.len() < max_frames
    });
    black_box((cached.ips().to_vec(), libgcc))
}

/// The function `ip` returns into (its symbol, without the hash).
fn symbol(ip: usize) -> String {
    let mut name = String::new();
    backtrace::resolve(ip as *mut std::ffi::c_void, |s| {
        if name.is_empty() {
            name = s.name().map(|n| format!("{n:#}")).unwrap_or_default();
        }
    });
    name
}

/// The frames after the first one in `probe`, without libgcc's end-of-stack
/// 0 (see the file's comment).
fn below_probe(ips: &[usize]) -> &[usize] {
    let at = ips.iter().position(|&ip| symbol(ip).ends_with("::probe")).expect("a frame in probe");
    let below = &ips[at + 1..];
    below.strip_suffix(&[0]).unwrap_or(below)
}

/// Checks both unwinders agree below `probe` for the stack `probe_here`
/// runs it on; returns how many frames that was.
fn agree(probe_here: impl FnOnce() -> (Vec<usize>, Vec<usize>)) -> usize {
    let (cached, libgcc) = probe_here();
    let (c, l) = (below_probe(&cached), below_probe(&libgcc));
    assert!(!c.is_empty());
    assert_eq!(c, l, "cached {:?}\nlibgcc {:?}", names(c), names(l));
    c.len()
}

fn names(ips: &[usize]) -> Vec<String> {
    ips.iter().map(|&ip| symbol(ip)).collect()
}

/// Runs `f` under `depth` more frames of this file's own.
#[inline(never)]
fn deep(depth: usize, f: &dyn Fn()) -> usize {
    if depth == 0 {
        f();
        return 0;
    }
    // Not a tail call: the frame stays on the stack.
    black_box(deep(black_box(depth - 1), f)) + 1
}

/// `probe` at the bottom of `depth` frames of `deep`.
fn probe_deep(depth: usize, max_frames: usize) -> (Vec<usize>, Vec<usize>) {
    let out = RefCell::new(None);
    deep(depth, &|| *out.borrow_mut() = Some(probe(max_frames)));
    out.into_inner().unwrap()
}

#[test]
fn same_frames_as_libgcc_on_a_plain_stack() {
    agree(|| probe(ALL));
}

#[test]
fn same_frames_as_libgcc_under_deep_recursion() {
    let shallow = agree(|| probe_deep(0, ALL));
    let deeper = agree(|| probe_deep(100, ALL));
    // Every one of the hundred frames was walked, by both.
    assert_eq!(deeper, shallow + 100);
}

#[test]
fn same_frames_as_libgcc_through_closures() {
    let n = black_box(7usize);
    agree(|| {
        let inner = move || probe(ALL + n - 7);
        let outer = || (0..1).map(|_| inner()).next().unwrap();
        outer()
    });
    // A closure called through `&mut dyn FnMut`, then `Box<dyn FnOnce>`.
    let mut out = None;
    let mut f = || out = Some(probe(ALL));
    (&mut f as &mut dyn FnMut())();
    agree(|| out.take().unwrap());
    let boxed: Box<dyn FnOnce() -> (Vec<usize>, Vec<usize>)> = Box::new(|| probe(ALL));
    agree(boxed);
}

/// Monomorphised once per `T`.
#[inline(never)]
fn generic<T: Debug, R>(t: T, f: impl FnOnce() -> R) -> R {
    black_box(format!("{t:?}"));
    f()
}

#[test]
fn same_frames_as_libgcc_through_generic_functions() {
    agree(|| generic(1u8, || probe(ALL)));
    agree(|| generic("s", || generic(vec![1.0f64], || probe(ALL))));
    agree(|| generic(Some(()), || probe_deep(5, ALL)));
}

#[test]
fn same_frames_as_libgcc_on_a_spawned_thread_to_the_stacks_start() {
    // The whole stack of a new thread, down to its start (clone3/clone,
    // whose CFI ends the walk for both).
    let (cached, libgcc) = std::thread::spawn(|| probe_deep(10, ALL)).join().unwrap();
    assert_eq!(below_probe(&cached), below_probe(&libgcc));
    assert!(below_probe(&cached).len() > 10);
    // And a thread with a small stack of its own.
    let (cached, libgcc) =
        std::thread::Builder::new().stack_size(64 * 1024).spawn(|| probe_deep(30, ALL)).unwrap().join().unwrap();
    assert_eq!(below_probe(&cached), below_probe(&libgcc));
}

#[test]
fn the_frame_cap_cuts_the_same_walk() {
    // One call site for every cap: the same stack each time.
    let walks: Vec<(usize, Vec<usize>)> =
        [ALL, 1, 2, 5, 16, 30].into_iter().map(|cap| (cap, probe_deep(20, cap).0)).collect();
    let whole = &walks[0].1;
    assert!(whole.len() > 30, "{}", whole.len());
    for (cap, capped) in &walks[1..] {
        // The first `cap` frames of the whole walk, capture's own included.
        assert_eq!(capped[..], whole[..*cap], "cap {cap}");
    }
}

#[test]
fn repeated_captures_give_the_same_frames() {
    // The later walks run on cached rules; they must not differ. (One call
    // site: the same stack each time.)
    let walks: Vec<Vec<usize>> = (0..4).map(|_| probe_deep(12, ALL).0).collect();
    assert!(walks.len() == 4 && walks[0].len() > 12);
    for again in &walks[1..] {
        assert_eq!(again, &walks[0]);
    }
}

// glibc's own, for stacks through another module and for loading one.
unsafe extern "C" {
    fn qsort(base: *mut std::ffi::c_void, n: usize, size: usize, cmp: extern "C" fn(*const u32, *const u32) -> i32);
    fn dlopen(name: *const std::ffi::c_char, flags: i32) -> *mut std::ffi::c_void;
    fn dlclose(handle: *mut std::ffi::c_void) -> i32;
}

thread_local! {
    static FROM_QSORT: RefCell<Option<(Vec<usize>, Vec<usize>)>> = const { RefCell::new(None) };
}

/// A comparator that probes the stack once, from inside libc's `qsort`.
extern "C" fn compare(a: *const u32, b: *const u32) -> i32 {
    FROM_QSORT.with(|p| {
        let mut p = p.borrow_mut();
        if p.is_none() {
            *p = Some(probe(ALL));
        }
    });
    // SAFETY: qsort passes two elements of the array below.
    let (a, b) = unsafe { (*a, *b) };
    a.cmp(&b) as i32
}

#[test]
fn same_frames_as_libgcc_through_a_c_library() {
    let mut v = [3u32, 1, 2];
    // SAFETY: a valid array of 3 u32 and a comparator of matching type.
    unsafe { qsort(v.as_mut_ptr().cast(), v.len(), size_of::<u32>(), compare) };
    assert_eq!(v, [1, 2, 3]);
    let (cached, libgcc) = FROM_QSORT.with(|p| p.borrow_mut().take()).expect("qsort called the comparator");
    // Below `probe`: `compare`, libc's sort, then this test's frames.
    let below = below_probe(&cached);
    assert!(names(below).iter().any(|n| n.contains("qsort") || n.contains("msort")), "{:?}", names(below));
    assert_eq!(below, below_probe(&libgcc));
}

#[test]
fn a_library_loaded_and_unloaded_between_captures() {
    let before = probe_deep(3, ALL);
    for lib in [c"libz.so.1", c"libresolv.so.2"] {
        // SAFETY: loading and unloading a system library with no
        // constructors of interest; the handle is closed once.
        unsafe {
            let h = dlopen(lib.as_ptr(), 2 /* RTLD_NOW */);
            assert!(!h.is_null(), "{lib:?}");
            // The loader's counters moved: the module list is read again.
            agree(|| probe_deep(3, ALL));
            assert_eq!(dlclose(h), 0);
        }
        agree(|| probe_deep(3, ALL));
    }
    let after = probe_deep(3, ALL);
    assert_eq!(below_probe(&before.0).len(), below_probe(&after.0).len());
}

static ALT_CACHED_GAVE_WAY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static ALT_LIBGCC_FRAMES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs on the alternate signal stack: both unwinders from there.
extern "C" fn on_alternate_stack(_: libc::c_int) {
    use std::sync::atomic::Ordering::SeqCst;
    ALT_CACHED_GAVE_WAY.store(Trace::capture(ALL, Unwinder::Cached).is_none(), SeqCst);
    ALT_LIBGCC_FRAMES.store(Trace::capture(ALL, Unwinder::Libgcc).map_or(0, |t| t.len()), SeqCst);
}

#[test]
fn a_stack_other_than_the_threads_is_left_to_libgcc() {
    use std::sync::atomic::Ordering::SeqCst;
    // A signal delivered on an alternate stack (heap memory, outside the
    // thread's stack): the cached unwinder must not walk it, libgcc's does.
    let mut alt = vec![0u8; 256 * 1024];
    // SAFETY: plain libc calls on valid, zero-initialised structs; the
    // alternate stack outlives its use (disabled before `alt` is dropped),
    // the handler is restored, and the signal is raised synchronously on
    // this thread.
    unsafe {
        let stack = libc::stack_t { ss_sp: alt.as_mut_ptr().cast(), ss_flags: 0, ss_size: alt.len() };
        let mut old_stack: libc::stack_t = std::mem::zeroed();
        assert_eq!(libc::sigaltstack(&stack, &mut old_stack), 0);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alternate_stack as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old_action: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGUSR1, &action, &mut old_action), 0);
        assert_eq!(libc::raise(libc::SIGUSR1), 0);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &old_action, std::ptr::null_mut()), 0);
        let off = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        assert_eq!(libc::sigaltstack(&off, std::ptr::null_mut()), 0);
    }
    drop(alt);
    assert!(ALT_CACHED_GAVE_WAY.load(SeqCst), "the cached unwinder walked the alternate stack");
    assert!(ALT_LIBGCC_FRAMES.load(SeqCst) > 3, "{}", ALT_LIBGCC_FRAMES.load(SeqCst));
    // And on the thread's own stack again, it walks.
    agree(|| probe(ALL));
}

/// A two-class cycle made in this function under `config`: the report.
#[inline(never)]
fn cycle(config: Config) -> Report {
    let (ka, kb) = (Box::leak(Box::new(LockClassKey::new())), Box::leak(Box::new(LockClassKey::new())));
    let (a, b) = (LockdepMap::new("A", ka), LockdepMap::new("B", kb));
    let v = Validator::new(config.with_backtraces(true));
    v.scope(|| {
        for (x, y) in [(&a, &b), (&b, &a)] {
            mutex_acquire(x, 0, false);
            mutex_acquire(y, 0, false);
            mutex_release(y);
            mutex_release(x);
        }
    });
    let mut reports = v.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    reports.pop().unwrap()
}

#[test]
fn a_reports_traces_resolve_alike_with_either_unwinder() {
    // One call site for both: the same stack; every frame of it (libgcc's
    // walk spends more of a capped trace on its own frames).
    let [c, l] = [Unwinder::Cached, Unwinder::Libgcc]
        .map(|u| cycle(Config::collect().with_unwinder(u).with_backtrace_frames(ALL)));
    {
        let (fc, fl) = (c.backtrace().unwrap().frames(), l.backtrace().unwrap().frames());
        assert_eq!(fc, fl);
        assert!(fc[0].function.starts_with("unwind::cycle"), "{:?}", fc[0]);
        for (sc, sl) in c.chain().iter().zip(l.chain()) {
            let (tc, tl) = (sc.trace().unwrap().frames(), sl.trace().unwrap().frames());
            assert_eq!(tc, tl);
            assert!(tc[0].function.starts_with("unwind::cycle"), "{:?}", tc[0]);
            // With debug info, the line is the acquisition's (in `cycle`).
            if let Some(line) = tc[0].line {
                assert!(tc[0].file.as_deref().unwrap().ends_with("unwind.rs"), "{:?}", tc[0]);
                let src = include_str!("unwind.rs").lines().nth(line as usize - 1).unwrap();
                assert!(src.contains("mutex_acquire(y, 0, false)"), "line {line}: {src}");
            }
        }
    }
}

#[test]
fn the_config_picks_the_unwinder() {
    // Each unwinder's first frame is the return address of its own call
    // in lockdep's capture: the validator's trace starts with the one the
    // configuration names.
    let first = |u: Unwinder| Trace::capture(1, u).unwrap().ips()[0];
    let (cached, libgcc) = (first(Unwinder::Cached), first(Unwinder::Libgcc));
    assert_ne!(cached, libgcc);
    for (unwinder, first) in [(Unwinder::Cached, cached), (Unwinder::Libgcc, libgcc)] {
        let report = cycle(Config::collect().with_unwinder(unwinder));
        assert_eq!(report.chain()[1].trace().unwrap().ips()[0], first, "{unwinder:?}");
        assert_eq!(report.backtrace().unwrap().ips()[0], first, "{unwinder:?}");
    }
}
