//! One server and token: the management API's calls as the CLI makes them,
//! answering JSON or a [`ClientError`] that carries the server's error code
//! and message.

use super::ClientError;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;
use ureq::http::Response;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

/// Longest wait for a connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to send calls, and as whom.
pub struct Connection {
    /// The server's base address, e.g. `http://127.0.0.1:8080`.
    server: String,
    token: Option<String>,
    agent: Agent,
}

impl Connection {
    /// Calls to `server` with `token`, trusting `ca_cert` (a PEM file)
    /// besides the usual web roots for `https://`.
    pub fn new(
        server: &str,
        token: Option<String>,
        ca_cert: Option<&Path>,
    ) -> Result<Self, ClientError> {
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "the server address must start with http:// or https://, not {server:?}"
            )));
        }
        let mut config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .user_agent(concat!("berth-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path).map_err(|e| ClientError::file(path, e))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
            config = config.tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::new_with_certs(&[cert]))
                    .build(),
            );
        }
        Ok(Self {
            server: server.trim_end_matches('/').to_owned(),
            token,
            agent: config.build().into(),
        })
    }

    /// The server's base address.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `GET /api/v1/{path}`.
    pub fn get(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        let request = self.authorized(self.agent.get(self.url(path)));
        self.json(request.call())
    }

    /// `DELETE /api/v1/{path}`.
    pub fn delete(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        let request = self.authorized(self.agent.delete(self.url(path)));
        self.json(request.call())
    }

    /// `POST /api/v1/{path}` with `body` as JSON (`None`: an empty body).
    pub fn post(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let request = self.authorized(self.agent.post(self.url(path)));
        self.json(match body {
            Some(body) => request.send_json(body),
            None => request.send_empty(),
        })
    }

    /// `PUT /api/v1/{path}` with `body` as JSON.
    pub fn put(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let request = self.authorized(self.agent.put(self.url(path)));
        self.json(request.send_json(body))
    }

    /// `POST /api/v1/{path}` with the ZIP at `file` as the body, showing
    /// the upload's progress and then a spinner while the server works
    /// (validating, compiling) — on a terminal only.
    pub fn upload(&self, path: &str, file: &Path) -> Result<serde_json::Value, ClientError> {
        let opened = std::fs::File::open(file).map_err(|e| ClientError::file(file, e))?;
        let length = (opened.metadata())
            .map_err(|e| ClientError::file(file, e))?
            .len();
        let progress = super::progress::Upload::start(file, length);
        let mut reader = progress.wrap(opened);
        let request = self
            .authorized(self.agent.post(self.url(path)))
            .header("content-type", "application/zip")
            .header("content-length", length.to_string());
        let answer = request.send(SendBody::from_reader(&mut reader));
        progress.finish();
        self.json(answer)
    }

    /// `GET /api/v1/{path}` as a stream of server-sent events: calls
    /// `each(event, data)` for each until the server ends the stream or
    /// `each` returns `false`.
    pub fn follow(
        &self,
        path: &str,
        mut each: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), ClientError> {
        let request = self.authorized(self.agent.get(self.url(path)));
        let response = request.call().map_err(|e| self.unreachable(e))?;
        let response = success(response)?;
        let reader = BufReader::new(response.into_body().into_reader());
        let (mut event, mut data) = (String::from("message"), String::new());
        for line in reader.lines() {
            let line = line.map_err(|e| self.unreachable(e))?;
            if let Some(value) = line.strip_prefix("event: ") {
                event = value.to_owned();
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = value.to_owned();
            } else if line.is_empty() && !data.is_empty() {
                if !each(&event, &data) {
                    return Ok(());
                }
                (event, data) = (String::from("message"), String::new());
            }
        }
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.server)
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn unreachable(&self, error: impl std::fmt::Display) -> ClientError {
        ClientError::Connection(format!("{}: {error}", self.server))
    }

    /// The JSON of a successful answer, else the server's error.
    fn json(
        &self,
        answer: Result<Response<Body>, ureq::Error>,
    ) -> Result<serde_json::Value, ClientError> {
        let response = answer.map_err(|e| self.unreachable(e))?;
        let mut response = success(response)?;
        let mut text = String::new();
        (response.body_mut().as_reader())
            .read_to_string(&mut text)
            .map_err(|e| self.unreachable(e))?;
        if text.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| self.unreachable(format!("an answer that is not JSON: {e}")))
    }
}

/// `response` if its status is a success, else the error its body names.
fn success(mut response: Response<Body>) -> Result<Response<Body>, ClientError> {
    let status = response.status().as_u16();
    if status < 400 {
        return Ok(response);
    }
    let body: serde_json::Value = response.body_mut().read_json().unwrap_or_default();
    let error = &body["error"];
    Err(ClientError::Server {
        status,
        code: error["code"].as_str().unwrap_or("http_error").to_owned(),
        message: (error["message"].as_str())
            .map_or_else(|| format!("HTTP status {status}"), str::to_owned),
    })
}
