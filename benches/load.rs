//! `berth-load`: the operator's benchmark. It starts a `berth serve` (or
//! targets a running one), creates N orgs each with M active copies of the
//! `hello` plugin, drives closed-loop HTTP load on loopback — every worker
//! keeps one request in flight, bounded by time and by count — and reports
//! throughput, latency percentiles, 429s, CPU per request, peak RSS and RSS
//! per active org. The same load then runs against a native hyper handler
//! doing the same work, in its own process as berth is, and the ratio is printed. A last
//! phase measures berth's latency at moderate load (few connections).
//! With `--hostile`, it measures isolation instead (see `hostile.rs`).
//!
//! ```sh
//! cargo build --release --bin berth
//! cargo run --release -p berth-benches --bin berth-load -- --orgs 50 --plugins 2
//! cargo run --release -p berth-benches --bin berth-load -- --hostile 2,12,64 --concurrency 8
//! ```

mod cluster;
mod flamegraph;
mod hostile;

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// Closed-loop load against berth and a native handler.
#[derive(Parser, Clone)]
#[command(about)]
struct Args {
    /// Orgs to create.
    #[arg(long, default_value_t = 20)]
    orgs: usize,
    /// Active plugins per org (copies of `hello`).
    #[arg(long, default_value_t = 2)]
    plugins: usize,
    /// Concurrent connections, each with one request in flight, for the
    /// saturation phases (berth and native).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Concurrent connections for the moderate-load latency phase.
    #[arg(long, default_value_t = 4)]
    moderate_concurrency: usize,
    /// Time limit for each load phase, in seconds.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Request limit for each load phase.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// The `berth` binary to start (default: next to this one).
    #[arg(long)]
    berth: Option<PathBuf>,
    /// A config file for the `berth` this tool starts (e.g. one choosing
    /// `[http] serving`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Target an already running berth at this loopback address instead
    /// (RSS is then not reported).
    #[arg(long)]
    target: Option<std::net::SocketAddr>,
    /// The operator token of the `--target` server (a started server gets
    /// one from this tool).
    #[arg(long, env = "BERTH_OPERATOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Set each org's in-flight limit to this (PUT …/limits) before the load.
    #[arg(long)]
    org_concurrency: Option<u32>,
    /// Set each org's sustained requests per second (burst the same) before the load.
    #[arg(long)]
    org_rps: Option<u32>,
    /// Instead of the phases above, measure isolation: an org spinning with
    /// each of these numbers of concurrent CPU-bound requests beside an org
    /// measured with `--concurrency` connections (e.g. `--hostile 2,12,64`).
    #[arg(long, value_delimiter = ',')]
    hostile: Vec<usize>,
    /// Instead of the phases above, measure a two-node cluster on a
    /// throwaway PostgreSQL: how long a change through one node takes to
    /// be served by the other, and throughput against one node and both.
    #[arg(long)]
    cluster: bool,
    /// Activations (and as many deactivations) timed by `--cluster`.
    #[arg(long, default_value_t = 100)]
    changes: usize,
    /// Also record the started server with `perf` during the berth phase
    /// (its first seconds), draw a flame graph into this SVG file, and print
    /// where the server's CPU time went. Recording slows the phase a little.
    #[arg(long)]
    flamegraph: Option<PathBuf>,
    /// Internal: serve the native handler on a loopback port and print it
    /// (the baseline runs as its own process, as berth does).
    #[arg(long, hide = true)]
    serve_native: bool,
}

