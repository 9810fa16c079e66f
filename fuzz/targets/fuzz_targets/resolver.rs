//! The dependency resolver over arbitrary registries and pins.
#![no_main]
use berth_fuzz_oracles::resolver::{Registry, check};
libfuzzer_sys::fuzz_target!(|registry: Registry| {
    if let Err(broken) = check(&registry) {
        panic!("{broken}");
    }
});
