//! The plugin author's toolchain behind `berth keygen` and `berth plugin
//! sign|verify`: minisign key pairs, and signing or verifying a package ZIP
//! with exactly the checks the server runs (the same package parser and
//! the same [`signing`](crate::signing) code).

use crate::config::PackageLimits;
use crate::package::{Package, build_zip};
use crate::signing::{self, LIST_PATH, SIGNATURE_PATH, key_id, parse_public_key};
use anyhow::{Context, bail};
use minisign::{KeyPair, SecretKey, SecretKeyBox};
use std::path::{Path, PathBuf};

/// The file names `keygen` writes.
pub const PUBLIC_KEY_FILE: &str = "berth.pub";
/// The secret key file `keygen` writes (unencrypted: keep it private).
pub const SECRET_KEY_FILE: &str = "berth.key";

/// Creates a key pair in `dir`; returns the key id and the two paths.
/// Refuses to overwrite an existing secret key.
pub fn keygen(dir: &Path, comment: &str) -> anyhow::Result<(String, PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (public, secret) = (dir.join(PUBLIC_KEY_FILE), dir.join(SECRET_KEY_FILE));
    if secret.exists() {
        bail!("{} exists; not overwriting a secret key", secret.display());
    }
    let KeyPair { pk, sk } = KeyPair::generate_unencrypted_keypair()?;
    let id = key_id(&pk);
    let public_text = format!(
        "untrusted comment: berth plugin signing key {id} {comment}\n{}\n",
        pk.to_base64()
    );
    let secret_text = sk
        .to_box(Some(&format!("berth plugin signing secret key {id}")))?
        .into_string();
    std::fs::write(&public, public_text)
        .with_context(|| format!("writing {}", public.display()))?;
    write_private(&secret, secret_text.as_bytes())?;
    Ok((id, public, secret))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(std::fs::write(path, bytes)?)
}

fn read_package(zip: &[u8], file: &Path) -> anyhow::Result<Package> {
    Package::parse(zip, &PackageLimits::default())
        .with_context(|| format!("{} is not a valid plugin package", file.display()))
}

/// Signs the package `input` with the secret key file `key` and writes the
/// signed package to `output` (replacing any earlier signature). Returns
/// the key id and `name@version`.
pub fn sign(input: &Path, key: &Path, output: &Path) -> anyhow::Result<(String, String)> {
    let zip = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let mut package = read_package(&zip, input)?;
    let key_text =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let secret = SecretKey::from_unencrypted_box(SecretKeyBox::from_string(&key_text)?)
        .with_context(|| {
            format!(
                "{} is not an unencrypted minisign secret key",
                key.display()
            )
        })?;
    let manifest = &package.manifest;
    let (name, version) = (manifest.name.clone(), manifest.version.to_string());
    package.files.remove(LIST_PATH);
    package.files.remove(SIGNATURE_PATH);
    let (list, signature) =
        signing::sign(&package.files, &name, &version, &secret).map_err(anyhow::Error::msg)?;
    package.files.insert(LIST_PATH.to_owned(), list);
    package
        .files
        .insert(SIGNATURE_PATH.to_owned(), signature.into_bytes());
    let signed = build_zip(
        package
            .files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice())),
    );
    std::fs::write(output, signed).with_context(|| format!("writing {}", output.display()))?;
    let id = minisign::PublicKey::from_secret_key(&secret).map(|pk| key_id(&pk))?;
    Ok((id, format!("{name}@{version}")))
}

/// Verifies the package `file` against the public key file `key`; returns
/// the key id and `name@version`. An unsigned package is an error.
pub fn verify(file: &Path, key: &Path) -> anyhow::Result<(String, String)> {
    let zip = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let package = read_package(&zip, file)?;
    let key_text =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let public = parse_public_key(&key_text).map_err(anyhow::Error::msg)?;
    let manifest = &package.manifest;
    let version = manifest.version.to_string();
    match signing::verify(&package.files, &manifest.name, &version, &[public])? {
        Some(id) => Ok((id, format!("{}@{version}", manifest.name))),
        None => bail!("{} is not signed", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_sign_and_verify_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (id, public, secret) = keygen(dir.path(), "test").unwrap();
        assert!(keygen(dir.path(), "again").is_err(), "keeps the secret key");
        let manifest = include_str!("../../guests/hello/manifest.json");
        let zip = build_zip([
            ("manifest.json", manifest.as_bytes()),
            ("hello.wasm", berth_guests::HELLO_COMPONENT_BYTES),
        ]);
        let unsigned = dir.path().join("hello.zip");
        std::fs::write(&unsigned, &zip).unwrap();
        assert!(verify(&unsigned, &public).is_err());

        let signed = dir.path().join("hello-signed.zip");
        assert_eq!(
            sign(&unsigned, &secret, &signed).unwrap(),
            (id.clone(), "hello@0.1.0".into())
        );
        assert_eq!(
            verify(&signed, &public).unwrap(),
            (id, "hello@0.1.0".into())
        );
        // Signing again replaces the signature; the result verifies too.
        let resigned = dir.path().join("hello-resigned.zip");
        sign(&signed, &secret, &resigned).unwrap();
        assert!(verify(&resigned, &public).is_ok());
    }
}
