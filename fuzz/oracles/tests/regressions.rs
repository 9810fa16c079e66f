//! Every input committed under `fuzz/regressions/{target}/` — crashes the
//! fuzzers found, and hostile packages found before them — run through the
//! same checks as its fuzz target, in the ordinary test suite. An input is
//! read exactly as libFuzzer hands it to the target (structured targets
//! build their value with `arbitrary` from the bytes).

use arbitrary::{Arbitrary, Unstructured};
use berth_fuzz_oracles::{
    Verdict, components, config, kv, modules, package, paths, records, resolver, signature,
};
use std::path::PathBuf;

/// The committed inputs of `target`, by file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../regressions")
        .join(target);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|entry| {
                    let path = entry.expect("a directory entry").path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    (
                        name,
                        std::fs::read(&path).expect("reading a regression input"),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// `T` built from `bytes` as libFuzzer's `fuzz_target!` builds it.
fn structured<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

/// Runs every input of `target` through `check`; fails naming each broken one.
fn replay(target: &str, check: impl Fn(&[u8]) -> Verdict) {
    let broken: Vec<String> = inputs(target)
        .iter()
        .filter_map(|(name, bytes)| check(bytes).err().map(|why| format!("{name}: {why}")))
        .collect();
    assert!(broken.is_empty(), "{target}: {broken:#?}");
}

#[test]
fn package_archive_regressions() {
    assert!(
        !inputs("package_archive").is_empty(),
        "its hostile packages are committed"
    );
    replay("package_archive", package::check_bytes);
}

#[test]
fn package_structured_regressions() {
    replay("package_structured", |bytes| {
        structured::<package::Archive>(bytes)
            .map_or(Ok(()), |archive| package::check_bytes(&archive.to_zip()))
    });
}

#[test]
fn signature_regressions() {
    replay("signature", |bytes| {
        structured(bytes).map_or(Ok(()), |input| signature::check(&input))
    });
}

#[test]
fn resolver_regressions() {
    replay("resolver", |bytes| {
        structured(bytes).map_or(Ok(()), |input| resolver::check(&input))
    });
}

#[test]
fn paths_regressions() {
    replay("paths", |bytes| {
        structured(bytes).map_or(Ok(()), |input| paths::check(&input))
    });
}

#[test]
fn kv_calls_regressions() {
    replay("kv_calls", |bytes| {
        structured::<Vec<kv::Call>>(bytes).map_or(Ok(()), |calls| kv::check(&calls))
    });
}

#[test]
fn modules_calls_regressions() {
    replay("modules_calls", |bytes| {
        structured::<modules::Case>(bytes).map_or(Ok(()), |case| modules::check(&case))
    });
}

#[test]
fn records_calls_regressions() {
    replay("records_calls", |bytes| {
        structured::<Vec<records::Call>>(bytes).map_or(Ok(()), |calls| records::check(&calls))
    });
}

#[test]
fn components_regressions() {
    replay("components", components::check_input);
}

#[test]
fn config_reads_regressions() {
    replay("config_reads", |bytes| {
        structured(bytes).map_or(Ok(()), |input| config::check(&input))
    });
}
