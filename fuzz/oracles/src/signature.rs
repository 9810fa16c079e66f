//! Signatures and keys: key text of any shape parses or is refused; a
//! package that verifies still verifies after a trip through a ZIP, and
//! fails after any one-byte change to a signed file, an added file or a
//! removed one.

use crate::{Verdict, ensure};
use arbitrary::Arbitrary;
use berth::package::Files;
use berth::package::signing::{LIST_PATH, SIGNATURE_PATH, parse_public_key, sign, verify};
use std::io::Read;
use std::sync::OnceLock;

/// Files to sign, a key text to parse, and the changes to try.
#[derive(Arbitrary, Debug)]
pub struct Signing {
    /// The package's files (names outside `signature/`).
    pub files: Vec<(String, Vec<u8>)>,
    /// The plugin's name (kept to the manifest's name characters).
    pub name: String,
    /// Its version's major, minor and patch.
    pub version: (u8, u8, u8),
    /// Any text, parsed as a public key.
    pub key_text: String,
    /// Which signed file to change (modulo their number), which byte, and
    /// the bits to flip (a zero flips the lowest).
    pub flip: (usize, usize, u8),
}

/// One key pair for the whole run (generating one per input would cost
/// more than everything else).
fn keypair() -> &'static minisign::KeyPair {
    static KEYPAIR: OnceLock<minisign::KeyPair> = OnceLock::new();
    KEYPAIR.get_or_init(|| minisign::KeyPair::generate_unencrypted_keypair().expect("a key pair"))
}

/// Checks `input`.
pub fn check(input: &Signing) -> Verdict {
    let _ = parse_public_key(&input.key_text);
    // Signing reads name and version from a manifest that passed its
    // schema: a plugin name, a semver version.
    let mut name: String = (input.name.chars())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .take(64)
        .collect();
    if name.is_empty() {
        name.push('p');
    }
    let (major, minor, patch) = input.version;
    let version = format!("{major}.{minor}.{patch}");
    let keypair = keypair();
    let trusted = [keypair.pk.clone()];
    let mut files: Files = input
        .files
        .iter()
        .filter(|(name, _)| {
            // The names a package can hold; the `signature/` folder is the signer's.
            berth::package::check_relative_path(name).is_ok()
                && !name.ends_with('/')
                && !name.starts_with("signature/")
        })
        .cloned()
        .collect();
    let (list, signature) =
        sign(&files, &name, &version, &keypair.sk).map_err(|e| format!("signing failed: {e}"))?;
    files.insert(LIST_PATH.to_owned(), list);
    files.insert(SIGNATURE_PATH.to_owned(), signature.into_bytes());
    let verifies = |files: &Files| matches!(verify(files, &name, &version, &trusted), Ok(Some(_)));
    ensure(verifies(&files), || {
        "a freshly signed package does not verify".into()
    })?;

    let zip = berth::package::build_zip(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    let unzipped = read_zip(&zip)?;
    ensure(unzipped == files && verifies(&unzipped), || {
        "a signed package does not verify after a trip through a ZIP".into()
    })?;

    let signed: Vec<&String> = files
        .keys()
        .filter(|name| *name != SIGNATURE_PATH)
        .collect();
    let (which, at, bits) = input.flip;
    let target = signed[which % signed.len()].clone();
    let mut changed = files.clone();
    let bytes = changed.get_mut(&target).expect("a listed file");
    if bytes.is_empty() {
        bytes.push(0);
    } else {
        let at = at % bytes.len();
        bytes[at] ^= if bits == 0 { 1 } else { bits };
    }
    ensure(!verifies(&changed), || {
        format!("a change to {target:?} still verifies")
    })?;

    let mut added = files.clone();
    let extra = format!("{target}.extra");
    if !added.contains_key(&extra) {
        added.insert(extra.clone(), Vec::new());
        ensure(!verifies(&added), || {
            format!("an added {extra:?} still verifies")
        })?;
    }
    if target != LIST_PATH {
        let mut removed = files.clone();
        removed.remove(&target);
        ensure(!verifies(&removed), || {
            format!("removing {target:?} still verifies")
        })?;
    }
    Ok(())
}

/// Every file of a ZIP written by `build_zip`.
fn read_zip(zip: &[u8]) -> Result<Files, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| format!("reading back: {e}"))?;
    let mut files = Files::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| format!("entry {index}: {e}"))?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("entry {index}: {e}"))?;
        let name = entry
            .name()
            .map_err(|e| format!("entry {index}: {e}"))?
            .into_owned();
        files.insert(name, bytes);
    }
    Ok(files)
}
