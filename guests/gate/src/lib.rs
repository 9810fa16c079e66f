//! `gate`: a test plugin whose `on-activate` waits on a server the test
//! controls, so a test can hold an activation (or an upgrade of an active
//! plugin) inside its guest for as long as it needs, and know it is there.
//!
//! - `on-activate`: with the `wait-url` setting (`http://host:port/path`,
//!   read through the standard `wasi:config/store`),
//!   logs `gate: on-activate waiting on {url}`, then GETs the URL and
//!   returns once it answers (an error if it cannot be reached). Without
//!   the setting it returns at once.
//! - `hooks.handle`: proceeds (it subscribes to nothing).

wit_bindgen::generate!({
    path: "../../wit",
    inline: "
        package test:gate;

        world gate {
            include berth:plugin/hooks-plugin@0.2.0;
            import wasi:http/outgoing-handler@0.2.12;
        }
    ",
    world: "test:gate/gate",
    generate_all,
});

use berth::plugin::log::{Level, log};
use berth::plugin::types::PluginError;
use exports::berth::plugin::hooks::{self, HookCall, HookOutcome};
use exports::berth::plugin::lifecycle;
use wasi::config::store::get;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, OutgoingRequest, Scheme};

struct Gate;

impl lifecycle::Guest for Gate {
    fn on_activate() -> Result<(), PluginError> {
        let url = get("wait-url").map_err(|e| failed(format!("reading `wait-url`: {e:?}")))?;
        let Some(url) = url else {
            return Ok(());
        };
        log(Level::Info, &format!("gate: on-activate waiting on {url}"));
        wait_on(&url)
    }

    fn on_deactivate() -> Result<(), PluginError> {
        Ok(())
    }
}

impl hooks::Guest for Gate {
    fn handle(_call: HookCall) -> Result<HookOutcome, PluginError> {
        Ok(HookOutcome::Proceed)
    }
}

/// GETs `url` (plain HTTP) and returns once it answers.
fn wait_on(url: &str) -> Result<(), PluginError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| failed("`wait-url` must start with http://".into()))?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |slash| rest.split_at(slash));
    let request = OutgoingRequest::new(Fields::new());
    let built = request
        .set_scheme(Some(&Scheme::Http))
        .and(request.set_authority(Some(authority)))
        .and(request.set_path_with_query(Some(path)));
    if built.is_err() {
        return Err(failed(format!("`{url}` is not a valid URL")));
    }
    let pending = outgoing_handler::handle(request, None)
        .map_err(|e| failed(format!("waiting on {url}: {e:?}")))?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(_answered))) => Ok(()),
        Some(Ok(Err(e))) => Err(failed(format!("waiting on {url}: {e:?}"))),
        _ => Err(failed(format!("waiting on {url}: no answer"))),
    }
}

fn failed(message: String) -> PluginError {
    PluginError {
        code: "gate_failed".into(),
        message,
    }
}

export!(Gate);
