//! Which thread holds a lock exclusively, for assertion reports ("held by
//! thread X"). The validator's held-lock stacks are per thread and cannot
//! answer "who else holds it"; the lock types record their exclusive owner
//! instead. Zero-sized and never touched when validation is compiled out.

use crate::report::ThreadInfo;

#[cfg(lockdep_on)]
mod on {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};

    use crate::report::ThreadInfo;

    /// Live threads that ever took an instrumented lock, by token.
    fn threads() -> &'static Mutex<HashMap<u64, ThreadInfo>> {
        static THREADS: OnceLock<Mutex<HashMap<u64, ThreadInfo>>> = OnceLock::new();
        THREADS.get_or_init(Default::default)
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This thread's token; registered on first use, removed at thread exit.
    struct Token(u64);

    impl Token {
        fn register() -> Token {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            lock(threads()).insert(id, ThreadInfo::current());
            Token(id)
        }
    }

    impl Drop for Token {
        fn drop(&mut self) {
            lock(threads()).remove(&self.0);
        }
    }

    thread_local! {
        static TOKEN: Token = Token::register();
    }

    /// The token of the current thread (0 while its thread-locals are torn down).
    pub(super) fn current() -> u64 {
        TOKEN.try_with(|t| t.0).unwrap_or(0)
    }

    pub(super) fn lookup(token: u64) -> Option<ThreadInfo> {
        lock(threads()).get(&token).cloned()
    }
}

/// The exclusive owner of one lock (a thread token, 0 for none).
pub(crate) struct Owner {
    #[cfg(lockdep_on)]
    token: std::sync::atomic::AtomicU64,
}

impl Owner {
    pub(crate) const fn new() -> Owner {
        Owner {
            #[cfg(lockdep_on)]
            token: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The current thread now owns the lock exclusively.
    #[inline(always)]
    pub(crate) fn set_current(&self) {
        #[cfg(lockdep_on)]
        self.token.store(on::current(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Nobody owns the lock exclusively any more.
    #[inline(always)]
    pub(crate) fn clear(&self) {
        #[cfg(lockdep_on)]
        self.token.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// The thread that owns the lock exclusively, if it is another live thread.
    pub(crate) fn other_thread(&self) -> Option<ThreadInfo> {
        #[cfg(lockdep_on)]
        {
            let t = self.token.load(std::sync::atomic::Ordering::Relaxed);
            if t != 0 && t != on::current() {
                return on::lookup(t);
            }
        }
        None
    }
}
