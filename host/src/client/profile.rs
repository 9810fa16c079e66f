//! Saved connections: `berth login` stores a server, a token and optionally
//! an org under a profile name in the CLI's config file, readable by its
//! owner only (mode 0600). The file is `$BERTH_CLI_CONFIG`, else
//! `$XDG_CONFIG_HOME/berth/cli.toml`, else `~/.config/berth/cli.toml`:
//!
//! ```toml
//! current = "default"
//!
//! [profiles.default]
//! server = "http://127.0.0.1:8080"
//! token = "berth_…"
//! org = "acme"
//! ```

use super::ClientError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The profile used when none is named or current.
pub const DEFAULT_PROFILE: &str = "default";

/// One saved connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The server's base address.
    pub server: Option<String>,
    /// The token calls carry.
    pub token: Option<String>,
    /// The org org-scoped commands act on unless told otherwise.
    pub org: Option<String>,
}

/// The CLI's config file.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    /// The profile used when none is named.
    pub current: Option<String>,
    /// The saved profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

impl Profiles {
    /// Where the config file is, from the environment.
    pub fn path() -> Result<PathBuf, ClientError> {
        if let Some(path) = std::env::var_os("BERTH_CLI_CONFIG") {
            return Ok(PathBuf::from(path));
        }
        let config_home = match std::env::var_os("XDG_CONFIG_HOME") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME").ok_or_else(|| {
                ClientError::Usage("neither BERTH_CLI_CONFIG nor HOME is set".into())
            })?)
            .join(".config"),
        };
        Ok(config_home.join("berth").join("cli.toml"))
    }

    /// The profiles in `path`; none if it does not exist.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ClientError::file(path, e)),
        }
    }

    /// The profile `name` (else the current one, else [`DEFAULT_PROFILE`]),
    /// empty if it is not saved.
    pub fn select(&self, name: Option<&str>) -> Profile {
        let name = name.or(self.current.as_deref()).unwrap_or(DEFAULT_PROFILE);
        self.profiles.get(name).cloned().unwrap_or_default()
    }

    /// Writes the profiles to `path`, readable and writable by its owner
    /// only, replacing the file whole (a crash leaves the old or the new).
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| ClientError::Usage(format!("saving profiles: {e}")))?;
        let folder = path.parent().unwrap_or(Path::new("."));
        create_private_dir(folder).map_err(|e| ClientError::file(folder, e))?;
        let partial = path.with_extension("toml.partial");
        let write = || -> std::io::Result<()> {
            let mut file = private_file(&partial)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&partial, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            ClientError::file(path, e)
        })
    }
}

/// Creates `dir` (and its parents) if missing, private to its owner.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A new, empty file at `path` that only its owner may read or write.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_privately_and_select_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth").join("cli.toml");
        assert_eq!(Profiles::load(&path).unwrap(), Profiles::default());
        let mut profiles = Profiles::default();
        let staging = Profile {
            server: Some("https://staging:8443".into()),
            token: Some("berth_x_y".into()),
            org: Some("acme".into()),
        };
        profiles.profiles.insert("staging".into(), staging.clone());
        profiles.current = Some("staging".into());
        profiles.save(&path).unwrap();
        let loaded = Profiles::load(&path).unwrap();
        assert_eq!(loaded, profiles);
        assert_eq!(loaded.select(None), staging);
        assert_eq!(loaded.select(Some("other")), Profile::default());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!path.with_extension("toml.partial").exists());
    }
}
