//! The `berth` command line.

use anyhow::Context;
use berth::app::App;
use berth::client::{self, ClientError};
use berth::common::settings::Settings;
use berth::package::ApiVersion;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// mimalloc instead of the system allocator: a fresh instance per request
/// allocates and frees many small objects, where glibc's malloc spent
/// about 12 % of the served path's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// berth: a multi-tenant WebAssembly component plugin server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. On first start it creates the demo org (see --no-demo).
    Serve(ServeArgs),
    /// Create a minisign key pair for signing plugins (berth.pub, berth.key).
    Keygen {
        /// Directory to write the keys to.
        #[arg(long, short, default_value = ".")]
        out: PathBuf,
        /// Who the key belongs to (written into the public key's comment).
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Print the WIT files of the plugin API this server supports, or write them to a folder.
    Wit {
        /// Folder to write `wit/` into (with `deps/`) instead of printing.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// The API version to write (every released one is served).
        #[arg(long, default_value = "0.2.0", value_parser = parse_api)]
        api: ApiVersion,
    },
    /// Work on plugin projects and packages, and on an org's plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Check a server and token, and save them (with an org) as a profile.
    Login(client::admin::Login),
    /// Create and list orgs.
    Org(client::admin::OrgCommand),
    /// An org's admin tokens.
    Token(client::admin::TokenCommand),
    /// Publish to and list an org's registry or the shared catalog.
    Registry(client::plugins::RegistryCommand),
    /// The keys an org trusts to sign plugins.
    Key(client::admin::KeyCommand),
    /// An org's limits.
    Limits(client::admin::LimitsCommand),
    /// An org's audit log.
    Audit(client::admin::AuditCommand),
    /// Print a shell completion script (e.g. `berth completions bash > /etc/bash_completion.d/berth`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Create a plugin project: code, manifest, the server's WIT files, a README.
    New {
        /// The plugin's name (`[a-z0-9-]`).
        name: String,
        /// What it provides.
        #[arg(long, value_enum, default_value = "routes")]
        kind: berth::author::scaffold::TemplateKind,
        /// Its language.
        #[arg(long, value_enum, default_value = "rust")]
        lang: berth::author::scaffold::Language,
        /// Where to create the project folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a Rust plugin project into a wasm32-wasip2 component.
    Build {
        /// The project folder.
        dir: PathBuf,
        /// cargo's target directory [default: DIR/target].
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
    /// Pack a plugin project into a deterministic, validated ZIP.
    Pack {
        /// The project folder (with manifest.json).
        dir: PathBuf,
        /// The built component [default: the manifest's `component` in DIR,
        /// else DIR/target/wasm32-wasip2/release/<component>].
        #[arg(long)]
        component: Option<PathBuf>,
        /// Where to write the ZIP [default: DIR/NAME-VERSION.zip].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Sign a package: every file's SHA-256 plus its name and version.
    Sign {
        /// The package ZIP.
        file: PathBuf,
        /// The secret key file (from `berth keygen`).
        #[arg(long, short)]
        key: PathBuf,
        /// Where to write the signed package [default: over FILE].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Verify a package's signature against a public key.
    Verify {
        /// The package ZIP.
        file: PathBuf,
        /// The public key file (`berth.pub`, or any minisign public key).
        #[arg(long, short)]
        key: PathBuf,
    },
    #[command(flatten)]
    Server(client::plugins::ServerPluginCommand),
}

/// Runs a `berth plugin` command, printing what it did.
fn run_plugin_command(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Server(command) => command.run()?,
        PluginCommand::New {
            name,
            kind,
            lang,
            dir,
        } => {
            let project = berth::author::new(&dir, &name, kind, lang)?;
            println!(
                "created {}; next: berth plugin build {0}",
                project.display()
            );
        }
        PluginCommand::Build { dir, target_dir } => {
            let out = berth::author::build(&dir, target_dir.as_deref())?;
            println!("built into {}", out.display());
        }
        PluginCommand::Pack {
            dir,
            component,
            out,
        } => {
            let (label, path) = berth::author::pack(&dir, component.as_deref(), out.as_deref())?;
            println!("packed {label}: {}", path.display());
        }
        PluginCommand::Sign { file, key, out } => {
            let out = out.unwrap_or_else(|| file.clone());
            let (id, plugin) = berth::author::sign(&file, &key, &out)?;
            println!("signed {plugin} with key {id}: {}", out.display());
        }
        PluginCommand::Verify { file, key } => {
            let (id, plugin) = berth::author::verify(&file, &key)?;
            println!(
                "{}: {plugin}, signed by key {id}, every file intact",
                file.display()
            );
        }
    }
    Ok(())
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML settings file; flags and environment override it.
    #[arg(long, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BERTH_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory [default: ./berth-data].
    #[arg(long, env = "BERTH_DATA")]
    data: Option<PathBuf>,
    /// A shared PostgreSQL registry, `postgres://USER@HOST:PORT/DB`: run as
    /// one node of a cluster [default: a redb file in the data directory].
    #[arg(long, env = "BERTH_REGISTRY", hide_env_values = true)]
    registry: Option<String>,
    /// A directory every cluster node mounts, for plugins' `filesystem`
    /// directories [default: DATA/orgs, node-local].
    #[arg(long, env = "BERTH_SHARED_FILES")]
    shared_files: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Do not create the demo org on first start.
    #[arg(long)]
    no_demo: bool,
    /// The key file plugin secrets are sealed with [default: DATA/secrets.key].
    #[arg(long, env = "BERTH_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// Require a trusted signature on every install in every org; org
    /// admins cannot turn it off.
    #[arg(long)]
    require_signature: bool,
    /// The operator's management API token (at least 32 characters)
    /// [default: generated on first start and printed once].
    #[arg(long, env = "BERTH_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// Pooling allocator slots: most instances alive at once [default: 1000].
    #[arg(long, env = "BERTH_MAX_INSTANCES")]
    max_instances: Option<u32>,
    /// CPU deadline per request in milliseconds [default: 1000].
    #[arg(long, env = "BERTH_CPU_DEADLINE_MS")]
    cpu_deadline_ms: Option<u64>,
}

impl ServeArgs {
    fn settings(self) -> anyhow::Result<Settings> {
        let mut settings = match &self.config {
            Some(path) => Settings::from_toml_file(path)?,
            None => Settings::default(),
        };
        if let Some(listen) = self.listen {
            settings.listen = listen;
        }
        if let Some(data) = self.data {
            settings.data = data;
        }
        if self.registry.is_some() {
            settings.registry = self.registry;
        }
        if self.shared_files.is_some() {
            settings.shared_files = self.shared_files;
        }
        if self.tls_cert.is_some() {
            settings.tls_cert = self.tls_cert;
            settings.tls_key = self.tls_key;
        }
        if self.no_demo {
            settings.demo = false;
        }
        if self.secrets_key_file.is_some() {
            settings.secrets_key_file = self.secrets_key_file;
        }
        if self.require_signature {
            settings.require_signature = true;
        }
        if self.operator_token.is_some() {
            settings.operator_token = self.operator_token;
        }
        if let Some(n) = self.max_instances {
            settings.limits.max_instances = n;
        }
        if let Some(ms) = self.cpu_deadline_ms {
            settings.limits.cpu_deadline_ms = ms;
        }
        Ok(settings)
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth: error: {error:#}");
            // A command against a server exits with its error's documented
            // code; anything else with 1.
            let code = error
                .downcast_ref::<ClientError>()
                .map_or(1, ClientError::exit_code);
            std::process::ExitCode::from(code)
        }
    }
}

/// Runs one command.
fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => args.settings().and_then(serve),
        Command::Keygen { out, comment } => {
            let (id, public, secret) = berth::author::keygen(&out, &comment)?;
            println!("key {id}");
            println!(
                "public key (share it; trust it in orgs): {}",
                public.display()
            );
            println!(
                "secret key (keep it private):            {}",
                secret.display()
            );
            Ok(())
        }
        Command::Wit { out, api } => {
            println!("{}", berth::author::wit(api, out.as_deref())?);
            Ok(())
        }
        Command::Plugin(command) => run_plugin_command(command),
        Command::Login(command) => Ok(command.run()?),
        Command::Org(command) => Ok(command.run()?),
        Command::Token(command) => Ok(command.run()?),
        Command::Registry(command) => Ok(command.run()?),
        Command::Key(command) => Ok(command.run()?),
        Command::Limits(command) => Ok(command.run()?),
        Command::Audit(command) => Ok(command.run()?),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "berth", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// `RUST_LOG` (default `info`). Unless `RUST_LOG` names them: plugins'
/// own lines (target `plugin`) below `warn` stay quiet, so a plugin that
/// logs every request costs the operator nothing; and the dependency
/// solver's step-by-step `info` lines stay quiet.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let wanted = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let mut filter = wanted.clone();
    if !wanted.contains("plugin") {
        filter += ",plugin=warn";
    }
    if !wanted.contains("pubgrub") {
        filter += ",pubgrub=warn";
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| "info,plugin=warn,pubgrub=warn".into())
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    match berth::common::open_files::raise_open_file_limit() {
        Ok(Some((from, to))) => tracing::info!("raised the open-file limit from {from} to {to}"),
        Ok(None) => {}
        Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
    }
    let runtimes =
        berth::server::Runtimes::build(&settings.http).context("starting the async runtime")?;
    let tls = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Some(berth::serve::tls::acceptor(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("tls-cert and tls-key must be given together"),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Start-up runs plugins' `on-activate` by blocking on the runtime, so
    // it runs inside the runtime's context but outside its workers.
    let (app, new_operator_token) = {
        let _context = runtimes.primary().enter();
        App::start(&settings)?
    };
    if let Some(token) = new_operator_token {
        // Shown once: only its hash is stored.
        println!("berth operator token (shown once, store it safely): {token}");
    }
    let on_listening = |addr| {
        // Tests and scripts read this line to learn the bound port.
        println!("berth listening on {scheme}://{addr}");
    };
    runtimes
        .serve(
            settings.listen,
            Arc::new(app),
            &settings.http,
            tls,
            on_listening,
            shutdown_signal(),
        )
        .with_context(|| format!("serving on {}", settings.listen))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Parses `--api`: a released `berth:plugin` version.
fn parse_api(text: &str) -> Result<ApiVersion, String> {
    ApiVersion::try_from(text.to_owned())
}
