//! Every operator-facing setting, with its documented default, in one struct.
//!
//! Settings load from an optional TOML file (`berth serve --config FILE`) and
//! are then overridden by command-line flags and `BERTH_*` environment
//! variables (see `main.rs`). Defaults are listed in the README.

use crate::common::request_body::BodyReader;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The server's whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Address the HTTP server listens on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Directory holding all of berth's state. Default `./berth-data`.
    pub data: PathBuf,
    /// The shared PostgreSQL registry of a cluster,
    /// `postgres://USER@HOST:PORT/DB`. Default none: the registry is a redb
    /// file in `data`, and this node is the only one.
    pub registry: Option<String>,
    /// A directory every node of a cluster mounts (NFS, CephFS, …): plugin
    /// `filesystem` directories live there instead of `{data}/orgs`, the
    /// same on every node, so cluster nodes may grant `rw` directories.
    /// Default none: directories are node-local, and a cluster refuses
    /// `rw` grants.
    pub shared_files: Option<PathBuf>,
    /// Runtime limits applied to every plugin instance.
    pub limits: Limits,
    /// Limits on uploaded plugin packages.
    pub packages: PackageLimits,
    /// HTTP server hardening.
    pub http: HttpLimits,
    /// PEM certificate chain; with `tls-key`, serve HTTPS (HTTP/2 and 1.1 via ALPN).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls-cert`.
    pub tls_key: Option<PathBuf>,
    /// Seed the embedded demo org (`demo`, example plugins active) when the
    /// registry has no orgs yet. Default `true`.
    pub demo: bool,
    /// The operator's management API token (at least 32 characters). When
    /// unset, berth generates one on first start, stores it hashed and
    /// prints it once.
    pub operator_token: Option<String>,
    /// Outbound HTTP from plugins.
    pub outbound: OutboundSettings,
    /// Operator-wide trusted signing keys: minisign public keys (the base64
    /// line of a `.pub` file). A plugin signed by one is trusted in every
    /// org, beside each org's own keys. Default none.
    pub trusted_keys: Vec<String>,
    /// Require a trusted signature on every install in every org; no org
    /// admin (nor the operator, through the API) can relax it. Default `false`.
    pub require_signature: bool,
    /// The key file plugin secrets are sealed with (one 64-hex-digit key
    /// per line, the first seals); created with mode 0600 on first start.
    /// Default `{data}/secrets.key`; keep it out of the data directory's
    /// backups to keep them free of secrets.
    pub secrets_key_file: Option<PathBuf>,
    /// Automatic rollback of upgrades that fail (`[upgrades]`).
    pub upgrades: UpgradeSettings,
}

/// How upgrades of active plugins are watched once they serve.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpgradeSettings {
    /// Requests after an upgrade of an active plugin that are watched for
    /// 5xx answers; 0 turns automatic rollback off. Default 20.
    pub probation_requests: u32,
    /// Fraction of the watched requests that may answer 5xx (or fail)
    /// before berth rolls the upgrade back on its own. Default 0.5.
    pub max_error_ratio: f64,
}

impl Default for UpgradeSettings {
    fn default() -> Self {
        Self {
            probation_requests: 20,
            max_error_ratio: 0.5,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("berth-data"),
            registry: None,
            shared_files: None,
            limits: Limits::default(),
            packages: PackageLimits::default(),
            http: HttpLimits::default(),
            tls_cert: None,
            tls_key: None,
            demo: true,
            operator_token: None,
            outbound: OutboundSettings::default(),
            trusted_keys: Vec::new(),
            require_signature: false,
            secrets_key_file: None,
            upgrades: UpgradeSettings::default(),
        }
    }
}

impl Settings {
    /// Where the secrets key file is: as configured, else in the data directory.
    pub fn secrets_key_path(&self) -> PathBuf {
        (self.secrets_key_file.clone()).unwrap_or_else(|| self.data.join("secrets.key"))
    }

    /// Reads settings from a TOML file; keys absent from the file keep their defaults.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
    }
}

