//! The API edge: how the failures of the layers below become HTTP statuses
//! and JSON error codes. The layers themselves report domain errors; only
//! this module (and `control::status` for the management path) chooses
//! what a client is told.

use crate::common::error::ApiError;
use crate::package::PackageError;
use crate::sandbox::runtime::InvokeError;
use http::StatusCode;

/// A failed plugin call: traps and bad answers are the plugin's fault
/// (5xx naming it), an exhausted budget or pool means "try again".
impl From<InvokeError> for ApiError {
    fn from(error: InvokeError) -> Self {
        use InvokeError as E;
        let (status, code) = match &error {
            E::Trap(_) => (StatusCode::INTERNAL_SERVER_ERROR, "plugin_trap"),
            E::CpuDeadline(_) => (StatusCode::SERVICE_UNAVAILABLE, "plugin_cpu_deadline"),
            E::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "plugin_timeout"),
            E::NoResponse => (StatusCode::BAD_GATEWAY, "plugin_no_response"),
            E::Guest(_) => (StatusCode::BAD_GATEWAY, "plugin_error"),
            E::Setup(_) => (StatusCode::SERVICE_UNAVAILABLE, "plugin_unavailable"),
        };
        Self::new(status, code, error.to_string())
    }
}

/// A package that cannot be accepted: 400, or 413 for the size limits.
impl From<PackageError> for ApiError {
    fn from(error: PackageError) -> Self {
        use PackageError as E;
        let (status, code) = match &error {
            E::InvalidZip(_) => (StatusCode::BAD_REQUEST, "invalid_zip"),
            E::MissingManifest => (StatusCode::BAD_REQUEST, "missing_manifest"),
            E::InvalidManifest(_) => (StatusCode::BAD_REQUEST, "invalid_manifest"),
            E::ComponentMissing(_) => (StatusCode::BAD_REQUEST, "component_missing"),
            E::UnsafePath(_) => (StatusCode::BAD_REQUEST, "unsafe_path"),
            E::SymlinkEntry(_) => (StatusCode::BAD_REQUEST, "symlink_entry"),
            E::DuplicateEntry(_) => (StatusCode::BAD_REQUEST, "duplicate_entry"),
            E::TooManyEntries { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_entries"),
            E::EntryTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "entry_too_large"),
            E::PackageTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "package_too_large"),
            E::CompressionRatio { .. } => (StatusCode::BAD_REQUEST, "compression_ratio"),
        };
        ApiError::new(status, code, error.to_string())
    }
}
