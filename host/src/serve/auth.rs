//! Who is calling the management API: the operator or an org's admin.
//!
//! A token reads `berth_{id}_{secret}`: `id` (12 hex digits) names it in the
//! registry and in listings, `secret` (64 hex digits, 256 random bits) proves
//! it. Only the secret's SHA-256 is stored; with 256 random bits a fast hash
//! is enough (slow password hashes exist for guessable secrets). Hashes are
//! compared in constant time.
//!
//! The operator token is either configured (`auth.operator-token`) or, on
//! first start, generated, stored hashed and shown once.

use crate::common::error::ApiError;
use berth_storage::{Database, Digest, StorageError, TokenRecord, unix_now};
use http::{HeaderValue, StatusCode};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Every token starts with this.
const TOKEN_PREFIX: &str = "berth_";
/// Random bytes in a token's id.
const ID_BYTES: usize = 6;
/// Random bytes in a token's secret.
const SECRET_BYTES: usize = 32;
/// Shortest operator token accepted from the settings.
pub const MIN_CONFIGURED_TOKEN_LEN: usize = 32;

/// The token of an `Authorization: Bearer <token>` header (the scheme in
/// any case).
fn bearer_token(header: &HeaderValue) -> Option<&str> {
    let (scheme, token) = header.to_str().ok()?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether an `Authorization` header carries a token of berth's own
/// (`berth_…`: an org admin's, or a generated operator token), which no
/// plugin is ever shown.
pub fn carries_berth_token(header: &HeaderValue) -> bool {
    bearer_token(header).is_some_and(|token| token.starts_with(TOKEN_PREFIX))
}

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// May do anything.
    Operator,
    /// May act on this org only.
    OrgAdmin(String),
}

impl Principal {
    /// Whether this caller may act on `org`.
    pub fn may_act_on(&self, org: &str) -> bool {
        match self {
            Self::Operator => true,
            Self::OrgAdmin(own) => own == org,
        }
    }
}

/// A token just created: its text is shown this once and never again.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The token's public id.
    pub id: String,
    /// The org it administers (`null` for the operator).
    pub org: Option<String>,
    /// The whole token, to send as `Authorization: Bearer …`.
    pub token: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
}

/// A token as listings show it: never its secret or hash.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenSummary {
    /// The token's public id.
    pub id: String,
    /// The org it administers.
    pub org: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
}

impl From<TokenRecord> for TokenSummary {
    fn from(record: TokenRecord) -> Self {
        Self {
            id: record.id,
            org: record.org,
            created_at: record.created_at,
        }
    }
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No such org.
    #[error("no org `{0}`")]
    OrgNotFound(String),
    /// No such token in that org.
    #[error("org `{org}` has no token `{id}`")]
    TokenNotFound {
        /// The org asked about.
        org: String,
        /// The token id asked about.
        id: String,
    },
    /// The registry failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The system's random source failed.
    #[error("no randomness for a new token: {0}")]
    Random(getrandom::Error),
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        let (status, code) = match &error {
            TokenError::OrgNotFound(_) => (StatusCode::NOT_FOUND, "org_not_found"),
            TokenError::TokenNotFound { .. } => (StatusCode::NOT_FOUND, "token_not_found"),
            TokenError::Storage(StorageError::Unavailable(detail)) => {
                return Self::registry_unavailable(detail);
            }
            TokenError::Storage(_) | TokenError::Random(_) => {
                return Self::internal("internal", error);
            }
        };
        Self::new(status, code, error.to_string())
    }
}

/// Issues, checks and revokes management API tokens.
pub struct Auth {
    registry: Arc<Database>,
    /// SHA-256 of the configured operator token; when set, it is the only
    /// operator credential.
    configured_operator: Option<Digest>,
}