/// Per-instance and per-request limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Most plugin instances alive at once in the whole process (the pooling
    /// allocator's slot count). Default 1000.
    pub max_instances: u32,
    /// Most linear memory one instance may grow to, in bytes. Default 64 MiB.
    pub max_memory_bytes: usize,
    /// CPU time a request's guest code may run before it is interrupted,
    /// in milliseconds (enforced by epoch interruption). Default 1000.
    pub cpu_deadline_ms: u64,
    /// Wall-clock time for a whole plugin request, including time blocked
    /// in host calls, in milliseconds. Default 10000.
    pub request_timeout_ms: u64,
    /// How often the engine's epoch advances, in milliseconds. At each tick
    /// a running guest is checked against its CPU deadline and gives its
    /// run slot back, so this is the longest slice one guest runs while
    /// others wait. Default 2.
    pub epoch_tick_ms: u64,
    /// Guests that may run at once (run slots shared fairly between orgs);
    /// 0 means one per core. Fewer than the cores keeps the rest for the
    /// server's own work (HTTP, TLS, the management API). Default 0.
    pub cpu_slots: usize,
    /// Each org's share of guest CPU relative to other busy orgs, unless
    /// overridden per org (`cpu-weight` in the org's limits). Default 1.
    pub cpu_weight_per_org: NonZeroU32,
    /// Most plugin requests one org may have in flight; more get 429.
    /// Overridable per org. Default 64.
    pub max_concurrent_per_org: u32,
    /// Plugin requests per second one org may start, sustained; more get
    /// 429. 0 means unlimited. Overridable per org. Default 0.
    pub requests_per_second_per_org: u32,
    /// Requests an org may start in a burst above its sustained rate. Default 100.
    pub burst_per_org: u32,
    /// Most bytes of key-value data (keys and values together) one plugin
    /// may keep in one org; a `set` past it fails with `quota-exceeded`
    /// (`too-large` for API 0.1.0 plugins).
    /// Overridable per org. Default 64 MiB.
    pub kv_max_bytes_per_plugin: u64,
    /// Most key-value keys one plugin may keep in one org; a `set` of a new
    /// key past it fails with `quota-exceeded`. Overridable per org.
    /// Default 100000.
    pub kv_max_keys_per_plugin: u64,
    /// Log lines (`berth:plugin/log`) one plugin in one org may write per
    /// second, sustained; more are dropped, counted and summarized. 0
    /// means unlimited. Default 100.
    pub log_lines_per_second_per_plugin: u32,
    /// Log lines one plugin in one org may write in a burst above its
    /// sustained rate. Default 200.
    pub log_burst_per_plugin: u32,
    /// Log lines kept per plugin in each org for its admins to read
    /// (`GET …/plugins/{name}/logs`); the oldest go first. 0 keeps none.
    /// Default 1000.
    pub log_ring_lines_per_plugin: u32,
    /// Bytes of log messages and fields kept per plugin in each org; the
    /// oldest lines go first. Default 262144 (256 KiB).
    pub log_ring_bytes_per_plugin: u32,
    /// Memory all plugin log rings of the server may hold together
    /// (messages, fields and bookkeeping); each ring may hold its equal
    /// part of it, so many tenants cost no more. Default 67108864 (64 MiB).
    pub log_ring_bytes_total: u64,
    /// Followed log streams (`…/logs?follow`) one org's admins may hold
    /// open at once; 429 `too_many_log_followers` beyond. Default 16.
    pub log_followers_per_org: NonZeroUsize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_instances: 1000,
            max_memory_bytes: 64 << 20,
            cpu_deadline_ms: 1000,
            request_timeout_ms: 10_000,
            epoch_tick_ms: 2,
            cpu_slots: 0,
            cpu_weight_per_org: NonZeroU32::MIN,
            max_concurrent_per_org: 64,
            requests_per_second_per_org: 0,
            burst_per_org: 100,
            kv_max_bytes_per_plugin: 64 << 20,
            kv_max_keys_per_plugin: 100_000,
            log_lines_per_second_per_plugin: 100,
            log_burst_per_plugin: 200,
            log_ring_lines_per_plugin: 1000,
            log_ring_bytes_per_plugin: 256 << 10,
            log_ring_bytes_total: 64 << 20,
            log_followers_per_org: NonZeroUsize::new(16).expect("not zero"),
        }
    }
}

impl Limits {
    /// The epoch tick interval.
    pub fn epoch_tick(&self) -> Duration {
        Duration::from_millis(self.epoch_tick_ms.max(1))
    }

    /// How many guests may run at once: `cpu-slots`, or one per core.
    pub fn run_slots(&self) -> usize {
        match self.cpu_slots {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            slots => slots,
        }
    }

