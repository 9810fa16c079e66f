//! Reading a plugin ZIP safely, entirely in memory, under hard limits.
//!
//! Nothing here trusts the archive's own headers: every entry is streamed
//! through a cap on its size, the running total is capped, and the ratio of
//! inflated to compressed bytes is checked, so zip bombs stop early. Entry
//! names are checked before anything is read: no traversal, no absolute or
//! drive paths, no backslashes or NUL, valid UTF-8, no symlinks, no
//! duplicates (also when they differ only in case), no name component over
//! [`MAX_NAME_COMPONENT_BYTES`] nor whole name over [`MAX_PATH_BYTES`], and
//! no file where another entry needs a folder — so every accepted package
//! can be extracted on any filesystem berth runs on.

use super::error::PackageError;
use crate::common::settings::PackageLimits;
use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read};

/// Longest file or folder name in a package, in bytes (the common
/// filesystem limit, `NAME_MAX`).
pub const MAX_NAME_COMPONENT_BYTES: usize = 255;

/// Longest entry path in a package, in bytes: well inside `PATH_MAX` once
/// joined to the data directory.
pub const MAX_PATH_BYTES: usize = 1024;

/// The files of an archive: normalized path → contents. Directories are implied.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Reads every file of the ZIP in `bytes`, enforcing `limits`.
pub fn read_files(bytes: &[u8], limits: &PackageLimits) -> Result<Files, PackageError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| PackageError::InvalidZip(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(PackageError::TooManyEntries {
            count: archive.len(),
            limit: limits.max_entries,
        });
    }
    if archive.has_duplicate_names() {
        return Err(PackageError::DuplicateEntry(
            "the archive lists the same entry name more than once".into(),
        ));
    }
    let mut files = Files::new();
    let mut folders = HashSet::new();
    let mut seen_folded = HashSet::new();
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| PackageError::InvalidZip(e.to_string()))?;
        let name = entry_name(entry.name_raw())?;
        if !seen_folded.insert(name.to_lowercase()) {
            return Err(PackageError::DuplicateEntry(format!(
                "entry `{name}` collides with another entry (names are compared case-insensitively)"
            )));
        }
        if entry.is_symlink() {
            return Err(PackageError::SymlinkEntry(name));
        }
        if entry.encrypted() {
            return Err(PackageError::InvalidZip(format!(
                "entry `{name}` is encrypted"
            )));
        }
        if entry.is_dir() {
            folders.insert(name.trim_end_matches('/').to_lowercase());
            continue;
        }
        let name = name.trim_end_matches('/').to_owned();
        let remaining_total = limits.max_total_bytes.saturating_sub(total);
        let cap = limits.max_entry_bytes.min(remaining_total);
        let mut contents = Vec::new();
        (&mut entry)
            .take(cap + 1)
            .read_to_end(&mut contents)
            .map_err(|e| PackageError::InvalidZip(format!("entry `{name}`: {e}")))?;
        let inflated = contents.len() as u64;
        if inflated > limits.max_entry_bytes {
            return Err(PackageError::EntryTooLarge {
                name,
                limit: limits.max_entry_bytes,
            });
        }
        if inflated > remaining_total {
            return Err(PackageError::PackageTooLarge {
                limit: limits.max_total_bytes,
            });
        }
        let compressed = entry.compressed_size().max(1);
        if inflated > 1024 && inflated / compressed > limits.max_compression_ratio {
            return Err(PackageError::CompressionRatio {
                name,
                limit: limits.max_compression_ratio,
            });
        }
        total += inflated;
        files.insert(name, contents);
    }
    check_files_are_not_folders(&files, &folders)?;
    Ok(files)
}