/// Whether two digests are equal, compared in constant time.
pub(crate) fn digests_match(a: &Digest, b: &Digest) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// `len` random bytes from the OS, hex-encoded.
pub(crate) fn random_hex(len: usize) -> Result<String, TokenError> {
    let mut bytes = vec![0; len];
    getrandom::fill(&mut bytes).map_err(TokenError::Random)?;
    Ok(hex::encode(bytes))
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl Auth {
    /// Tokens kept in `registry`; `configured_operator` replaces the stored
    /// operator token when given.
    pub fn new(registry: Arc<Database>, configured_operator: Option<&str>) -> Self {
        Self {
            registry,
            configured_operator: configured_operator.map(|token| Digest::of(token.as_bytes())),
        }
    }

    /// On a first start without a configured operator token, creates one and
    /// returns its text so it can be shown once; otherwise `None`.
    pub fn bootstrap_operator(&self) -> Result<Option<String>, TokenError> {
        if self.configured_operator.is_some() {
            return Ok(None);
        }
        if !self.registry.read()?.tokens(None)?.is_empty() {
            return Ok(None);
        }
        self.issue(None).map(|issued| Some(issued.token))
    }

    /// The caller an `Authorization` header proves, or 401.
    pub fn authenticate(&self, authorization: Option<&HeaderValue>) -> Result<Principal, ApiError> {
        let header = authorization
            .ok_or_else(|| unauthorized("send a token as `Authorization: Bearer <token>`"))?;
        let token = bearer_token(header)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let invalid = || unauthorized("the token is not valid");
        if let Some(configured) = &self.configured_operator
            && digests_match(&Digest::of(token.as_bytes()), configured)
        {
            return Ok(Principal::Operator);
        }
        let (id, secret) = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .ok_or_else(invalid)?;
        let record = self
            .registry
            .read()
            .and_then(|read| read.token(id))
            .map_err(|e| ApiError::internal("internal", e))?
            .ok_or_else(invalid)?;
        let stored = Digest::from_hex(&record.secret_sha256).ok_or_else(invalid)?;
        if !digests_match(&Digest::of(secret.as_bytes()), &stored) {
            return Err(invalid());
        }
        match record.org {
            Some(org) => Ok(Principal::OrgAdmin(org)),
            None if self.configured_operator.is_none() => Ok(Principal::Operator),
            None => Err(invalid()),
        }
    }

    /// Creates a token administering `org` (`None`: the operator token),
    /// recording it in `org`'s audit log.
    pub fn issue(&self, org: Option<&str>) -> Result<IssuedToken, TokenError> {
        let id = random_hex(ID_BYTES)?;
        let secret = random_hex(SECRET_BYTES)?;
        let record = TokenRecord {
            id: id.clone(),
            org: org.map(str::to_owned),
            secret_sha256: Digest::of(secret.as_bytes()).to_hex(),
            created_at: unix_now(),
        };
        self.registry.write(|txn| {
            if let Some(org) = org {
                if txn.org(org)?.is_none() {
                    return Err(TokenError::OrgNotFound(org.to_owned()));
                }
                txn.append_audit(org, record.created_at, "token.create", None, None, &id)?;
            }
            txn.put_token(&record)?;
            Ok(())
        })?;
        Ok(IssuedToken {
            token: format!("{TOKEN_PREFIX}{id}_{secret}"),
            id,
            org: record.org,
            created_at: record.created_at,
        })
    }

    /// The tokens administering `org`.
    pub fn list(&self, org: &str) -> Result<Vec<TokenSummary>, TokenError> {
        let read = self.registry.read()?;
        if read.org(org)?.is_none() {
            return Err(TokenError::OrgNotFound(org.to_owned()));
        }
        Ok(read
            .tokens(Some(org))?
            .into_iter()
            .map(TokenSummary::from)
            .collect())
    }

    /// Revokes `org`'s token `id`; tokens of other orgs are not found.
    pub fn revoke(&self, org: &str, id: &str) -> Result<(), TokenError> {
        let not_found = || TokenError::TokenNotFound {
            org: org.to_owned(),
            id: id.to_owned(),
        };
        self.registry.write(|txn| {
            match txn.token(id)? {
                Some(record) if record.org.as_deref() == Some(org) => {}
                _ => return Err(not_found()),
            }
            txn.remove_token(id)?;
            txn.append_audit(org, unix_now(), "token.revoke", None, None, id)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_storage::OrgRecord;

    fn registry() -> (tempfile::TempDir, Arc<Database>) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Database::open(
            &dir.path().join("r.redb"),
            berth_storage::SecretKeys::ephemeral(),
        )
        .unwrap();
        registry
            .write(|txn| txn.put_org(&OrgRecord::new("acme", 1)))
            .unwrap();
        (dir, Arc::new(registry))
    }

    fn bearer(token: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
    }

    #[test]
    fn issued_tokens_authenticate_and_revoked_ones_do_not() {
        let (_dir, registry) = registry();
        let auth = Auth::new(registry, None);
        let operator = auth.bootstrap_operator().unwrap().expect("first start");
        assert_eq!(auth.bootstrap_operator().unwrap(), None, "shown once");
        assert_eq!(
            auth.authenticate(Some(&bearer(&operator))),
            Ok(Principal::Operator)
        );
        let admin = auth.issue(Some("acme")).unwrap();
        assert_eq!(
            auth.authenticate(Some(&bearer(&admin.token))),
            Ok(Principal::OrgAdmin("acme".into()))
        );
        // One changed character of the secret is refused.
        let mut forged = admin.token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == '0' { '1' } else { '0' });
        let refused = auth.authenticate(Some(&bearer(&forged))).unwrap_err();
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

        assert!(matches!(
            auth.revoke("other", &admin.id),
            Err(TokenError::TokenNotFound { .. })
        ));
        auth.revoke("acme", &admin.id).unwrap();
        assert!(auth.authenticate(Some(&bearer(&admin.token))).is_err());
        assert!(auth.authenticate(None).is_err());
    }

    #[test]
    fn a_configured_operator_token_replaces_the_stored_one() {
        let (_dir, registry) = registry();
        let stored = Auth::new(registry.clone(), None)
            .bootstrap_operator()
            .unwrap()
            .unwrap();
        let configured = "a-configured-operator-token-of-40-chars!";
        let auth = Auth::new(registry, Some(configured));
        assert_eq!(auth.bootstrap_operator().unwrap(), None);
        assert_eq!(
            auth.authenticate(Some(&bearer(configured))),
            Ok(Principal::Operator)
        );
        assert!(auth.authenticate(Some(&bearer(&stored))).is_err());
    }

    #[test]
    fn tokens_for_missing_orgs_are_refused_and_secrets_are_stored_hashed() {
        let (_dir, registry) = registry();
        let auth = Auth::new(registry.clone(), None);
        assert!(matches!(
            auth.issue(Some("ghost")),
            Err(TokenError::OrgNotFound(_))
        ));
        assert!(
            registry
                .read()
                .unwrap()
                .tokens(Some("ghost"))
                .unwrap()
                .is_empty()
        );
        let issued = auth.issue(Some("acme")).unwrap();
        let secret = issued.token.rsplit('_').next().unwrap();
        let record = registry.read().unwrap().token(&issued.id).unwrap().unwrap();
        assert_ne!(record.secret_sha256, secret);
        assert_eq!(record.secret_sha256, Digest::of(secret.as_bytes()).to_hex());
    }
}
