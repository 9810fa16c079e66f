//! Tenant API keys, and who may reach an org's module records.
//!
//! When the operator sets a key for an org, that org's plugin routes answer
//! only requests carrying it in the [`HEADER`] header (the header is removed
//! before the plugin sees the request). Module records (`/o/{org}/api/…`)
//! need the key or an org-admin token — unless the operator made the org's
//! modules public, and the org has no key.
//!
//! Only the key's SHA-256 is kept (in the org's registry record and here);
//! keys are compared in constant time.

use crate::common::error::ApiError;
use crate::serve::auth::{TokenError, digests_match, random_hex};
use berth_storage::Digest;
use http::{HeaderMap, StatusCode};
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

/// The request header carrying an org's tenant key.
pub const HEADER: &str = "x-berth-tenant-key";

/// Random bytes in a tenant key.
const KEY_BYTES: usize = 32;

/// A new tenant key and its hash.
pub fn generate() -> Result<(String, Digest), TokenError> {
    let key = format!("berth_tk_{}", random_hex(KEY_BYTES)?);
    let hash = Digest::of(key.as_bytes());
    Ok((key, hash))
}

/// The orgs that require a tenant key, with the key's hash, and the orgs
/// whose module records are public.
#[derive(Default)]
pub struct TenantKeys {
    hashes: RwLock<HashMap<String, Digest>>,
    public_modules: RwLock<HashSet<String>>,
}

impl TenantKeys {
    /// Requires the key hashing to `hash` for `org` (`None`: no key needed).
    pub fn set(&self, org: &str, hash: Option<Digest>) {
        let mut hashes = self.hashes.write().unwrap_or_else(|p| p.into_inner());
        match hash {
            Some(hash) => hashes.insert(org.to_owned(), hash),
            None => hashes.remove(org),
        };
    }

    /// Makes `org`'s module records answer without credentials (`false`:
    /// they need its tenant key or an org-admin token).
    pub fn set_modules_public(&self, org: &str, public: bool) {
        let mut orgs = self
            .public_modules
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if public {
            orgs.insert(org.to_owned());
        } else {
            orgs.remove(org);
        }
    }

    /// Whether a request with `headers` may reach `org`'s module records;
    /// `admin` says it carries an org-admin (or the operator) token for
    /// `org`. Every refusal is the same 401 `credentials_required`, for an
    /// org that exists or not, with a key or not.
    pub fn check_modules(
        &self,
        org: &str,
        headers: &HeaderMap,
        admin: bool,
    ) -> Result<(), ApiError> {
        let has_key = self
            .hashes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(org);
        let open = if has_key {
            self.check(org, headers).is_ok()
        } else {
            self.public_modules
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(org)
        };
        if admin || open {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "credentials_required",
            format!(
                "the module records of org `{org}` need its tenant key in the `{HEADER}` header \
                 or an org-admin token"
            ),
        ))
    }

    /// Whether `headers` may reach `org`'s plugin routes: 401 when the org
    /// requires a key and the request lacks it or carries another.
    pub fn check(&self, org: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        let hashes = self.hashes.read().unwrap_or_else(|p| p.into_inner());
        let Some(expected) = hashes.get(org) else {
            return Ok(());
        };
        let Some(presented) = headers.get(HEADER) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "tenant_key_required",
                format!("org `{org}` requires its tenant key in the `{HEADER}` header"),
            ));
        };
        if digests_match(&Digest::of(presented.as_bytes()), expected) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_tenant_key",
                format!("the `{HEADER}` header does not hold org `{org}`'s tenant key"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, key.parse().unwrap());
        headers
    }

    #[test]
    fn only_orgs_with_a_key_require_it_and_only_their_own_key_passes() {
        let keys = TenantKeys::default();
        let (acme_key, acme_hash) = generate().unwrap();
        let (beta_key, beta_hash) = generate().unwrap();
        keys.set("acme", Some(acme_hash));
        keys.set("beta", Some(beta_hash));

        assert!(keys.check("open", &HeaderMap::new()).is_ok());
        assert_eq!(
            keys.check("acme", &HeaderMap::new()).unwrap_err().code,
            "tenant_key_required"
        );
        assert!(keys.check("acme", &headers(&acme_key)).is_ok());
        assert_eq!(
            keys.check("acme", &headers(&beta_key)).unwrap_err().code,
            "invalid_tenant_key"
        );
        keys.set("acme", None);
        assert!(keys.check("acme", &HeaderMap::new()).is_ok());
    }

    #[test]
    fn module_records_need_the_key_or_an_admin_unless_public() {
        let keys = TenantKeys::default();
        let (acme_key, acme_hash) = generate().unwrap();
        keys.set("acme", Some(acme_hash));
        let none = HeaderMap::new();
        let refused = |org: &str, headers: &HeaderMap| {
            let error = keys.check_modules(org, headers, false).unwrap_err();
            (error.status, error.code)
        };
        let expected = (StatusCode::UNAUTHORIZED, "credentials_required");
        assert_eq!(refused("acme", &none), expected);
        assert_eq!(refused("acme", &headers("berth_tk_wrong")), expected);
        assert_eq!(refused("closed", &none), expected);
        assert_eq!(refused("no-such-org", &none), expected);
        assert!(
            keys.check_modules("acme", &headers(&acme_key), false)
                .is_ok()
        );
        assert!(keys.check_modules("acme", &none, true).is_ok());
        assert!(keys.check_modules("closed", &none, true).is_ok());

        keys.set_modules_public("open", true);
        keys.set_modules_public("acme", true);
        assert!(keys.check_modules("open", &none, false).is_ok());
        assert_eq!(refused("acme", &none), expected, "a key still applies");
        keys.set_modules_public("open", false);
        assert_eq!(refused("open", &none), expected);
    }
}
