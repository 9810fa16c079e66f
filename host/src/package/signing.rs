//! Plugin signatures, shared by the server and the `berth` CLI.
//!
//! A signed package carries `signature/files.json` — the plugin's name and
//! version and the SHA-256 of every other file — and its minisign
//! signature `signature/files.json.minisig` (ed25519, the `minisign` crate;
//! the stock tool verifies it: `minisign -Vm files.json -p key.pub`). The
//! signature therefore covers every byte of every file, the set of files,
//! and which plugin and version they are: it cannot be moved to another
//! plugin or version, and any change, addition or removal breaks it.

use crate::package::Files;
use berth_storage::Digest;
use minisign::{PublicKey, PublicKeyBox, SecretKey, SignatureBox};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Cursor;

/// Where the signed file list lives in a package.
pub const LIST_PATH: &str = "signature/files.json";
/// Where its minisign signature lives.
pub const SIGNATURE_PATH: &str = "signature/files.json.minisig";
/// The folder both live in; its files are not listed.
const SIGNATURE_DIR: &str = "signature/";

/// What a signature covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedList {
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Every file but the signature's own: path → SHA-256 (hex).
    pub files: BTreeMap<String, String>,
}

impl SignedList {
    /// The list for `files` of plugin `name` at `version`.
    pub fn of(files: &Files, name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            files: files
                .iter()
                .filter(|(path, _)| !path.starts_with(SIGNATURE_DIR))
                .map(|(path, bytes)| (path.clone(), Digest::of(bytes).to_hex()))
                .collect(),
        }
    }

    /// The bytes that are signed (stable: sorted keys, pretty JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("lists serialize");
        bytes.push(b'\n');
        bytes
    }
}

/// Why a package's signature is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The org requires a signature and there is none.
    #[error("this org requires plugins signed by a trusted key; the package is unsigned")]
    Required,
    /// The signature or its list cannot be read.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The signature is for another plugin or version.
    #[error("the signature is for {signed}, not {package}")]
    WrongPlugin {
        /// What the list names.
        signed: String,
        /// What the manifest says.
        package: String,
    },
    /// The files differ from what was signed.
    #[error("the files differ from what was signed: {0}")]
    Mismatch(String),
    /// Signed by a key the org does not trust.
    #[error("signed by key {0}, which this org does not trust")]
    Untrusted(String),
}

/// The minisign key id of `key`: 16 hex digits, as `minisign` prints it.
pub fn key_id(key: &PublicKey) -> String {
    keynum_id(key.keynum())
}

fn keynum_id(keynum: &[u8]) -> String {
    keynum.iter().rev().map(|b| format!("{b:02X}")).collect()
}

/// Reads a public key: a minisign `.pub` file, or its base64 line alone.
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let text = text.trim();
    let parsed = if text.starts_with("untrusted comment:") {
        PublicKeyBox::from_string(text).and_then(PublicKeyBox::into_public_key)
    } else {
        PublicKey::from_base64(text)
    };
    parsed.map_err(|e| format!("not a minisign public key: {e}"))
}

/// Signs `files` as plugin `name` at `version` with `key`; returns the
/// list's bytes and the signature's text, to store at [`LIST_PATH`] and
/// [`SIGNATURE_PATH`].
pub fn sign(
    files: &Files,
    name: &str,
    version: &str,
    key: &SecretKey,
) -> Result<(Vec<u8>, String), String> {
    let list = SignedList::of(files, name, version).to_bytes();
    let trusted_comment = format!("berth plugin {name}@{version}");
    let signature = minisign::sign(
        None,
        key,
        Cursor::new(&list),
        Some(&trusted_comment),
        Some("signature of a berth plugin's file list"),
    )
    .map_err(|e| e.to_string())?;
    Ok((list, signature.into_string()))
}

