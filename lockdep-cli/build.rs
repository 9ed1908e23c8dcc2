//! Sets `cfg(has_chromium)` when a `chromium` executable is on `PATH`, so
//! that the browser test of the HTML page runs where it can and shows as
//! ignored ("chromium is not on PATH") where it cannot.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_chromium)");
    println!("cargo::rerun-if-env-changed=PATH");
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("chromium")).find(|c| c.is_file()))
        .unwrap_or_default();
    match found {
        Some(c) => {
            println!("cargo::rerun-if-changed={}", c.display());
            println!("cargo::rustc-cfg=has_chromium");
        }
        None => {
            // Installing it later (same PATH) should turn the test on.
            println!("cargo::rerun-if-changed=/usr/bin/chromium");
        }
    }
}
