//! Arbitrary bytes as a plugin's component: the import gate and the loader.
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Err(broken) = berth_fuzz_oracles::components::check(bytes) {
        panic!("{broken}");
    }
});
