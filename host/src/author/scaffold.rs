//! The Rust and JavaScript templates of `berth plugin new`: a ready plugin
//! project for one kind — a Rust crate using wit-bindgen against the WIT
//! files this berth serves (written into the project's `wit/`), or a
//! JavaScript project with a world of its own — a manifest declaring
//! exactly the permissions the template uses, and a README telling the
//! author how to build, pack, sign and publish it. The Python templates
//! build on its helpers.

#[path = "../../../guests/artifacts/wasi_relabel.rs"]
mod wasi_relabel;

use crate::package::ApiVersion;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use wasi_relabel::relabel_for_componentize_js;

/// What a new plugin provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TemplateKind {
    /// HTTP routes (`route-plugin`).
    Routes,
    /// A third-party connector (`integration-plugin`).
    Integration,
    /// Module hooks (`hooks-plugin`).
    Hooks,
    /// UI contributions (`ui-plugin`).
    Ui,
}

impl TemplateKind {
    /// The manifest's name for this kind.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Routes => "routes",
            Self::Integration => "integration",
            Self::Hooks => "hooks",
            Self::Ui => "ui",
        }
    }
}

/// The manifest of a new plugin `name` of `kind`, described as
/// `description`, with `extra` fields and `permissions` (JSON text).
pub(super) fn manifest(
    name: &str,
    kind: TemplateKind,
    description: &str,
    extra: &str,
    permissions: &str,
) -> String {
    format!(
        r#"{{
  "name": "{name}",
  "version": "0.1.0",
  "description": "{description}",
  "kinds": ["{kind}"],
  "component": "{crate_name}.wasm",
  "api": "{api}"{extra},
  "permissions": {permissions}
}}
"#,
        kind = kind.name(),
        crate_name = crate_name(name),
        api = ApiVersion::NEWEST,
    )
}

/// The crate (and component file) name of plugin `name`.
fn crate_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The language of a new plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with wit-bindgen.
    Rust,
    /// JavaScript with componentize-js.
    Js,
    /// Python with componentize-py (routes and hooks).
    Python,
}

/// One kind's template in one language: the world (its name in berth's
/// package for Rust; the body of the project's own world for JavaScript
/// and Python), the manifest's permissions (and extra fields), and the
/// guest's code.
pub(super) struct Template {
    pub(super) world: &'static str,
    pub(super) permissions: &'static str,
    pub(super) extra_manifest: &'static str,
    pub(super) code: &'static str,
}

const ROUTES: Template = Template {
    world: "route-plugin",
    permissions: r#"{ "routes": ["/"] }"#,
    extra_manifest: "",
    code: r#"use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Plugin;

impl Guest for Plugin {
    /// `GET /` answers a greeting; everything else 404.
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = match path.as_str() {
            "/" => (200, "Hello from {{name}}!\n".to_owned()),
            _ => (404, "not found\n".to_owned()),
        };
        let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())])
            .expect("valid header");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("valid status");
        let outgoing = response.body().expect("a body");
        ResponseOutparam::set(response_out, Ok(response));
        let stream = outgoing.write().expect("a stream");
        stream.blocking_write_and_flush(body.as_bytes()).expect("writing");
        drop(stream);
        OutgoingBody::finish(outgoing, None).expect("finishing");
    }
}
"#,
};

const HOOKS: Template = Template {
    world: "hooks-plugin",
    permissions: r#"{ "modules": { "extend": ["contacts.before-create"] } }"#,
    extra_manifest: "",
    code: r#"use berth::plugin::modules::{subscribe, HookSubscription};
use berth::plugin::types::PluginError;
use exports::berth::plugin::hooks::{self, HookCall, HookOutcome};
use exports::berth::plugin::lifecycle;

struct Plugin;

impl lifecycle::Guest for Plugin {
    /// Subscribes to the built-in contacts module's `before-create` hook.
    fn on_activate() -> Result<(), PluginError> {
        let hook = HookSubscription { module: "contacts".into(), hook: "before-create".into() };
        subscribe(&hook).map_err(|e| PluginError { code: "subscribe".into(), message: format!("{e:?}") })
    }

    /// Runs after the org deactivated the plugin; nothing to clean up here.
    fn on_deactivate() -> Result<(), PluginError> {
        Ok(())
    }
}

impl hooks::Guest for Plugin {
    /// Lets every contact through unchanged; return `Transform` or `Veto` to change that.
    fn handle(_call: HookCall) -> Result<HookOutcome, PluginError> {
        Ok(HookOutcome::Proceed)
    }
}
"#,
};

