//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format.
//!
//! Per plugin (labels `org`, `plugin`): requests by status class, request
//! latency to the response head, instantiation time, traps, CPU-deadline
//! and wall-clock timeouts, live instances, CPU seconds, log lines dropped
//! over the plugin's rate, and the key-value data of each mounted plugin
//! (bytes, keys). Per org: requests refused by admission (429), CPU
//! seconds. Handles for a plugin are created once when it is mounted, so
//! recording on the request path is a few atomic operations.
//!
//! Beside them, each plugin's usage over the last hour
//! ([`crate::common::usage`]), kept per org and plugin so it outlives
//! deactivation and upgrades, until the plugin is uninstalled.

use crate::common::per_plugin::PerPlugin;
use crate::common::usage::UsageSeries;
use berth_storage::KvUsage;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Labels of per-plugin series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    org: String,
    plugin: String,
}

/// Labels of per-plugin series split by a second dimension.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginKindLabels {
    org: String,
    plugin: String,
    kind: &'static str,
}

/// Labels of per-org series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrgLabels {
    org: String,
}

/// Labels of the per-API-version series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets: 50 µs doubling to about 1.6 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The process's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<PluginKindLabels, Counter>,
    latency: HistogramFamily<PluginLabels>,
    instantiation: HistogramFamily<PluginLabels>,
    failures: Family<PluginKindLabels, Counter>,
    live_instances: Family<PluginLabels, Gauge>,
    kv_bytes: Family<PluginLabels, Gauge>,
    kv_keys: Family<PluginLabels, Gauge>,
    log_lines_dropped: Family<PluginLabels, Counter>,
    rejected: Family<OrgLabels, Counter>,
    plugin_cpu: Family<PluginLabels, CpuCounter>,
    org_cpu: Family<OrgLabels, CpuCounter>,
    plugins_by_api: Family<ApiLabels, Gauge>,
    usage: PerPlugin<UsageSeries>,
}

/// Seconds of CPU, as a float counter.
type CpuCounter = Counter<f64, AtomicU64>;

/// Pre-resolved metric handles for one mounted plugin.
#[derive(Clone)]
pub struct PluginMetrics {
    responses: [Counter; 4],
    latency: Histogram,
    instantiation: Histogram,
    traps: Counter,
    cpu_deadlines: Counter,
    timeouts: Counter,
    live_instances: Gauge,
    plugin_cpu: CpuCounter,
    org_cpu: CpuCounter,
    kv_bytes: Gauge,
    kv_keys: Gauge,
    log_lines_dropped: Counter,
    usage: Arc<UsageSeries>,
}

/// Status classes counted per plugin.
const STATUS_CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("berth");
        let requests = Family::default();
        let latency: HistogramFamily<PluginLabels> =
            Family::new_with_constructor(latency_histogram);
        let instantiation: HistogramFamily<PluginLabels> =
            Family::new_with_constructor(latency_histogram);
        let failures = Family::default();
        let live_instances = Family::default();
        let kv_bytes = Family::default();
        let kv_keys = Family::default();
        let log_lines_dropped = Family::default();
        let rejected = Family::default();
        let plugin_cpu = Family::default();
        let org_cpu = Family::default();
        let plugins_by_api = Family::default();
        registry.register(
            "plugin_requests",
            "Plugin requests answered, by status class (kind)",
            requests.clone(),
        );
        registry.register(
            "plugin_request_duration_seconds",
            "Time from admission to the plugin's response head",
            latency.clone(),
        );
        registry.register(
            "plugin_instantiation_duration_seconds",
            "Time to create a fresh plugin instance",
            instantiation.clone(),
        );
        registry.register(
            "plugin_failures",
            "Plugin requests that failed: trap, cpu_deadline or timeout (kind)",
            failures.clone(),
        );
        registry.register(
            "plugin_live_instances",
            "Plugin instances alive now",
            live_instances.clone(),
        );
        registry.register(
            "plugin_kv_bytes",
            "Bytes of key-value data (keys and values) a mounted plugin keeps",
            kv_bytes.clone(),
        );
        registry.register(
            "plugin_kv_keys",
            "Key-value keys a mounted plugin keeps",
            kv_keys.clone(),
        );
        registry.register(
            "plugin_log_lines_dropped",
            "Plugin log lines dropped over the plugin's log rate limit",
            log_lines_dropped.clone(),
        );
        registry.register(
            "org_rejected_requests",
            "Requests refused with 429 by per-org admission",
            rejected.clone(),
        );
        registry.register(
            "plugin_cpu_seconds",
            "CPU time the plugin's guest code used (the measure its CPU deadline is enforced on)",
            plugin_cpu.clone(),
        );
        registry.register(
            "org_cpu_seconds",
            "CPU time the org's guest code used (the measure CPU is shared fairly by)",
            org_cpu.clone(),
        );
        registry.register(
            "plugins_by_api",
            "Active plugins with a component, by the berth:plugin API version it is built against (`none`: it uses no berth interface)",
            plugins_by_api.clone(),
        );
        Self {
            registry,
            plugins_by_api,
            requests,
            latency,
            instantiation,
            failures,
            live_instances,
            kv_bytes,
            kv_keys,
            log_lines_dropped,
            rejected,
            plugin_cpu,
            org_cpu,
            usage: PerPlugin::default(),
        }
    }
}

