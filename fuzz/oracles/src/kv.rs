//! `berth:plugin/kv` from the guest side: arbitrary sequences of calls
//! with arbitrary keys and values, by four plugin instances (two orgs ×
//! two plugins, one granted only `read`), in process against a temporary
//! registry. Every answer must match a model of what each plugin stored:
//! nothing leaks across orgs or plugins, a refused write changes nothing,
//! a read-only grant writes nothing, and the quotas hold.

use crate::{Verdict, ensure};
use arbitrary::Arbitrary;
use berth::capabilities::bindings::v0_2_0::kv::{Host, KvError};
use berth::capabilities::kv::KvState;
use berth::common::admission::Admission;
use berth::common::ids::PluginIdentity;
use berth::common::metrics::Metrics;
use berth::common::settings::Limits;
use berth::package::manifest::Permissions;
use berth_storage::{Installation, OrgRecord, PluginState};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Keys one plugin may keep in these runs.
const MAX_KEYS: u64 = 8;
/// Bytes one plugin may keep in these runs.
const MAX_BYTES: u64 = 2048;

/// One call by one instance.
#[derive(Arbitrary, Debug)]
pub struct Call {
    /// Which instance calls (modulo their number).
    pub who: u8,
    /// What it calls.
    pub op: Op,
}

/// A `berth:plugin/kv` call.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// `set(key, value)`, the value that many bytes (modulo 1024) of one byte.
    Set(String, u16, u8),
    /// `get(key)`.
    Get(String),
    /// `delete(key)`.
    Delete(String),
    /// `list-keys(prefix)`.
    List(String),
}

/// The (org, plugin, may write) of each instance.
const INSTANCES: [(&str, &str, bool); 4] = [
    ("acme", "p", true),
    ("acme", "q", true),
    ("beta", "p", true),
    ("beta", "q", false),
];

/// Runs `calls` and checks every answer against the model.
pub fn check(calls: &[Call]) -> Verdict {
    let (_dir, registry) = crate::temporary_registry()?;
    registry
        .write(|txn| {
            for (org, plugin, _) in INSTANCES {
                txn.put_org(&OrgRecord::new(org, 0))?;
                txn.put_installation(&installation(org, plugin), &[])?;
            }
            Ok::<_, berth_storage::StorageError>(())
        })
        .map_err(|e| format!("seeding: {e}"))?;
    let mut limits = Limits::default().tenant_defaults();
    limits.kv_max_keys = MAX_KEYS;
    limits.kv_max_bytes = MAX_BYTES;
    let admission = Arc::new(Admission::new(limits));
    let metrics = Metrics::default();
    let mut instances: Vec<KvState> = INSTANCES
        .iter()
        .map(|&(org, plugin, writes)| {
            let access = if writes {
                r#"["read", "write"]"#
            } else {
                r#"["read"]"#
            };
            let grants: Permissions =
                serde_json::from_str(&format!(r#"{{"storage": {access}}}"#)).expect("a grant");
            KvState {
                grants: Arc::new(grants),
                identity: Arc::new(PluginIdentity {
                    org: org.into(),
                    plugin: plugin.into(),
                }),
                registry: registry.clone(),
                admission: admission.clone(),
                metrics: Arc::new(metrics.plugin(org, plugin)),
            }
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut model: Vec<BTreeMap<String, Vec<u8>>> = vec![BTreeMap::new(); INSTANCES.len()];

    for call in calls.iter().take(64) {
        let who = usize::from(call.who) % INSTANCES.len();
        let instance = &mut instances[who];
        match &call.op {
            Op::Set(key, len, fill) => {
                let value = vec![*fill; usize::from(*len) % 1024];
                let stored = runtime.block_on(instance.set(key.clone(), value.clone()));
                ensure(INSTANCES[who].2 || stored.is_err(), || {
                    "a read-only grant wrote".into()
                })?;
                if stored.is_ok() {
                    model[who].insert(key.clone(), value);
                }
            }
            Op::Delete(key) => {
                if let Ok(existed) = runtime.block_on(instance.delete(key.clone())) {
                    let had = model[who].remove(key).is_some();
                    ensure(existed == had, || {
                        format!("delete of {key:?} said {existed}")
                    })?;
                }
            }
            Op::Get(key) => {
                if let Ok(value) = instance.get(key.clone()) {
                    ensure(value.as_ref() == model[who].get(key), || {
                        format!("{:?} read {key:?} as {value:?}", INSTANCES[who])
                    })?;
                }
            }
            Op::List(prefix) => {
                if let Ok(keys) = list_in_pages(instance, prefix) {
                    let expected: Vec<&String> = model[who]
                        .keys()
                        .filter(|k| k.starts_with(prefix.as_str()))
                        .collect();
                    ensure(keys.iter().collect::<Vec<_>>() == expected, || {
                        format!("{:?} listed {keys:?} under {prefix:?}", INSTANCES[who])
                    })?;
                }
            }
        }
        for (who, stored) in model.iter().enumerate() {
            let bytes: u64 = stored.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
            ensure(
                stored.len() as u64 <= MAX_KEYS && bytes <= MAX_BYTES,
                || {
                    format!(
                        "{:?} holds {} keys, {bytes} bytes, past its quota",
                        INSTANCES[who],
                        stored.len()
                    )
                },
            )?;
        }
    }
    // Everything stored reads back as the model says, and nothing else.
    for (who, stored) in model.iter().enumerate() {
        for (key, value) in stored {
            let read = instances[who].get(key.clone());
            ensure(read.as_ref().ok() == Some(&Some(value.clone())), || {
                format!("{:?} lost {key:?}", INSTANCES[who])
            })?;
        }
    }
    Ok(())
}

fn installation(org: &str, name: &str) -> Installation {
    Installation {
        org: org.into(),
        name: name.into(),
        version: "1.0.0".into(),
        digest: "0".repeat(64),
        state: PluginState::Active,
        manifest: serde_json::json!({}),
        granted: serde_json::Value::Null,
        installed_at: 0,
        updated_at: 0,
        activated_at: None,
        signed_by: None,
        previous: None,
    }
}

/// Every key under `prefix`, two per page through the cursor (refused if
/// the pages do not end).
fn list_in_pages(instance: &mut KvState, prefix: &str) -> Result<Vec<String>, KvError> {
    let (mut keys, mut cursor) = (Vec::new(), None);
    for _ in 0..=MAX_KEYS {
        let page = instance.list_keys(prefix.to_owned(), cursor, 2)?;
        keys.extend(page.keys);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(keys),
        }
    }
    Err(KvError::Internal("the pages never ended".into()))
}
