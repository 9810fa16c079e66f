//! Arbitrary bytes uploaded as a plugin package.
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Err(broken) = berth_fuzz_oracles::package::check_bytes(bytes) {
        panic!("{broken}");
    }
});
