//! Plugins on a server from the command line: `berth plugin install|
//! activate|deactivate|rollback|uninstall|list|show|config|logs` and
//! `berth registry publish|list`.

use super::table::{Table, text, time};
use super::{ClientError, Remote, Session, key_value};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The `berth plugin` commands that act on a server.
#[derive(Debug, clap::Subcommand)]
pub enum ServerPluginCommand {
    /// Install (or upgrade) a plugin: a package ZIP, or NAME[@RANGE] from
    /// the org's registry and the catalog.
    Install {
        /// A package file, or `NAME` / `NAME@RANGE` (e.g. `hello@^0.2`).
        package: String,
        /// Replace the installed version even if this one is not newer.
        #[arg(long)]
        force: bool,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
    /// Grant permissions and start serving.
    Activate {
        /// The plugin.
        name: String,
        /// A JSON file with the grant (the manifest's `permissions` shape,
        /// at most what it declares) [default: everything declared].
        #[arg(long)]
        grant: Option<PathBuf>,
        /// Activate its inactive dependencies first.
        #[arg(long)]
        with_deps: bool,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop serving; files and data stay.
    Deactivate {
        /// The plugin.
        name: String,
        /// Deactivate the active plugins that depend on it too.
        #[arg(long)]
        cascade: bool,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
    /// Return to the previous version, with its grant and the same data.
    Rollback {
        /// The plugin.
        name: String,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a plugin, its data, configuration and files.
    Uninstall {
        /// The plugin.
        name: String,
        /// Uninstall it even while active.
        #[arg(long)]
        force: bool,
        /// Deactivate the plugins that depend on it.
        #[arg(long)]
        cascade: bool,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
    /// List the org's plugins.
    List {
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
    /// One plugin's manifest, state, grant and versions.
    Show {
        /// The plugin.
        name: String,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
    /// Read or change a plugin's settings and secrets.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// A plugin's recent log lines; `-f` keeps following new ones.
    Logs {
        /// The plugin.
        name: String,
        /// Keep printing new lines as the plugin writes them.
        #[arg(long, short)]
        follow: bool,
        /// How many of the newest lines to show first.
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: u32,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
}

/// `berth plugin config …`
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// The plugin's settings, and the names of its secrets.
    Get {
        /// The plugin.
        name: String,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
    /// Change settings and secrets; the others are kept.
    Set {
        /// The plugin.
        name: String,
        /// Settings to set, `KEY=VALUE`.
        settings: Vec<String>,
        /// A secret to set, `KEY=VALUE` (never shown again).
        #[arg(long = "secret")]
        secrets: Vec<String>,
        /// A setting to remove.
        #[arg(long = "unset")]
        unset: Vec<String>,
        /// A secret to remove.
        #[arg(long = "unset-secret")]
        unset_secrets: Vec<String>,
        /// Server, token, org and output.
        #[command(flatten)]
        remote: Remote,
    },
}

impl ServerPluginCommand {
    /// Runs it.
    pub fn run(self) -> Result<(), ClientError> {
        match self {
            Self::Install {
                package,
                force,
                remote,
            } => install(&remote.session()?, &package, force),
            Self::Activate {
                name,
                grant,
                with_deps,
                remote,
            } => {
                let session = remote.session()?;
                let body = match grant {
                    Some(file) => Some(json!({ "grant": read_json(&file)? })),
                    None => None,
                };
                let query = if with_deps { "?with-deps" } else { "" };
                let path = plugin_path(&session, &name, &format!("/activate{query}"))?;
                let plugin = session.api.post(&path, body.as_ref())?;
                session.show(&plugin, |p| describe("activated", p));
                Ok(())
            }
            Self::Deactivate {
                name,
                cascade,
                remote,
            } => {
                let session = remote.session()?;
                let query = if cascade { "?cascade" } else { "" };
                let path = plugin_path(&session, &name, &format!("/deactivate{query}"))?;
                let plugin = session.api.post(&path, None)?;
                session.show(&plugin, |p| describe("deactivated", p));
                Ok(())
            }
            Self::Rollback { name, remote } => {
                let session = remote.session()?;
                let plugin = session
                    .api
                    .post(&plugin_path(&session, &name, "/rollback")?, None)?;
                session.show(&plugin, |p| describe("rolled back to", p));
                Ok(())
            }
            Self::Uninstall {
                name,
                force,
                cascade,
                remote,
            } => {
                let session = remote.session()?;
                let flags: Vec<&str> = [("force", force), ("cascade", cascade)]
                    .into_iter()
                    .filter_map(|(flag, on)| on.then_some(flag))
                    .collect();
                let query = if flags.is_empty() {
                    String::new()
                } else {
                    format!("?{}", flags.join("&"))
                };
                let answer = session.api.delete(&plugin_path(&session, &name, &query)?)?;
                session.show(&answer, |_| format!("uninstalled {name}"));
                Ok(())
            }
            Self::List { remote } => {
                let session = remote.session()?;
                let plugins = session
                    .api
                    .get(&format!("orgs/{}/plugins", session.org()?))?;
                session.show(&plugins, |plugins| {
                    Table::new(&["NAME", "VERSION", "STATE", "API", "UPDATED"])
                        .rows_of(plugins, |p| {
                            vec![
                                text(&p["name"]),
                                text(&p["version"]),
                                text(&p["state"]),
                                text(&p["api"]),
                                time(&p["updated_at"]),
                            ]
                        })
                        .render()
                });
                Ok(())
            }
            Self::Show { name, remote } => {
                let session = remote.session()?;
                let plugin = session.api.get(&plugin_path(&session, &name, "")?)?;
                session.show(&plugin, show_plugin);
                Ok(())
            }
            Self::Config(command) => command.run(),
            Self::Logs {
                name,
                follow,
                lines,
                remote,
            } => logs(&remote.session()?, &name, follow, lines),
        }
    }
}

impl ConfigCommand {
    fn run(self) -> Result<(), ClientError> {
        match self {
            Self::Get { name, remote } => {
                let session = remote.session()?;
                let config = session.api.get(&plugin_path(&session, &name, "/config")?)?;
                session.show(&config, show_config);
            }
            Self::Set {
                name,
                settings,
                secrets,
                unset,
                unset_secrets,
                remote,
            } => {
                let session = remote.session()?;
                let path = plugin_path(&session, &name, "/config")?;
                let current = session.api.get(&path)?;
                let mut config = current["config"].as_object().cloned().unwrap_or_default();
                for pair in &settings {
                    let (key, value) = key_value(pair, "a setting")?;
                    config.insert(key.to_owned(), value.into());
                }
                for key in &unset {
                    config.remove(key);
                }
                let mut changed_secrets = serde_json::Map::new();
                for pair in &secrets {
                    let (key, value) = key_value(pair, "a secret")?;
                    changed_secrets.insert(key.to_owned(), value.into());
                }
                for key in &unset_secrets {
                    changed_secrets.insert(key.clone(), serde_json::Value::Null);
                }
                let body = json!({ "config": config, "secrets": changed_secrets });
                let updated = session.api.put(&path, &body)?;
                session.show(&updated, show_config);
            }
        }
        Ok(())
    }
}

/// `berth registry …`
#[derive(Debug, clap::Args)]
pub struct RegistryCommand {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: RegistryAction,
}

#[derive(Debug, clap::Subcommand)]
enum RegistryAction {
    /// Publish a package to the org's registry (or, as the operator, the
    /// shared catalog).
    Publish {
        /// The package ZIP.
        file: PathBuf,
        /// Publish to the shared catalog instead (operator).
        #[arg(long)]
        catalog: bool,
    },
    /// What the org can install (or, with --catalog, the shared catalog).
    List {
        /// List the shared catalog.
        #[arg(long)]
        catalog: bool,
    },
}

impl RegistryCommand {
    /// Runs it.
    pub fn run(self) -> Result<(), ClientError> {
        let session = self.remote.session()?;
        let scope = |catalog: bool| -> Result<String, ClientError> {
            Ok(if catalog {
                "catalog".to_owned()
            } else {
                format!("orgs/{}/registry", session.org()?)
            })
        };
        match self.action {
            RegistryAction::Publish { file, catalog } => {
                let published = session.api.upload(&scope(catalog)?, &file)?;
                session.show(&published, |p| {
                    format!("published {} {}", text(&p["name"]), text(&p["version"]))
                });
            }
            RegistryAction::List { catalog } => {
                let listing = session.api.get(&scope(catalog)?)?;
                session.show(&listing, |listing| {
                    let mut table = Table::new(&["NAME", "VERSION", "SOURCE"]);
                    for plugin in listing.as_array().into_iter().flatten() {
                        for version in plugin["versions"].as_array().into_iter().flatten() {
                            table.row(vec![
                                text(&plugin["name"]),
                                text(&version["version"]),
                                text(&version["source"]),
                            ]);
                        }
                    }
                    table.render()
                });
            }
        }
        Ok(())
    }
}

/// `orgs/{org}/plugins/{name}{rest}` for the session's org.
fn plugin_path(session: &Session, name: &str, rest: &str) -> Result<String, ClientError> {
    Ok(format!("orgs/{}/plugins/{name}{rest}", session.org()?))
}

/// Installs `package`: a file if one is there, else `NAME[@RANGE]`.
fn install(session: &Session, package: &str, force: bool) -> Result<(), ClientError> {
    let query = if force { "?force" } else { "" };
    let path = format!("orgs/{}/plugins{query}", session.org()?);
    let file = Path::new(package);
    if file.is_file() {
        let installed = session.api.upload(&path, file)?;
        session.show(&installed, |p| describe("installed", p));
        return Ok(());
    }
    if package.ends_with(".zip") {
        return Err(ClientError::Usage(format!("{package}: no such file")));
    }
    let (name, range) = package.split_once('@').unwrap_or((package, "*"));
    let answer = session
        .api
        .post(&path, Some(&json!({ "name": name, "version": range })))?;
    session.show(&answer, |answer| {
        let mut out = String::new();
        for plugin in answer["installed"].as_array().into_iter().flatten() {
            out += &describe("installed", plugin);
            out.push('\n');
        }
        out
    });
    Ok(())
}

/// `{did} NAME VERSION (STATE)`.
fn describe(did: &str, plugin: &serde_json::Value) -> String {
    format!(
        "{did} {} {} ({})",
        text(&plugin["name"]),
        text(&plugin["version"]),
        text(&plugin["state"])
    )
}

/// A plugin's record as `key: value` lines.
fn show_plugin(plugin: &serde_json::Value) -> String {
    let previous = match &plugin["previous"] {
        serde_json::Value::Null => "-".to_owned(),
        previous => text(&previous["version"]),
    };
    let mut table = Table::new(&["", ""]);
    for (key, value) in [
        ("name", text(&plugin["name"])),
        ("version", text(&plugin["version"])),
        ("state", text(&plugin["state"])),
        ("api", text(&plugin["api"])),
        ("description", text(&plugin["manifest"]["description"])),
        ("kinds", text(&plugin["manifest"]["kinds"])),
        ("digest", text(&plugin["digest"])),
        ("signed by", text(&plugin["signed_by"])),
        ("previous", previous),
        ("installed", time(&plugin["installed_at"])),
        ("updated", time(&plugin["updated_at"])),
        ("declared", text(&plugin["manifest"]["permissions"])),
        ("granted", text(&plugin["granted"])),
    ] {
        table.row(vec![format!("{key}:"), value]);
    }
    table.render().trim_start().to_owned()
}

/// Settings as a table, and the secrets by name.
fn show_config(config: &serde_json::Value) -> String {
    let mut table = Table::new(&["SETTING", "VALUE"]);
    for (key, value) in config["config"].as_object().into_iter().flatten() {
        table.row(vec![key.clone(), text(value)]);
    }
    let secrets: Vec<String> = (config["secrets"].as_array().into_iter().flatten())
        .map(text)
        .collect();
    let secrets = if secrets.is_empty() {
        "-".to_owned()
    } else {
        secrets.join(", ")
    };
    format!(
        "{}\nsecrets (set, values never shown): {secrets}",
        table.render()
    )
}

/// Prints `name`'s newest `lines` log lines, then with `follow` each new one.
fn logs(session: &Session, name: &str, follow: bool, lines: u32) -> Result<(), ClientError> {
    if !follow {
        let page = session.api.get(&plugin_path(
            session,
            name,
            &format!("/logs?limit={lines}"),
        )?)?;
        session.show(&page, |page| {
            let mut out = String::new();
            for line in page["lines"].as_array().into_iter().flatten() {
                out += &log_line(line);
                out.push('\n');
            }
            out
        });
        return Ok(());
    }
    let path = plugin_path(session, name, &format!("/logs?follow&limit={lines}"))?;
    session.api.follow(&path, |event, data| {
        let line: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
        if session.json_output() {
            println!("{line}");
        } else if event == "missed" {
            println!(
                "… {} lines dropped before they could be read",
                line["missed"]
            );
        } else {
            println!("{}", log_line(&line));
        }
        true
    })
}

/// One log line: `TIME LEVEL message key=value…` (a host note marked `[berth]`).
fn log_line(line: &serde_json::Value) -> String {
    let at = line["time_ms"].as_u64().map_or_else(
        || "-".to_owned(),
        |ms| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_millis(at).to_string()
        },
    );
    let mut out = format!(
        "{at} {:<5} {}{}",
        text(&line["level"]).to_uppercase(),
        if line["kind"] == "note" {
            "[berth] "
        } else {
            ""
        },
        text(&line["message"])
    );
    for (key, value) in line["fields"].as_object().into_iter().flatten() {
        out += &format!(" {key}={}", value);
    }
    out
}

/// The JSON read from `file`.
fn read_json(file: &Path) -> Result<serde_json::Value, ClientError> {
    let text = std::fs::read_to_string(file).map_err(|e| ClientError::file(file, e))?;
    serde_json::from_str(&text).map_err(|e| ClientError::file(file, e))
}
