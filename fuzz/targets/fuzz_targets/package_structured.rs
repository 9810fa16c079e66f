//! Archives built from arbitrary entries (names, sizes, folders,
//! duplicates, nesting) beside a manifest, uploaded as a plugin package.
#![no_main]
use berth_fuzz_oracles::package::{Archive, check_bytes};
libfuzzer_sys::fuzz_target!(|archive: Archive| {
    if let Err(broken) = check_bytes(&archive.to_zip()) {
        panic!("{broken}");
    }
});
