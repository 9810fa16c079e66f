//! Test harness: start and stop a real `berth serve` process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `berth serve` process, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts berth with `args` after `serve`, on an ephemeral port and a
    /// fresh data directory, with a small instance pool.
    pub fn start(args: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("temp data dir");
        let mut child = berth_command(data.path(), args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning berth");
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
        Self {
            child,
            base,
            _data: data,
        }
    }

    /// GET `path`, returning status, content type and body.
    pub fn get(&self, path: &str) -> Reply {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Reply {
            status: response.status().as_u16(),
            content_type,
            body: response.body_mut().read_to_string().expect("reading body"),
        }
    }
}

impl Server {
    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "could not signal berth");
        self.child.wait().expect("waiting for berth")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `berth serve` command on an ephemeral port with `data` as its data dir.
pub fn berth_command(data: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-instances",
            "20",
            "--data",
        ])
        .arg(data)
        .args(args)
        .env("RUST_LOG", "info");
    command
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
}

impl Reply {
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
}
