//! Cluster mode: several `berth serve` nodes on one PostgreSQL registry
//! (`--registry`), each with its own data directory. A change made through
//! any node reaches the others; a node that loses the registry keeps
//! serving what it has and says it is unready; a node killed in the middle
//! of a step leaves the registry whole.

use crate::support::{Server, guest_package, guest_package_with};
use berth_storage::throwaway_postgres::ThrowawayPostgres;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a change may take to reach another node in these tests (the
/// benchmark measures how long it does take).
const PROPAGATION: Duration = Duration::from_secs(10);

/// A fresh database on this test process's throwaway PostgreSQL: its
/// name and URL.
fn fresh_registry() -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("cluster_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let url = ThrowawayPostgres::shared().create_database(&name);
    (name, url)
}

/// The arguments of a node on `registry`, sealing secrets with the key
/// file in `shared` (every node of a cluster needs the same one).
fn node_args(registry: &str, shared: &Path) -> Vec<String> {
    let key = shared.join("secrets.key");
    ["--no-demo", "--registry", registry, "--secrets-key-file"]
        .map(str::to_owned)
        .into_iter()
        .chain([key.to_str().unwrap().to_owned()])
        .collect()
}

/// Starts a node on `registry` (see [`node_args`]) and a data directory of its own.
fn node(registry: &str, shared: &Path) -> Server {
    let args = node_args(registry, shared);
    Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Waits until `check` holds, for at most `limit`; panics with `what` if not.
fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// Two nodes on one registry, with the same secrets key file, and org
/// `acme` created through A.
struct TwoNodes {
    a: Server,
    b: Server,
    /// Holds the key file; `node_args(registry, shared.path())` starts
    /// another node like these.
    shared: tempfile::TempDir,
}

/// Starts [`TwoNodes`] on `registry`.
fn two_nodes(registry: &str) -> TwoNodes {
    let shared = tempfile::tempdir().unwrap();
    let a = node(registry, shared.path());
    let b = node(registry, shared.path());
    a.create_org("acme");
    TwoNodes { a, b, shared }
}

/// Installs and activates `hello` in `acme` through A, and waits until B
/// serves it.
fn serve_hello(a: &Server, b: &Server) {
    a.install_active("acme", &guest_package("hello"));
    eventually("B serves hello", PROPAGATION, || {
        b.get("/o/acme/p/hello/").status == 200
    });
}

fn ready(server: &Server) -> bool {
    server.get("/readyz").status == 200
}

#[test]
fn a_change_through_one_node_is_live_on_the_other() {
    let (_, url) = fresh_registry();
    let TwoNodes {
        a,
        b,
        shared: _shared,
    } = two_nodes(&url);
    for server in [&a, &b] {
        eventually("node ready", PROPAGATION, || ready(server));
    }

    // B never saw the upload: it fetches the package from the registry.
    a.install_active("acme", &guest_package("hello"));
    let took = eventually("B serves what A activated", PROPAGATION, || {
        b.get("/o/acme/p/hello/").status == 200
    });
    eprintln!("activation through A served by B after {took:?}");
    assert_eq!(b.get("/o/acme/p/hello/echo/x").json()["param"], "x");

    let deactivated = b.post("/api/v1/orgs/acme/plugins/hello/deactivate");
    assert_eq!(deactivated.status, 200, "{deactivated:?}");
    eventually("A stops serving what B deactivated", PROPAGATION, || {
        a.get("/o/acme/p/hello/").status == 404
    });

    // An upgrade of the active plugin through B: A switches to the new
    // component (another guest's, under the same name).
    let activated = b.post("/api/v1/orgs/acme/plugins/hello/activate");
    assert_eq!(activated.status, 200, "{activated:?}");
    eventually("A serves hello again", PROPAGATION, || {
        a.get("/o/acme/p/hello/").status == 200
    });
    assert_ne!(
        a.get("/o/acme/p/hello/status/418").status,
        418,
        "not yet upgraded"
    );
    let upgrade = guest_package_with("faults", |m| {
        m["name"] = "hello".into();
        m["version"] = "9.0.0".into();
    });
    let upgraded = b.install("acme", &upgrade);
    assert_eq!(upgraded.status, 201, "{upgraded:?}");
    assert_eq!(upgraded.json()["state"], "active");
    eventually("A serves B's upgrade", PROPAGATION, || {
        a.get("/o/acme/p/hello/status/418").status == 418
    });
}

#[test]
fn grants_settings_and_secrets_hold_on_every_node() {
    let (_, url) = fresh_registry();
    let TwoNodes {
        a,
        b,
        shared: _shared,
    } = two_nodes(&url);
    let installed = a.install("acme", &guest_package("sandbox"));
    assert_eq!(installed.status, 201, "{installed:?}");

    // A writable directory would hold different files on each node.
    let activate = "/api/v1/orgs/acme/plugins/sandbox/activate";
    let refused = a.post(activate);
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(refused.error_code(), "files_not_shared");
    let plugin = b.get("/api/v1/orgs/acme/plugins/sandbox").json();
    assert_eq!(plugin["state"], "installed", "nothing changed");

    let grant = serde_json::json!({ "grant": {
        "routes": ["/"],
        "filesystem": [{ "name": "shared", "mode": "ro" }],
        "config": ["url"],
        "secrets": ["api-key"],
    }});
    let activated = a.post_json(activate, grant);
    assert_eq!(activated.status, 200, "{activated:?}");
    let config = serde_json::json!({
        "config": { "url": "https://acme.example" },
        "secrets": { "api-key": "s3cret-on-every-node" },
    });
    let set = a.put_json("/api/v1/orgs/acme/plugins/sandbox/config", config);
    assert_eq!(set.status, 200, "{set:?}");

    // B's guest reads what was set through A, sealed with the shared key.
    eventually("B serves the sandbox", PROPAGATION, || {
        b.get("/o/acme/p/sandbox/config/get?key=url").status == 200
    });
    let secret = b.get("/o/acme/p/sandbox/config/secret?name=api-key");
    assert_eq!(
        (secret.status, secret.body.as_str()),
        (200, "s3cret-on-every-node")
    );
}

#[test]
fn nodes_keep_serving_while_the_registry_is_down_and_catch_up() {
    // A server of its own, to stop and start.
    let postgres = ThrowawayPostgres::start();
    let url = postgres.create_database("cluster");
    let TwoNodes {
        a,
        b,
        shared: _shared,
    } = two_nodes(&url);
    serve_hello(&a, &b);

    postgres.stop();
    for server in [&a, &b] {
        eventually("unready without the registry", PROPAGATION, || {
            !ready(server)
        });
        assert_eq!(server.get("/readyz").error_code(), "not_ready");
        for _ in 0..5 {
            assert_eq!(server.get("/o/acme/p/hello/echo/up").json()["param"], "up");
        }
    }
    let refused = a.post("/api/v1/orgs/acme/plugins/hello/deactivate");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.error_code(), "registry_unavailable");

    postgres.start_again();
    for server in [&a, &b] {
        eventually("ready again", PROPAGATION, || ready(server));
    }
    assert_eq!(
        a.get("/o/acme/p/hello/").status,
        200,
        "still active: the deactivation failed"
    );
    let deactivated = a.post("/api/v1/orgs/acme/plugins/hello/deactivate");
    assert_eq!(deactivated.status, 200, "{deactivated:?}");
    eventually("B follows again", PROPAGATION, || {
        b.get("/o/acme/p/hello/").status == 404
    });
}

#[test]
fn a_node_that_missed_a_change_catches_up_when_it_reconnects() {
    let (name, url) = fresh_registry();
    let TwoNodes {
        a,
        b,
        shared: _shared,
    } = two_nodes(&url);
    serve_hello(&a, &b);

    // Freeze A and cut its connections, then change the registry through
    // B: A hears nothing of it (its listening connection is gone), wakes
    // to a lost registry, reconnects, and must resync.
    let signal = |sig: &str| {
        let sent = std::process::Command::new("kill")
            .args([sig, &a.pid().to_string()])
            .status();
        assert!(sent.unwrap().success());
    };
    signal("-STOP");
    let cut = ThrowawayPostgres::shared().sql(
        &name,
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'berth-{}'",
            a.pid()
        ),
    );
    assert_ne!(cut.trim(), "0", "A had no connections to cut");
    let deactivated = b.post("/api/v1/orgs/acme/plugins/hello/deactivate");
    assert_eq!(deactivated.status, 200, "{deactivated:?}");
    signal("-CONT");
    eventually("A stops serving what it missed", PROPAGATION, || {
        a.get("/o/acme/p/hello/").status == 404
    });
    eventually("A is ready again", PROPAGATION, || ready(&a));
}