impl Metrics {
    /// Handles for `org`'s plugin `plugin`.
    pub fn plugin(&self, org: &str, plugin: &str) -> PluginMetrics {
        let labels = PluginLabels {
            org: org.to_owned(),
            plugin: plugin.to_owned(),
        };
        let kind = |kind| PluginKindLabels {
            org: org.to_owned(),
            plugin: plugin.to_owned(),
            kind,
        };
        PluginMetrics {
            responses: STATUS_CLASSES.map(|class| handle(&self.requests, &kind(class))),
            latency: handle(&self.latency, &labels),
            instantiation: handle(&self.instantiation, &labels),
            traps: handle(&self.failures, &kind("trap")),
            cpu_deadlines: handle(&self.failures, &kind("cpu_deadline")),
            timeouts: handle(&self.failures, &kind("timeout")),
            live_instances: handle(&self.live_instances, &labels),
            plugin_cpu: handle(&self.plugin_cpu, &labels),
            org_cpu: handle(
                &self.org_cpu,
                &OrgLabels {
                    org: org.to_owned(),
                },
            ),
            kv_bytes: handle(&self.kv_bytes, &labels),
            kv_keys: handle(&self.kv_keys, &labels),
            log_lines_dropped: handle(&self.log_lines_dropped, &labels),
            usage: self
                .usage
                .get_or_insert_with(org, plugin, UsageSeries::default),
        }
    }

    /// `org`'s plugin `plugin`'s usage series, if it ever had one on this node.
    pub fn usage(&self, org: &str, plugin: &str) -> Option<Arc<UsageSeries>> {
        self.usage.get(org, plugin)
    }

    /// Drops `org`'s plugin `plugin`'s usage series (it is uninstalled;
    /// handles still held keep recording into the dropped series).
    pub fn forget_usage(&self, org: &str, plugin: &str) {
        self.usage.remove(org, plugin);
    }

    /// Drops the key-value series of `org`'s plugin `plugin` (it is no
    /// longer mounted; its handles keep working, unexported).
    pub fn forget_kv_usage(&self, org: &str, plugin: &str) {
        let labels = PluginLabels {
            org: org.to_owned(),
            plugin: plugin.to_owned(),
        };
        self.kv_bytes.remove(&labels);
        self.kv_keys.remove(&labels);
    }

    /// Counts one more (`+1`) or one fewer (`-1`) active plugin built
    /// against API version `api`.
    pub fn plugins_by_api(&self, api: &'static str, change: i64) {
        let labels = ApiLabels { api };
        self.plugins_by_api.get_or_create(&labels).inc_by(change);
    }

    /// Counts a request `org` had refused by admission.
    pub fn rejected(&self, org: &str) {
        self.rejected
            .get_or_create(&OrgLabels {
                org: org.to_owned(),
            })
            .inc();
    }

    /// Everything, in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// A handle sharing the series for `labels` in `family`. The family's lock
/// guard is released before returning: holding one while creating another
/// series in the same family would deadlock.
fn handle<L, M, C>(family: &Family<L, M, C>, labels: &L) -> M
where
    L: Clone + std::hash::Hash + Eq,
    M: Clone,
    C: prometheus_client::metrics::family::MetricConstructor<M>,
{
    family.get_or_create(labels).clone()
}

impl PluginMetrics {
    /// Records a response with `status`, `elapsed` after admission (also
    /// in the plugin's usage series).
    pub fn responded(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(2, 5) - 2;
        self.responses[class].inc();
        self.latency.observe(elapsed.as_secs_f64());
        self.usage.responded(status, elapsed);
    }