    /// The CPU time a request's guest code may use.
    pub fn cpu_deadline(&self) -> Duration {
        Duration::from_millis(self.cpu_deadline_ms)
    }

    /// The limits every org gets unless overridden.
    pub fn tenant_defaults(&self) -> crate::common::admission::TenantLimits {
        crate::common::admission::TenantLimits {
            max_concurrent: self.max_concurrent_per_org,
            requests_per_second: self.requests_per_second_per_org,
            burst: self.burst_per_org,
            cpu_weight: self.cpu_weight_per_org,
            kv_max_bytes: self.kv_max_bytes_per_plugin,
            kv_max_keys: self.kv_max_keys_per_plugin,
        }
    }

    /// The log rate every plugin gets.
    pub fn log_rate(&self) -> LogRate {
        LogRate {
            lines_per_second: self.log_lines_per_second_per_plugin,
            burst: self.log_burst_per_plugin,
        }
    }

    /// How much of each plugin's log its org keeps.
    pub fn log_ring(&self) -> RingSize {
        RingSize {
            lines: self.log_ring_lines_per_plugin as usize,
            bytes: self.log_ring_bytes_per_plugin as usize,
            total_bytes: usize::try_from(self.log_ring_bytes_total).unwrap_or(usize::MAX),
        }
    }

    /// The wall-clock limit for one plugin request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// Limits protecting the HTTP server itself.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpLimits {
    /// Time a client has to send a request's headers (slowloris guard), ms. Default 10000.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send the whole body of a request berth reads
    /// itself (management API, uploads, module records), ms: 408 beyond.
    /// Default 60000.
    pub body_read_timeout_ms: u64,
    /// Time a write to a client may wait while the client reads nothing,
    /// ms: its connection is closed beyond (a response nobody reads holds
    /// no buffers for longer). Default 60000.
    pub send_timeout_ms: u64,
    /// Most request headers accepted (431 beyond). Default 100.
    pub max_headers: usize,
    /// Largest request body a plugin route accepts (413 beyond). Default 8 MiB.
    pub max_request_body_bytes: u64,
    /// Largest response body a plugin may send; past it the response is cut off. Default 64 MiB.
    pub max_response_body_bytes: u64,
    /// Time in-flight requests get to finish on shutdown, ms. Default 10000.
    pub drain_timeout_ms: u64,
    /// How connections are spread over threads. Default `work-stealing`.
    pub serving: ServingModel,
    /// Serving threads; 0 means one per core. Default 0.
    pub threads: usize,
}

/// How the server spreads connections over threads.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ServingModel {
    /// One single-threaded runtime per thread, each with its own listener
    /// on the same port (`SO_REUSEPORT`): the kernel spreads connections,
    /// and a request never changes threads. More throughput, but a thread
    /// busy with a spinning guest cannot hand its other connections to an
    /// idle thread, so neighbours of a CPU-heavy org fare worse.
    ThreadPerCore,
    /// One multi-threaded, work-stealing runtime with one listener.
    #[default]
    WorkStealing,
}

impl HttpLimits {
    /// How berth reads the bodies it consumes whole, within
    /// `body_read_timeout_ms`.
    pub fn body_reader(&self) -> BodyReader {
        BodyReader::new(Duration::from_millis(self.body_read_timeout_ms))
    }

    /// The serving threads: as configured, else one per core.
    pub fn serving_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            threads => threads,
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 60_000,
            send_timeout_ms: 60_000,
            max_headers: 100,
            max_request_body_bytes: 8 << 20,
            max_response_body_bytes: 64 << 20,
            drain_timeout_ms: 10_000,
            serving: ServingModel::default(),
            threads: 0,
        }
    }
}

/// Outbound HTTP from plugins (`wasi:http/outgoing-handler`, `network` permission).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct OutboundSettings {
    /// Private, loopback or link-local addresses plugins may reach anyway,
    /// as `ip` or `ip:port` (e.g. a local test server). Default none.
    pub allow_private: Vec<AllowedAddress>,
    /// Time to resolve, connect and finish TLS, ms. Default 5000.
    pub connect_timeout_ms: u64,
    /// Time to wait for the response head, and between two chunks of its
    /// body, ms. Default 10000.
    pub read_timeout_ms: u64,
    /// Largest response body a plugin may receive; past it reading fails. Default 16 MiB.
    pub max_response_bytes: u64,
    /// Outbound requests one org's plugins may have in flight at once, all
    /// instances together; more wait for one to end, until their connect
    /// deadline. Default 64.
    pub max_in_flight_per_org: usize,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            allow_private: Vec::new(),
            connect_timeout_ms: 5_000,
            read_timeout_ms: 10_000,
            max_response_bytes: 16 << 20,
            max_in_flight_per_org: 64,
        }
    }
}

