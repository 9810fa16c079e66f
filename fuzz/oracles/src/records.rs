//! `berth:plugin/records` from the guest side: arbitrary sequences of
//! record calls by four plugin instances (two orgs × two plugins, each with
//! its own `database` grant), in process against a temporary registry, with
//! writes going through berth's real record service (schema, hooks, audit).
//! Every answer must match a model of each org's records: a call outside
//! the grant is denied and changes nothing, nothing crosses orgs, ids are
//! never reused, a merge patch merges, and a query's page is exactly the
//! model's.

use crate::{Verdict, ensure};
use arbitrary::Arbitrary;
use berth::capabilities::HostServices;
use berth::capabilities::bindings::v0_2_0::records::{
    Comparison, Filter, Host, ModuleRecord, RecordQuery, RecordsError,
};
use berth::capabilities::files::PluginFiles;
use berth::capabilities::log::PluginLogs;
use berth::capabilities::modules::Modules;
use berth::capabilities::records::{RecordWriter, RecordWriterSlot, RecordsState};
use berth::common::admission::Admission;
use berth::common::ids::PluginIdentity;
use berth::common::metrics::Metrics;
use berth::common::settings::Limits;
use berth::package::manifest::Permissions;
use berth::sandbox::active_plugins::ActivePlugins;
use berth::sandbox::runtime::Runtime;
use berth::sandbox::scheduler::CpuScheduler;
use berth::serve::front_door::FrontDoor;
use berth::serve::hooks::HookDispatcher;
use berth::serve::records::RecordService;
use berth_storage::OrgRecord;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

/// The modules calls name (modulo their number); `ghost` does not exist.
const MODULES: [&str; 3] = ["contacts", "invoices", "ghost"];

/// (org, plugin, modules it may read, modules it may write) per instance.
const INSTANCES: [(&str, &str, &[&str], &[&str]); 4] = [
    ("acme", "p", &["contacts", "invoices"], &["contacts"]),
    ("acme", "q", &["invoices"], &["invoices"]),
    ("beta", "p", &["contacts"], &["contacts", "invoices"]),
    ("beta", "q", &[], &[]),
];

/// One call by one instance.
#[derive(Arbitrary, Debug)]
pub struct Call {
    /// Which instance calls (modulo their number).
    pub who: u8,
    /// Which module (modulo [`MODULES`]' number).
    pub module: u8,
    /// What it calls.
    pub op: Op,
}

/// A `berth:plugin/records` call.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// `create` with a record made of a name and an amount.
    Create(String, u16),
    /// `replace` record `id` with a record made of a name and an amount.
    Replace(u8, String, u16),
    /// `patch` record `id` with this JSON text.
    Patch(u8, String),
    /// `delete` record `id`.
    Delete(u8),
    /// `get` record `id`.
    Get(u8),
    /// `query`: newest first?, page size, cursor, and an `amount` to
    /// equal (invoices) if any.
    Query(bool, u8, Option<u8>, Option<u16>),
}

/// The model: each (org, module)'s records by id, and the highest id given.
#[derive(Default)]
struct Model {
    records: BTreeMap<(String, String), BTreeMap<u64, Value>>,
    highest: BTreeMap<(String, String), u64>,
}

