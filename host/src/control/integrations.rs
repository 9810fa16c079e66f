//! Integration plugins through the management API: what each connector
//! offers (`describe`), running its actions (`invoke`, input checked
//! against the action's schema first), and checking an org's configuration
//! against the connector's config schema.
//!
//! Every call runs on a fresh instance with the plugin's grants, like a
//! request, admitted at the org's [`FrontDoor`] first (429 when the org is
//! at its limits). An active connector's `describe` answer is kept on its
//! mount, so it runs once per activation, not once per action.
//! Configuration problems are reported by key and schema keyword only —
//! never with the offending value, which may be a secret. Both a refused
//! configuration and a refused input list their problems field by field
//! ([`SchemaViolations`]).

use crate::common::admission::{Admitted, Refusal};
use crate::common::error::ApiError;
use crate::common::schema_fields::{SchemaViolations, violations};
use crate::sandbox::active_plugins::{ActivePlugins, MountedPlugin};
use crate::sandbox::calls::ExportCallError;
use crate::sandbox::exports::Connector;
use crate::sandbox::runtime::Runtime;
use crate::serve::front_door::FrontDoor;
use berth_storage::PluginConfig;
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// A connector as `GET /api/v1/orgs/{org}/integrations` lists it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    /// The plugin providing it.
    pub plugin: String,
    /// Display name of the service.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of the org's configuration (settings and secrets).
    pub config_schema: Value,
    /// Its actions.
    pub actions: Vec<ActionView>,
}

/// One action of a connector.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ActionView {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: Value,
    /// JSON Schema of its output.
    pub output_schema: Value,
}

/// Why an integration call failed.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// No active plugin of that name exports `integration`.
    #[error("org `{org}` has no active integration plugin `{plugin}`")]
    NotFound {
        /// The org.
        org: String,
        /// The plugin asked for.
        plugin: String,
    },
    /// The connector has no such action.
    #[error("`{plugin}` has no action `{action}`")]
    ActionNotFound {
        /// The plugin.
        plugin: String,
        /// The action asked for.
        action: String,
    },
    /// The input does not satisfy the action's input schema.
    #[error("invalid input: {0}")]
    InvalidInput(SchemaViolations),
    /// The plugin described itself with something that is not JSON Schema.
    #[error("`{plugin}` describes an invalid schema: {reason}")]
    InvalidConnector {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin failed or reported an error.
    #[error("`{plugin}` failed: {error}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// What went wrong.
        error: ExportCallError,
    },
    /// The org is at its in-flight or rate limit: no instance was made.
    #[error("calling `{plugin}` was refused: {refusal}")]
    Busy {
        /// The plugin.
        plugin: String,
        /// Which limit.
        refusal: Refusal,
    },
}

