//! Paths from requests: a plugin route path against the route-grant rule,
//! and a UI asset path through its decoding. A granted path names, after
//! percent-decoding, exactly the segments a granted prefix covers (no dot
//! segments, empty segments, slashes, backslashes or ASCII control
//! characters, raw or hidden in an escape);
//! an accepted asset path stays inside the assets folder.

use crate::{Verdict, ensure};
use arbitrary::Arbitrary;
use berth::capabilities::routes::route_granted;
use berth::serve::ui::assets::decode_asset_path;
use std::path::{Component, Path};

/// Grant prefixes, a request path, and an asset path.
#[derive(Arbitrary, Debug)]
pub struct Paths {
    /// Route prefixes the org granted.
    pub prefixes: Vec<String>,
    /// A plugin request's path (without the query).
    pub path: String,
    /// The part of a UI asset URL after the plugin's name.
    pub asset: String,
}

/// Checks `input`.
pub fn check(input: &Paths) -> Verdict {
    if route_granted(&input.prefixes, &input.path) {
        check_granted(&input.prefixes, &input.path)?;
    }
    if let Ok(file) = decode_asset_path(&input.asset) {
        let stays_inside = Path::new(&file)
            .components()
            .all(|component| matches!(component, Component::Normal(_)));
        ensure(
            stays_inside && !file.contains('\0') && !file.is_empty(),
            || {
                format!(
                    "asset path {:?} decodes to {file:?}, outside the assets folder",
                    input.asset
                )
            },
        )?;
    }
    Ok(())
}

/// A granted path: every decoded segment is a plain name, and its segments
/// begin with every segment of one granted prefix.
fn check_granted(prefixes: &[String], path: &str) -> Verdict {
    let segments: Vec<String> = path
        .strip_prefix('/')
        .ok_or_else(|| format!("granted {path:?}, which is not absolute"))?
        .split('/')
        .map(percent_decoded)
        .collect();
    let last = segments.len() - 1;
    for (index, segment) in segments.iter().enumerate() {
        let plain = !matches!(segment.as_str(), "." | "..")
            && !segment.contains(['/', '\\'])
            && !segment.chars().any(|c| c.is_ascii_control())
            && (!segment.is_empty() || index == last);
        ensure(plain, || {
            format!("granted {path:?} with the segment {segment:?}")
        })?;
    }
    let covered = prefixes.iter().any(|prefix| {
        let wanted: Vec<&str> = prefix.trim_end_matches('/').split('/').skip(1).collect();
        let raw: Vec<&str> = path.split('/').skip(1).collect();
        wanted.len() <= raw.len() && raw.iter().zip(&wanted).all(|(a, b)| a == b)
    });
    ensure(covered, || {
        format!("granted {path:?} under none of {prefixes:?}")
    })
}

/// A path segment with its `%XX` escapes decoded (lossy UTF-8: a byte
/// sequence that is not UTF-8 still shows what it hides).
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        // Two hex digits exactly (`from_str_radix` alone would take a sign).
        let hex = (bytes.get(at + 1..at + 3))
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[at], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
