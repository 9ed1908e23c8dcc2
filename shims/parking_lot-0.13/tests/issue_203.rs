// Conformance tests copied from parking_lot 0.13.0 (`tests/issue_203.rs`), to run
// parking_lot's own test suite against this shim.
//
// Licensed under the Apache License, Version 2.0, <LICENSE-APACHE or
// http://apache.org/licenses/LICENSE-2.0> or the MIT license <LICENSE-MIT or
// http://opensource.org/licenses/MIT>, at your option (parking_lot's terms,
// Copyright 2016 Amanieu d'Antras and the parking_lot contributors).
//
// Changes from the original: none.

// The code is parking_lot's, kept as written there; our lint set is not its.
#![allow(clippy::all, clippy::undocumented_unsafe_blocks, deprecated, static_mut_refs, unused_imports)]

use parking_lot::RwLock;
use std::thread;

struct Bar(RwLock<()>);

impl Drop for Bar {
    fn drop(&mut self) {
        let _n = self.0.write();
    }
}

thread_local! {
    static B: Bar = const { Bar(RwLock::new(())) };
}

#[test]
fn main() {
    thread::spawn(|| {
        B.with(|_| ());

        let a = RwLock::new(());
        let _a = a.read();
    })
    .join()
    .unwrap();
}
