// Conformance tests copied from parking_lot 0.12.5 (`tests/issue_392.rs`), to run
// parking_lot's own test suite against this shim.
//
// Copyright 2016 Amanieu d'Antras
//
// Licensed under the Apache License, Version 2.0, <LICENSE-APACHE or
// http://apache.org/licenses/LICENSE-2.0> or the MIT license <LICENSE-MIT or
// http://opensource.org/licenses/MIT>, at your option. This file may not be
// copied, modified, or distributed except according to those terms.
//
// Changes from the original: none.

// The code is parking_lot's, kept as written there; our lint set is not its.
#![allow(clippy::all, clippy::undocumented_unsafe_blocks, deprecated, static_mut_refs)]

use parking_lot::RwLock;

struct Lock(RwLock<i32>);

#[test]
fn issue_392() {
    let lock = Lock(RwLock::new(0));
    let mut rl = lock.0.upgradable_read();
    rl.with_upgraded(|_| {
        println!("lock upgrade");
    });
    rl.with_upgraded(|_| {
        println!("lock upgrade");
    });
}
