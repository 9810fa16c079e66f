//! Test harness: start and stop real `berth serve` processes, talk HTTP to
//! them, and build plugin packages from the guests in `guests/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

thread_local! {
    /// The PostgreSQL registry the servers this test starts use, if the
    /// test runs [`on_postgres`]; else each uses its own redb file.
    static REGISTRY: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `test` with every server it starts (on this thread) keeping its
/// registry in one fresh PostgreSQL database (`--registry`), as a cluster
/// node does, instead of a redb file.
pub fn on_postgres(test: impl FnOnce()) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "suite_{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let server = berth_storage::throwaway_postgres::ThrowawayPostgres::shared();
    let url = server.create_database(&name);
    REGISTRY.with(|registry| *registry.borrow_mut() = Some(url));
    test();
}

/// Defines `mod on_postgres` with each of the named tests of this module
/// again, run [`on_postgres`].
macro_rules! also_on_postgres {
    ($($test:ident),* $(,)?) => {
        /// This module's tests again, with the registry in PostgreSQL.
        mod on_postgres {
            $(
                #[test]
                fn $test() {
                    crate::support::on_postgres(super::$test);
                }
            )*
        }
    };
}
pub(crate) use also_on_postgres;

/// How long a server may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The operator token every test server is started with.
pub const OPERATOR_TOKEN: &str = "berth-test-operator-token-0123456789abcdef";

/// A running `berth serve` process, killed when dropped. Its request helpers
/// (through [`Client`]) authenticate as the operator.
pub struct Server {
    child: Child,
    /// Everything it logged (stderr) so far; also echoed to the test's stderr.
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    /// The thread reading its stderr into `logs`; it ends when the process does.
    log_reader: Option<std::thread::JoinHandle<()>>,
    /// The data directory it serves from.
    pub data: PathBuf,
    client: Client,
    _owned_data: Option<tempfile::TempDir>,
}

/// Sends requests to a server, with a bearer token if it has one.
pub struct Client {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl std::ops::Deref for Server {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Server {
    /// Starts berth with `args` after `serve`, on a fresh data directory.
    pub fn start(args: &[&str]) -> Self {
        Self::spawn_fresh(|data| berth_command(data, args))
    }

    /// Starts berth (`--no-demo`) on a fresh data directory, allowed to
    /// reach `upstream` although it is on loopback.
    pub fn start_reaching(upstream: &Upstream) -> Self {
        let port = upstream.addr.port();
        let allowed = format!("[outbound]\nallow-private = ['127.0.0.1:{port}']\n");
        Self::spawn_fresh(|data| {
            let config = config_file(data, &allowed);
            berth_command(data, &["--no-demo", "--config", config.to_str().unwrap()])
        })
    }

    /// Starts berth on the data directory `data` (kept after it stops).
    pub fn start_in(data: &Path, args: &[&str]) -> Self {
        Self::spawn(data, berth_command(data, args))
    }

    /// Starts berth (`args`, fresh data directory) with `RUST_LOG` set to
    /// `filter` instead of the tests' `info,plugin=info`.
    pub fn start_with_log_filter(filter: &str, args: &[&str]) -> Self {
        Self::spawn_fresh(|data| {
            let mut command = berth_command(data, args);
            command.env("RUST_LOG", filter);
            command
        })
    }

    /// Starts berth (`args`, fresh data directory) as the last arguments of
    /// `wrapper`, a program that runs its remaining arguments (such as
    /// `prlimit --nofile=… --`).
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Self {
        Self::spawn_fresh(|data| {
            let berth = berth_command(data, args);
            let mut command = Command::new(wrapper[0]);
            command.args(&wrapper[1..]).arg(berth.get_program());
            command.args(berth.get_args());
            for (name, value) in berth.get_envs() {
                command.env(name, value.expect("berth_command only sets variables"));
            }
            command
        })
    }

    /// Runs the command `make` builds for a fresh data directory, which
    /// lives as long as the server.
    fn spawn_fresh(make: impl FnOnce(&Path) -> Command) -> Self {
        let dir = tempfile::tempdir().expect("temp data dir");
        let mut server = Self::spawn(dir.path(), make(dir.path()));
        server._owned_data = Some(dir);
        server
    }