/// Checks `files` of plugin `name` at `version` against their signature.
/// Returns the signing key's id if the package is signed by one of
/// `trusted` (which must then cover every file exactly), `None` if unsigned.
pub fn verify(
    files: &Files,
    name: &str,
    version: &str,
    trusted: &[PublicKey],
) -> Result<Option<String>, SignatureError> {
    let (list, signature) = match (files.get(LIST_PATH), files.get(SIGNATURE_PATH)) {
        (None, None) => return Ok(None),
        (Some(list), Some(signature)) => (list, signature),
        _ => {
            return Err(SignatureError::Malformed(format!(
                "a signed package has both {LIST_PATH} and {SIGNATURE_PATH}"
            )));
        }
    };
    let malformed =
        |what: &str, e: &dyn std::fmt::Display| SignatureError::Malformed(format!("{what}: {e}"));
    let text = std::str::from_utf8(signature).map_err(|e| malformed(SIGNATURE_PATH, &e))?;
    let signature = SignatureBox::from_string(text).map_err(|e| malformed(SIGNATURE_PATH, &e))?;
    let signer = keynum_id(signature.keynum());
    let key = trusted
        .iter()
        .find(|key| key.keynum() == signature.keynum())
        .ok_or_else(|| SignatureError::Untrusted(signer.clone()))?;
    minisign::verify(key, &signature, Cursor::new(list), true, false, false).map_err(|e| {
        SignatureError::Mismatch(format!("{LIST_PATH} does not match its signature ({e})"))
    })?;
    let signed: SignedList = serde_json::from_slice(list).map_err(|e| malformed(LIST_PATH, &e))?;
    if signed.name != name || signed.version != version {
        return Err(SignatureError::WrongPlugin {
            signed: format!("{}@{}", signed.name, signed.version),
            package: format!("{name}@{version}"),
        });
    }
    let actual = SignedList::of(files, name, version);
    let mut differences: Vec<String> = files
        .keys()
        .filter(|p| p.starts_with(SIGNATURE_DIR) && *p != LIST_PATH && *p != SIGNATURE_PATH)
        .map(|path| format!("`{path}` was added"))
        .collect();
    for (path, digest) in &actual.files {
        match signed.files.get(path) {
            None => differences.push(format!("`{path}` was added")),
            Some(expected) if expected != digest => differences.push(format!("`{path}` changed")),
            Some(_) => {}
        }
    }
    for path in signed
        .files
        .keys()
        .filter(|p| !actual.files.contains_key(*p))
    {
        differences.push(format!("`{path}` was removed"));
    }
    if !differences.is_empty() {
        return Err(SignatureError::Mismatch(differences.join(", ")));
    }
    Ok(Some(signer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minisign::KeyPair;

    fn files() -> Files {
        Files::from([
            ("manifest.json".to_owned(), b"{}".to_vec()),
            ("hello.wasm".to_owned(), b"\0asm".to_vec()),
        ])
    }

    fn signed(files: &Files, name: &str, version: &str, key: &SecretKey) -> Files {
        let (list, signature) = sign(files, name, version, key).unwrap();
        let mut files = files.clone();
        files.insert(LIST_PATH.to_owned(), list);
        files.insert(SIGNATURE_PATH.to_owned(), signature.into_bytes());
        files
    }

    #[test]
    fn a_signature_covers_every_file_the_name_and_the_version() {
        let KeyPair { pk, sk } = KeyPair::generate_unencrypted_keypair().unwrap();
        let other = KeyPair::generate_unencrypted_keypair().unwrap();
        let good = signed(&files(), "hello", "1.0.0", &sk);
        let trusted = [pk.clone()];
        assert_eq!(
            verify(&good, "hello", "1.0.0", &trusted),
            Ok(Some(key_id(&pk)))
        );
        assert_eq!(verify(&files(), "hello", "1.0.0", &trusted), Ok(None));

        let mut changed = good.clone();
        changed.get_mut("hello.wasm").unwrap().push(0);
        assert!(
            matches!(verify(&changed, "hello", "1.0.0", &trusted), Err(SignatureError::Mismatch(m)) if m.contains("changed"))
        );
        let mut added = good.clone();
        added.insert("extra.js".into(), b"x".to_vec());
        assert!(
            matches!(verify(&added, "hello", "1.0.0", &trusted), Err(SignatureError::Mismatch(m)) if m.contains("added"))
        );
        let mut hidden = good.clone();
        hidden.insert("signature/payload.js".into(), b"x".to_vec());
        assert!(
            matches!(verify(&hidden, "hello", "1.0.0", &trusted), Err(SignatureError::Mismatch(m)) if m.contains("payload.js"))
        );
        let mut removed = good.clone();
        removed.remove("hello.wasm");
        assert!(
            matches!(verify(&removed, "hello", "1.0.0", &trusted), Err(SignatureError::Mismatch(m)) if m.contains("removed"))
        );
        assert!(matches!(
            verify(&good, "hello", "1.0.1", &trusted),
            Err(SignatureError::WrongPlugin { .. })
        ));
        assert!(matches!(
            verify(&good, "other", "1.0.0", &trusted),
            Err(SignatureError::WrongPlugin { .. })
        ));
        assert_eq!(
            verify(&good, "hello", "1.0.0", std::slice::from_ref(&other.pk)),
            Err(SignatureError::Untrusted(key_id(&pk)))
        );
        let mut tampered_list = good.clone();
        let list = tampered_list.get_mut(LIST_PATH).unwrap();
        let at = list.len() - 3;
        list[at] ^= 1;
        assert!(matches!(
            verify(&tampered_list, "hello", "1.0.0", &trusted),
            Err(SignatureError::Mismatch(_))
        ));
        let mut garbage = good.clone();
        garbage.insert(SIGNATURE_PATH.into(), b"not a signature".to_vec());
        assert!(matches!(
            verify(&garbage, "hello", "1.0.0", &trusted),
            Err(SignatureError::Malformed(_))
        ));
        let mut half = good;
        half.remove(SIGNATURE_PATH);
        assert!(matches!(
            verify(&half, "hello", "1.0.0", &trusted),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn public_keys_read_from_a_pub_file_or_its_base64_line() {
        let KeyPair { pk, .. } = KeyPair::generate_unencrypted_keypair().unwrap();
        let file = pk.to_box().unwrap().into_string();
        let line = file.lines().nth(1).unwrap();
        assert_eq!(key_id(&parse_public_key(&file).unwrap()), key_id(&pk));
        assert_eq!(key_id(&parse_public_key(line).unwrap()), key_id(&pk));
        assert!(parse_public_key("nope").is_err());
    }
}
