//! Org administration from the command line: `berth login`, `org`,
//! `token`, `key`, `limits` and `audit`.

use super::profile::{Profile, Profiles};
use super::table::{Table, text, time};
use super::{ClientError, Remote, Session, key_value};
use serde_json::json;
use std::path::PathBuf;

/// `berth login`: check a server and token, and save them as a profile.
#[derive(Debug, clap::Args)]
pub struct Login {
    #[command(flatten)]
    remote: Remote,
}

impl Login {
    /// Checks the connection (listing the orgs the token may act on) and
    /// saves it under the profile name, making it the current profile.
    pub fn run(self) -> Result<(), ClientError> {
        let Some(token) = self.remote.token.clone() else {
            return Err(ClientError::Usage(
                "give the token to save: --token or BERTH_TOKEN".into(),
            ));
        };
        let session = self.remote.session()?;
        let orgs = session.api.get("orgs")?;
        let name =
            (self.remote.profile.clone()).unwrap_or_else(|| super::profile::DEFAULT_PROFILE.into());
        let path = Profiles::path()?;
        let mut profiles = Profiles::load(&path)?;
        // What the check used: the flags, else what the profile had.
        let profile = Profile {
            server: Some(session.api.server().to_owned()),
            token: Some(token),
            org: session.org,
        };
        profiles.profiles.insert(name.clone(), profile);
        profiles.current = Some(name.clone());
        profiles.save(&path)?;
        let count = orgs.as_array().map_or(0, Vec::len);
        println!(
            "logged in as profile {name} ({count} org(s) visible); saved to {}",
            path.display()
        );
        Ok(())
    }
}

/// `berth org …`
#[derive(Debug, clap::Args)]
pub struct OrgCommand {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: OrgAction,
}

#[derive(Debug, clap::Subcommand)]
enum OrgAction {
    /// Create an org (operator).
    Create {
        /// Its name (`[a-z0-9-]`).
        name: String,
    },
    /// List the orgs the token may act on.
    List,
}

impl OrgCommand {
    /// Runs it.
    pub fn run(self) -> Result<(), ClientError> {
        let session = self.remote.session()?;
        match self.action {
            OrgAction::Create { name } => {
                let org = session.api.post("orgs", Some(&json!({ "name": name })))?;
                session.show(&org, |org| format!("created org {}", text(&org["name"])));
            }
            OrgAction::List => {
                let orgs = session.api.get("orgs")?;
                session.show(&orgs, |orgs| {
                    Table::new(&["NAME", "CREATED", "TENANT KEY", "PUBLIC MODULES"])
                        .rows_of(orgs, |o| {
                            vec![
                                text(&o["name"]),
                                time(&o["created_at"]),
                                yes_no(&o["tenant_key_required"]),
                                yes_no(&o["modules_public"]),
                            ]
                        })
                        .render()
                });
            }
        }
        Ok(())
    }
}

/// `berth token …`
#[derive(Debug, clap::Args)]
pub struct TokenCommand {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: TokenAction,
}

#[derive(Debug, clap::Subcommand)]
enum TokenAction {
    /// Create an org-admin token; it is shown this once.
    Create,
    /// List the org's tokens (ids and creation times, never secrets).
    List,
    /// Revoke a token at once.
    Revoke {
        /// The token's id.
        id: String,
    },
}

impl TokenCommand {
    /// Runs it.
    pub fn run(self) -> Result<(), ClientError> {
        let session = self.remote.session()?;
        let path = format!("orgs/{}/tokens", session.org()?);
        match self.action {
            TokenAction::Create => {
                let token = session.api.post(&path, None)?;
                session.show(&token, |t| {
                    format!(
                        "token {} for org {} (shown once, store it safely):\n{}",
                        text(&t["id"]),
                        text(&t["org"]),
                        text(&t["token"])
                    )
                });
            }
            TokenAction::List => {
                let tokens = session.api.get(&path)?;
                session.show(&tokens, |tokens| {
                    Table::new(&["ID", "CREATED"])
                        .rows_of(tokens, |t| vec![text(&t["id"]), time(&t["created_at"])])
                        .render()
                });
            }
            TokenAction::Revoke { id } => {
                let revoked = session.api.delete(&format!("{path}/{id}"))?;
                session.show(&revoked, |_| format!("revoked token {id}"));
            }
        }
        Ok(())
    }
}

/// `berth key …`: the org's trusted signing keys.
#[derive(Debug, clap::Args)]
pub struct KeyCommand {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: KeyAction,
}

#[derive(Debug, clap::Subcommand)]
enum KeyAction {
    /// Trust a minisign public key for the org's installs.
    Trust {
        /// A public key file (`berth.pub`), or the key's base64 line.
        key: String,
        /// Who the key belongs to.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// The org's trusted keys and signature policy.
    List,
    /// Stop trusting a key.
    Untrust {
        /// The key's id.
        id: String,
    },
    /// Whether the org's installs must carry a trusted signature.
    Policy {
        /// `required` or `optional`.
        #[arg(value_enum)]
        signatures: SignaturePolicy,
    },
}

/// The org's signature policy.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SignaturePolicy {
    /// Only packages signed by a trusted key install.
    Required,
    /// Unsigned packages install too.
    Optional,
}

