//! Secrets at rest: plugin secret values are sealed with ChaCha20-Poly1305
//! under a key kept outside the registry file, so a copy of
//! `registry.redb` (a backup, a stolen disk image) reveals none of them.
//!
//! The key file holds one key per line (64 hex digits); the first seals,
//! every one opens. A sealed value names its key (`v1:{key id}:{hex}`) and
//! is bound to its place (org, plugin, secret name) as associated data, so
//! a value moved to another plugin's record does not open. Rotation: put a
//! new key on the first line, restart (start-up reseals every secret under
//! it, [`crate::Database::reseal_secrets`]), then drop the old line.

use crate::{Digest, StorageError};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::Path;

/// Prefix of a sealed value, naming the format.
const FORMAT: &str = "v1";
/// Bytes of a nonce (random per value).
const NONCE_BYTES: usize = 12;

/// The keys secrets are sealed with: the first seals, any opens.
#[derive(Clone)]
pub struct SecretKeys {
    /// (key id, cipher), the sealing key first.
    keys: Vec<(String, ChaCha20Poly1305)>,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SecretKeys").field("ids", &ids).finish()
    }
}

/// Why a sealed secret does not open.
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    /// The key file is missing, unreadable or malformed.
    #[error("secrets key file: {0}")]
    KeyFile(String),
    /// No key of the key file sealed it, or it was tampered with or moved.
    #[error("a sealed secret does not open with the configured keys (key id {0})")]
    DoesNotOpen(String),
    /// The registry's secrets are sealed with a key this node lacks: in a
    /// cluster, every node needs the same key file.
    #[error(
        "this secrets key file is not the registry's: its secrets are sealed with key id {0}, \
         which the file lacks; give every node of a cluster the same file (--secrets-key-file)"
    )]
    NotTheRegistrysKey(String),
}

impl SecretKeys {
    /// Reads the key file at `path`, creating it (mode 0600, one fresh
    /// key) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, StorageError> {
        if !path.exists() {
            let key = fresh_key()?;
            create_private_file(path, format!("{}\n", hex::encode(key)).as_bytes())?;
        }
        let text = std::fs::read_to_string(path).map_err(StorageError::io("read", path))?;
        Self::parse(&text).map_err(|e| StorageError::Sealing(SealingError::KeyFile(e)))
    }

    /// A random key held only in memory (tests, benchmarks).
    pub fn ephemeral() -> Self {
        Self::parse(&hex::encode(fresh_key().expect("the OS has randomness")))
            .expect("a fresh key parses")
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut key = [0u8; 32];
            hex::decode_to_slice(line, &mut key)
                .map_err(|_| format!("line {} is not a key of 64 hex digits", number + 1))?;
            let id = Digest::of(&key).to_hex()[..16].to_owned();
            keys.push((id, ChaCha20Poly1305::new(Key::from_slice(&key))));
        }
        if keys.is_empty() {
            return Err("no key in the file".into());
        }
        Ok(Self { keys })
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `value` for its `place` (what it is bound to).
    pub fn seal(&self, value: &str, place: &str) -> String {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the OS has randomness");
        let payload = Payload {
            msg: value.as_bytes(),
            aad: place.as_bytes(),
        };
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("sealing in memory cannot fail");
        format!(
            "{FORMAT}:{id}:{}{}",
            hex::encode(nonce),
            hex::encode(sealed)
        )
    }

    /// Opens a value [`seal`](Self::seal)ed for `place`. A value not in the
    /// sealed format is a secret stored before sealing existed: returned as
    /// is (and resealed at the next start).
    pub fn open(&self, stored: &str, place: &str) -> Result<String, SealingError> {
        let Some((id, body)) = sealed_parts(stored) else {
            return Ok(stored.to_owned());
        };
        let does_not_open = || SealingError::DoesNotOpen(id.to_owned());
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(known, _)| known == id)
            .ok_or_else(does_not_open)?;
        let bytes = hex::decode(body).map_err(|_| does_not_open())?;
        if bytes.len() < NONCE_BYTES {
            return Err(does_not_open());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: sealed,
            aad: place.as_bytes(),
        };
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| does_not_open())?;
        String::from_utf8(plain).map_err(|_| does_not_open())
    }

    /// Whether `stored` is sealed under the current sealing key.
    pub fn is_current(&self, stored: &str) -> bool {
        sealed_parts(stored).is_some_and(|(id, _)| id == self.sealing_key_id())
    }
}

/// `(key id, hex body)` of a sealed value; `None` if not in the format.
fn sealed_parts(stored: &str) -> Option<(&str, &str)> {
    let rest = stored.strip_prefix(FORMAT)?.strip_prefix(':')?;
    rest.split_once(':')
}

fn fresh_key() -> Result<[u8; 32], StorageError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| StorageError::Sealing(SealingError::KeyFile(format!("no randomness: {e}"))))?;
    Ok(key)
}

/// Creates `path` with `contents`, readable and writable by its owner only.
fn create_private_file(path: &Path, contents: &[u8]) -> Result<(), StorageError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(StorageError::io("create", path))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(StorageError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_in_its_place_and_with_its_key() {
        let keys = SecretKeys::ephemeral();
        let sealed = keys.seal("hunter2", "acme/webhook/api-key");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            keys.open(&sealed, "acme/webhook/api-key").unwrap(),
            "hunter2"
        );
        assert!(keys.open(&sealed, "acme/other/api-key").is_err());
        assert!(
            SecretKeys::ephemeral()
                .open(&sealed, "acme/webhook/api-key")
                .is_err()
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert!(keys.open(&tampered, "acme/webhook/api-key").is_err());
        // Stored before sealing existed: read as it is.
        assert_eq!(keys.open("plain", "x").unwrap(), "plain");
    }

    #[test]
    fn the_key_file_is_created_private_and_a_new_first_key_rotates() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let old = SecretKeys::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            SecretKeys::load_or_create(&path).unwrap().sealing_key_id(),
            old.sealing_key_id()
        );
        let sealed = old.seal("s", "p");

        let old_line = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{}\n{old_line}", "ab".repeat(32))).unwrap();
        let rotated = SecretKeys::load_or_create(&path).unwrap();
        assert_ne!(rotated.sealing_key_id(), old.sealing_key_id());
        assert!(!rotated.is_current(&sealed));
        assert_eq!(rotated.open(&sealed, "p").unwrap(), "s");
        assert!(rotated.is_current(&rotated.seal("s", "p")));
    }
}
