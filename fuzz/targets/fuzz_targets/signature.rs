//! Signing, verifying and changing packages; parsing key text.
#![no_main]
use berth_fuzz_oracles::signature::{Signing, check};
libfuzzer_sys::fuzz_target!(|input: Signing| {
    if let Err(broken) = check(&input) {
        panic!("{broken}");
    }
});