impl From<IntegrationError> for ApiError {
    fn from(error: IntegrationError) -> Self {
        use IntegrationError as E;
        let (status, code) = match &error {
            E::Busy { .. } => return ApiError::too_many_requests(error.to_string()),
            E::InvalidInput(violations) => {
                return violations.refusal("invalid_input", error.to_string());
            }
            E::NotFound { .. } => (StatusCode::NOT_FOUND, "integration_not_found"),
            E::ActionNotFound { .. } => (StatusCode::NOT_FOUND, "action_not_found"),
            E::InvalidConnector { .. } => (StatusCode::BAD_GATEWAY, "invalid_connector"),
            E::Failed { .. } => (StatusCode::BAD_GATEWAY, "action_failed"),
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// The org's integration plugins.
pub struct Integrations {
    plugins: Arc<ActivePlugins>,
    runtime: Runtime,
    front_door: FrontDoor,
}

impl Integrations {
    /// Integrations among the active `plugins`, called through `runtime`
    /// once `front_door` admits them.
    pub fn new(plugins: Arc<ActivePlugins>, runtime: Runtime, front_door: FrontDoor) -> Self {
        Self {
            plugins,
            runtime,
            front_door,
        }
    }

    /// Every active integration plugin of `org`, by plugin name. A plugin
    /// that fails to describe itself is logged and left out; an org at its
    /// limits is refused.
    pub async fn list(&self, org: &str) -> Result<Vec<IntegrationView>, IntegrationError> {
        let mut views = Vec::new();
        for mounted in self.plugins.active(org) {
            if mounted.plugin.exports.integration.is_none() {
                continue;
            }
            match self.describe(&mounted).await {
                Ok(view) => views.push(view),
                Err(busy @ IntegrationError::Busy { .. }) => return Err(busy),
                Err(e) => tracing::warn!(org, "integration left out of the listing: {e}"),
            }
        }
        Ok(views)
    }

    /// `org`'s active integration plugin `plugin`, if there is one.
    pub fn active(&self, org: &str, plugin: &str) -> Option<Arc<MountedPlugin>> {
        self.plugins
            .resolve(org, plugin)
            .ok()
            .filter(|m| m.plugin.exports.integration.is_some())
    }

    /// What `mounted` offers, its schemas parsed. Its `describe` runs (on
    /// an admitted instance) the first time only; its answer is kept on
    /// the mount.
    pub async fn describe(
        &self,
        mounted: &MountedPlugin,
    ) -> Result<IntegrationView, IntegrationError> {
        let plugin = &mounted.identity.plugin;
        let connector = mounted
            .connector
            .get_or_try_init(|| async {
                let _admitted = self.admit(mounted)?;
                let described = self.runtime.describe(mounted).await;
                described.map_err(|error| IntegrationError::Failed {
                    plugin: plugin.clone(),
                    error,
                })
            })
            .await?;
        view(plugin, connector)
    }

    /// A slot at the front door for an instance of `mounted`.
    fn admit(&self, mounted: &MountedPlugin) -> Result<Admitted, IntegrationError> {
        let identity = &mounted.identity;
        self.front_door
            .admit(&identity.org)
            .map_err(|refusal| IntegrationError::Busy {
                plugin: identity.plugin.clone(),
                refusal,
            })
    }

    /// Runs `action` of `org`'s active integration `plugin` with `input`,
    /// checked against the action's input schema; returns its output.
    pub async fn invoke(
        &self,
        org: &str,
        plugin: &str,
        action: &str,
        input: Value,
    ) -> Result<Value, IntegrationError> {
        let mounted = self
            .active(org, plugin)
            .ok_or_else(|| IntegrationError::NotFound {
                org: org.to_owned(),
                plugin: plugin.to_owned(),
            })?;
        let view = self.describe(&mounted).await?;
        let offered = view
            .actions
            .iter()
            .find(|a| a.name == action)
            .ok_or_else(|| IntegrationError::ActionNotFound {
                plugin: plugin.to_owned(),
                action: action.to_owned(),
            })?;
        let validator = compile(plugin, &offered.input_schema)?;
        if let Some(problems) = violations(validator.iter_errors(&input)) {
            return Err(IntegrationError::InvalidInput(problems));
        }
        let failed = |error| IntegrationError::Failed {
            plugin: plugin.to_owned(),
            error,
        };
        let _admitted = self.admit(&mounted)?;
        let output = self
            .runtime
            .invoke_action(&mounted, action.to_owned(), input.to_string())
            .await
            .map_err(failed)?;
        serde_json::from_str(&output).map_err(|e| IntegrationError::InvalidConnector {
            plugin: plugin.to_owned(),
            reason: format!("its output is not JSON: {e}"),
        })
    }
}

fn view(plugin: &str, connector: &Connector) -> Result<IntegrationView, IntegrationError> {
    let parse = |what: &str, json: &str| {
        let schema: Value =
            serde_json::from_str(json).map_err(|e| IntegrationError::InvalidConnector {
                plugin: plugin.to_owned(),
                reason: format!("{what} is not JSON: {e}"),
            })?;
        compile(plugin, &schema)?;
        Ok::<_, IntegrationError>(schema)
    };
    let mut actions = Vec::with_capacity(connector.actions.len());
    for action in &connector.actions {
        actions.push(ActionView {
            input_schema: parse(
                &format!("input schema of `{}`", action.name),
                &action.input_schema,
            )?,
            output_schema: parse(
                &format!("output schema of `{}`", action.name),
                &action.output_schema,
            )?,
            name: action.name.clone(),
            description: action.description.clone(),
        });
    }
    Ok(IntegrationView {
        config_schema: parse("config schema", &connector.config_schema)?,
        name: connector.name.clone(),
        description: connector.description.clone(),
        actions,
        plugin: plugin.to_owned(),
    })
}

fn compile(plugin: &str, schema: &Value) -> Result<jsonschema::Validator, IntegrationError> {
    jsonschema::validator_for(schema).map_err(|e| IntegrationError::InvalidConnector {
        plugin: plugin.to_owned(),
        reason: e.to_string(),
    })
}

/// Checks `config` (settings and secrets as one object of strings) against
/// a connector's config `schema`. Problems name the key and the schema
/// keyword, never the value.
pub fn check_config(schema: &Value, config: &PluginConfig) -> Result<(), SchemaViolations> {
    let validator = jsonschema::validator_for(schema).map_err(|e| SchemaViolations {
        message: e.to_string(),
        fields: Vec::new(),
    })?;
    let merged: serde_json::Map<String, Value> = config
        .config
        .iter()
        .chain(&config.secrets)
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    match violations(validator.iter_errors(&Value::Object(merged))) {
        Some(problems) => Err(problems),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_config;
    use berth_storage::PluginConfig;
    use serde_json::json;

    #[test]
    fn config_problems_name_keys_and_keywords_but_never_values() {
        let schema = json!({
            "type": "object",
            "required": ["url", "api-key"],
            "properties": {
                "url": { "type": "string", "pattern": "^https?://" },
                "api-key": { "type": "string", "minLength": 8 }
            }
        });
        let mut config = PluginConfig::default();
        config.config.insert("url".into(), "ftp://nope".into());
        config.secrets.insert("api-key".into(), "tiny".into());
        let refused = check_config(&schema, &config).unwrap_err();
        let problems = refused.message;
        assert!(
            problems.contains("`url` does not match the required pattern"),
            "{problems}"
        );
        assert!(
            problems.contains("`api-key` must be at least 8 characters long"),
            "{problems}"
        );
        assert!(
            !problems.contains("tiny") && !problems.contains("ftp"),
            "{problems}"
        );

        let mut fields: Vec<_> = (refused.fields.iter())
            .map(|f| (f.field.as_str(), f.keyword.as_str()))
            .collect();
        fields.sort();
        assert_eq!(fields, [("api-key", "minLength"), ("url", "pattern")]);
        assert!(!format!("{:?}", refused.fields).contains("tiny"));

        config.secrets.clear();
        let missing = check_config(&schema, &config).unwrap_err();
        assert!(missing.message.contains("api-key"));
        let mut fields: Vec<_> = (missing.fields.iter())
            .map(|f| (f.field.as_str(), f.keyword.as_str(), f.message.as_str()))
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                ("api-key", "required", "is required"),
                ("url", "pattern", "does not match the required pattern"),
            ]
        );

        config
            .config
            .insert("url".into(), "https://hooks.example.com/x".into());
        config
            .secrets
            .insert("api-key".into(), "long-enough-key".into());
        assert_eq!(check_config(&schema, &config), Ok(()));
    }
}
