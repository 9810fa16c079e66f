//! A plugin's `berth:plugin/modules` calls under an arbitrary grant.
#![no_main]
use berth_fuzz_oracles::modules::{Case, check};
libfuzzer_sys::fuzz_target!(|case: Case| {
    if let Err(broken) = check(&case) {
        panic!("{broken}");
    }
});
