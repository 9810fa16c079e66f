//! The operator's load tool, run briefly against a real `berth serve`: it
//! must set up its orgs, drive every phase, count the 429s of a rate-limited
//! org as rejections (not errors), and report memory.

use std::path::PathBuf;
use std::process::Command;

/// The `berth` binary sits next to `berth-load` in the target directory.
fn berth_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_berth-load")).with_file_name("berth");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        binary.display()
    );
    binary
}

/// The value after `label` in a report line, e.g. `429s` → its count.
fn figure(line: &str, label: &str) -> u64 {
    let mut words = line.split_whitespace();
    words.find(|word| *word == label);
    words
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` figure in {line:?}"))
}

/// Runs `berth-load` against the built `berth` with `args`; returns what it
/// printed, panicking with its output if it failed.
fn run_load_tool(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_berth-load"))
        .arg("--berth")
        .arg(berth_binary())
        .args(args)
        .output()
        .expect("berth-load runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "berth-load failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn load_tool_reports_throughput_rejections_and_memory() {
    let stdout = run_load_tool(&[
        "--orgs",
        "2",
        "--plugins",
        "1",
        "--concurrency",
        "4",
        "--moderate-concurrency",
        "2",
        "--seconds",
        "1",
        "--org-rps",
        "20",
    ]);
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {stdout}"))
    };
    // Phase lines pad the phase name to nine columns.
    let berth = line("berth     ");
    // Two orgs at 20 requests per second (burst 20) for about a second:
    // some requests pass, four busy connections far exceed the rest.
    assert!(figure(berth, "429s") > 0, "{berth}");
    assert_eq!(figure(berth, "errors"), 0, "{berth}");
    let native = line("native");
    assert_eq!(figure(native, "errors"), 0, "{native}");
    assert!(line("memory").contains("per active org"), "{stdout}");
}

#[test]
fn hostile_mode_measures_the_neighbour_of_a_spinning_org() {
    let stdout = run_load_tool(&["--hostile", "2", "--concurrency", "2", "--seconds", "1"]);
    let alone = stdout
        .lines()
        .find(|line| line.starts_with("alone"))
        .unwrap_or_else(|| panic!("no `alone` line in {stdout}"));
    assert_eq!(figure(alone, "errors"), 0, "{alone}");
    let beside = stdout
        .lines()
        .find(|line| line.starts_with("hostile   2"))
        .unwrap_or_else(|| panic!("no `hostile   2` line in {stdout}"));
    // The measured org is served beside the spinning one (how well is
    // the benchmark's business, not this test's).
    assert!(beside.contains("good keeps"), "{beside}");
    assert!(beside.ends_with("errors 0"), "{beside}");
}

#[test]
fn flamegraph_mode_draws_the_served_path() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("served.svg");
    let stdout = run_load_tool(&[
        "--orgs",
        "1",
        "--plugins",
        "1",
        "--concurrency",
        "2",
        "--moderate-concurrency",
        "1",
        "--seconds",
        "1",
        "--flamegraph",
        svg.to_str().unwrap(),
    ]);
    let profile = (stdout.lines())
        .find(|line| line.starts_with("profile"))
        .unwrap_or_else(|| panic!("no profile line in {stdout}"));
    // The served path runs guest instances: wasmtime has a share.
    assert!(profile.contains("wasmtime"), "{profile}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.starts_with("<?xml") && drawn.contains("<svg"),
        "not an SVG"
    );
    assert!(
        drawn.contains("instantiate"),
        "no instantiation in the flame graph"
    );
    let folded = std::fs::read_to_string(svg.with_extension("folded")).unwrap();
    assert!(folded.lines().count() > 10, "{folded}");
}
