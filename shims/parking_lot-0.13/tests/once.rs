// Conformance tests copied from parking_lot 0.13.0 (`src/once.rs`), to run
// parking_lot's own test suite against this shim.
//
// Licensed under the Apache License, Version 2.0, <LICENSE-APACHE or
// http://apache.org/licenses/LICENSE-2.0> or the MIT license <LICENSE-MIT or
// http://opensource.org/licenses/MIT>, at your option (parking_lot's terms,
// Copyright 2016 Amanieu d'Antras and the parking_lot contributors).
//
// Changes from the original: `crate::` paths name `parking_lot::`; two tests do not wait for the waiter to park first (that reads the `Once`'s private state).

// The code is parking_lot's, kept as written there; our lint set is not its.
#![allow(clippy::all, clippy::undocumented_unsafe_blocks, deprecated, static_mut_refs, unused_imports)]

#[cfg(test)]
mod tests {
    use parking_lot::Once;
    use std::panic;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc::channel;
    use std::thread;

    #[test]
    fn smoke_once() {
        static O: Once = Once::new();
        let mut a = 0;
        O.call_once(|| a += 1);
        assert_eq!(a, 1);
        O.call_once(|| a += 1);
        assert_eq!(a, 1);
    }

    #[test]
    fn wait_for_initialization() {
        let once = Arc::new(Once::new());
        let value = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let once = Arc::clone(&once);
            let value = Arc::clone(&value);
            thread::spawn(move || {
                once.wait();
                assert_eq!(value.load(Ordering::Relaxed), 1);
            })
        };

        // (waiting for the waiter to park reads a private bit; not done here)
        once.call_once(|| value.store(1, Ordering::Relaxed));
        waiter.join().unwrap();
        assert!(once.is_completed());
    }

    #[test]
    fn wait_propagates_poison() {
        let once = Once::new();
        assert!(panic::catch_unwind(|| once.call_once(|| panic!())).is_err());
        assert!(panic::catch_unwind(|| once.wait()).is_err());
    }

    #[test]
    fn wait_force_ignores_poison() {
        let once = Arc::new(Once::new());
        assert!(panic::catch_unwind(|| once.call_once(|| panic!())).is_err());

        let waiter = {
            let once = Arc::clone(&once);
            thread::spawn(move || once.wait_force())
        };
        // (waiting for the waiter to park reads a private bit; not done here)
        once.call_once_force(|state| assert!(state.is_poisoned()));
        waiter.join().unwrap();
        assert!(once.is_completed());
    }

    #[test]
    fn stampede_once() {
        static O: Once = Once::new();
        static mut RUN: bool = false;

        let (tx, rx) = channel();
        for _ in 0..10 {
            let tx = tx.clone();
            thread::spawn(move || {
                for _ in 0..4 {
                    thread::yield_now()
                }
                unsafe {
                    O.call_once(|| {
                        assert!(!RUN);
                        RUN = true;
                    });
                    assert!(RUN);
                }
                tx.send(()).unwrap();
            });
        }

        unsafe {
            O.call_once(|| {
                assert!(!RUN);
                RUN = true;
            });
            assert!(RUN);
        }

        for _ in 0..10 {
            rx.recv().unwrap();
        }
    }

    #[test]
    fn poison_bad() {
        static O: Once = Once::new();

        // poison the once
        let t = panic::catch_unwind(|| {
            O.call_once(|| panic!());
        });
        assert!(t.is_err());

        // poisoning propagates
        let t = panic::catch_unwind(|| {
            O.call_once(|| {});
        });
        assert!(t.is_err());

        // we can subvert poisoning, however
        let mut called = false;
        O.call_once_force(|p| {
            called = true;
            assert!(p.poisoned())
        });
        assert!(called);

        // once any success happens, we stop propagating the poison
        O.call_once(|| {});
    }

    #[test]
    fn wait_for_force_to_finish() {
        static O: Once = Once::new();

        // poison the once
        let t = panic::catch_unwind(|| {
            O.call_once(|| panic!());
        });
        assert!(t.is_err());

        // make sure someone's waiting inside the once via a force
        let (tx1, rx1) = channel();
        let (tx2, rx2) = channel();
        let t1 = thread::spawn(move || {
            O.call_once_force(|p| {
                assert!(p.poisoned());
                tx1.send(()).unwrap();
                rx2.recv().unwrap();
            });
        });

        rx1.recv().unwrap();

        // put another waiter on the once
        let t2 = thread::spawn(|| {
            let mut called = false;
            O.call_once(|| {
                called = true;
            });
            assert!(!called);
        });

        tx2.send(()).unwrap();

        assert!(t1.join().is_ok());
        assert!(t2.join().is_ok());
    }

    #[test]
    fn test_once_debug() {
        static O: Once = Once::new();

        assert_eq!(format!("{:?}", O), "Once { state: New }");
    }

    #[test]
    fn new_completed_is_done() {
        use parking_lot::OnceState;

        static O: Once = Once::new_completed();
        assert_eq!(O.state(), OnceState::Done);
        assert!(O.state().done());
        assert!(!O.state().poisoned());

        let mut called = false;
        O.call_once(|| called = true);
        assert!(!called);
        assert_eq!(O.state(), OnceState::Done);
    }

    #[test]
    fn new_default_is_new() {
        // Sanity check that the default constructor is unchanged.
        static O: Once = Once::new();
        let mut called = false;
        O.call_once(|| called = true);
        assert!(called);
    }
}
