//! Writing plugin packages: a deterministic ZIP (same files → same bytes),
//! so a package's digest depends only on its contents.

use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Builds a package ZIP from `(path, contents)` pairs: entries sorted by
/// path, fixed timestamps and permissions, deflate-compressed.
pub fn build_zip<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut files: Vec<_> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (path, contents) in files {
        zip.start_file(path, options)
            .and_then(|()| zip.write_all(contents).map_err(Into::into))
            .expect("writing a ZIP to memory cannot fail");
    }
    zip.finish()
        .expect("writing a ZIP to memory cannot fail")
        .into_inner()
}

#[cfg(test)]
mod tests {
    use super::build_zip;

    #[test]
    fn same_files_in_any_order_give_the_same_bytes() {
        let a = build_zip([("b.txt", &b"2"[..]), ("a.txt", b"1")]);
        let b = build_zip([("a.txt", &b"1"[..]), ("b.txt", b"2")]);
        assert_eq!(a, b);
    }
}
