//! `berth-load --cluster`: two berth nodes on one throwaway PostgreSQL
//! registry. It measures how long a change made through node A takes to be
//! served by node B — `--changes` activations and as many deactivations,
//! each timed from the request to A until B answers accordingly (polled
//! every millisecond) — and then throughput against one node and against
//! both (connections split between them), with the usual tenants set up.

use super::{Args, LOAD_OPERATOR_TOKEN, Management, ServerProcess, run_load, setup_tenants};
use berth_storage::throwaway_postgres::ThrowawayPostgres;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The plugin route whose answer tells whether B serves.
const PROBE: &str = "/o/propagation/p/hello/";

/// Starts the registry and two nodes, then runs both measurements.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let postgres = ThrowawayPostgres::start();
    let url = postgres.create_database("cluster");
    let shared = tempfile::tempdir()?;
    let key = shared.path().join("secrets.key");
    let node_args = [
        "--registry",
        &url,
        "--secrets-key-file",
        key.to_str().unwrap_or_default(),
    ];
    let a = ServerProcess::start_berth(args, &node_args)?;
    let b = ServerProcess::start_berth(args, &node_args)?;
    let token = Some(LOAD_OPERATOR_TOKEN);
    let (via_a, via_b) = (
        Management {
            addr: a.addr,
            token,
        },
        Management {
            addr: b.addr,
            token,
        },
    );
    for node in [&via_a, &via_b] {
        wait_for(node, "/readyz", 200, Duration::from_secs(30)).await?;
    }

    via_a.create_org("propagation").await?;
    let manifest: serde_json::Value =
        serde_json::from_str(include_str!("../guests/hello/manifest.json"))?;
    via_a
        .install_active(
            "propagation",
            &manifest,
            berth_guests::HELLO_COMPONENT_BYTES,
        )
        .await?;
    wait_for(&via_b, PROBE, 200, Duration::from_secs(30)).await?;
    let plugin = "/api/v1/orgs/propagation/plugins/hello";
    let (mut activations, mut deactivations) = (Vec::new(), Vec::new());
    for _ in 0..args.changes {
        for (action, status, times) in [
            ("deactivate", 404, &mut deactivations),
            ("activate", 200, &mut activations),
        ] {
            let started = Instant::now();
            let path = format!("{plugin}/{action}");
            via_a
                .call("POST", &path, "application/json", Vec::new(), &[200])
                .await?;
            wait_for(&via_b, PROBE, status, Duration::from_secs(10)).await?;
            times.push(started.elapsed());
        }
    }
    report("activate", &mut activations);
    report("deactivate", &mut deactivations);

    let paths = setup_tenants(a.addr, args).await?;
    for path in &paths {
        wait_for(&via_b, path, 200, Duration::from_secs(30)).await?;
    }
    let paths = Arc::new(paths);
    let one = run_load(&[a.addr], paths.clone(), args.concurrency, args).await;
    one.report("one node");
    let both = run_load(&[a.addr, b.addr], paths, args.concurrency, args).await;
    both.report("two nodes");
    println!(
        "ratio     two nodes / one node throughput {:.2}× (both nodes on this one machine)",
        both.throughput() / one.throughput()
    );
    drop((a, b));
    drop(postgres);
    Ok(())
}

/// Polls `path` on `node` every millisecond until it answers `status`.
async fn wait_for(
    node: &Management<'_>,
    path: &str,
    status: u16,
    limit: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while node.get_status(path).await? != status {
        anyhow::ensure!(
            started.elapsed() < limit,
            "{path} did not answer {status} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Prints the median and 99th percentile of `times`.
fn report(what: &str, times: &mut [Duration]) {
    times.sort_unstable();
    let at = |p: f64| times[((p / 100.0) * (times.len() - 1) as f64).round() as usize];
    println!(
        "propagation  {what:<10} through A, served by B: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} changes)",
        at(50.0).as_secs_f64() * 1e3,
        at(99.0).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );
}
