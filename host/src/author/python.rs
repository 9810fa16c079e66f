//! Python plugin projects: what `berth plugin new --lang python` writes (a
//! routes or hooks template) and how `berth plugin build` turns one into a
//! component with componentize-py.
//!
//! A project is `app.py`, `manifest.json` and `wit/world.wit` — a world
//! named `plugin` importing and exporting only what `app.py` uses, since
//! componentize-py imports everything its world names — with berth's
//! package and WASI's flattened into `wit/deps/`.

#[path = "../../../guests/artifacts/componentize_py.rs"]
mod componentize_py;

use super::scaffold::{self, Template, TemplateKind};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// The module a Python project's plugin lives in.
pub const APP: &str = "app.py";

const ROUTES: Template = Template {
    world: "    import berth:plugin/log@0.2.0;\n    export wasi:http/incoming-handler@0.2.12;",
    permissions: r#"{ "routes": ["/"] }"#,
    extra_manifest: "",
    code: r#""""{{name}}: a berth route plugin in Python (componentize-py).

`GET /` answers a greeting; everything else 404. Each request is logged
through berth:plugin/log.

componentize-py snapshots the interpreter after importing this module at
build time, and a plugin has no files at run time: import every module you
need here, at the top level, never inside a function.
"""

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = (request.path_with_query() or "/").split("?", 1)[0]
        log.log(log.Level.INFO, f"{{name}}: {path}")
        if path == "/":
            respond(response_out, 200, b"Hello from {{name}}!\n")
        else:
            respond(response_out, 404, b"not found\n")


def respond(response_out: ResponseOutparam, status: int, body: bytes) -> None:
    """Sends a complete text response (bodies up to 4096 bytes per write)."""
    response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
    response.set_status_code(status)
    outgoing = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    # The stream must be dropped (the `with`) before the body is finished.
    with outgoing.write() as stream:
        stream.blocking_write_and_flush(body)
    OutgoingBody.finish(outgoing, None)
"#,
};

const HOOKS: Template = Template {
    world: "    import berth:plugin/log@0.2.0;\n    import berth:plugin/modules@0.2.0;\n    export berth:plugin/hooks@0.2.0;\n    export berth:plugin/lifecycle@0.2.0;",
    permissions: r#"{ "modules": { "extend": ["contacts.before-create"] } }"#,
    extra_manifest: "",
    code: r#""""{{name}}: a berth hooks plugin in Python (componentize-py).

It subscribes to the built-in contacts module's before-create hook and
vetoes contacts whose name contains "{{name}}-veto"; every other contact
passes unchanged.

componentize-py snapshots the interpreter after importing this module at
build time, and a plugin has no files at run time: import every module you
need here, at the top level, never inside a function.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.hooks import HookCall, HookOutcome, HookOutcome_Proceed, HookOutcome_Veto
from wit_world.imports import log, modules
from wit_world.imports.types import PluginError


class Lifecycle(exports.Lifecycle):
    def on_activate(self) -> None:
        """Runs on every start; subscribes to contacts.before-create."""
        try:
            modules.subscribe(modules.HookSubscription(module="contacts", hook="before-create"))
        except Err as e:
            raise Err(PluginError(code="subscribe_failed", message=str(e.value)))

    def on_deactivate(self) -> None:
        pass


class Hooks(exports.Hooks):
    def handle(self, call: HookCall) -> HookOutcome:
        """Return HookOutcome_Proceed(), HookOutcome_Transform(json) or
        HookOutcome_Veto(reason); raising Err(PluginError(...)) vetoes too."""
        record = json.loads(call.payload)
        name = str(record.get("name", "")) if isinstance(record, dict) else ""
        if "{{name}}-veto" in name:
            log.log(log.Level.INFO, f"{{name}}: vetoed {name!r}")
            return HookOutcome_Veto("refused by {{name}}")
        return HookOutcome_Proceed()
"#,
};

/// Creates the Python project `parent/name` of `kind` (routes or hooks);
/// returns its folder.
pub fn new(parent: &Path, name: &str, kind: TemplateKind) -> anyhow::Result<PathBuf> {
    let template = match kind {
        TemplateKind::Routes => ROUTES,
        TemplateKind::Hooks => HOOKS,
        TemplateKind::Integration | TemplateKind::Ui => bail!(
            "Python templates exist for routes and hooks; use --lang rust or --lang js for {}",
            kind.name()
        ),
    };
    let dir = scaffold::project_dir(parent, name)?;
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{kind}}", &format!("{} (Python)", kind.name()))
    };
    let description = format!("A Python {} plugin made with berth plugin new", kind.name());
    let manifest = scaffold::manifest(
        name,
        kind,
        &description,
        template.extra_manifest,
        template.permissions,
    );
    let mut files: Vec<(PathBuf, String)> = vec![
        (dir.join(APP), fill(template.code)),
        (dir.join("manifest.json"), manifest),
        (dir.join("README.md"), fill(scaffold::README)),
        (
            dir.join(".gitignore"),
            "__pycache__/\n*.wasm\n*.zip\n".to_owned(),
        ),
        (
            dir.join("wit/world.wit"),
            scaffold::own_world(name, template.world),
        ),
    ];
    files.extend(scaffold::flattened_wit(&dir));
    scaffold::write_files(&files)?;
    Ok(dir)
}

/// Builds the Python project in `dir` with componentize-py into
/// `component` (the manifest's) in `dir`, leaving no `__pycache__/` behind
/// that was not there before; returns `dir`.
pub fn build(dir: &Path, component: &str) -> anyhow::Result<PathBuf> {
    let out = std::path::absolute(dir.join(component)).context("resolving the component path")?;
    let wit = std::path::absolute(dir.join("wit")).context("resolving the wit folder")?;
    let cache = dir.join("__pycache__");
    let had_cache = cache.exists();
    let status = componentize_py::componentize(dir, &wit, &out)
        .status()
        .context("running python3 (Python plugins need it)");
    if !had_cache {
        let _ = std::fs::remove_dir_all(&cache);
    }
    let status = status?;
    if !status.success() {
        bail!(
            "componentize-py could not build {} (is componentize-py {} installed? scripts/setup.sh installs it)",
            dir.display(),
            componentize_py::VERSION
        );
    }
    Ok(dir.to_path_buf())
}