const INTEGRATION: Template = Template {
    world: "integration-plugin",
    permissions: "{}",
    extra_manifest: "",
    code: r##"use berth::plugin::types::PluginError;
use exports::berth::plugin::integration::{self, Action, Connector, Event};
use exports::berth::plugin::lifecycle;

struct Plugin;

impl lifecycle::Guest for Plugin {
    fn on_activate() -> Result<(), PluginError> {
        Ok(())
    }

    fn on_deactivate() -> Result<(), PluginError> {
        Ok(())
    }
}

impl integration::Guest for Plugin {
    /// What the connector offers: one `ping` action.
    fn describe() -> Connector {
        Connector {
            name: "{{name}}".into(),
            description: "A connector made with berth plugin new".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            actions: vec![Action {
                name: "ping".into(),
                description: "Answers pong".into(),
                input_schema: r#"{"type":"object"}"#.into(),
                output_schema: r#"{"type":"object"}"#.into(),
            }],
        }
    }

    fn invoke(action: String, _input: String) -> Result<String, PluginError> {
        match action.as_str() {
            "ping" => Ok(r#"{"pong":true}"#.into()),
            _ => Err(PluginError { code: "unknown_action".into(), message: action }),
        }
    }

    fn on_event(_event: Event) -> Result<(), PluginError> {
        Ok(())
    }
}
"##,
};

const UI: Template = Template {
    world: "ui-plugin",
    permissions: r#"{ "ui": { "slots": ["dashboard.widgets"] } }"#,
    extra_manifest: r#",
  "assets": "assets""#,
    code: r#"use exports::berth::plugin::ui::{Guest, SlotComponent, UiContributions};

struct Plugin;

impl Guest for Plugin {
    /// A dashboard widget rendered by `assets/widget.js`.
    fn contributions() -> UiContributions {
        UiContributions {
            pages: Vec::new(),
            components: vec![SlotComponent {
                slot: "dashboard.widgets".into(),
                name: "hello".into(),
                entry: "widget.js".into(),
                data_route: None,
            }],
            theme: Vec::new(),
        }
    }
}
"#,
};

const WIDGET_JS: &str = r#"// The console runs this module in a sandboxed frame and calls its default
// export with the element to render into and the context: `org`, `plugin`,
// `data` (the data route's URL), `theme` and `fetch` (GETs this plugin's
// own routes through the console; the frame has no other network access).
export default function mount(element, { org }) {
  element.textContent = `Hello from {{name}} in ${org}!`;
}
"#;

pub(super) const README: &str = r#"# {{name}}

A berth {{kind}} plugin, made with `berth plugin new`. The WIT files in
`wit/` are the API of the berth that made it (`berth wit --out wit` refreshes
them); `manifest.json` declares the permissions the code uses.

```sh
berth plugin build .                         # the component, for wasm32-wasip2
berth plugin pack .                          # {{name}}-0.1.0.zip, checked like an upload
berth keygen --out ~/.berth-keys             # once: berth.pub + berth.key
berth plugin sign {{name}}-0.1.0.zip --key ~/.berth-keys/berth.key
berth login --server URL --token TOKEN --org ORG   # once: saves them
berth registry publish {{name}}-0.1.0.zip
berth plugin install {{name}}@^0.1
berth plugin activate {{name}}
```
"#;

const CARGO_TOML: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = "0.61"

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true

# A project of its own, even inside another workspace.
[workspace]
"#;

/// Creates the Rust project `parent/name`; returns its folder.
pub fn new_rust(parent: &Path, name: &str, kind: TemplateKind) -> anyhow::Result<PathBuf> {
    let template = match kind {
        TemplateKind::Routes => ROUTES,
        TemplateKind::Integration => INTEGRATION,
        TemplateKind::Hooks => HOOKS,
        TemplateKind::Ui => UI,
    };
    let dir = project_dir(parent, name)?;
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{kind}}", kind.name())
    };
    let description = format!("A {} plugin made with berth plugin new", kind.name());
    let manifest = manifest(
        name,
        kind,
        &description,
        template.extra_manifest,
        template.permissions,
    );
    let code = format!(
        "//! {name}: a berth {kind} plugin.\n\nwit_bindgen::generate!({{\n    path: \"wit\",\n    world: \"berth:plugin/{world}\",\n    generate_all,\n}});\n\n{code}\nexport!(Plugin);\n",
        kind = kind.name(),
        world = template.world,
        code = fill(template.code),
    );
    let mut files: Vec<(PathBuf, String)> = vec![
        (dir.join("Cargo.toml"), fill(CARGO_TOML)),
        (dir.join("manifest.json"), manifest),
        (dir.join("README.md"), fill(README)),
        (dir.join(".gitignore"), "target/\n*.zip\n".to_owned()),
        (dir.join("src/lib.rs"), code),
    ];
    if kind == TemplateKind::Ui {
        files.push((dir.join("assets/widget.js"), fill(WIDGET_JS)));
    }
    write_files(&files)?;
    super::wit(ApiVersion::NEWEST, Some(&dir.join("wit")))?;
    Ok(dir)
}

