//! Code signing in the lifecycle: each org's trusted keys and its
//! `require-signature` policy, and the check every install runs on a
//! package — in memory, before anything is written or compiled.

use super::{Lifecycle, LifecycleError};
use crate::package::Package;
use crate::package::signing::{self, SignatureError, key_id, parse_public_key};
use berth_storage::{TrustedKeyRecord, unix_now};
use minisign::PublicKey;
use serde::Serialize;

/// An org's signing policy and the keys it trusts, as the API shows them.
#[derive(Clone, Debug, Serialize)]
pub struct SigningPolicy {
    /// Whether only signed plugins may be installed.
    pub require_signature: bool,
    /// The org's own trusted keys.
    pub keys: Vec<TrustedKeyRecord>,
    /// Ids of the operator-wide trusted keys (configured).
    pub operator_keys: Vec<String>,
}

impl Lifecycle {
    /// Checks `package`'s signature against `org`'s trusted keys and the
    /// operator's, and the org's policy. Returns the signing key's id, or
    /// `None` for an unsigned package the org accepts.
    pub(super) fn check_signature(
        &self,
        org: &str,
        package: &Package,
    ) -> Result<Option<String>, LifecycleError> {
        let record = self.org_record(org)?;
        let mut trusted: Vec<PublicKey> = self.operator_keys.clone();
        for key in &record.trusted_keys {
            trusted.push(parse_public_key(&key.key).map_err(|e| {
                berth_storage::StorageError::Corrupt(format!("trusted key {}: {e}", key.id))
            })?);
        }
        let manifest = &package.manifest;
        let version = manifest.version.to_string();
        match signing::verify(&package.files, &manifest.name, &version, &trusted)? {
            None if record.require_signature => Err(SignatureError::Required.into()),
            verdict => Ok(verdict),
        }
    }

    /// `org`'s signing policy and trusted keys.
    pub fn signing_policy(&self, org: &str) -> Result<SigningPolicy, LifecycleError> {
        let record = self.org_record(org)?;
        Ok(SigningPolicy {
            require_signature: record.require_signature,
            keys: record.trusted_keys,
            operator_keys: self.operator_keys.iter().map(key_id).collect(),
        })
    }

    /// Trusts `key` (a minisign public key) for `org`'s installs.
    pub fn add_trusted_key(
        &self,
        org: &str,
        key: &str,
        comment: &str,
    ) -> Result<TrustedKeyRecord, LifecycleError> {
        let parsed = parse_public_key(key).map_err(LifecycleError::InvalidKey)?;
        let record = TrustedKeyRecord {
            id: key_id(&parsed),
            key: parsed.to_base64(),
            comment: comment.chars().take(200).collect(),
            added_at: unix_now(),
        };
        self.change_org(org, "trusted-key.add", &record.id, |org| {
            if org.trusted_keys.iter().any(|k| k.id == record.id) {
                return Err(LifecycleError::KeyExists(record.id.clone()));
            }
            org.trusted_keys.push(record.clone());
            Ok(())
        })?;
        Ok(record)
    }

    /// Stops trusting the key `id` for `org`'s future installs.
    pub fn remove_trusted_key(&self, org: &str, id: &str) -> Result<(), LifecycleError> {
        self.change_org(org, "trusted-key.remove", id, |org| {
            let before = org.trusted_keys.len();
            org.trusted_keys.retain(|k| k.id != id);
            if org.trusted_keys.len() == before {
                return Err(LifecycleError::KeyNotFound(id.to_owned()));
            }
            Ok(())
        })
    }

    /// Sets whether `org` installs only signed plugins.
    pub fn set_require_signature(&self, org: &str, required: bool) -> Result<(), LifecycleError> {
        let detail = if required { "on" } else { "off" };
        self.change_org(org, "require-signature", detail, |org| {
            org.require_signature = required;
            Ok(())
        })
    }
}