/// Runs `calls` and checks every answer against the model.
pub fn check(calls: &[Call]) -> Verdict {
    let (dir, registry) = crate::temporary_registry()?;
    registry
        .write(|txn| {
            for org in ["acme", "beta"] {
                txn.put_org(&OrgRecord::new(org, 0))?;
            }
            Ok::<_, berth_storage::StorageError>(())
        })
        .map_err(|e| format!("seeding: {e}"))?;
    let limits = Limits::default();
    let metrics = Arc::new(Metrics::default());
    let admission = Arc::new(Admission::new(limits.tenant_defaults()));
    let modules = Arc::new(Modules::new(registry.clone()));
    let slot = RecordWriterSlot::default();
    let services = HostServices {
        registry: registry.clone(),
        admission: admission.clone(),
        files: PluginFiles::new(dir.path().join("orgs")),
        outbound: Arc::default(),
        modules: modules.clone(),
        record_writer: slot.clone(),
    };
    let scheduler = Arc::new(CpuScheduler::new(1, limits.epoch_tick(), |_| 1));
    let runtime = Runtime::new(limits.clone(), services, scheduler);
    let plugins = Arc::new(ActivePlugins::new(
        metrics.clone(),
        limits.log_rate(),
        Arc::new(PluginLogs::new(limits.log_ring())),
    ));
    let hooks = HookDispatcher::new(modules.clone(), plugins, runtime);
    let service = Arc::new(RecordService::new(
        modules.clone(),
        Arc::new(hooks),
        FrontDoor::new(admission, metrics),
    ));
    let writer: Weak<dyn RecordWriter> = Arc::downgrade(&service) as Weak<dyn RecordWriter>;
    let _ = slot.set(writer);
    let mut instances: Vec<RecordsState> = INSTANCES
        .iter()
        .map(|&(org, plugin, read, write)| {
            let grant = json!({ "database": { "read": read, "write": write } });
            RecordsState {
                grants: Arc::new(serde_json::from_value::<Permissions>(grant).expect("a grant")),
                identity: Arc::new(PluginIdentity {
                    org: org.into(),
                    plugin: plugin.into(),
                }),
                modules: modules.clone(),
                writer: slot.clone(),
                depth: 0,
            }
        })
        .collect();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut model = Model::default();
    for call in calls.iter().take(48) {
        let who = usize::from(call.who) % INSTANCES.len();
        let module = MODULES[usize::from(call.module) % MODULES.len()];
        tokio.block_on(step(
            &mut instances[who],
            INSTANCES[who],
            module,
            &call.op,
            &mut model,
        ))?;
    }
    // Every org reads back exactly its model, through a reader of each module.
    for (who, &(org, _, read, _)) in INSTANCES.iter().enumerate() {
        for module in read {
            let expected = model
                .records
                .get(&key(org, module))
                .cloned()
                .unwrap_or_default();
            for (id, data) in &expected {
                let found = instances[who].get((*module).into(), *id);
                ensure(
                    matches!(&found, Ok(Some(r)) if record_data(r) == *data),
                    || format!("{org}/{module} #{id} reads back as {found:?}, not {data}"),
                )?;
            }
        }
    }
    drop(service);
    Ok(())
}

