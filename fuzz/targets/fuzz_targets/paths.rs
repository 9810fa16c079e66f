//! Plugin route paths against grants, and UI asset paths.
#![no_main]
use berth_fuzz_oracles::paths::{Paths, check};
libfuzzer_sys::fuzz_target!(|input: Paths| {
    if let Err(broken) = check(&input) {
        panic!("{broken}");
    }
});
