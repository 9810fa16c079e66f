//! UI routes: `GET /o/{org}/ui/manifest.json` (the merged contributions)
//! and `GET /o/{org}/ui/{plugin}/{path}` (an active plugin's asset). Both
//! are public, like any static file: a browser loading a plugin's script
//! cannot send credentials, so nothing secret belongs in assets. An unknown
//! org answers like an org without UI plugins (an empty manifest, 404
//! `asset_not_found`), so orgs cannot be enumerated.

use super::assets::{
    PLUGIN_ASSET_POLICY, content_type, decode_asset_path, is_head, static_response,
};
use super::{UiTable, merged};
use crate::common::error::ApiError;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A parsed UI route.
#[derive(Debug, PartialEq, Eq)]
pub struct UiPath {
    /// The org segment.
    pub org: String,
    /// What is asked for.
    pub target: UiTarget,
}

/// What a UI route names.
#[derive(Debug, PartialEq, Eq)]
pub enum UiTarget {
    /// The merged manifest.
    Manifest,
    /// A file of a plugin's assets (still percent-encoded).
    Asset {
        /// The plugin.
        plugin: String,
        /// The path inside its assets, as in the URL.
        path: String,
    },
}

impl UiPath {
    /// Parses `/o/{org}/ui/manifest.json` and `/o/{org}/ui/{plugin}/{path…}`.
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/o/")?;
        let (org, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("ui/")?;
        if org.is_empty() {
            return None;
        }
        let target = match rest.split_once('/') {
            _ if rest == "manifest.json" => UiTarget::Manifest,
            Some((plugin, path)) if !plugin.is_empty() => UiTarget::Asset {
                plugin: plugin.to_owned(),
                path: path.to_owned(),
            },
            _ => return None,
        };
        Some(Self {
            org: org.to_owned(),
            target,
        })
    }
}

/// Answers a UI route.
pub async fn handle<B>(
    table: &UiTable,
    target: UiPath,
    request: &Request<B>,
) -> Result<Response<HyperOutgoingBody>, ApiError> {
    let head = is_head(request.method(), "UI routes")?;
    let UiPath { org, target } = target;
    let (bytes, content_type) = match target {
        UiTarget::Manifest => {
            let merged = merged::merge(&org, &table.org(&org));
            let json = serde_json::to_vec(&merged).expect("the merged manifest serializes");
            (Bytes::from(json), "application/json")
        }
        UiTarget::Asset { plugin, path } => {
            let not_found = || {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "asset_not_found",
                    format!("org `{org}` has no active plugin `{plugin}` with asset `{path}`"),
                )
            };
            let file = decode_asset_path(&path)?;
            let ui = table.plugin(&org, &plugin).ok_or_else(not_found)?;
            let folder = ui.assets.clone().ok_or_else(not_found)?;
            let full = folder.join(&file);
            let bytes = tokio::task::spawn_blocking(move || std::fs::read(full))
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or_else(not_found)?;
            (Bytes::from(bytes), content_type(&file))
        }
    };
    Ok(static_response(
        bytes,
        content_type,
        request.headers(),
        head,
        HeaderValue::from_static(PLUGIN_ASSET_POLICY),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_paths_parse() {
        assert_eq!(
            UiPath::parse("/o/acme/ui/manifest.json").unwrap().target,
            UiTarget::Manifest
        );
        assert_eq!(
            UiPath::parse("/o/acme/ui/dark-theme/css/theme.css")
                .unwrap()
                .target,
            UiTarget::Asset {
                plugin: "dark-theme".into(),
                path: "css/theme.css".into()
            }
        );
        for other in [
            "/o/acme/ui/",
            "/o/acme/ui/x",
            "/o//ui/manifest.json",
            "/o/acme/p/x/y",
        ] {
            assert_eq!(UiPath::parse(other), None, "{other}");
        }
    }
}
