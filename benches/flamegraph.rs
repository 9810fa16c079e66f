//! `berth-load --flamegraph FILE.svg`: a `perf` profile of the berth
//! server during the saturation phase, drawn as a flame graph (with its
//! folded stacks, for comparing runs), and where
//! its CPU time goes, by component, printed as one line.

use anyhow::Context;
use inferno::collapse::Collapse;
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Samples per second (per thread): enough for a flame graph of a few
/// seconds, few enough for `perf script` to unwind them in seconds.
const FREQUENCY: &str = "999";
/// The longest stretch of the load that is recorded.
const MAX_SECONDS: u64 = 4;

/// `perf record` running against the server.
pub struct Recording {
    perf: Child,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Recording {
    /// Starts recording process `pid` (call graphs unwound with DWARF, as
    /// release builds have no frame pointers) for at most `seconds`.
    pub fn start(pid: u32, seconds: u64) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("perf.data");
        let seconds = seconds.clamp(1, MAX_SECONDS).to_string();
        let perf = Command::new("perf")
            .args([
                "record",
                "--quiet",
                "-F",
                FREQUENCY,
                "--call-graph",
                "dwarf",
            ])
            .args(["-p", &pid.to_string(), "-o"])
            .arg(&data)
            .args(["--", "sleep", &seconds])
            .stdout(Stdio::null())
            .spawn()
            .context("starting `perf record` (install `linux-perf`)")?;
        Ok(Self {
            perf,
            data,
            _dir: dir,
        })
    }

    /// Waits for the recording, draws it into `svg` (its folded stacks
    /// beside it, as `.folded`), and returns each
    /// component's share of the samples (see [`component`]).
    pub fn finish(mut self, svg: &Path) -> anyhow::Result<Vec<(&'static str, f64)>> {
        let status = self.perf.wait()?;
        anyhow::ensure!(status.success(), "`perf record` failed: {status}");
        let script = Command::new("perf")
            .args(["script", "--no-inline", "-i"])
            .arg(&self.data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting `perf script`")?;
        let mut folded = Vec::new();
        let mut options = inferno::collapse::perf::Options::default();
        options.annotate_kernel = true;
        inferno::collapse::perf::Folder::from(options)
            .collapse(BufReader::new(script.stdout.expect("piped")), &mut folded)?;
        let folded = String::from_utf8(folded)?;
        // The folded stacks too, for comparing runs (`inferno-diff-folded`).
        let stacks = svg.with_extension("folded");
        std::fs::write(&stacks, &folded)
            .with_context(|| format!("writing {}", stacks.display()))?;
        let mut options = inferno::flamegraph::Options::default();
        options.title = "berth serving hello (berth-load)".to_owned();
        let file =
            std::fs::File::create(svg).with_context(|| format!("creating {}", svg.display()))?;
        inferno::flamegraph::from_lines(&mut options, folded.lines(), file)?;
        Ok(shares(&folded))
    }
}

/// Each component's share of the samples in `folded` stacks, by the frame
/// that was running (self time), largest first.
fn shares(folded: &str) -> Vec<(&'static str, f64)> {
    let mut samples: BTreeMap<&'static str, u64> = BTreeMap::new();
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        *samples.entry(component(leaf)).or_default() += count.parse::<u64>().unwrap_or(0);
    }
    let total = samples.values().sum::<u64>().max(1) as f64;
    let mut shares: Vec<_> = samples
        .into_iter()
        .map(|(name, count)| (name, 100.0 * count as f64 / total))
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    shares
}

/// The components a running frame can belong to, each with the name
/// prefixes of its frames, tried in order (the kernel's frames are told by
/// their `_[k]` suffix instead).
const COMPONENTS: &[(&str, &[&str])] = &[
    (
        "guest",
        &[
            "wasm[",
            "component-trampolines",
            "array_to_wasm",
            "module_start",
        ],
    ),
    ("wasmtime", &["wasmtime", "cranelift"]),
    (
        "allocator",
        &[
            "mi_",
            "_mi_",
            "malloc",
            "_int_",
            "cfree",
            "free",
            "realloc",
            "__rustc::__rust_alloc",
            "__rustc::__rust_dealloc",
        ],
    ),
    ("http", &["hyper", "http", "httparse", "h2"]),
    ("tokio", &["tokio", "mio"]),
    ("metrics", &["prometheus_client"]),
    ("berth", &["berth"]),
    ("memcpy", &["__mem", "mem"]),
];

/// What a running frame belongs to: the kernel, one of [`COMPONENTS`], or
/// the rest. A destructor or trait method counts for the type it runs on.
fn component(frame: &str) -> &'static str {
    if frame.ends_with("_[k]") {
        return "kernel";
    }
    let name = frame
        .trim_start_matches("core::ptr::drop_in_place<")
        .trim_start_matches(['<', '&', '*', '(']);
    let of = |name: &str| {
        COMPONENTS
            .iter()
            .find(|(_, prefixes)| prefixes.iter().any(|p| name.starts_with(p)))
            .map(|&(component, _)| component)
    };
    of(name)
        .or_else(|| name.split_once(" as ").and_then(|(_, rest)| of(rest)))
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_count_the_running_frame() {
        let folded = "main;wasmtime::Store::new;_mi_malloc 3\n\
                      main;berth::app::App::handle;tcp_sendmsg_[k] 5\n\
                      main;core::ptr::drop_in_place<wasmtime::Store> 1\n\
                      main;<(A1,) as wasmtime::Lower>::lower 1\n";
        let shares = shares(folded);
        assert_eq!(
            shares,
            vec![("kernel", 50.0), ("allocator", 30.0), ("wasmtime", 20.0)]
        );
    }
}
