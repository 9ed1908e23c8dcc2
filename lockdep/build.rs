//! Decides whether the validator is compiled in.
//!
//! Validation is on when the `enabled` feature is set and the build has debug
//! assertions, or when `enabled-in-release` is set. The decision is exported as
//! the `lockdep_on` cfg so that types can change shape (a zero-sized
//! `LockdepMap` when off); everything user-facing reads `lockdep::ENABLED`.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(lockdep_on)");
    println!("cargo::rerun-if-changed=build.rs");
    let enabled = std::env::var_os("CARGO_FEATURE_ENABLED").is_some();
    let in_release = std::env::var_os("CARGO_FEATURE_ENABLED_IN_RELEASE").is_some();
    let debug_assertions = std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some();
    if (enabled && debug_assertions) || in_release {
        println!("cargo::rustc-cfg=lockdep_on");
    } else if enabled {
        // Asked for, but compiled out: say so once, at build time, rather
        // than let a release build run silently unvalidated.
        println!(
            "cargo::warning=lockdep: the `enabled` feature is on but this build has no debug assertions, so \
             validation is compiled OUT (lockdep::ENABLED == false). Use a debug build, or the \
             `enabled-in-release` feature to validate release builds."
        );
    }
}
