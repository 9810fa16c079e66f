//! Sequences of `berth:plugin/records` calls by plugins of two orgs.
#![no_main]
use berth_fuzz_oracles::records::{Call, check};
libfuzzer_sys::fuzz_target!(|calls: Vec<Call>| {
    if let Err(broken) = check(&calls) {
        panic!("{broken}");
    }
});
