//! The management API's edge: how a lifecycle failure becomes an HTTP
//! status and JSON error code. The lifecycle reports what went wrong; this
//! decides what a client is told (request-path failures: `serve::status`).

use crate::common::error::ApiError;
use crate::control::dependencies::GraphProblem;
use crate::control::lifecycle::LifecycleError;
use crate::control::resolver::ResolveError;
use crate::package::signing::SignatureError;
use crate::sandbox::loader::LoadError;
use berth_storage::StorageError;
use http::StatusCode;

/// A lifecycle step's failure: 4xx for what the caller can fix, 409 for
/// conflicts with the org's state, 5xx (logged) for the host's own faults.
impl From<LifecycleError> for ApiError {
    fn from(error: LifecycleError) -> Self {
        use LifecycleError as E;
        let (status, code) = match &error {
            E::Package(e) => return e.clone().into(),
            E::ConfigRejected(violations) => {
                return violations.refusal("config_rejected", error.to_string());
            }
            E::Busy { .. } => return ApiError::too_many_requests(error.to_string()),
            E::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            E::InvalidName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
            E::OrgNotFound(_) => (StatusCode::NOT_FOUND, "org_not_found"),
            E::OrgExists(_) => (StatusCode::CONFLICT, "org_exists"),
            E::PluginNotFound { .. } => (StatusCode::NOT_FOUND, "plugin_not_found"),
            E::Component {
                source: LoadError::Storage(_),
                ..
            } => (StatusCode::INTERNAL_SERVER_ERROR, "storage_error"),
            E::Component {
                source: LoadError::ApiMismatch { .. },
                ..
            } => (StatusCode::UNPROCESSABLE_ENTITY, "api_mismatch"),
            E::Component { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_component"),
            E::PermissionMissing(_) => (StatusCode::UNPROCESSABLE_ENTITY, "permission_missing"),
            E::GrantExceedsDeclaration(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "grant_exceeds_declaration",
            ),
            E::NotNewer { .. } => (StatusCode::CONFLICT, "version_not_newer"),
            E::PluginActive(_) => (StatusCode::CONFLICT, "plugin_active"),
            E::FilesNotShared(_) => (StatusCode::UNPROCESSABLE_ENTITY, "files_not_shared"),
            E::InvalidConfig(_) => (StatusCode::BAD_REQUEST, "invalid_config"),
            E::InvalidLimits(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            E::Signature(SignatureError::Required) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "signature_required")
            }
            E::Signature(SignatureError::Malformed(_)) => {
                (StatusCode::BAD_REQUEST, "invalid_signature")
            }
            E::Signature(SignatureError::WrongPlugin { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "signature_wrong_plugin")
            }
            E::Signature(SignatureError::Mismatch(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "signature_mismatch")
            }
            E::Signature(SignatureError::Untrusted(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "untrusted_signer")
            }
            E::PolicyLocked(_) => (StatusCode::FORBIDDEN, "policy_locked"),
            E::InvalidKey(_) => (StatusCode::BAD_REQUEST, "invalid_key"),
            E::KeyExists(_) => (StatusCode::CONFLICT, "key_exists"),
            E::KeyNotFound(_) => (StatusCode::NOT_FOUND, "key_not_found"),
            E::ActivationFailed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "activation_failed"),
            E::HealthCheckFailed { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "health_check_failed")
            }
            E::NoPreviousVersion(_) => (StatusCode::CONFLICT, "no_previous_version"),
            E::Dependencies(problems) => match problems.first() {
                Some(GraphProblem::Conflict { .. }) => {
                    (StatusCode::CONFLICT, "dependency_conflict")
                }
                Some(GraphProblem::Cycle(_)) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "dependency_cycle")
                }
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "dependency_missing"),
            },
            E::DependenciesInactive(_) => (StatusCode::CONFLICT, "dependencies_inactive"),
            E::DependenciesNotServing(_) => (StatusCode::CONFLICT, "dependencies_not_serving"),
            E::VersionExists { .. } => (StatusCode::CONFLICT, "version_exists"),
            E::Resolve(ResolveError::UnknownPackage(_)) => {
                (StatusCode::NOT_FOUND, "package_not_found")
            }
            E::Resolve(ResolveError::NoSolution(_)) => (StatusCode::CONFLICT, "no_resolution"),
            E::HasDependents { .. } => (StatusCode::CONFLICT, "plugin_has_dependents"),
            E::Storage(StorageError::Conflict) => (StatusCode::CONFLICT, "conflict"),
            E::Storage(StorageError::Unavailable(detail)) => {
                return ApiError::registry_unavailable(detail);
            }
            E::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "storage_error"),
        };
        if status.is_server_error() {
            return ApiError::internal(code, format!("lifecycle failure: {error}"));
        }
        ApiError::new(status, code, error.to_string())
    }
}
