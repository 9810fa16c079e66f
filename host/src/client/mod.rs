//! The operator's and org admin's command line against a running server:
//! `berth login`, `org`, `token`, `plugin install|activate|…|logs`,
//! `registry`, `key`, `limits`, `audit`. Each command is one or two calls of
//! the management API ([`connection`]); the server and token come from
//! flags, `BERTH_SERVER`/`BERTH_TOKEN`, or a saved [`profile`]. Answers
//! print as a table ([`table`]) or, with `--json`, as the server's JSON.
//! Errors carry the server's code and message, and the process exits with
//! the [`ClientError::exit_code`] of what went wrong.

pub mod admin;
pub mod connection;
pub mod plugins;
pub mod profile;
pub mod progress;
pub mod table;

use connection::Connection;
use profile::Profiles;
use std::path::{Path, PathBuf};

/// The server a command calls when neither a flag nor a profile names one.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// What went wrong in a command against a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused or failed the call.
    #[error("{code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's error code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server could not be reached, or its answer not read.
    #[error("cannot reach the server: {0}")]
    Connection(String),
    /// The command cannot be carried out as given (a missing org, an
    /// unreadable file, a bad `KEY=VALUE`).
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    /// A usage error about `path`.
    pub fn file(path: &Path, error: impl std::fmt::Display) -> Self {
        Self::Usage(format!("{}: {error}", path.display()))
    }

    /// The process exit code for this error (the README lists them):
    /// 1 the command as given, 3 unreachable, 4 unauthorized or forbidden,
    /// 5 not found, 6 refused (any other 4xx), 7 the server failed (5xx).
    /// clap's usage errors exit 2.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 1,
            Self::Connection(_) => 3,
            Self::Server { status, .. } => match status {
                401 | 403 => 4,
                404 => 5,
                500.. => 7,
                _ => 6,
            },
        }
    }
}

/// Where and as whom: the flags every command against a server takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The berth server [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, global = true, env = "BERTH_SERVER")]
    pub server: Option<String>,
    /// The operator or org-admin token [default: the profile's].
    #[arg(long, global = true, env = "BERTH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The saved profile to use (see `berth login`) [default: the current one].
    #[arg(long, global = true, env = "BERTH_PROFILE")]
    pub profile: Option<String>,
    /// The org to act on [default: the profile's].
    #[arg(long, global = true, env = "BERTH_ORG")]
    pub org: Option<String>,
    /// A PEM certificate to trust for an https:// server (e.g. self-signed).
    #[arg(long, global = true, env = "BERTH_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A command's connection, org and output choice, resolved from the flags
/// and the saved profile.
pub struct Session {
    /// The calls.
    pub api: Connection,
    /// The org named by the flags or the profile, if any.
    org: Option<String>,
    json: bool,
}

impl Remote {
    /// The session these flags (then the saved profile) describe.
    pub fn session(&self) -> Result<Session, ClientError> {
        let profile = Profiles::load(&Profiles::path()?)?.select(self.profile.as_deref());
        let server = (self.server.clone())
            .or(profile.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let token = self.token.clone().or(profile.token);
        Ok(Session {
            api: Connection::new(&server, token, self.ca_cert.as_deref())?,
            org: self.org.clone().or(profile.org),
            json: self.json,
        })
    }
}

impl Session {
    /// The org to act on.
    pub fn org(&self) -> Result<&str, ClientError> {
        self.org.as_deref().ok_or_else(|| {
            ClientError::Usage(
                "name an org: --org, BERTH_ORG, or a profile's (`berth login --org`)".into(),
            )
        })
    }

    /// Whether `--json` was asked for.
    pub fn json_output(&self) -> bool {
        self.json
    }

    /// Prints `value`: as JSON with `--json`, else as `human` renders it.
    pub fn show(
        &self,
        value: &serde_json::Value,
        human: impl FnOnce(&serde_json::Value) -> String,
    ) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            let text = human(value);
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }
}

/// `KEY=VALUE` split, or a usage error naming `what`.
pub fn key_value<'a>(pair: &'a str, what: &str) -> Result<(&'a str, &'a str), ClientError> {
    pair.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| ClientError::Usage(format!("{what} must be KEY=VALUE, not {pair:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_status() {
        let server = |status| ClientError::Server {
            status,
            code: "x".into(),
            message: "y".into(),
        };
        let codes: Vec<u8> = [401, 403, 404, 409, 422, 500, 503]
            .into_iter()
            .map(|s| server(s).exit_code())
            .collect();
        assert_eq!(codes, [4, 4, 5, 6, 6, 7, 7]);
        assert_eq!(ClientError::Connection("x".into()).exit_code(), 3);
        assert_eq!(ClientError::Usage("x".into()).exit_code(), 1);
        assert_eq!(server(409).to_string(), "x: y");
    }

    #[test]
    fn key_values_need_a_key() {
        assert_eq!(key_value("a=b=c", "a setting").unwrap(), ("a", "b=c"));
        assert!(key_value("=b", "a setting").is_err());
        assert!(key_value("ab", "a setting").is_err());
    }
}
