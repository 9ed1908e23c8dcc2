//! The validator's own output: to stderr, never panicking.
//!
//! `eprintln!` panics when stderr is closed (`prog 2>&1 | head` after `head`
//! exits): a report printed from `lock()` would then make `lock()` panic, and
//! one printed from a thread-local destructor would abort the process. What
//! the validator prints goes through [`line`] instead, which ignores write
//! errors. Callers print only with no engine lock held.

use std::fmt;
use std::io::Write as _;

/// Writes one line to stderr, ignoring every error.
pub(crate) fn line(args: fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `eprintln!` that never panics (see the module docs).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;
