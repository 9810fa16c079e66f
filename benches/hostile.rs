//! `berth-load --hostile N[,N…]`: tenant isolation measured at the neighbour.
//!
//! Org `good` serves `hello`; org `bad` runs the `faults` plugin, whose
//! `/spin` route loops until its CPU deadline. `good` is first measured
//! alone, then once for each N while N connections keep `bad`'s spinning
//! requests in flight. Each line reports `good`'s throughput as a
//! percentage of its throughput alone, and its p99.

use super::{Args, Management, Phase, run_load, worker_loop};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// The measured org, its plugin and the path requested.
const GOOD_PATH: &str = "/o/good/p/hello/echo/bench";
/// The hostile org's spinning route.
const SPIN_PATH: &str = "/o/bad/p/faults/spin";

/// Sets up both orgs, then measures `good` alone and beside each hostile load.
pub async fn run(addr: std::net::SocketAddr, args: &Args) -> anyhow::Result<()> {
    let api = Management {
        addr,
        token: args.token.as_deref(),
    };
    install(&api, "good", "hello", berth_guests::HELLO_COMPONENT_BYTES).await?;
    install(&api, "bad", "faults", berth_guests::FAULTS_COMPONENT_BYTES).await?;
    let good_paths = Arc::new(vec![GOOD_PATH.to_owned()]);
    println!(
        "hostile   org `good` (hello) measured with {} connections for {} s; org `bad` spins until its CPU deadline",
        args.concurrency, args.seconds
    );
    let alone = run_load(&[addr], good_paths.clone(), args.concurrency, args).await;
    alone.report("alone");
    for &spinners in &args.hostile {
        let stop = Instant::now() + Duration::from_secs(args.seconds + 2);
        let spinning: Vec<_> = (0..spinners)
            .map(|worker| {
                tokio::spawn(async move {
                    let paths = [SPIN_PATH.to_owned()];
                    worker_loop(addr, worker, &paths, &AtomicU64::new(0), u64::MAX, stop).await
                })
            })
            .collect();
        // Let every spinning request get going first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let beside = run_load(&[addr], good_paths.clone(), args.concurrency, args).await;
        report(spinners, &alone, &beside);
        for worker in spinning {
            worker.abort();
        }
        // Spinning requests still running end at their CPU deadline.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    Ok(())
}

fn report(spinners: usize, alone: &Phase, beside: &Phase) {
    println!(
        "hostile {spinners:>3}  good keeps {:>5.1} % ({:.0} of {:.0} req/s), p99 {} µs (alone {} µs), errors {}",
        100.0 * beside.throughput() / alone.throughput().max(1.0),
        beside.throughput(),
        alone.throughput(),
        beside.percentile_us(99.0),
        alone.percentile_us(99.0),
        beside.errors,
    );
}

/// Creates `org` with `plugin` (the component `bytes`) active.
async fn install(
    api: &Management<'_>,
    org: &str,
    plugin: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    api.create_org(org).await?;
    let manifest = serde_json::json!({
        "name": plugin,
        "version": "0.1.0",
        "description": "berth-load isolation benchmark plugin",
        "kinds": ["routes"],
        "component": "plugin.wasm",
        "api": "0.2.0",
        "permissions": { "routes": ["/"] },
    });
    api.install_active(org, &manifest, bytes).await
}
