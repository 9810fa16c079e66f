//! A throwaway PostgreSQL server for tests: `initdb` into a temporary
//! directory, `pg_ctl start` on a free loopback port, removed when dropped.
//!
//! PostgreSQL refuses to run as root, and tests here often run as root:
//! then the server runs as the `postgres` system user (which Debian's
//! package creates), through `runuser`. The binaries are found in
//! `$BERTH_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running PostgreSQL server, stopped and deleted when dropped.
pub struct ThrowawayPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Where the PostgreSQL server binaries are.
fn binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|bin| {
        let version = bin.parent().and_then(Path::file_name);
        version.and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    versions.pop().unwrap_or_default()
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}

impl ThrowawayPostgres {
    /// Creates and starts a server with one superuser, `berth`, that
    /// loopback connections need no password for.
    pub fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("berth-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let server = Self {
            dir,
            bin: binaries(),
            port: free_port(),
        };
        if is_root() {
            server.run(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&server.dir),
            );
        }
        server.run(
            server
                .tool("initdb")
                .args([
                    "-U",
                    "berth",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(server.data()),
        );
        server.start_again();
        server
    }

    /// `postgres://berth@127.0.0.1:PORT/postgres`, for a new database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of database `name` on this server.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://berth@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database with a name no other caller in this
    /// process got; returns its name and URL.
    pub fn fresh_database(&self) -> (String, String) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("fresh_{n}");
        let url = self.create_database(&name);
        (name, url)
    }

    /// Creates an empty database called `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.run(
            self.tool("createdb")
                .args(["-h", "127.0.0.1", "-U", "berth", "-p"])
                .arg(self.port.to_string())
                .arg(name),
        );
        self.url_of(name)
    }

    /// Runs `sql` in database `name` with `psql`; returns what it printed,
    /// unaligned and without headers (`psql -At`).
    pub fn sql(&self, name: &str, sql: &str) -> String {
        let out = self
            .tool("psql")
            .args(["-At", "-h", "127.0.0.1", "-U", "berth", "-p"])
            .arg(self.port.to_string())
            .args(["-d", name, "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the server (as a crash would: `immediate`), keeping its data.
    pub fn stop(&self) {
        self.run(
            self.tool("pg_ctl")
                .args(["-m", "immediate", "-w", "stop", "-D"])
                .arg(self.data()),
        );
    }

    /// Starts the server again after [`Self::stop`], on the same port.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            self.port,
            self.dir.display()
        );
        self.run(
            self.tool("pg_ctl")
                .args(["-w", "-o", &options, "-l"])
                .arg(self.dir.join("server.log"))
                .arg("-D")
                .arg(self.data())
                .arg("start"),
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command running PostgreSQL's `name` as a user it accepts.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Runs `command`, panicking with its output if it fails.
    fn run(&self, command: &mut Command) {
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        assert!(
            out.status.success(),
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .args(["-m", "immediate", "stop", "-D"])
            .arg(self.data())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ThrowawayPostgres {
    /// One server shared by every caller in this process, stopped and
    /// deleted by a watchdog once the process exits (statics are never
    /// dropped). Give each test its own database in it.
    pub fn shared() -> &'static Self {
        static SHARED: std::sync::OnceLock<ThrowawayPostgres> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let server = Self::start();
            let script = format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}{pg_ctl} -m immediate stop -D {data} >/dev/null 2>&1; rm -rf {dir}",
                pid = std::process::id(),
                runas = if is_root() { "runuser -u postgres -- " } else { "" },
                pg_ctl = server.bin.join("pg_ctl").display(),
                data = server.data().display(),
                dir = server.dir.display(),
            );
            // Never waited for: it outlives this process, which is its job.
            #[allow(clippy::zombie_processes)]
            Command::new("sh")
                .args(["-c", &script])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start the server's watchdog");
            server
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throwaway_server_starts_takes_databases_and_goes() {
        let started = std::time::Instant::now();
        let server = ThrowawayPostgres::start();
        eprintln!("started in {:?}", started.elapsed());
        let url = server.create_database("one");
        assert!(url.ends_with("/one"));
        let dir = server.dir.clone();
        drop(server);
        assert!(!dir.exists());
    }
}