impl KeyCommand {
    /// Runs it.
    pub fn run(self) -> Result<(), ClientError> {
        let session = self.remote.session()?;
        let org = session.org()?;
        let path = format!("orgs/{org}/trusted-keys");
        match self.action {
            KeyAction::Trust { key, comment } => {
                let file = PathBuf::from(&key);
                let key = if file.is_file() {
                    std::fs::read_to_string(&file).map_err(|e| ClientError::file(&file, e))?
                } else {
                    key
                };
                let trusted = session
                    .api
                    .post(&path, Some(&json!({ "key": key, "comment": comment })))?;
                session.show(&trusted, |k| format!("trusted key {}", text(&k["id"])));
            }
            KeyAction::Policy { signatures } => {
                let required = matches!(signatures, SignaturePolicy::Required);
                let body = json!({ "require-signature": required });
                let policy = session
                    .api
                    .put(&format!("orgs/{org}/signature-policy"), &body)?;
                session.show(&policy, show_policy);
            }
            KeyAction::List => {
                let policy = session.api.get(&path)?;
                session.show(&policy, show_policy);
            }
            KeyAction::Untrust { id } => {
                let removed = session.api.delete(&format!("{path}/{id}"))?;
                session.show(&removed, |_| format!("no longer trusting key {id}"));
            }
        }
        Ok(())
    }
}

/// `berth limits …`: the org's limits.
#[derive(Debug, clap::Args)]
pub struct LimitsCommand {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: LimitsAction,
}

#[derive(Debug, clap::Subcommand)]
enum LimitsAction {
    /// The org's limits in force.
    Get,
    /// Override some of the org's limits, keeping its other overrides (operator).
    Set {
        /// `NAME=NUMBER`, e.g. `max-concurrent=8` (see `berth limits get`).
        #[arg(required = true)]
        limits: Vec<String>,
    },
    /// Drop the org's overrides: back to the server's defaults (operator).
    Reset,
}

impl LimitsCommand {
    /// Runs it.
    pub fn run(self) -> Result<(), ClientError> {
        let session = self.remote.session()?;
        let org = session.org()?;
        let path = format!("orgs/{org}/limits");
        let limits = match self.action {
            LimitsAction::Get => session.api.get(&path)?,
            LimitsAction::Set { limits } => {
                let mut overrides = current_overrides(&session, org)?;
                for pair in &limits {
                    let (name, value) = key_value(pair, "a limit")?;
                    let number: u64 = value.parse().map_err(|_| {
                        ClientError::Usage(format!("{name} must be a whole number, not {value:?}"))
                    })?;
                    overrides.insert(name.to_owned(), number.into());
                }
                session.api.put(&path, &overrides.into())?
            }
            LimitsAction::Reset => session.api.delete(&path)?,
        };
        session.show(&limits, |limits| {
            let mut table = Table::new(&["LIMIT", "VALUE"]);
            for (name, value) in limits.as_object().into_iter().flatten() {
                table.row(vec![name.clone(), text(value)]);
            }
            table.render()
        });
        Ok(())
    }
}

/// `org`'s limit overrides, as its listing shows them.
fn current_overrides(
    session: &Session,
    org: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, ClientError> {
    let orgs = session.api.get("orgs")?;
    let listed = (orgs.as_array().into_iter().flatten()).find(|o| o["name"] == org);
    Ok(listed
        .and_then(|o| o["limits"].as_object().cloned())
        .unwrap_or_default())
}

/// `berth audit`: the org's lifecycle events.
#[derive(Debug, clap::Args)]
pub struct AuditCommand {
    #[command(flatten)]
    remote: Remote,
    /// Only the events of this plugin.
    #[arg(long)]
    plugin: Option<String>,
    /// Only events after this sequence number.
    #[arg(long, default_value_t = 0)]
    after: u64,
}

impl AuditCommand {
    /// Runs it.
    pub fn run(self) -> Result<(), ClientError> {
        let session = self.remote.session()?;
        let mut path = format!("orgs/{}/audit?after={}", session.org()?, self.after);
        if let Some(plugin) = &self.plugin {
            path += &format!("&plugin={plugin}");
        }
        let events = session.api.get(&path)?;
        session.show(&events, |events| {
            Table::new(&["SEQ", "AT", "ACTION", "PLUGIN", "VERSION", "DETAIL"])
                .rows_of(events, |e| {
                    vec![
                        text(&e["seq"]),
                        time(&e["at"]),
                        text(&e["action"]),
                        text(&e["plugin"]),
                        text(&e["version"]),
                        text(&e["detail"]),
                    ]
                })
                .render()
        });
        Ok(())
    }
}

/// An org's signature policy and trusted keys.
fn show_policy(policy: &serde_json::Value) -> String {
    let mut out = format!(
        "signature required: {}{}\n\n",
        yes_no(&policy["require_signature"]),
        if policy["locked"] == true {
            " (locked by the operator)"
        } else {
            ""
        }
    );
    out += &Table::new(&["ID", "COMMENT", "TRUSTED BY"])
        .rows_of(&policy["keys"], |k| {
            vec![text(&k["id"]), text(&k["comment"]), "org".into()]
        })
        .rows_of(&policy["operator_keys"], |k| {
            vec![text(&k["id"]), text(&k["comment"]), "operator".into()]
        })
        .render();
    out
}

/// `yes` or `no` for a JSON boolean.
fn yes_no(value: &serde_json::Value) -> String {
    if value == true { "yes" } else { "no" }.to_owned()
}
