//! Reads of `berth:plugin/config` by plugins of two orgs.
#![no_main]
use berth_fuzz_oracles::config::{Reads, check};
libfuzzer_sys::fuzz_target!(|input: Reads| {
    if let Err(broken) = check(&input) {
        panic!("{broken}");
    }
});