#[test]
fn a_node_killed_mid_install_leaves_the_registry_whole() {
    let (name, url) = fresh_registry();
    let TwoNodes { mut a, b, shared } = two_nodes(&url);
    let args = node_args(&url, shared.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // Upgrades through A, each a new package, until A is killed.
    let installer = {
        let a = a.client(Some(crate::support::OPERATOR_TOKEN));
        std::thread::spawn(move || {
            let mut installed = 0;
            for minor in 0.. {
                let zip =
                    guest_package_with("hello", |m| m["version"] = format!("1.{minor}.0").into());
                if a.try_install("acme", &zip) != Some(201) {
                    break;
                }
                installed += 1;
            }
            installed
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    a.kill();
    let installed = installer.join().unwrap();
    assert!(installed > 0, "no install finished before the kill");

    let a = Server::start_in(&a.data.clone(), &args);
    let plugins = b.get("/api/v1/orgs/acme/plugins").json();
    let mut referenced: Vec<String> = (plugins.as_array().unwrap().iter())
        .flat_map(|p| [&p["digest"], &p["previous"]["digest"]])
        .filter_map(|digest| Some(digest.as_str()?.to_owned()))
        .collect();
    referenced.sort();
    let stored = ThrowawayPostgres::shared().sql(&name, "SELECT digest FROM blobs ORDER BY digest");
    assert_eq!(
        stored.lines().collect::<Vec<_>>(),
        referenced,
        "orphaned or missing package blobs"
    );
    // The restarted A's own cache keeps nothing the registry does not
    // reference either (what it extracted for the killed step is gone).
    let extracted = a.data.join("packages/extracted");
    for entry in std::fs::read_dir(&extracted).unwrap() {
        let digest = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            referenced.contains(&digest),
            "A keeps unreferenced package {digest}"
        );
    }
    // The restarted A serves from the registry's packages.
    assert_eq!(
        a.post("/api/v1/orgs/acme/plugins/hello/activate").status,
        200
    );
    eventually("B serves the last install", PROPAGATION, || {
        b.get("/o/acme/p/hello/").status == 200
    });
}

#[test]
fn concurrent_installs_through_two_nodes_apply_one_at_a_time() {
    let (_, url) = fresh_registry();
    let TwoNodes {
        a,
        b,
        shared: _shared,
    } = two_nodes(&url);
    // Each node uploads a stream of versions of the same plugin at once.
    let uploads = |server: &Server, patch: u32| {
        let client = server.client(Some(crate::support::OPERATOR_TOKEN));
        std::thread::spawn(move || {
            (0..8)
                .map(|minor| {
                    let version = format!("1.{minor}.{patch}");
                    let zip =
                        guest_package_with("hello", |m| m["version"] = version.clone().into());
                    (version, client.install("acme", &zip).status)
                })
                .collect::<Vec<_>>()
        })
    };
    let (from_a, from_b) = (uploads(&a, 0), uploads(&b, 1));
    let outcomes: Vec<(String, u16)> = (from_a.join().unwrap().into_iter())
        .chain(from_b.join().unwrap())
        .collect();
    // Each either applied, or was refused as not newer than what the
    // other node had installed meanwhile: never a half-applied upgrade.
    for (version, status) in &outcomes {
        assert!(matches!(status, 201 | 409), "{version}: {status}");
    }
    let applied: Vec<&String> = (outcomes.iter())
        .filter(|(_, status)| *status == 201)
        .map(|(version, _)| version)
        .collect();
    let audit = a.get("/api/v1/orgs/acme/audit").json();
    let events = audit.as_array().unwrap();
    let audited: Vec<&str> = (events.iter())
        .filter(|e| e["action"] == "install" || e["action"] == "upgrade")
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(
        audited.len(),
        applied.len(),
        "one audit entry per applied install"
    );
    // Applied in an order where each was newer than the one before.
    let parsed: Vec<semver::Version> = audited.iter().map(|v| v.parse().unwrap()).collect();
    assert!(parsed.windows(2).all(|w| w[0] < w[1]), "{audited:?}");
    let installed = b.get("/api/v1/orgs/acme/plugins/hello").json();
    assert_eq!(installed["version"], *audited.last().unwrap());
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "audit sequence has gaps: {seqs:?}"
    );
}

#[test]
fn a_node_with_another_secrets_key_refuses_to_start() {
    let (_, url) = fresh_registry();
    let shared = tempfile::tempdir().unwrap();
    let a = node(&url, shared.path());
    a.create_org("acme");
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("other.key");
    let started = crate::support::berth_command(
        other.path(),
        &[
            "--no-demo",
            "--registry",
            &url,
            "--secrets-key-file",
            key.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(!started.status.success());
    let said = String::from_utf8_lossy(&started.stderr);
    assert!(
        said.contains("give every node of a cluster the same file"),
        "{said}"
    );
    // Nothing it could have sealed reached the registry; A is unaffected.
    assert_eq!(a.get("/api/v1/orgs").json().as_array().unwrap().len(), 1);
}