/// The new project's folder, which must not exist yet.
pub(super) fn project_dir(parent: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    Ok(dir)
}

pub(super) fn write_files(files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    for (path, text) in files {
        std::fs::create_dir_all(path.parent().expect("inside the project"))?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

const JS_PACKAGE: &str = r#"{
  "name": "{{name}}",
  "private": true,
  "type": "module",
  "scripts": {
    "build": "componentize-js plugin.js --wit wit --world-name example:{{name}}/plugin --disable http -o {{crate}}.wasm"
  },
  "devDependencies": {
    "@bytecodealliance/componentize-js": "0.23.0",
    "@bytecodealliance/preview2-shim": "0.25.0"
  }
}
"#;

const JS_ROUTES: Template = Template {
    world: "    include wasi:http/proxy@0.2.10;",
    permissions: r#"{ "routes": ["/"] }"#,
    extra_manifest: "",
    code: r#"// {{name}}: a berth route plugin in JavaScript. componentize-js turns this
// fetch-event handler into the component's wasi:http/incoming-handler.
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.pathname === "/") {
    event.respondWith(new Response("Hello from {{name}}!\n", { headers: { "content-type": "text/plain" } }));
  } else {
    event.respondWith(new Response("not found\n", { status: 404 }));
  }
});
"#,
};

const JS_HOOKS: Template = Template {
    world: "    import berth:plugin/modules@0.2.0;\n    export berth:plugin/hooks@0.2.0;\n    export berth:plugin/lifecycle@0.2.0;",
    permissions: r#"{ "modules": { "extend": ["contacts.before-create"] } }"#,
    extra_manifest: "",
    code: r#"// {{name}}: a berth hooks plugin in JavaScript.
import { subscribe } from "berth:plugin/modules@0.2.0";

export const lifecycle = {
  // Subscribes to the built-in contacts module's before-create hook.
  onActivate() {
    subscribe({ module: "contacts", hook: "before-create" });
  },
  // Runs after the org deactivated the plugin; nothing to clean up here.
  onDeactivate() {},
};

export const hooks = {
  // Lets every contact through; return { tag: "transform", val: json } or
  // { tag: "veto", val: reason } to change that.
  handle(call) {
    const record = JSON.parse(call.payload);
    if ((record.name ?? "").includes("{{name}}-veto")) {
      return { tag: "veto", val: "refused by {{name}}" };
    }
    return { tag: "proceed" };
  },
};
"#,
};

