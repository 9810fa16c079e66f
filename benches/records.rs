//! Module records at scale: query and write latency with 10,000 and
//! 100,000 invoices in one org, beside another org holding as many (which a
//! query must never read: records are keyed by org, module and id). In
//! process, through `Modules` (schema validation, one redb transaction per
//! write with its audit entry, fsync included), without HTTP or hooks.
//!
//! Run: `cargo bench -p berth-benches --bench records`.

use berth::capabilities::modules::Modules;
use berth::capabilities::modules::query::RecordQuery;
use berth_storage::{Database, SecretKeys};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::sync::Arc;

/// Invoice `i` of `org`: one in ten is in USD, amounts cycle through 0..1000.
fn invoice(i: u64) -> serde_json::Value {
    let currency = if i.is_multiple_of(10) { "USD" } else { "EUR" };
    serde_json::json!({
        "customer": format!("customer-{}", i % 977),
        "amount": (i * 37) % 1000,
        "currency": currency,
    })
}

/// A registry whose orgs `busy` and `other` hold `count` invoices each.
fn registry_with(dir: &std::path::Path, count: u64) -> (Arc<Database>, Modules) {
    let registry =
        Arc::new(Database::open(&dir.join("registry.redb"), SecretKeys::ephemeral()).unwrap());
    for org in ["busy", "other"] {
        for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
            registry
                .write(|txn| {
                    for &i in chunk {
                        txn.add_record(org, "invoices", invoice(i), 0)?;
                    }
                    Ok::<_, berth_storage::StorageError>(())
                })
                .unwrap();
        }
    }
    let modules = Modules::new(registry.clone());
    (registry, modules)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("records");
    group.sample_size(20);
    for count in [10_000u64, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let (_registry, modules) = registry_with(dir.path(), count);
        let query = |text: &str| RecordQuery::from_url_query(text).unwrap();
        // The newest 100 in a page: reads 100 records.
        let page = query("order=-id&limit=100");
        group.bench_with_input(BenchmarkId::new("page_of_100", count), &page, |b, q| {
            b.iter(|| modules.query("busy", "invoices", q).unwrap())
        });
        // A filter 1 in 20 records pass: reads about 1,000 to fill a page.
        let selective = query("currency=USD&amount.gte=500&limit=50");
        group.bench_with_input(
            BenchmarkId::new("filtered_page_of_50", count),
            &selective,
            |b, q| b.iter(|| modules.query("busy", "invoices", q).unwrap()),
        );
        // A filter no record passes: reads every record of the org's module.
        let none = query("currency=JPY");
        group.bench_with_input(
            BenchmarkId::new("filter_matching_nothing", count),
            &none,
            |b, q| b.iter(|| modules.query("busy", "invoices", q).unwrap()),
        );
        let mut i = count;
        group.bench_function(BenchmarkId::new("create", count), |b| {
            b.iter(|| {
                i += 1;
                modules
                    .create("busy", "invoices", invoice(i), None)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
