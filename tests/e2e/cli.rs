//! The operator's and org admin's CLI (`berth login|org|token|plugin|
//! registry|key|limits|audit`) driving a real server: every command group,
//! its table and `--json` output, saved profiles, and its errors — the
//! server's code and message with the documented exit code, and nothing
//! changed by a refused call.

use crate::support::{OPERATOR_TOKEN, Server, guest_package, guest_package_with};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The CLI with its own config file, pointed at one server.
struct Cli {
    dir: tempfile::TempDir,
    server: String,
}

/// What one command did.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Its stdout, asserting it succeeded.
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "{self:?}");
        self.stdout
    }

    /// Its stdout as JSON, asserting it succeeded.
    fn json(self) -> serde_json::Value {
        serde_json::from_str(&self.ok()).expect("JSON output")
    }

    /// Asserts it failed with exit `code` naming the server's error `error`.
    fn failed(&self, code: i32, error: &str) {
        assert_eq!(self.code, code, "{self:?}");
        assert!(
            self.stderr.starts_with(&format!("berth: error: {error}")),
            "{self:?}"
        );
    }
}

impl Cli {
    fn new(server: &Server) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            server: server.base.clone(),
        }
    }

    /// The CLI's config file.
    fn config(&self) -> PathBuf {
        self.dir.path().join("config").join("cli.toml")
    }

    /// A file in the CLI's folder.
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("BERTH_CLI_CONFIG", self.config())
            .env("BERTH_SERVER", &self.server)
            .env_remove("BERTH_TOKEN")
            .env_remove("BERTH_ORG")
            .env_remove("BERTH_PROFILE");
        command
    }

    /// Runs `berth ARGS`.
    fn run(&self, args: &[&str]) -> Ran {
        let output = self.command(args).output().expect("running berth");
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The row of a printed table whose first cell is `first`, split into cells.
fn row(table: &str, first: &str) -> Vec<String> {
    table
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().is_some_and(|c| c == first))
        .unwrap_or_else(|| panic!("no row {first} in\n{table}"))
}