/// Refuses a file whose name another entry uses as a folder (`assets`
/// beside `assets/x`, or an explicit `assets/` entry), compared
/// case-insensitively like duplicates: no filesystem can hold both.
fn check_files_are_not_folders(
    files: &Files,
    folders: &HashSet<String>,
) -> Result<(), PackageError> {
    let folded: HashSet<String> = files.keys().map(|name| name.to_lowercase()).collect();
    let mut needed = folders.clone();
    for name in folded.iter() {
        let mut end = 0;
        while let Some(slash) = name[end..].find('/') {
            end += slash;
            needed.insert(name[..end].to_owned());
            end += 1;
        }
    }
    match files
        .keys()
        .find(|name| needed.contains(&name.to_lowercase()))
    {
        Some(name) => Err(PackageError::DuplicateEntry(format!(
            "`{name}` is a file, but other entries need a folder of that name"
        ))),
        None => Ok(()),
    }
}

/// Checks an entry name and returns it as a safe relative path.
fn entry_name(raw: &[u8]) -> Result<String, PackageError> {
    let name = std::str::from_utf8(raw).map_err(|_| {
        PackageError::UnsafePath(format!("{} (not UTF-8)", String::from_utf8_lossy(raw)))
    })?;
    check_relative_path(name)
        .map_err(|why| PackageError::UnsafePath(format!("{name:?} ({why})")))?;
    Ok(name.to_owned())
}

/// Accepts only plain relative paths: `a/b/c`, optionally ending in `/`.
pub fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty name");
    }
    if path.contains('\0') {
        return Err("contains NUL");
    }
    if path.contains('\\') {
        return Err("contains a backslash");
    }
    if path.starts_with('/') {
        return Err("absolute path");
    }
    if path.len() >= 2 && path.as_bytes()[1] == b':' && path.as_bytes()[0].is_ascii_alphabetic() {
        return Err("drive letter");
    }
    if path.len() > MAX_PATH_BYTES {
        return Err("longer than 1024 bytes");
    }
    let body = path.strip_suffix('/').unwrap_or(path);
    for segment in body.split('/') {
        match segment {
            "" => return Err("empty path segment"),
            s if s.len() > MAX_NAME_COMPONENT_BYTES => {
                return Err("a name component is longer than 255 bytes");
            }
            "." | ".." => return Err("relative segment"),
            s if s.chars().any(char::is_control) => return Err("control character"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::writer::build_zip;

    #[test]
    fn plain_relative_paths_pass() {
        for ok in [
            "manifest.json",
            "assets/app.js",
            "assets/",
            "a/b/c.txt",
            "x..y",
        ] {
            assert_eq!(check_relative_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "C:/x",
            "c:x",
            "a\\b",
            "a\0b",
            "a//b",
            "a/\u{7}",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_past_the_filesystem_limits_are_refused() {
        let longest = "n".repeat(MAX_NAME_COMPONENT_BYTES);
        assert_eq!(check_relative_path(&format!("assets/{longest}")), Ok(()));
        let too_long = "n".repeat(MAX_NAME_COMPONENT_BYTES + 1);
        assert!(check_relative_path(&format!("assets/{too_long}")).is_err());
        let deep = vec!["d"; MAX_PATH_BYTES / 2 + 1].join("/");
        assert!(check_relative_path(&deep).is_err());
    }

    #[test]
    fn a_file_where_a_folder_is_needed_is_refused() {
        let limits = PackageLimits::default();
        for names in [
            ["assets", "assets/x"],
            ["Assets", "assets/x"],
            ["a/b", "a/b/c/d"],
        ] {
            let zip = build_zip(names.map(|name| (name, &b"x"[..])));
            assert!(
                matches!(
                    read_files(&zip, &limits),
                    Err(PackageError::DuplicateEntry(_))
                ),
                "{names:?} accepted"
            );
        }
        let zip = build_zip([("assets/x", &b"x"[..]), ("assets-x", b"y"), ("a/bc", b"z")]);
        assert_eq!(read_files(&zip, &limits).unwrap().len(), 3);
    }

    #[test]
    fn a_file_beside_an_explicit_folder_entry_of_its_name_is_refused() {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.add_directory("assets/", options).unwrap();
        zip.start_file("assets", options).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(matches!(
            read_files(&bytes, &PackageLimits::default()),
            Err(PackageError::DuplicateEntry(_))
        ));
    }
}
