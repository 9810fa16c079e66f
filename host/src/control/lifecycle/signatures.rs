//! Code signing in the lifecycle: each org's trusted keys and its
//! `require-signature` policy, and the check every install runs on a
//! package — in memory, before anything is written or compiled.
//!
//! The policy is the org admin's to set unless the operator has locked it
//! for that org (through the API) or for every org (the server's
//! `require-signature` setting): the principal a policy constrains cannot
//! relax it.

use super::{Lifecycle, LifecycleError};
use crate::package::Package;
use crate::package::signing::{self, SignatureError, key_id, parse_public_key};
use berth_storage::{TrustedKeyRecord, unix_now};
use minisign::PublicKey;
use serde::Serialize;

/// The operator's signing rules, from the server's settings.
#[derive(Clone, Debug, Default)]
pub struct OperatorSigning {
    /// Keys trusted in every org.
    pub keys: Vec<PublicKey>,
    /// Every org requires signatures, whatever its own policy says.
    pub require_signature: bool,
}

/// Who sets a signature policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicySetter {
    /// The operator: may lock the policy for the org.
    Operator,
    /// The org's admin: may change it unless it is locked.
    OrgAdmin,
}

impl PolicySetter {
    fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::OrgAdmin => "org-admin",
        }
    }
}

/// An org's signing policy and the keys it trusts, as the API shows them.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SigningPolicy {
    /// Whether only signed plugins may be installed (the org's setting or
    /// the server's).
    pub require_signature: bool,
    /// Who set it: `server-setting`, `operator`, `org-admin`, or `null`
    /// (never set: the default, off).
    pub set_by: Option<String>,
    /// Whether org admins are kept from changing it.
    pub locked: bool,
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
        let mut trusted: Vec<PublicKey> = self.operator_signing.keys.clone();
        for key in &record.trusted_keys {
            trusted.push(parse_public_key(&key.key).map_err(|e| {
                berth_storage::StorageError::Corrupt(format!("trusted key {}: {e}", key.id))
            })?);
        }
        let manifest = &package.manifest;
        let version = manifest.version.to_string();
        match signing::verify(&package.files, &manifest.name, &version, &trusted)? {
            None if record.require_signature || self.operator_signing.require_signature => {
                Err(SignatureError::Required.into())
            }
            verdict => Ok(verdict),
        }
    }

    /// `org`'s signing policy and trusted keys.
    pub fn signing_policy(&self, org: &str) -> Result<SigningPolicy, LifecycleError> {
        let record = self.org_record(org)?;
        let server = self.operator_signing.require_signature;
        Ok(SigningPolicy {
            require_signature: record.require_signature || server,
            set_by: match server {
                true => Some("server-setting".to_owned()),
                false => record.signature_policy_set_by,
            },
            locked: record.signature_policy_locked || server,
            keys: record.trusted_keys,
            operator_keys: self.operator_signing.keys.iter().map(key_id).collect(),
        })
    }

    /// Trusts `key` (a minisign public key) for `org`'s installs, as `by`.
    /// Refused (`PolicyLocked`) to an org admin while the operator holds the
    /// policy (locked, or the server requires signatures): a key of the
    /// admin's own would let it sign anything and so undo the requirement.
    pub fn add_trusted_key(
        &self,
        org: &str,
        key: &str,
        comment: &str,
        by: PolicySetter,
    ) -> Result<TrustedKeyRecord, LifecycleError> {
        let parsed = parse_public_key(key).map_err(LifecycleError::InvalidKey)?;
        let record = TrustedKeyRecord {
            id: key_id(&parsed),
            key: parsed.to_base64(),
            comment: comment.chars().take(200).collect(),
            added_at: unix_now(),
        };
        let server_requires = self.operator_signing.require_signature;
        self.change_org(org, "trusted-key.add", &record.id, |org| {
            if by == PolicySetter::OrgAdmin && (org.signature_policy_locked || server_requires) {
                return Err(LifecycleError::PolicyLocked(
                    "the operator sets this org's signature policy, and so its trusted keys".into(),
                ));
            }
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

    /// Sets whether `org` installs only signed plugins, as `by`; the
    /// operator may also `lock` (or unlock) it against org admins. Refused
    /// (`PolicyLocked`) when an org admin changes a locked policy or asks
    /// to lock, and when anyone turns it off while the server requires it.
    pub fn set_signature_policy(
        &self,
        org: &str,
        required: bool,
        lock: Option<bool>,
        by: PolicySetter,
    ) -> Result<(), LifecycleError> {
        if self.operator_signing.require_signature && !required {
            return Err(LifecycleError::PolicyLocked(
                "the server's require-signature setting requires signatures in every org".into(),
            ));
        }
        let detail = format!(
            "{} by {}{}",
            if required { "on" } else { "off" },
            by.as_str(),
            match lock {
                Some(true) => ", locked",
                Some(false) => ", unlocked",
                None => "",
            }
        );
        self.change_org(org, "require-signature", &detail, |org| {
            if by == PolicySetter::OrgAdmin && (org.signature_policy_locked || lock.is_some()) {
                return Err(LifecycleError::PolicyLocked(
                    "the operator sets this org's signature policy".into(),
                ));
            }
            org.require_signature = required;
            org.signature_policy_set_by = Some(by.as_str().to_owned());
            if let Some(lock) = lock {
                org.signature_policy_locked = lock;
            }
            Ok(())
        })
    }
}