#[test]
fn the_operator_and_an_org_admin_drive_every_command_group() {
    let server = Server::start(&["--no-demo"]);
    let cli = Cli::new(&server);

    // The operator logs in: the profile file is the owner's alone.
    let login = cli.run(&["login", "--token", OPERATOR_TOKEN]).ok();
    assert!(login.contains("logged in as profile default"), "{login}");
    let saved = std::fs::read_to_string(cli.config()).unwrap();
    assert!(
        saved.contains(OPERATOR_TOKEN) && saved.contains(&server.base),
        "{saved}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.config())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Orgs.
    assert_eq!(
        cli.run(&["org", "create", "acme"]).ok(),
        "created org acme\n"
    );
    let orgs = cli.run(&["org", "list"]).ok();
    assert_eq!(row(&orgs, "NAME")[..2], ["NAME", "CREATED"]);
    assert_eq!(row(&orgs, "acme")[2..], ["no", "no"]);
    assert_eq!(
        cli.run(&["org", "list", "--json"]).json()[0]["name"],
        "acme"
    );

    // Tokens: the admin's, logged in as a second profile bound to acme.
    let token = cli
        .run(&["token", "create", "--org", "acme", "--json"])
        .json();
    let (id, secret) = (
        token["id"].as_str().unwrap(),
        token["token"].as_str().unwrap(),
    );
    let tokens = cli.run(&["token", "list", "--org", "acme"]).ok();
    assert_eq!(row(&tokens, id).len(), 2, "{tokens}");
    let admin = ["--profile", "acme-admin"];
    cli.run(&[
        "login", admin[0], admin[1], "--token", secret, "--org", "acme",
    ])
    .ok();
    assert!(
        std::fs::read_to_string(cli.config())
            .unwrap()
            .contains("current = \"acme-admin\"")
    );

    // Plugins, as the admin (now the current profile).
    let hello = cli.file("hello-0.1.0.zip", &guest_package("hello"));
    let installed = cli.run(&["plugin", "install", &hello]).ok();
    assert_eq!(installed, "installed hello 0.1.0 (installed)\n");
    let activated = cli.run(&["plugin", "activate", "hello"]).ok();
    assert_eq!(activated, "activated hello 0.1.0 (active)\n");
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);
    let list = cli.run(&["plugin", "list"]).ok();
    assert_eq!(
        row(&list, "hello")[..4],
        ["hello", "0.1.0", "active", "0.2.0"]
    );
    let shown = cli.run(&["plugin", "show", "hello"]).ok();
    assert_eq!(row(&shown, "state:"), ["state:", "active"]);
    assert_eq!(
        cli.run(&["plugin", "show", "hello", "--json"]).json()["granted"]["routes"][0],
        "/"
    );

    // Config: settings merge, secrets are set but never shown.
    let set = cli
        .run(&[
            "plugin",
            "config",
            "set",
            "hello",
            "greeting=hi",
            "--secret",
            "api-key=s3cret",
        ])
        .ok();
    assert_eq!(row(&set, "greeting"), ["greeting", "hi"]);
    assert!(
        set.contains("secrets (set, values never shown): api-key"),
        "{set}"
    );
    assert!(!set.contains("s3cret"));
    cli.run(&["plugin", "config", "set", "hello", "tone=warm"])
        .ok();
    let config = cli
        .run(&["plugin", "config", "get", "hello", "--json"])
        .json();
    assert_eq!(
        config["config"],
        serde_json::json!({"greeting": "hi", "tone": "warm"})
    );
    assert_eq!(config["secrets"], serde_json::json!(["api-key"]));

    // Logs: the recent lines, then following new ones.
    server.get("/o/acme/p/hello/echo/first");
    let logs = cli.run(&["plugin", "logs", "hello"]).ok();
    assert!(
        logs.contains("INFO  hello: Method::Get /echo/first"),
        "{logs}"
    );
    let mut follower = cli
        .command(&["plugin", "logs", "hello", "-f", "-n", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.ends_with("hello: Method::Get /echo/first"), "{first}");
    server.get("/o/acme/p/hello/echo/second");
    let second = lines.next().unwrap().unwrap();
    assert!(
        second.ends_with("hello: Method::Get /echo/second"),
        "{second}"
    );
    follower.kill().unwrap();
    follower.wait().unwrap();

    // A narrower grant from a file; deactivation.
    let grant = cli.file("grant.json", br#"{"routes": []}"#);
    cli.run(&["plugin", "activate", "hello", "--grant", &grant])
        .ok();
    assert_eq!(server.get("/o/acme/p/hello/echo/x").status, 404);
    let deactivated = cli.run(&["plugin", "deactivate", "hello"]).ok();
    assert_eq!(deactivated, "deactivated hello 0.1.0 (installed)\n");

    // The registry: publish a newer version, upgrade to it by range, roll back.
    let newer = guest_package_with("hello", |m| m["version"] = "0.2.0".into());
    let newer = cli.file("hello-0.2.0.zip", &newer);
    assert_eq!(
        cli.run(&["registry", "publish", &newer]).ok(),
        "published hello 0.2.0\n"
    );
    let listing = cli.run(&["registry", "list"]).ok();
    assert_eq!(row(&listing, "hello"), ["hello", "0.2.0", "org"]);
    let upgraded = cli.run(&["plugin", "install", "hello@^0.2"]).ok();
    assert_eq!(upgraded, "installed hello 0.2.0 (installed)\n");
    let rolled_back = cli.run(&["plugin", "rollback", "hello"]).ok();
    assert!(
        rolled_back.starts_with("rolled back to hello 0.1.0"),
        "{rolled_back}"
    );

    // Trusted keys and the signature policy.
    let keys = tempfile::tempdir().unwrap();
    crate::support::berth_cli(&["keygen", "--out", keys.path().to_str().unwrap()]);
    let public = keys.path().join("berth.pub");
    let trusted = cli
        .run(&["key", "trust", public.to_str().unwrap(), "--comment", "ci"])
        .ok();
    let key_id = trusted
        .trim()
        .strip_prefix("trusted key ")
        .unwrap()
        .to_owned();
    let policy = cli.run(&["key", "policy", "required"]).ok();
    assert!(policy.starts_with("signature required: yes"), "{policy}");
    assert_eq!(row(&policy, &key_id), [key_id.as_str(), "ci", "org"]);
    let unsigned = cli.run(&["plugin", "install", &newer, "--force"]);
    unsigned.failed(6, "signature_required");
    cli.run(&["key", "policy", "optional"]).ok();
    cli.run(&["key", "untrust", &key_id]).ok();
    let listed = cli.run(&["key", "list", "--json"]).json();
    assert_eq!(listed["keys"], serde_json::json!([]));

    // Limits: the admin reads them; only the operator changes them.
    let limits = cli.run(&["limits", "get"]).ok();
    assert_eq!(row(&limits, "max-concurrent"), ["max-concurrent", "64"]);
    cli.run(&["limits", "set", "max-concurrent=8"])
        .failed(4, "operator_only");
    let operator = ["--token", OPERATOR_TOKEN];
    let set = cli
        .run(&[
            "limits",
            "set",
            "max-concurrent=8",
            operator[0],
            operator[1],
        ])
        .ok();
    assert_eq!(row(&set, "max-concurrent"), ["max-concurrent", "8"]);
    cli.run(&["limits", "set", "burst=7", operator[0], operator[1]])
        .ok();
    let kept = cli.run(&["limits", "get", "--json"]).json();
    assert_eq!(
        (kept["max-concurrent"].as_u64(), kept["burst"].as_u64()),
        (Some(8), Some(7))
    );
    cli.run(&["limits", "reset", operator[0], operator[1]]).ok();
    assert_eq!(
        cli.run(&["limits", "get", "--json"]).json()["max-concurrent"],
        64
    );

    // The audit log, filtered by plugin.
    let audit = cli.run(&["audit", "--plugin", "hello", "--json"]).json();
    let actions: Vec<&str> = (audit.as_array().unwrap().iter())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[..2], ["install", "activate"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["plugin"] == "hello")
    );
    // The server pages and filters: the CLI's filter is the API's.
    let page = server
        .get("/api/v1/orgs/acme/audit?limit=2&plugin=hello")
        .json();
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(page[0], audit[0]);
    let after = page[1]["seq"].as_u64().unwrap();
    let rest = server
        .get(&format!(
            "/api/v1/orgs/acme/audit?plugin=hello&after={after}"
        ))
        .json();
    assert_eq!(rest.as_array().unwrap()[..], audit.as_array().unwrap()[2..]);
    let table = cli.run(&["audit"]).ok();
    assert!(
        row(&table, "1").contains(&"org.create".to_owned()),
        "{table}"
    );

    // Uninstall: refused while active, then forced.
    cli.run(&["plugin", "activate", "hello"]).ok();
    cli.run(&["plugin", "uninstall", "hello"])
        .failed(6, "plugin_active");
    assert_eq!(
        cli.run(&["plugin", "uninstall", "hello", "--force"]).ok(),
        "uninstalled hello\n"
    );
    assert_eq!(
        cli.run(&["plugin", "list", "--json"]).json(),
        serde_json::json!([])
    );

    // A revoked token is refused at once.
    cli.run(&["token", "revoke", id, operator[0], operator[1]])
        .ok();
    cli.run(&["plugin", "list"]).failed(4, "unauthorized");
}

#[test]
fn errors_carry_the_servers_code_and_exit_code_and_change_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let cli = Cli::new(&server);
    let as_operator = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--token", OPERATOR_TOKEN, "--org", "acme"]);
        cli.run(&all)
    };

    // A bad token.
    let bad = cli.run(&["org", "list", "--token", "berth_nope_nope"]);
    bad.failed(4, "unauthorized: ");
    // An unknown org.
    let unknown = cli.run(&[
        "plugin",
        "list",
        "--org",
        "ghost",
        "--token",
        OPERATOR_TOKEN,
    ]);
    unknown.failed(5, "org_not_found: no org `ghost`");
    // A refused package changes nothing.
    let audit_before = as_operator(&["audit", "--json"]).json();
    let broken = cli.file("broken.zip", b"PK\x03\x04 not really a zip");
    as_operator(&["plugin", "install", &broken]).failed(6, "invalid_zip: ");
    let no_manifest = crate::zips::raw_zip(&[crate::zips::RawEntry::file("readme.txt", "hi")]);
    let missing_manifest = cli.file("empty.zip", &no_manifest);
    as_operator(&["plugin", "install", &missing_manifest]).failed(6, "missing_manifest");
    assert_eq!(
        as_operator(&["plugin", "list", "--json"]).json(),
        serde_json::json!([])
    );
    assert_eq!(as_operator(&["audit", "--json"]).json(), audit_before);
    assert!(
        server
            .get("/api/v1/orgs/acme/registry")
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A package name that is not in any registry.
    as_operator(&["plugin", "install", "nothing@^1"]).failed(5, "package_not_found: ");
    // No such file: the CLI's own error, before any call.
    let no_file = as_operator(&["plugin", "install", "missing.zip"]);
    assert_eq!(no_file.code, 1, "{no_file:?}");
    // No org named anywhere.
    let no_org = cli.run(&["plugin", "list", "--token", OPERATOR_TOKEN]);
    assert_eq!(no_org.code, 1, "{no_org:?}");
    assert!(no_org.stderr.contains("name an org"), "{no_org:?}");
    // A server that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = cli.run(&["org", "list", "--server", &nowhere, "--token", "x"]);
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("cannot reach the server"),
        "{unreachable:?}"
    );
    // A usage error is clap's.
    assert_eq!(cli.run(&["plugin", "frobnicate"]).code, 2);
}

