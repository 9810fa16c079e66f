//! Arbitrary bytes, or a wasm-smith module wrapped in a component, as a
//! plugin's component: the import gate and the loader.
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Err(broken) = berth_fuzz_oracles::components::check_input(bytes) {
        panic!("{broken}");
    }
});