/// What one load phase measured.
struct Phase {
    requests: u64,
    rejected: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Phase {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_us(&self, p: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[rank]
    }

    fn report(&self, name: &str) {
        println!(
            "{name:<9} {:>9.0} req/s  p50 {:>6} µs  p99 {:>6} µs  p999 {:>6} µs  429s {:>6}  errors {:>4}  ({} requests in {:.1} s)",
            self.throughput(),
            self.percentile_us(50.0),
            self.percentile_us(99.0),
            self.percentile_us(99.9),
            self.rejected,
            self.errors,
            self.requests,
            self.elapsed.as_secs_f64()
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.serve_native {
        return serve_native().await;
    }
    if args.target.is_none() {
        args.token = Some(LOAD_OPERATOR_TOKEN.to_owned());
    }
    if args.cluster {
        return cluster::run(&args).await;
    }
    anyhow::ensure!(
        args.flamegraph.is_none() || args.target.is_none(),
        "--flamegraph records a server this tool starts, not a --target"
    );
    let (server, addr) = match args.target {
        Some(addr) => (None, addr),
        None => {
            let server = ServerProcess::start_berth(&args, &[])?;
            let addr = server.addr;
            (Some(server), addr)
        }
    };
    if !args.hostile.is_empty() {
        return hostile::run(addr, &args).await;
    }
    let baseline_rss = server.as_ref().map(ServerProcess::rss_kib);
    let paths = setup_tenants(addr, &args).await?;
    println!(
        "berth at {addr}: {} orgs × {} plugins active, {} connections, ≤{} s or ≤{} requests per phase",
        args.orgs, args.plugins, args.concurrency, args.seconds, args.max_requests
    );

    let paths = Arc::new(paths);
    let cpu_before = server.as_ref().map(ServerProcess::cpu_seconds);
    let recording = match (&server, &args.flamegraph) {
        (Some(server), Some(_)) => Some(flamegraph::Recording::start(
            server.child.id(),
            args.seconds,
        )?),
        _ => None,
    };
    let berth = run_load(&[addr], paths.clone(), args.concurrency, &args).await;
    berth.report("berth");
    if let (Some(server), Some(before)) = (&server, cpu_before) {
        server.report_cpu("berth", before, &berth);
    }
    if let (Some(recording), Some(svg)) = (recording, &args.flamegraph) {
        let shares = recording.finish(svg)?;
        let shares: Vec<_> = shares
            .iter()
            .map(|(component, share)| format!("{component} {share:.1} %"))
            .collect();
        println!(
            "profile   {} (flame graph in {})",
            shares.join(", "),
            svg.display()
        );
    }

    let native_server = ServerProcess::start_native()?;
    let native_paths = Arc::new(vec!["/echo/bench".to_owned()]);
    let cpu_before = native_server.cpu_seconds();
    let native = run_load(&[native_server.addr], native_paths, args.concurrency, &args).await;
    native.report("native");
    native_server.report_cpu("native", cpu_before, &native);
    println!(
        "ratio     berth/native throughput {:.1} %, p99 {:.2}×",
        100.0 * berth.throughput() / native.throughput(),
        f64::from(berth.percentile_us(99.0)) / f64::from(native.percentile_us(99.0).max(1))
    );

    let moderate = run_load(&[addr], paths, args.moderate_concurrency, &args).await;
    moderate.report(&format!("berth ×{}", args.moderate_concurrency));

    if let (Some(server), Some(baseline)) = (&server, baseline_rss) {
        let peak = server.peak_rss_kib();
        let now = server.rss_kib();
        println!(
            "memory    peak RSS {} MiB; RSS before traffic {} MiB, after {} MiB; {:.0} KiB per active org",
            peak / 1024,
            baseline / 1024,
            now / 1024,
            now.saturating_sub(baseline) as f64 / args.orgs.max(1) as f64
        );
    }
    let errors = berth.errors + moderate.errors;
    anyhow::ensure!(
        errors == 0,
        "berth failed {errors} requests (neither 200 nor 429)"
    );
    Ok(())
}

/// Creates the orgs and plugins through the management API; returns the
/// plugin paths to request.
async fn setup_tenants(addr: std::net::SocketAddr, args: &Args) -> anyhow::Result<Vec<String>> {
    let api = Management {
        addr,
        token: args.token.as_deref(),
    };
    let manifest: serde_json::Value =
        serde_json::from_str(include_str!("../guests/hello/manifest.json"))?;
    let mut paths = Vec::new();
    for org_index in 0..args.orgs {
        let org = format!("load-{org_index}");
        api.create_org(&org).await?;
        if args.org_concurrency.is_some() || args.org_rps.is_some() {
            let rps = args.org_rps.unwrap_or(0);
            let limits = serde_json::json!({
                "max-concurrent": args.org_concurrency.unwrap_or(u32::MAX),
                "requests-per-second": rps,
                "burst": rps.max(1),
            });
            let path = format!("/api/v1/orgs/{org}/limits");
            api.call("PUT", &path, JSON, json_bytes(&limits), &[200])
                .await?;
        }
        for plugin_index in 0..args.plugins {
            let name = format!("hello-{plugin_index}");
            let mut manifest = manifest.clone();
            manifest["name"] = name.clone().into();
            api.install_active(&org, &manifest, berth_guests::HELLO_COMPONENT_BYTES)
                .await?;
            paths.push(format!("/o/{org}/p/{name}/echo/bench"));
        }
    }
    Ok(paths)
}

/// The operator token given to a server this tool starts.
const LOAD_OPERATOR_TOKEN: &str = "berth-load-operator-token-0123456789abcdef";

const JSON: &str = "application/json";

fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// The management API of the server under test.
struct Management<'a> {
    addr: std::net::SocketAddr,
    token: Option<&'a str>,
}

impl Management<'_> {
    /// Creates `org` (or finds it there).
    async fn create_org(&self, org: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({ "name": org });
        self.call("POST", "/api/v1/orgs", JSON, json_bytes(&body), &[201, 409])
            .await
    }

    /// Installs the plugin of `manifest` with `component` (the file its
    /// `component` field names) into `org`, and activates it.
    async fn install_active(
        &self,
        org: &str,
        manifest: &serde_json::Value,
        component: &[u8],
    ) -> anyhow::Result<()> {
        let name = manifest["name"].as_str().unwrap_or_default();
        let file = manifest["component"].as_str().unwrap_or("plugin.wasm");
        let manifest_bytes = serde_json::to_vec(manifest)?;
        let zip = berth::package::build_zip([
            ("manifest.json", manifest_bytes.as_slice()),
            (file, component),
        ]);
        let plugins = format!("/api/v1/orgs/{org}/plugins");
        let upload = format!("{plugins}?force");
        self.call("POST", &upload, "application/zip", zip, &[201])
            .await?;
        let activate = format!("{plugins}/{name}/activate");
        self.call("POST", &activate, JSON, Vec::new(), &[200]).await
    }

    /// The status `GET path` answers, on a fresh connection.
    async fn get_status(&self, path: &str) -> anyhow::Result<u16> {
        let stream = TcpStream::connect(self.addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = Request::get(path)
            .header("host", self.addr.to_string())
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }

    /// Sends one request on a fresh connection (for setup); fails unless
    /// the answer's status is one of `expected`.
    async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        expected: &[u16],
    ) -> anyhow::Result<()> {
        let stream = TcpStream::connect(self.addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", content_type);
        if let Some(token) = self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body)))?)
            .await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            expected.contains(&status),
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }
}