#[test]
fn an_upload_on_a_terminal_shows_its_progress_and_a_pipe_gets_none() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let cli = Cli::new(&server);
    let package = cli.file("hello-0.1.0.zip", &guest_package("hello"));
    let install = |name: &str| {
        format!(
            "{} plugin install {package} --org {name} --token {OPERATOR_TOKEN}",
            env!("CARGO_BIN_EXE_berth")
        )
    };
    // `script` runs the command on a pseudo-terminal and copies what it drew.
    let mut on_a_terminal = Command::new("script");
    on_a_terminal
        .args(["-qec", &install("acme"), "/dev/null"])
        .env("BERTH_SERVER", &server.base)
        .env("BERTH_CLI_CONFIG", cli.config());
    let drawn = on_a_terminal.output().expect("running script");
    let drawn = String::from_utf8_lossy(&drawn.stdout);
    assert!(drawn.contains("uploading hello-0.1.0.zip"), "{drawn:?}");
    assert!(
        drawn.contains("installed hello 0.1.0 (installed)"),
        "{drawn:?}"
    );
    // Through a pipe: the answer alone.
    server.create_org("beta");
    let piped = cli.run(&[
        "plugin",
        "install",
        &package,
        "--org",
        "beta",
        "--token",
        OPERATOR_TOKEN,
    ]);
    assert_eq!(
        (piped.stdout.as_str(), piped.stderr.as_str()),
        ("installed hello 0.1.0 (installed)\n", "")
    );
}

#[test]
fn shell_completions_come_from_the_command_definitions() {
    let script = crate::support::berth_cli(&["completions", "bash"]);
    assert!(script.contains("_berth()"), "{script}");
    for command in ["install", "activate", "logs", "registry", "limits", "audit"] {
        assert!(script.contains(command), "no {command} in the completions");
    }
}