const JS_INTEGRATION: Template = Template {
    world: "    export berth:plugin/integration@0.2.0;\n    export berth:plugin/lifecycle@0.2.0;",
    permissions: "{}",
    extra_manifest: "",
    code: r#"// {{name}}: a berth integration connector in JavaScript.
export const lifecycle = {
  onActivate() {},
  onDeactivate() {},
};

export const integration = {
  // What the connector offers: one `ping` action.
  describe() {
    return {
      name: "{{name}}",
      description: "A connector made with berth plugin new",
      configSchema: JSON.stringify({ type: "object" }),
      actions: [
        {
          name: "ping",
          description: "Answers pong",
          inputSchema: JSON.stringify({ type: "object" }),
          outputSchema: JSON.stringify({ type: "object" }),
        },
      ],
    };
  },
  invoke(action, input) {
    return JSON.stringify({ pong: true, action });
  },
  onEvent(event) {},
};
"#,
};

const JS_UI: Template = Template {
    world: "    export berth:plugin/ui@0.2.0;",
    permissions: r#"{ "ui": { "slots": ["dashboard.widgets"] } }"#,
    extra_manifest: r#",
  "assets": "assets""#,
    code: r#"// {{name}}: a berth UI plugin in JavaScript: a dashboard widget
// rendered by assets/widget.js.
export const ui = {
  contributions() {
    return {
      pages: [],
      components: [{ slot: "dashboard.widgets", name: "hello", entry: "widget.js", dataRoute: undefined }],
      theme: [],
    };
  },
};
"#,
};

/// A JavaScript project (componentize-js) of `kind`. Its WIT: a world of
/// its own in `wit/world.wit` importing and exporting only what the code
/// uses (componentize-js imports everything its world names), with berth's
/// package and WASI in `wit/deps/`, relabelled wasi 0.2.10 — the version
/// componentize-js 0.23's engine implements (berth links any 0.2.x).
pub fn new_js(parent: &Path, name: &str, kind: TemplateKind) -> anyhow::Result<PathBuf> {
    let template = match kind {
        TemplateKind::Routes => JS_ROUTES,
        TemplateKind::Hooks => JS_HOOKS,
        TemplateKind::Integration => JS_INTEGRATION,
        TemplateKind::Ui => JS_UI,
    };
    let kind_name = kind.name();
    let dir = project_dir(parent, name)?;
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &crate_name(name))
            .replace("{{kind}}", &format!("{kind_name} (JavaScript)"))
    };
    let description = format!("A JavaScript {kind_name} plugin made with berth plugin new");
    let manifest = manifest(
        name,
        kind,
        &description,
        template.extra_manifest,
        template.permissions,
    );
    let mut files: Vec<(PathBuf, String)> = vec![
        (dir.join("package.json"), fill(JS_PACKAGE)),
        (dir.join("plugin.js"), fill(template.code)),
        (dir.join("manifest.json"), manifest),
        (dir.join("README.md"), fill(README)),
        (
            dir.join(".gitignore"),
            "node_modules/\n*.wasm\n*.zip\n".to_owned(),
        ),
        (dir.join("wit/world.wit"), own_world(name, template.world)),
    ];
    if kind == TemplateKind::Ui {
        files.push((dir.join("assets/widget.js"), fill(WIDGET_JS)));
    }
    files.extend(
        flattened_wit(&dir)
            .into_iter()
            .map(|(path, text)| (path, relabel_for_componentize_js(&text))),
    );
    write_files(&files)?;
    Ok(dir)
}

/// `wit/world.wit` of a JavaScript or Python project `name`: a world
/// `plugin` of `body`, which names only what the code uses (their
/// toolchains import everything a world names).
pub(super) fn own_world(name: &str, body: &str) -> String {
    format!(
        "package example:{name};\n\n/// What this plugin imports and exports: only what its code uses.\nworld plugin {{\n{body}\n}}\n"
    )
}

/// The newest WIT as a componentize-js or componentize-py project lays it
/// out (they read only the top-level `deps/`): berth's package in
/// `dir/wit/deps/berth/`, each WASI package beside it in `dir/wit/deps/`.
pub(super) fn flattened_wit(dir: &Path) -> Vec<(PathBuf, String)> {
    super::wit_files(ApiVersion::NEWEST)
        .into_iter()
        .filter(|(path, _)| path.ends_with(".wit"))
        .map(|(path, text)| {
            let target = match path.strip_prefix("deps/") {
                Some(wasi) => dir.join("wit/deps").join(wasi),
                None => dir.join("wit/deps/berth").join(path),
            };
            (target, text.to_owned())
        })
        .collect()
}