/// One call, checked against (and applied to) the model.
async fn step(
    instance: &mut RecordsState,
    (org, plugin, read, write): (&str, &str, &[&str], &[&str]),
    module: &str,
    op: &Op,
    model: &mut Model,
) -> Verdict {
    let who = format!("{org}/{plugin} on {module}");
    let (may_read, may_write) = (read.contains(&module), write.contains(&module));
    let stored = model.records.entry(key(org, module)).or_default();
    match op {
        Op::Create(name, amount) => {
            let data = record(module, name, *amount);
            let created = instance.create(module.into(), data.to_string()).await;
            let Some(created) = allowed(&who, may_write, created)? else {
                return Ok(());
            };
            match created {
                Ok(record) => {
                    let highest = model.highest.entry(key(org, module)).or_default();
                    ensure(record.id > *highest, || {
                        format!("{who}: id {} reused", record.id)
                    })?;
                    *highest = record.id;
                    ensure(record_data(&record) == data, || {
                        format!("{who}: stored {record:?}, not {data}")
                    })?;
                    stored.insert(record.id, data);
                }
                Err(RecordsError::Invalid(_)) => {
                    ensure(!valid(module, name), || {
                        format!("{who}: a valid record {data} refused")
                    })?;
                }
                Err(other) => return Err(format!("{who}: create failed with {other:?}")),
            }
        }
        Op::Replace(id, name, amount) => {
            let (id, data) = (u64::from(*id), record(module, name, *amount));
            let replaced = instance.replace(module.into(), id, data.to_string()).await;
            let Some(replaced) = allowed(&who, may_write, replaced)? else {
                return Ok(());
            };
            match (replaced, stored.contains_key(&id)) {
                (Ok(record), true) => {
                    ensure(record_data(&record) == data, || {
                        format!("{who}: replaced into {record:?}")
                    })?;
                    stored.insert(id, data);
                }
                (Err(RecordsError::NotFound(_)), false) => {}
                (Err(RecordsError::Invalid(_)), _) => {
                    ensure(!valid(module, name), || {
                        format!("{who}: a valid replacement refused")
                    })?;
                }
                (answer, exists) => {
                    return Err(format!(
                        "{who}: replace #{id} (exists: {exists}) answered {answer:?}"
                    ));
                }
            }
        }
        Op::Patch(id, patch) => {
            let id = u64::from(*id);
            let patched = instance.patch(module.into(), id, patch.clone()).await;
            let Some(patched) = allowed(&who, may_write, patched)? else {
                return Ok(());
            };
            match (patched, stored.get(&id)) {
                (Ok(record), Some(before)) => {
                    let patch: Value = serde_json::from_str(patch)
                        .map_err(|_| format!("{who}: a patch that is not JSON applied"))?;
                    let mut expected = before.clone();
                    merge_patch(&mut expected, &patch);
                    ensure(record_data(&record) == expected, || {
                        format!(
                            "{who}: {before} patched with {patch} gave {record:?}, not {expected}"
                        )
                    })?;
                    stored.insert(id, expected);
                }
                (Err(RecordsError::NotFound(_)), None) | (Err(RecordsError::Invalid(_)), _) => {}
                (answer, before) => {
                    return Err(format!(
                        "{who}: patch #{id} of {before:?} answered {answer:?}"
                    ));
                }
            }
        }
        Op::Delete(id) => {
            let id = u64::from(*id);
            let deleted = instance.delete(module.into(), id).await;
            let Some(deleted) = allowed(&who, may_write, deleted)? else {
                return Ok(());
            };
            match (deleted, stored.remove(&id).is_some()) {
                (Ok(()), true) | (Err(RecordsError::NotFound(_)), false) => {}
                (answer, existed) => {
                    return Err(format!(
                        "{who}: delete #{id} (existed: {existed}) answered {answer:?}"
                    ));
                }
            }
        }
        Op::Get(id) => {
            let id = u64::from(*id);
            let found = instance.get(module.into(), id);
            let Some(found) = allowed(&who, may_read, found)? else {
                return Ok(());
            };
            let expected = stored.get(&id);
            ensure(
                matches!((&found, expected), (Ok(None), None))
                    || matches!((&found, expected), (Ok(Some(r)), Some(d)) if record_data(r) == *d),
                || format!("{who}: get #{id} answered {found:?}, the model has {expected:?}"),
            )?;
        }
        Op::Query(newest_first, limit, after, amount) => {
            let filters: Vec<Filter> = (amount.filter(|_| module == "invoices").iter())
                .map(|amount| Filter {
                    field: "amount".into(),
                    comparison: Comparison::Eq,
                    value: amount.to_string(),
                })
                .collect();
            let query = RecordQuery {
                filters,
                newest_first: *newest_first,
                after: after.map(u64::from),
                limit: u32::from(*limit),
            };
            let page = instance.query(module.into(), query).await;
            let Some(page) = allowed(&who, may_read, page)? else {
                return Ok(());
            };
            let page = page.map_err(|e| format!("{who}: query failed with {e:?}"))?;
            let expected = expected_page(
                stored,
                *newest_first,
                *limit,
                after.map(u64::from),
                *amount,
                module,
            );
            let got: Vec<(u64, Value)> = page
                .records
                .iter()
                .map(|r| (r.id, record_data(r)))
                .collect();
            ensure(got == expected, || {
                format!("{who}: a page of {got:?}, the model's is {expected:?}")
            })?;
        }
    }
    Ok(())
}

/// `Some(answer)` if the grant allows the call; else checks it was denied
/// (a module that is not there may answer not-found instead) and gives `None`.
fn allowed<T: std::fmt::Debug>(
    who: &str,
    granted: bool,
    answer: Result<T, RecordsError>,
) -> Result<Option<Result<T, RecordsError>>, String> {
    if granted {
        return Ok(Some(answer));
    }
    match answer {
        Err(RecordsError::Denied(_)) => Ok(None),
        other => Err(format!("{who}: ungranted, yet answered {other:?}")),
    }
}