    /// Runs `command` (a `berth serve` on `data`) and waits for its address.
    fn spawn(data: &Path, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning berth");
        let logs: std::sync::Arc<std::sync::Mutex<String>> = std::sync::Arc::default();
        let stderr = child.stderr.take().expect("stderr piped");
        let kept = std::sync::Arc::clone(&logs);
        let log_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let mut logs = kept.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(base) = line.strip_prefix("berth listening on ") {
                    let _ = tx.send(base.to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .expect("berth did not report its listening address");
        let client = Client {
            base,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            token: Some(OPERATOR_TOKEN.to_owned()),
        };
        Self {
            child,
            logs,
            log_reader: Some(log_reader),
            data: data.to_path_buf(),
            client,
            _owned_data: None,
        }
    }

    /// A client of this server sending `token` (`None`: no credentials).
    pub fn client(&self, token: Option<&str>) -> Client {
        Client {
            base: self.client.base.clone(),
            agent: self.client.agent.clone(),
            token: token.map(str::to_owned),
        }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Whether the server logs `needle` within a few seconds (its log is
    /// read by another thread, which may lag behind its answers).
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.logs().contains(needle) {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Stops the server (SIGTERM) and returns all it logged: unlike
    /// [`Server::logs`], nothing it wrote is still on its way, so a line
    /// missing here was never written.
    pub fn logs_at_exit(&mut self) -> String {
        self.terminate();
        if let Some(reader) = self.log_reader.take() {
            reader.join().expect("the log reader");
        }
        self.logs()
    }

    /// The server process's resident memory, from `/proc`.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("reading /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status");
        kib * 1024
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("waiting for berth")
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "could not signal berth");
    }
}

impl Client {
    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        Reply::from(self.authorized(self.agent.get(&url)).call(), path)
    }

    /// GET `path` with extra request `headers`.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut request = self.authorized(self.agent.get(&url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Reply::from(request.call(), path)
    }

    /// HEAD `path`.
    pub fn head(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        Reply::from(self.authorized(self.agent.head(&url)).call(), path)
    }

    /// POST `body` as JSON to `path`.
    pub fn post_json(&self, path: &str, body: serde_json::Value) -> Reply {
        let url = format!("{}{path}", self.base);
        Reply::from(self.authorized(self.agent.post(&url)).send_json(body), path)
    }

    /// PUT `body` as JSON to `path`.
    pub fn put_json(&self, path: &str, body: serde_json::Value) -> Reply {
        let url = format!("{}{path}", self.base);
        Reply::from(self.authorized(self.agent.put(&url)).send_json(body), path)
    }

    /// PATCH `body` as JSON to `path`.
    pub fn patch_json(&self, path: &str, body: serde_json::Value) -> Reply {
        let url = format!("{}{path}", self.base);
        Reply::from(
            self.authorized(self.agent.patch(&url)).send_json(body),
            path,
        )
    }

    /// POST with an empty body.
    pub fn post(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        Reply::from(self.authorized(self.agent.post(&url)).send_empty(), path)
    }

    /// POST `bytes` with `content_type`.
    pub fn post_bytes(&self, path: &str, content_type: &str, bytes: &[u8]) -> Reply {
        let url = format!("{}{path}", self.base);
        let request = self
            .authorized(self.agent.post(&url))
            .header("content-type", content_type);
        Reply::from(request.send(bytes), path)
    }

    /// Uploads a package ZIP to `org`.
    pub fn install(&self, org: &str, zip: &[u8]) -> Reply {
        self.post_bytes(
            &format!("/api/v1/orgs/{org}/plugins"),
            "application/zip",
            zip,
        )
    }

    /// Uploads a package ZIP to `org`; the status, or `None` if the server
    /// went away (killed mid-request).
    pub fn try_install(&self, org: &str, zip: &[u8]) -> Option<u16> {
        let url = format!("{}/api/v1/orgs/{org}/plugins", self.base);
        let request =
            (self.authorized(self.agent.post(&url))).header("content-type", "application/zip");
        request
            .send(zip)
            .ok()
            .map(|response| response.status().as_u16())
    }

    /// Uploads a package ZIP to `org` with `?force`, asserting success.
    pub fn install_forced(&self, org: &str, zip: &[u8]) -> Reply {
        let reply = self.post_bytes(
            &format!("/api/v1/orgs/{org}/plugins?force"),
            "application/zip",
            zip,
        );
        assert_eq!(reply.status, 201, "{reply:?}");
        reply
    }

    /// DELETE `path`.
    pub fn delete(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        Reply::from(self.authorized(self.agent.delete(&url)).call(), path)
    }

    /// Creates `org`, asserting success.
    pub fn create_org(&self, org: &str) {
        let reply = self.post_json("/api/v1/orgs", serde_json::json!({ "name": org }));
        assert_eq!(reply.status, 201, "creating {org}: {reply:?}");
    }

    /// Lets `org` have one request in flight at a time (and no rate limit),
    /// so a test can hold its only slot.
    pub fn limit_to_one_in_flight(&self, org: &str) {
        let limits =
            serde_json::json!({ "max-concurrent": 1, "requests-per-second": 0, "burst": 1 });
        let set = self.put_json(&format!("/api/v1/orgs/{org}/limits"), limits);
        assert_eq!(set.status, 200, "{set:?}");
    }

    /// Installs and activates a package in `org`, asserting success.
    pub fn install_active(&self, org: &str, zip: &[u8]) -> serde_json::Value {
        let installed = self.install(org, zip);
        assert_eq!(installed.status, 201, "{installed:?}");
        let name = installed.json()["name"].as_str().unwrap().to_owned();
        let activated = self.post(&format!("/api/v1/orgs/{org}/plugins/{name}/activate"));
        assert_eq!(activated.status, 200, "{activated:?}");
        activated.json()
    }

    /// A raw TCP connection to the server, for requests a client library
    /// would not send; its reads time out after ten seconds.
    pub fn connect(&self) -> std::net::TcpStream {
        let addr = self.base.trim_start_matches("http://");
        let stream = std::net::TcpStream::connect(addr).expect("connecting");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Sends a raw HTTP/1.1 request: `head` (request line and headers, without
    /// the blank line) plus the client's credentials, then `body` as written; write errors after the head
    /// are ignored (the server may answer and close early). Returns the
    /// status code and the response body.
    pub fn raw_request(&self, head: &str, body: &[u8]) -> (u16, String) {
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = self.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let credentials = self.token.as_ref().map_or(String::new(), |token| {
            format!("Authorization: Bearer {token}\r\n")
        });
        write!(
            stream,
            "{head}\r\nHost: {addr}\r\n{credentials}Connection: close\r\n\r\n"
        )
        .expect("writing head");
        for chunk in body.chunks(64 * 1024) {
            if stream.write_all(chunk).is_err() {
                break;
            }
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `berth serve` command on an ephemeral port with `data` as its data dir
/// (and a small instance pool unless `args` size it).
pub fn berth_command(data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    if !args.contains(&"--max-instances") {
        command.args(["--max-instances", "20"]);
    }
    if let Some(url) = REGISTRY.with(|registry| registry.borrow().clone()) {
        // One node: its own directory stands for the shared mount.
        command.args(["--registry", &url, "--shared-files"]);
        command.arg(data.join("orgs"));
    }
    command
        .arg("--data")
        .arg(data)
        .args(args)
        .env("BERTH_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("RUST_LOG", "info,plugin=info");
    command
}

/// Runs the `berth` CLI with `args` (not `serve`); returns its stdout,
/// panicking with its output when it fails.
pub fn berth_cli(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .expect("running berth");
    assert!(
        output.status.success(),
        "berth {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("berth prints UTF-8")
}

/// Runs `curl --silent --show-error` with `args`; returns what it printed,
/// panicking with its error when it fails.
pub fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["--silent", "--show-error"])
        .args(args)
        .output()
        .expect("running curl");
    assert!(
        output.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes `toml` to a config file inside `dir` and returns its path.
/// Reads an HTTP message head from `stream`, byte by byte so nothing after
/// it is consumed: up to and including its blank line, or all there was
/// when the stream ended first.
pub fn read_head(stream: &mut impl std::io::Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The `Content-Length` an HTTP message `head` declares (0 without one).
pub fn content_length(head: &str) -> usize {
    (head.lines())
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

pub fn config_file(dir: &Path, toml: &str) -> PathBuf {
    let path = dir.join("berth.toml");
    std::fs::write(&path, toml).expect("writing config");
    path
}

/// An HTTP reply.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type` header, or empty.
    pub content_type: String,
    /// Body as text.
    pub body: String,
    /// Every response header.
    pub headers: http::HeaderMap,
}

impl Reply {
    fn from(result: Result<http::Response<ureq::Body>, ureq::Error>, what: &str) -> Self {
        let mut response = result.unwrap_or_else(|e| panic!("{what}: {e}"));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Self {
            status: response.status().as_u16(),
            content_type,
            headers: response.headers().clone(),
            body: response
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .expect("reading body"),
        }
    }

    /// The value of header `name`, or empty.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    /// The `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.body))
            .to_owned()
    }

    /// The `error.message` of a JSON error reply.
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {}", self.body))
            .to_owned()
    }
}

/// The component bytes of guest `name`.
pub fn guest_component(name: &str) -> Vec<u8> {
    let (_, path) = berth_guests::ALL_COMPONENTS
        .iter()
        .find(|(guest, _)| *guest == name)
        .unwrap_or_else(|| panic!("no guest {name}"));
    std::fs::read(path).expect("reading guest component")
}

/// The manifest of guest `name` (`guests/{name}/manifest.json`).
pub fn guest_manifest(name: &str) -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../guests/{name}/manifest.json"));
    serde_json::from_slice(&std::fs::read(path).expect("reading manifest")).expect("manifest JSON")
}

/// A package of guest `name` with its manifest changed by `edit`: the
/// manifest, the built component (if the manifest names one) and every
/// file of the guest's `assets` folder (if it names one).
pub fn guest_package_with(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut manifest = guest_manifest(name);
    edit(&mut manifest);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(component_path) = manifest["component"].as_str() {
        files.push((component_path.to_owned(), guest_component(name)));
    }
    if let Some(assets) = manifest["assets"].as_str() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../guests/{name}/{assets}"));
        for relative in files_under(&dir) {
            let bytes = std::fs::read(dir.join(&relative)).expect("reading an asset");
            files.push((format!("{assets}/{relative}"), bytes));
        }
    }
    files.push((
        "manifest.json".to_owned(),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    ));
    berth::package::build_zip(
        files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice())),
    )
}

/// The package of guest `name` as built against `berth:plugin@0.1.0` and
/// committed then (`tests/fixtures/api-0.1.0/{name}`: its manifest and
/// component, never rebuilt), with its manifest changed by `edit`.
pub fn api_0_1_0_package_with(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/api-0.1.0/{name}"));
    let read = |file: &str| std::fs::read(dir.join(file)).expect("reading a 0.1.0 fixture");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&read("manifest.json")).expect("manifest JSON");
    edit(&mut manifest);
    let component = manifest["component"]
        .as_str()
        .expect("a component")
        .to_owned();
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    berth::package::build_zip([
        ("manifest.json", manifest.as_slice()),
        (component.as_str(), read(&component).as_slice()),
    ])
}

/// The package of guest `name`, as its author would pack it.
pub fn guest_package(name: &str) -> Vec<u8> {
    guest_package_with(name, |_| {})
}

/// Every file (and symbolic link) under `dir`, relative, sorted (empty if
/// `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            // Symbolic links are listed, never followed.
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Creates an admin token for `org` as the operator; returns the API's answer.
pub fn admin_token(server: &Server, org: &str) -> serde_json::Value {
    let issued = server.post(&format!("/api/v1/orgs/{org}/tokens"));
    assert_eq!(issued.status, 201, "{issued:?}");
    issued.json()
}

/// Creates an admin token for `org` as the operator; returns its secret.
pub fn admin_secret(server: &Server, org: &str) -> String {
    admin_token(server, org)["token"]
        .as_str()
        .expect("a token secret")
        .to_owned()
}

/// `text` percent-encoded for a query-string value.
pub fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A stand-in third-party HTTP server on loopback: answers every request
/// `200 upstream says hi` and records each request it received (head, and
/// the body its `Content-Length` announces). While held, it records
/// requests but answers none until released, one at a time.
pub struct Upstream {
    /// Its address, `127.0.0.1:PORT`.
    pub addr: std::net::SocketAddr,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    held: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl Upstream {
    /// Starts the server on an ephemeral loopback port, answering at once.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts the server held: it answers nothing until [`Self::release`].
    pub fn start_held() -> Self {
        Self::start_with(true)
    }

    /// Holds the answers to requests from now on.
    pub fn hold(&self) {
        *self.held.0.lock().unwrap() = true;
    }

    /// Answers the requests waiting, and every later one at once.
    pub fn release(&self) {
        *self.held.0.lock().unwrap() = false;
        self.held.1.notify_all();
    }

    fn start_with(held: bool) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding upstream");
        let addr = listener.local_addr().unwrap();
        let requests: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let seen = std::sync::Arc::clone(&requests);
        let held = std::sync::Arc::new((std::sync::Mutex::new(held), std::sync::Condvar::new()));
        let gate = std::sync::Arc::clone(&held);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = read_head(&mut stream);
                let mut body = vec![0; content_length(&request)];
                if stream.read_exact(&mut body).is_ok() {
                    request.push_str(&String::from_utf8_lossy(&body));
                }
                seen.lock().unwrap().push(request);
                let (holding, released) = &*gate;
                drop(
                    released
                        .wait_while(holding.lock().unwrap(), |held| *held)
                        .unwrap(),
                );
                let body = "upstream says hi";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            addr,
            requests,
            held,
        }
    }

    /// The requests received so far (head and body).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `count` requests have arrived;
    /// returns every request received.
    pub fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let requests = self.requests();
            if requests.len() >= count || std::time::Instant::now() > deadline {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
