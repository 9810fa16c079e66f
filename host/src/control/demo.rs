//! The embedded default: on first start (an empty registry), org `demo` is
//! created with the example plugins built into the binary installed and
//! active, and its module records public, so `berth serve` answers `curl
//! …/o/demo/p/hello/` and `curl …/o/demo/api/contacts` at once. It goes
//! through the same lifecycle as any upload.

use crate::control::lifecycle::{InstallOptions, Lifecycle, LifecycleError};
use crate::package::build_zip;

/// The demo org's name.
pub const ORG: &str = "demo";

/// An example plugin compiled into the binary.
struct EmbeddedPlugin {
    /// Its manifest (`guests/{name}/manifest.json`).
    manifest: &'static str,
    /// The component bytes, packed at the path the manifest's `component` names.
    component: &'static [u8],
}

/// The plugins the demo org gets.
const PLUGINS: &[EmbeddedPlugin] = &[
    EmbeddedPlugin {
        manifest: include_str!("../../../guests/hello/manifest.json"),
        component: berth_guests::HELLO_COMPONENT_BYTES,
    },
    EmbeddedPlugin {
        manifest: include_str!("../../../guests/contact-rules/manifest.json"),
        component: berth_guests::CONTACT_RULES_COMPONENT_BYTES,
    },
];

/// The package ZIPs of the embedded example plugins.
pub fn packages() -> impl Iterator<Item = Vec<u8>> {
    PLUGINS.iter().map(|plugin| {
        let manifest: serde_json::Value =
            serde_json::from_str(plugin.manifest).expect("embedded manifests are JSON");
        let component_path = manifest["component"]
            .as_str()
            .expect("embedded manifests name their component");
        build_zip([
            ("manifest.json", plugin.manifest.as_bytes()),
            (component_path, plugin.component),
        ])
    })
}

/// Creates the demo org with its plugins active, if the registry has no orgs.
pub fn seed_if_empty(lifecycle: &Lifecycle) -> Result<(), LifecycleError> {
    if !lifecycle.orgs()?.is_empty() {
        return Ok(());
    }
    match lifecycle.create_org(ORG) {
        // Another node of a cluster, starting at the same time, seeds it.
        Err(LifecycleError::OrgExists(_)) => return Ok(()),
        created => created?,
    };
    // The quick start calls its module records without a token.
    lifecycle.set_modules_public(ORG, true)?;
    for zip in packages() {
        let installed = lifecycle.install(ORG, &zip, InstallOptions::default())?;
        lifecycle.activate(ORG, &installed.name, None, false)?;
    }
    tracing::info!("seeded the demo org `{ORG}`");
    Ok(())
}