/// Closed-loop load: `concurrency` workers, each on its own keep-alive
/// connection to one of `addrs` (in turn), cycling through `paths`, until
/// the time or count limit.
async fn run_load(
    addrs: &[std::net::SocketAddr],
    paths: Arc<Vec<String>>,
    concurrency: usize,
    args: &Args,
) -> Phase {
    let issued = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let addr = addrs[worker % addrs.len()];
            let (paths, issued, max) = (paths.clone(), issued.clone(), args.max_requests);
            tokio::spawn(
                async move { worker_loop(addr, worker, &paths, &issued, max, deadline).await },
            )
        })
        .collect();
    let mut phase = Phase {
        requests: 0,
        rejected: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for worker in workers {
        if let Ok(result) = worker.await {
            phase.requests += result.requests;
            phase.rejected += result.rejected;
            phase.errors += result.errors;
            phase.latencies_us.extend(result.latencies_us);
        }
    }
    phase.elapsed = started.elapsed();
    phase.latencies_us.sort_unstable();
    phase
}

async fn worker_loop(
    addr: std::net::SocketAddr,
    worker: usize,
    paths: &[String],
    issued: &AtomicU64,
    max: u64,
    deadline: Instant,
) -> Phase {
    let mut phase = Phase {
        requests: 0,
        rejected: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    let Ok(stream) = TcpStream::connect(addr).await else {
        phase.errors += 1;
        return phase;
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        phase.errors += 1;
        return phase;
    };
    tokio::spawn(connection);
    let mut next = worker;
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
        let path = &paths[next % paths.len()];
        next += 1;
        let request = Request::get(path.as_str())
            .header("host", "bench")
            .body(Empty::<Bytes>::new())
            .expect("valid request");
        let sent = Instant::now();
        let outcome = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await;
                (status, body.is_ok())
            }
            Err(_) => (StatusCode::BAD_GATEWAY, false),
        };
        let latency = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
        match outcome {
            (StatusCode::OK, true) => {
                phase.requests += 1;
                phase.latencies_us.push(latency);
            }
            (StatusCode::TOO_MANY_REQUESTS, _) => phase.rejected += 1,
            _ => {
                phase.errors += 1;
                if sender.ready().await.is_err() {
                    break;
                }
            }
        }
    }
    phase
}

