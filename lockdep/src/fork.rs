//! `fork()`: validation is off in the child process.
//!
//! A child of `fork()` runs one thread, a copy of the one that forked, over a
//! copy of the whole address space — including the validator's internal
//! locks as they were at that instant. A lock another thread held then stays
//! held in the child forever (its holder does not exist there), and the
//! state it protects may be half-updated. The kernel's lockdep has no such
//! case; C libraries handle theirs with `pthread_atfork` handlers, and so
//! does this module: a child handler, registered before the validator first
//! takes any of its locks (every path to them asks [`in_forked_child`]
//! first, which registers it), switches validation off in the child. From
//! then on, in the child:
//!
//! * every hook is a no-op: the slow path's entry (`thread::with_ctx`) and
//!   `enter_scope` return at once, the fast path is disarmed, no internal
//!   lock is touched (lock construction and key removal skip theirs too);
//! * assertions pass and `lock_is_held` answers "unknown" (`true`), as with
//!   validation switched off;
//! * one line on stderr says so, written with a raw `write(2)` (the child
//!   must not take any lock, the standard library's stderr lock included) the
//!   first time the child uses the validator — not at the fork itself, so
//!   that a child that only `exec`s (e.g. `std::process::Command` when it
//!   forks) prints nothing.
//!
//! The validator's query methods (`reports`, `stats`, the dumps) read state
//! behind the same internal locks and must not be called in the child. The
//! parent is not affected.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set by the child handler, in the child, before `fork()` returns there.
static IN_CHILD: AtomicBool = AtomicBool::new(false);
/// Whether this process printed its line (reset in each new child).
static TOLD: AtomicBool = AtomicBool::new(false);

/// Registers the child handler, once per process (a child inherits it).
pub(crate) fn install() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: `child` is a valid handler for the life of the program
            // (a plain function) and only stores atomics, clears a
            // thread-local cell without a destructor and returns. If the
            // registration fails (ENOMEM), forking stays as it was.
            let _ = unsafe { sys::pthread_atfork(None, None, Some(child as unsafe extern "C" fn())) };
        });
    }
}

/// Whether this process is a child of `fork()` made after the validator
/// started: then nothing may validate. The first `true` prints the line.
/// Otherwise the child handler is registered (if it was not yet) before
/// this returns: callers ask before taking any internal lock, so a fork
/// that finds one held always runs the handler.
#[inline]
pub(crate) fn in_forked_child() -> bool {
    if IN_CHILD.load(Ordering::Relaxed) {
        tell();
        true
    } else {
        install();
        false
    }
}

/// [`in_forked_child`] without the line: for a child's thread exit, which
/// is no use of the validator (a child that exits without locking says
/// nothing).
pub(crate) fn in_forked_child_quiet() -> bool {
    IN_CHILD.load(Ordering::Relaxed)
}

/// What the engine does in the child besides the flag: disarm this
/// thread's fast path (see [`on_child`]); 0 until the engine says.
static ON_CHILD: AtomicUsize = AtomicUsize::new(0);

/// Has the child handler also call `f` (the engine's: disarm the thread's
/// fast path). Kept as a plain function pointer so that this module, which
/// the lock data types use too, depends on nothing of the engine's.
pub(crate) fn on_child(f: fn()) {
    ON_CHILD.store(f as usize, Ordering::Relaxed);
}

/// The `pthread_atfork` child handler: runs in the child, on its only
/// thread, right after the fork.
#[cfg(unix)]
extern "C" fn child() {
    IN_CHILD.store(true, Ordering::Relaxed);
    TOLD.store(false, Ordering::Relaxed);
    let f = ON_CHILD.load(Ordering::Relaxed);
    if f != 0 {
        // SAFETY: a non-zero value was stored by `on_child` from a `fn()`,
        // which has the size of a `usize` and stays valid for the program.
        let f: fn() = unsafe { std::mem::transmute::<usize, fn()>(f) };
        f();
    }
}

/// Prints the one line, once per process, without taking any lock.
#[cold]
#[inline(never)]
fn tell() {
    if TOLD.swap(true, Ordering::Relaxed) {
        return;
    }
    #[cfg(unix)]
    {
        let mut line = [0u8; 160];
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            let n = bytes.len().min(line.len() - len);
            line[len..len + n].copy_from_slice(&bytes[..n]);
            len += n;
        };
        put(b"lockdep: process ");
        put(decimal(std::process::id(), &mut [0u8; 10]));
        put(b" is a child of fork(): lock validation is off in it\n");
        // SAFETY: `line[..len]` is initialised memory of this frame.
        // Errors (a closed stderr) are ignored: nothing to do about them.
        let _ = unsafe { sys::write(2, line.as_ptr().cast(), len) };
    }
}

/// `n` in decimal, in `buf`.
#[cfg(unix)]
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// The C library functions used here (std links the C library on unix).
#[cfg(unix)]
mod sys {
    use std::ffi::{c_int, c_void};

    unsafe extern "C" {
        pub(super) fn pthread_atfork(
            prepare: Option<unsafe extern "C" fn()>,
            parent: Option<unsafe extern "C" fn()>,
            child: Option<unsafe extern "C" fn()>,
        ) -> c_int;
        pub(super) fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    }
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn decimal_digits() {
        for n in [0, 7, 10, 4_194_304, u32::MAX] {
            assert_eq!(super::decimal(n, &mut [0; 10]), n.to_string().as_bytes());
        }
    }
}
