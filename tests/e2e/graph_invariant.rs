//! The dependency graph stays consistent whatever an org admin does:
//! random sequences of installs, upgrades, activations, deactivations and
//! uninstalls (each maybe with `?with-deps`, `?cascade`, `?force`) against
//! one real server, checking after every step that each active plugin's
//! required dependencies are installed, active and in range, and that no
//! step answers 5xx. Asset-only plugins keep each step cheap.

use crate::support::Server;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "2.0.0"];

/// One step an org admin may take.
#[derive(Clone, Debug)]
enum Step {
    /// Install or upgrade `name` at `version`, requiring the names (by
    /// index) at `^1` or `^2`, declaring a network host when `wide`.
    Install {
        name: usize,
        version: usize,
        requires: Vec<(usize, bool)>,
        wide: bool,
    },
    Activate {
        name: usize,
        with_deps: bool,
    },
    Deactivate {
        name: usize,
        cascade: bool,
    },
    Uninstall {
        name: usize,
        force: bool,
        cascade: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4usize, 0..3usize, proptest::collection::vec((0..4usize, any::<bool>()), 0..3), any::<bool>())
            .prop_map(|(name, version, requires, wide)| Step::Install { name, version, requires, wide }),
        3 => (0..4usize, any::<bool>()).prop_map(|(name, with_deps)| Step::Activate { name, with_deps }),
        1 => (0..4usize, any::<bool>()).prop_map(|(name, cascade)| Step::Deactivate { name, cascade }),
        1 => (0..4usize, any::<bool>(), any::<bool>())
            .prop_map(|(name, force, cascade)| Step::Uninstall { name, force, cascade }),
    ]
}

/// An asset-only package of `name` at `version`.
fn package(name: &str, version: &str, requires: &[(usize, bool)], wide: bool) -> Vec<u8> {
    let dependencies: serde_json::Map<String, Value> = requires
        .iter()
        .filter(|(index, _)| NAMES[*index] != name)
        .map(|(index, major2)| {
            (
                NAMES[*index].to_owned(),
                json!(if *major2 { "^2" } else { "^1" }),
            )
        })
        .collect();
    let permissions = if wide {
        json!({ "network": ["api.example.com"] })
    } else {
        json!({})
    };
    let manifest = json!({
        "name": name,
        "version": version,
        "description": "graph test plugin",
        "kinds": ["ui"],
        "api": "0.2.0",
        "assets": "assets",
        "ui": {},
        "dependencies": dependencies,
        "permissions": permissions,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    berth::package::build_zip([
        ("manifest.json", manifest.as_slice()),
        ("assets/index.html", b"<p>hi</p>"),
    ])
}

/// Every active plugin's required dependencies are installed, active and
/// in range, as the registry reports them.
fn check_invariant(server: &Server, org: &str) -> Result<(), String> {
    let plugins = server.get(&format!("/api/v1/orgs/{org}/plugins")).json();
    let graph = server
        .get(&format!("/api/v1/orgs/{org}/dependencies"))
        .json();
    let state_of = |name: &str| {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["state"].clone())
    };
    for edge in graph["edges"].as_array().unwrap() {
        let from = edge["from"].as_str().unwrap();
        if edge["optional"] == true || state_of(from) != Some(json!("active")) {
            continue;
        }
        let to = edge["to"].as_str().unwrap();
        if state_of(to) != Some(json!("active")) || edge["satisfied"] != true {
            return Err(format!(
                "active {from} requires {to}, which is not active or in range: {edge}"
            ));
        }
    }
    Ok(())
}

fn run(server: &Server, org: &str, step: &Step) -> crate::support::Reply {
    let plugins = format!("/api/v1/orgs/{org}/plugins");
    match step {
        Step::Install {
            name,
            version,
            requires,
            wide,
        } => server.install(
            org,
            &package(NAMES[*name], VERSIONS[*version], requires, *wide),
        ),
        Step::Activate { name, with_deps } => {
            let query = if *with_deps { "?with-deps" } else { "" };
            server.post(&format!("{plugins}/{}/activate{query}", NAMES[*name]))
        }
        Step::Deactivate { name, cascade } => {
            let query = if *cascade { "?cascade" } else { "" };
            server.post(&format!("{plugins}/{}/deactivate{query}", NAMES[*name]))
        }
        Step::Uninstall {
            name,
            force,
            cascade,
        } => {
            let query = match (force, cascade) {
                (true, true) => "?force&cascade",
                (true, false) => "?force",
                (false, true) => "?cascade",
                (false, false) => "",
            };
            server.delete(&format!("{plugins}/{}{query}", NAMES[*name]))
        }
    }
}

#[test]
fn no_sequence_of_steps_leaves_an_active_plugin_on_a_broken_dependency() {
    let server = Server::start(&["--no-demo"]);
    let orgs = AtomicUsize::new(0);
    let activations = AtomicUsize::new(0);
    let config = ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in proptest::collection::vec(step(), 1..14))| {
        let org = format!("g{}", orgs.fetch_add(1, Ordering::Relaxed));
        server.create_org(&org);
        // Start from every name installed, two active, so that steps meet
        // real states rather than mostly missing plugins.
        for name in NAMES {
            let installed = server.install(&org, &package(name, "1.0.0", &[], false));
            prop_assert_eq!(installed.status, 201);
        }
        for name in ["a", "b"] {
            let activated = server.post(&format!("/api/v1/orgs/{org}/plugins/{name}/activate"));
            prop_assert_eq!(activated.status, 200);
        }
        for step in &steps {
            let reply = run(&server, &org, step);
            prop_assert!(reply.status < 500, "{step:?} answered {reply:?}");
            if matches!(step, Step::Activate { .. }) && reply.status == 200 {
                activations.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(broken) = check_invariant(&server, &org) {
                prop_assert!(false, "after {step:?} ({}): {broken}", reply.status);
            }
        }
    });
    // The sequences reached states worth checking: plugins did go active.
    assert!(
        activations.load(Ordering::Relaxed) >= 10,
        "too few activations to mean anything"
    );
}
