//! Tenant API keys: when the operator sets one for an org, that org's plugin
//! routes answer only requests carrying it in the [`HEADER`] header. The
//! header is removed before the plugin sees the request.
//!
//! Only the key's SHA-256 is kept (in the org's registry record and here);
//! keys are compared in constant time.

use crate::auth::{TokenError, digests_match, random_hex};
use crate::error::ApiError;
use berth_storage::Digest;
use http::{HeaderMap, StatusCode};
use std::collections::HashMap;
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

/// The orgs that require a tenant key, with the key's hash.
#[derive(Default)]
pub struct TenantKeys {
    hashes: RwLock<HashMap<String, Digest>>,
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
}
