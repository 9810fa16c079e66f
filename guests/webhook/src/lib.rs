//! `webhook`: an example integration connector for a third-party service
//! that accepts JSON webhooks authenticated by an API key.
//!
//! The org configures `url` (setting) and `api-key` (secret). The plugin
//! subscribes to `contacts.after-create` and posts each new contact there
//! (`on-event`), and offers one action, `send`, posting a message. Every
//! post carries the key in `x-api-key` and goes out through
//! `wasi:http/outgoing-handler`, so the host's `network` grant decides
//! where it may go.

wit_bindgen::generate!({
    path: "../../wit",
    world: "berth:plugin/integration-plugin",
    generate_all,
});

use berth::plugin::config::{ConfigError, get, get_secret};
use berth::plugin::modules::{HookSubscription, subscribe};
use berth::plugin::types::PluginError;
use exports::berth::plugin::integration::{self, Action, Connector, Event};
use exports::berth::plugin::lifecycle;
use serde_json::{Value, json};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

struct Webhook;

impl lifecycle::Guest for Webhook {
    fn on_activate() -> Result<(), PluginError> {
        subscribe(&HookSubscription {
            module: "contacts".into(),
            hook: "after-create".into(),
        })
        .map_err(|e| error("subscribe_failed", format!("{e:?}")))
    }

    fn on_deactivate() -> Result<(), PluginError> {
        Ok(())
    }
}

impl integration::Guest for Webhook {
    fn describe() -> Connector {
        Connector {
            name: "Webhook".into(),
            description: "Posts new contacts and messages to a URL, with an API key".into(),
            config_schema: json!({
                "type": "object",
                "required": ["url", "api-key"],
                "properties": {
                    "url": { "type": "string", "pattern": "^https?://" },
                    "api-key": { "type": "string", "minLength": 8 }
                }
            })
            .to_string(),
            actions: vec![Action {
                name: "send".into(),
                description: "Posts a message to the webhook".into(),
                input_schema: json!({
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["message"],
                    "properties": { "message": { "type": "string", "minLength": 1 } }
                })
                .to_string(),
                output_schema: json!({
                    "type": "object",
                    "properties": { "status": { "type": "integer" } }
                })
                .to_string(),
            }],
        }
    }

    fn invoke(action: String, input: String) -> Result<String, PluginError> {
        if action != "send" {
            return Err(error("unknown_action", format!("no action `{action}`")));
        }
        let input: Value = serde_json::from_str(&input)
            .map_err(|e| error("invalid_input", e.to_string()))?;
        let status = post(&json!({ "message": input["message"] }))?;
        Ok(json!({ "status": status }).to_string())
    }

    fn on_event(event: Event) -> Result<(), PluginError> {
        let payload: Value = serde_json::from_str(&event.payload)
            .map_err(|e| error("invalid_event", e.to_string()))?;
        post(&json!({ "source": event.source, "kind": event.kind, "record": payload }))?;
        Ok(())
    }
}

fn error(code: &str, message: impl Into<String>) -> PluginError {
    PluginError {
        code: code.into(),
        message: message.into(),
    }
}

fn config_error(e: ConfigError) -> PluginError {
    match e {
        ConfigError::Denied(m) => error("config_denied", m),
        ConfigError::Internal(m) => error("config_unavailable", m),
    }
}

/// Posts `body` as JSON to the configured URL with the API key; returns
/// the response status (an error for 4xx/5xx).
fn post(body: &Value) -> Result<u16, PluginError> {
    let url = get("url")
        .map_err(config_error)?
        .ok_or_else(|| error("not_configured", "set the `url` setting"))?;
    let key = get_secret("api-key")
        .map_err(config_error)?
        .ok_or_else(|| error("not_configured", "set the `api-key` secret"))?;
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => return Err(error("bad_url", "`url` must start with http:// or https://")),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let bytes = body.to_string().into_bytes();
    let headers = Fields::from_list(&[
        ("content-type".into(), b"application/json".to_vec()),
        ("content-length".into(), bytes.len().to_string().into_bytes()),
        ("x-api-key".into(), key.into_bytes()),
    ])
    .map_err(|e| error("bad_header", format!("{e:?}")))?;
    let request = OutgoingRequest::new(headers);
    let built = request
        .set_method(&Method::Post)
        .and(request.set_scheme(Some(&scheme)))
        .and(request.set_authority(Some(authority)))
        .and(request.set_path_with_query(Some(path)));
    if built.is_err() {
        return Err(error("bad_url", "`url` is not a valid URL"));
    }
    let outgoing = request.body().map_err(|()| error("internal", "request body"))?;
    let failed = |e: String| error("delivery_failed", e);
    let pending = outgoing_handler::handle(request, None).map_err(|e| failed(format!("{e:?}")))?;
    {
        let stream = outgoing.write().map_err(|()| failed("request stream".into()))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| failed(format!("{e:?}")))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| failed(format!("{e:?}")))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(failed(format!("{e:?}"))),
        _ => return Err(failed("no response".into())),
    };
    let status = response.status();
    if status >= 400 {
        return Err(error("upstream_error", format!("the webhook answered {status}")));
    }
    Ok(status)
}

export!(Webhook);
