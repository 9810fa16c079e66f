//! berth's web console: the files Vite built from `web/` (see `build.rs`),
//! embedded in the binary and served under `/console/`.

#![deny(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/console_files.rs"));

/// The embedded file at `path` (relative to `/console/`), if any.
pub fn file(path: &str) -> Option<&'static [u8]> {
    FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, bytes)| *bytes)
}