    /// Records how long creating an instance took.
    pub fn instantiated(&self, elapsed: Duration) {
        self.instantiation.observe(elapsed.as_secs_f64());
    }

    /// Counts a trap.
    pub fn trapped(&self) {
        self.traps.inc();
    }

    /// Counts a CPU-deadline interruption.
    pub fn hit_cpu_deadline(&self) {
        self.cpu_deadlines.inc();
    }

    /// Counts a wall-clock timeout.
    pub fn timed_out(&self) {
        self.timeouts.inc();
    }

    /// Adds CPU time the plugin's guest used, to it and to its org (and
    /// to the plugin's usage series).
    pub fn used_cpu(&self, spent: Duration) {
        self.plugin_cpu.inc_by(spent.as_secs_f64());
        self.org_cpu.inc_by(spent.as_secs_f64());
        self.usage.used_cpu(spent);
    }

    /// Counts a log line dropped over the plugin's rate.
    pub fn log_line_dropped(&self) {
        self.log_lines_dropped.inc();
    }

    /// Records how much key-value data the plugin keeps now.
    pub fn kv_usage(&self, usage: KvUsage) {
        self.kv_bytes.set(saturating_i64(usage.bytes));
        self.kv_keys.set(saturating_i64(usage.keys));
    }

    /// Counts an instance as alive until the returned guard is dropped.
    pub fn live_instance(&self) -> LiveInstance {
        self.live_instances.inc();
        LiveInstance(self.live_instances.clone())
    }
}

/// `value` as a gauge value, capped at `i64::MAX`.
fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Keeps an instance counted as live; decrements the gauge when dropped.
pub struct LiveInstance(Gauge);

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::usage::MinuteUsage;

    #[test]
    fn records_show_up_in_the_text_output_with_labels() {
        let metrics = Metrics::default();
        let plugin = metrics.plugin("acme", "hello");
        plugin.responded(200, Duration::from_micros(80));
        plugin.responded(503, Duration::from_millis(2));
        plugin.trapped();
        plugin.log_line_dropped();
        let live = plugin.live_instance();
        plugin.kv_usage(KvUsage { bytes: 70, keys: 3 });
        metrics.rejected("acme");
        let text = metrics.encode();
        for line in [
            r#"berth_plugin_requests_total{org="acme",plugin="hello",kind="2xx"} 1"#,
            r#"berth_plugin_requests_total{org="acme",plugin="hello",kind="5xx"} 1"#,
            r#"berth_plugin_failures_total{org="acme",plugin="hello",kind="trap"} 1"#,
            r#"berth_plugin_live_instances{org="acme",plugin="hello"} 1"#,
            r#"berth_plugin_kv_bytes{org="acme",plugin="hello"} 70"#,
            r#"berth_plugin_log_lines_dropped_total{org="acme",plugin="hello"} 1"#,
            r#"berth_plugin_kv_keys{org="acme",plugin="hello"} 3"#,
            r#"berth_org_rejected_requests_total{org="acme"} 1"#,
            r#"berth_plugin_request_duration_seconds_count{org="acme",plugin="hello"} 2"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        drop(live);
        metrics.forget_kv_usage("acme", "hello");
        let text = metrics.encode();
        assert!(text.contains(r#"berth_plugin_live_instances{org="acme",plugin="hello"} 0"#));
        assert!(!text.contains(r#"berth_plugin_kv_bytes{"#), "{text}");
    }

    #[test]
    fn usage_outlives_remounts_until_forgotten() {
        let metrics = Metrics::default();
        assert!(metrics.usage("acme", "hello").is_none());
        metrics
            .plugin("acme", "hello")
            .responded(500, Duration::from_micros(80));
        let remounted = metrics.plugin("acme", "hello");
        remounted.used_cpu(Duration::from_millis(3));
        remounted.responded(200, Duration::from_micros(80));
        let hour = metrics.usage("acme", "hello").unwrap().last_hour();
        let total = |f: fn(&MinuteUsage) -> f64| hour.iter().map(f).sum::<f64>();
        assert_eq!(total(|m| m.requests as f64), 2.0);
        assert_eq!(total(|m| m.errors as f64), 1.0);
        assert_eq!(total(|m| m.cpu_ms), 3.0);
        assert!(metrics.usage("acme", "other").is_none());
        metrics.forget_usage("acme", "hello");
        assert!(metrics.usage("acme", "hello").is_none());
    }
}