/// The page the model says a query selects.
fn expected_page(
    stored: &BTreeMap<u64, Value>,
    newest_first: bool,
    limit: u8,
    after: Option<u64>,
    amount: Option<u16>,
    module: &str,
) -> Vec<(u64, Value)> {
    let size = match limit {
        0 => 100,
        n => usize::from(n),
    };
    let wanted = |data: &Value| match amount.filter(|_| module == "invoices") {
        Some(amount) => data.get("amount").and_then(Value::as_f64) == Some(f64::from(amount)),
        None => true,
    };
    let mut records: Vec<(u64, Value)> = (stored.iter())
        .filter(|(id, data)| {
            wanted(data)
                && match after {
                    Some(after) if newest_first => **id < after,
                    Some(after) => **id > after,
                    None => true,
                }
        })
        .map(|(id, data)| (*id, data.clone()))
        .collect();
    if newest_first {
        records.reverse();
    }
    records.truncate(size);
    records
}

/// The record a call writes to `module`.
fn record(module: &str, name: &str, amount: u16) -> Value {
    match module {
        "invoices" => json!({ "customer": name, "amount": amount, "currency": "EUR" }),
        _ => json!({ "name": name }),
    }
}

/// Whether `record(module, name, _)` satisfies the module's schema.
fn valid(module: &str, name: &str) -> bool {
    module != "ghost" && (1..=200).contains(&name.chars().count())
}

/// A stored record's data as JSON.
fn record_data(record: &ModuleRecord) -> Value {
    serde_json::from_str(&record.data).unwrap_or(Value::Null)
}

/// RFC 7386: `patch` merged into `target`.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().expect("an object");
    for (name, value) in fields {
        if value.is_null() {
            object.remove(name);
        } else {
            merge_patch(object.entry(name.clone()).or_insert(Value::Null), value);
        }
    }
}

fn key(org: &str, module: &str) -> (String, String) {
    (org.to_owned(), module.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_sequence_holds_every_invariant() {
        let calls = vec![
            Call {
                who: 0,
                module: 0,
                op: Op::Create("Ada".into(), 0),
            },
            Call {
                who: 0,
                module: 0,
                op: Op::Create(String::new(), 0),
            },
            Call {
                who: 2,
                module: 1,
                op: Op::Create("Acme".into(), 40),
            },
            Call {
                who: 2,
                module: 1,
                op: Op::Create("Acme".into(), 2),
            },
            Call {
                who: 1,
                module: 1,
                op: Op::Create("Zed".into(), 40),
            },
            Call {
                who: 0,
                module: 0,
                op: Op::Patch(1, r#"{"email": "ada@x.org"}"#.into()),
            },
            Call {
                who: 0,
                module: 0,
                op: Op::Patch(1, r#"{"nick": "a"}"#.into()),
            },
            Call {
                who: 3,
                module: 0,
                op: Op::Get(1),
            },
            Call {
                who: 1,
                module: 0,
                op: Op::Get(1),
            },
            Call {
                who: 0,
                module: 1,
                op: Op::Query(true, 1, None, Some(40)),
            },
            Call {
                who: 2,
                module: 0,
                op: Op::Get(1),
            },
            Call {
                who: 0,
                module: 0,
                op: Op::Replace(1, "Ada L".into(), 0),
            },
            Call {
                who: 0,
                module: 0,
                op: Op::Delete(1),
            },
            Call {
                who: 0,
                module: 0,
                op: Op::Create("Grace".into(), 0),
            },
            Call {
                who: 0,
                module: 2,
                op: Op::Get(1),
            },
            Call {
                who: 0,
                module: 0,
                op: Op::Query(false, 0, Some(1), None),
            },
        ];
        assert_eq!(check(&calls), Ok(()));
    }

    #[test]
    fn merge_patches_follow_rfc_7386() {
        let mut target = json!({"a": 1, "b": {"c": 2}});
        merge_patch(&mut target, &json!({"a": null, "b": {"d": 3}, "e": [1]}));
        assert_eq!(target, json!({"b": {"c": 2, "d": 3}, "e": [1]}));
    }
}