/// What `guests/hello` does for `GET /echo/{param}`, as a native hyper handler.
async fn native_hello(
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let param = request
        .uri()
        .path()
        .strip_prefix("/echo/")
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::json!({ "param": param, "path": path }).to_string();
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response"))
}

/// Serves the native handler on a loopback port until killed, printing
/// `native listening on http://ADDR` first.
async fn serve_native() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("native listening on http://{}", listener.local_addr()?);
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let service = hyper::service::service_fn(native_hello);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    Ok(())
}

/// A server child process (berth, or the native baseline) on loopback.
struct ServerProcess {
    child: Child,
    addr: std::net::SocketAddr,
    _data: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts `berth serve` on a fresh data directory, with `extra` flags.
    fn start_berth(args: &Args, extra: &[&str]) -> anyhow::Result<Self> {
        let binary = match &args.berth {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("berth"),
        };
        let data = tempfile::tempdir()?;
        let mut command = Command::new(&binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--no-demo", "--data"])
            .arg(data.path())
            .args(extra)
            .args(
                args.config
                    .iter()
                    .flat_map(|config| [OsStr::new("--config"), config.as_os_str()]),
            )
            .env("BERTH_OPERATOR_TOKEN", LOAD_OPERATOR_TOKEN)
            .env("RUST_LOG", "warn");
        Self::spawn(command, "berth", Some(data)).map_err(|e| {
            anyhow::anyhow!(
                "starting {}: {e:#} (build it with `cargo build --release --bin berth`)",
                binary.display()
            )
        })
    }

    /// Starts this binary as the native baseline server.
    fn start_native() -> anyhow::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("--serve-native");
        Self::spawn(command, "native", None)
    }

    /// Spawns `command` and reads `{name} listening on http://ADDR` from it;
    /// `data` is the server's state directory, removed when it stops.
    fn spawn(
        mut command: Command,
        name: &str,
        data: Option<tempfile::TempDir>,
    ) -> anyhow::Result<Self> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let banner = format!("{name} listening on http://");
        let addr = line
            .trim()
            .strip_prefix(&banner)
            .ok_or_else(|| anyhow::anyhow!("unexpected {name} output: {line:?}"))?
            .parse()?;
        Ok(Self {
            child,
            addr,
            _data: data,
        })
    }

    /// Prints the cores and CPU per request the server used during `phase`,
    /// given its CPU time before it.
    fn report_cpu(&self, name: &str, before: f64, phase: &Phase) {
        let used = self.cpu_seconds() - before;
        println!(
            "cpu       {name} used {:.2} cores, {:.1} µs of CPU per request",
            used / phase.elapsed.as_secs_f64(),
            1e6 * used / (phase.requests + phase.rejected).max(1) as f64
        );
    }

    /// User + system CPU time the server has used (`/proc/{pid}/stat`
    /// counts it in USER_HZ, 100 per second on Linux).
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th fields of the whole line.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: u64 = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|field| field.parse::<u64>().ok())
            .sum();
        ticks as f64 / 100.0
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status.lines().find_map(|line| {
                    line.strip_prefix(field)?
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse()
                        .ok()
                })
            })
            .unwrap_or(0)
    }

    fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