/// Limits on plugin packages (ZIP uploads). Every one is checked while the
/// upload is read, before anything is written.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageLimits {
    /// Largest accepted upload body, in bytes (413 beyond). Default 32 MiB.
    pub max_upload_bytes: u64,
    /// Most entries (files and folders) in one ZIP. Default 1000.
    pub max_entries: usize,
    /// Largest inflated size of one file, in bytes. Default 32 MiB (a
    /// Python plugin's component, CPython inside, is about 19 MB).
    pub max_entry_bytes: u64,
    /// Largest inflated size of all files together, in bytes. Default 64 MiB.
    pub max_total_bytes: u64,
    /// Highest inflated:compressed ratio of one file (zip-bomb guard). Default 100.
    pub max_compression_ratio: u64,
    /// Most uploads (installs, previews, publishes) the management API
    /// handles at once, server-wide; 429 `too_many_uploads` beyond. Default 8.
    pub max_concurrent_uploads: NonZeroUsize,
    /// Most of them one org may have in progress. Default 2.
    pub max_concurrent_uploads_per_org: NonZeroUsize,
}

impl Default for PackageLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 32 << 20,
            max_entries: 1000,
            max_entry_bytes: 32 << 20,
            max_total_bytes: 64 << 20,
            max_compression_ratio: 100,
            max_concurrent_uploads: NonZeroUsize::new(8).expect("not zero"),
            max_concurrent_uploads_per_org: NonZeroUsize::new(2).expect("not zero"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_only_the_keys_it_names() {
        let s: Settings =
            toml::from_str("listen = '127.0.0.1:9000'\n[limits]\ncpu-deadline-ms = 50\n").unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.limits.cpu_deadline_ms, 50);
        assert_eq!(s.limits.max_instances, Limits::default().max_instances);
        assert_eq!(s.data, PathBuf::from("berth-data"));
    }

    #[test]
    fn outbound_exceptions_must_be_addresses() {
        let s: Settings =
            toml::from_str("[outbound]\nallow-private = ['127.0.0.1:9000', '::1']\n").unwrap();
        assert_eq!(s.outbound.allow_private.len(), 2);
        let bad = toml::from_str::<Settings>("[outbound]\nallow-private = ['localhost']\n");
        assert!(bad.unwrap_err().to_string().contains("not an IP address"));
    }

    #[test]
    fn unknown_toml_keys_are_rejected() {
        assert!(toml::from_str::<Settings>("lisen = '127.0.0.1:1'").is_err());
    }
}

/// How much of one plugin's log its org keeps: the limits
/// `log-ring-lines-per-plugin`, `log-ring-bytes-per-plugin` and
/// `log-ring-bytes-total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSize {
    /// Most lines kept; zero keeps none.
    pub lines: usize,
    /// Most bytes of messages and fields kept.
    pub bytes: usize,
    /// Memory every ring together may hold, shared equally between them.
    pub total_bytes: usize,
}

/// How many log lines a plugin may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRate {
    /// Lines per second, sustained (0 = unlimited).
    pub lines_per_second: u32,
    /// Lines it may write in a burst above that rate.
    pub burst: u32,
}

/// An operator exception: one IP address, on every port or on one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AllowedAddress {
    ip: IpAddr,
    port: Option<u16>,
}

impl TryFrom<String> for AllowedAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self {
                ip: addr.ip().to_canonical(),
                port: Some(addr.port()),
            });
        }
        match text.parse::<IpAddr>() {
            Ok(ip) => Ok(Self {
                ip: ip.to_canonical(),
                port: None,
            }),
            Err(_) => Err(format!(
                "`{text}` is not an IP address or `ip:port` (e.g. `127.0.0.1:9000`, `[::1]:9000`)"
            )),
        }
    }
}

impl AllowedAddress {
    /// Whether this exception covers `addr`.
    pub fn covers(&self, addr: SocketAddr) -> bool {
        self.ip == addr.ip().to_canonical() && self.port.is_none_or(|port| port == addr.port())
    }
}
