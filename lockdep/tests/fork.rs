//! `fork()` in a threaded program: while other threads keep the validator's
//! internal locks busy, forked children that use fresh locks must neither
//! hang nor validate; each says so in one line on stderr. The parent goes on
//! validating.
//!
//! (Validation compiled in, unix only: `required-features = ["enabled"]`.)
#![cfg(unix)]

use std::ffi::{c_int, c_short, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockdep::sync::Mutex;
use lockdep::{Config, LockdepMap, ReportKind, Validator};

/// Children forked while the other threads hammer the validator.
const CHILDREN: usize = 50;
/// How long one child may take before it counts as hung.
const CHILD_DEADLINE: Duration = Duration::from_secs(10);

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

#[cfg(target_os = "linux")]
type Nfds = std::ffi::c_ulong;
#[cfg(not(target_os = "linux"))]
type Nfds = std::ffi::c_uint;

unsafe extern "C" {
    fn fork() -> c_int;
    fn _exit(status: c_int) -> !;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn pipe(fds: *mut c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
    fn poll(fds: *mut PollFd, nfds: Nfds, timeout: c_int) -> c_int;
}

const SIGKILL: c_int = 9;
const POLLIN: c_short = 0x1;

/// Threads that keep taking the validator's internal locks: new classes
/// (the graph lock), key removal (the registry and graph locks), lock
/// construction at a call site (the site-name table), thread start and
/// exit (the live-thread table).
/// Each thread passes `started` after its first round.
fn hammer(stop: Arc<AtomicBool>, rounds: Arc<AtomicU64>, started: Arc<Barrier>) -> Vec<std::thread::JoinHandle<()>> {
    let churn = {
        let (stop, rounds, started) = (stop.clone(), rounds.clone(), started.clone());
        std::thread::spawn(move || {
            let mut first = true;
            while first || !stop.load(Ordering::Relaxed) {
                let a = Mutex::from_map(0, LockdepMap::new_dynamic("hammer-a"));
                let b = Mutex::new(0);
                let ga = a.lock();
                *b.lock() += *ga;
                drop(ga);
                drop(a); // its class goes: key removal
                rounds.fetch_add(1, Ordering::Relaxed);
                if std::mem::take(&mut first) {
                    started.wait();
                }
            }
        })
    };
    let threads = std::thread::spawn(move || {
        let mut first = true;
        while first || !stop.load(Ordering::Relaxed) {
            std::thread::spawn(|| drop(Mutex::new(0).lock())).join().unwrap();
            rounds.fetch_add(1, Ordering::Relaxed);
            if std::mem::take(&mut first) {
                started.wait();
            }
        }
    });
    vec![churn, threads]
}

/// The child's work: fresh locks, in both orders, a dynamic class, a
/// validator of its own. Returns its exit status.
fn child_body() -> c_int {
    let a = Mutex::named(0, "child-a");
    let b = Mutex::named(0, "child-b");
    let d = Mutex::from_map(0, LockdepMap::new_dynamic("child-d"));
    {
        let _a = a.lock();
        let _b = b.lock();
        *d.lock() += 1;
    }
    {
        let _b = b.lock();
        let _a = a.lock(); // an inversion: not validated in the child
    }
    drop(d);
    let v = Validator::new(Config::collect());
    v.scope(|| drop(b.lock()));
    // Validation is off: "held?" is unknown, which reads as held.
    if !lockdep::lock_is_held(a.lockdep_map()) {
        return 3;
    }
    if !v.reports().is_empty() {
        return 4;
    }
    0
}

/// Forks a child running [`child_body`] with its stderr on a pipe; waits for
/// it at most `CHILD_DEADLINE`. Returns its exit status and what it wrote to
/// stderr, or an error if it hung (it is killed then).
fn run_child() -> Result<(c_int, String, c_int), String> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child only runs `child_body` (which may lock and
    // allocate: glibc's malloc is fork-safe) and leaves with `_exit`.
    let pid = unsafe { fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain descriptor calls on descriptors of this process.
        unsafe {
            dup2(fds[1], 2);
            close(fds[0]);
            close(fds[1]);
        }
        let status = std::panic::catch_unwind(child_body).unwrap_or(2);
        // SAFETY: leaves the child without running the parent's copies of
        // atexit handlers and thread-local destructors.
        unsafe { _exit(status) };
    }
    // SAFETY: the parent's copy of the write end is not needed.
    unsafe { close(fds[1]) };
    // The pipe reaches end-of-file when the child is gone.
    let deadline = Instant::now() + CHILD_DEADLINE;
    let mut out = Vec::new();
    let hung = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break true;
        }
        let mut p = PollFd { fd: fds[0], events: POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let ready = unsafe { poll(&mut p, 1, left.as_millis().min(i32::MAX as u128) as c_int) };
        if ready <= 0 {
            continue; // timed out (the loop sees the deadline) or EINTR
        }
        let mut buf = [0u8; 512];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break false; // end of file: the child exited
        }
        out.extend_from_slice(&buf[..n as usize]);
    };
    // SAFETY: our own read end.
    unsafe { close(fds[0]) };
    if hung {
        // SAFETY: `pid` is our child, not yet reaped.
        unsafe { kill(pid, SIGKILL) };
    }
    let mut status: c_int = 0;
    // SAFETY: `pid` is our child; `status` is writable.
    let reaped = unsafe { waitpid(pid, &mut status, 0) };
    assert_eq!(reaped, pid);
    if hung {
        return Err(format!("child {pid} hung (killed after {CHILD_DEADLINE:?})"));
    }
    let exited = status & 0x7f == 0;
    let code = if exited { (status >> 8) & 0xff } else { -1 };
    Ok((code, String::from_utf8_lossy(&out).into_owned(), pid))
}

#[test]
fn forked_children_of_a_busy_program_do_not_hang() {
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let started = Arc::new(Barrier::new(3));
    let hammers = hammer(stop.clone(), rounds.clone(), started.clone());
    // Every child is forked with the validator running (and the other
    // threads busy with it).
    started.wait();
    let mut failures = Vec::new();
    for i in 0..CHILDREN {
        match run_child() {
            Ok((0, out, pid)) => {
                let line = format!("lockdep: process {pid} is a child of fork(): lock validation is off in it\n");
                if out != line {
                    failures.push(format!("child {i}: stderr {out:?}, expected {line:?}"));
                }
            }
            Ok((code, out, _)) => failures.push(format!("child {i}: exit status {code}, stderr {out:?}")),
            Err(e) => {
                failures.push(format!("child {i}: {e}"));
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.join().unwrap();
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(rounds.load(Ordering::Relaxed) > 0, "the hammer threads never ran");

    // The parent validates as before.
    let v = Validator::new(Config::collect().with_backtraces(false));
    let (a, b) = (Mutex::named(0, "parent-a"), Mutex::named(0, "parent-b"));
    v.scope(|| {
        drop((a.lock(), b.lock()));
        let _b = b.lock();
        drop(a.lock());
    });
    assert_eq!(v.reports().iter().map(|r| r.kind()).collect::<Vec<_>>(), [ReportKind::CircularDependency]);
}
