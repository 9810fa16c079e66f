//! Hand-made ZIP archives for the cases ZIP writers refuse to produce:
//! duplicate names, traversal paths, symlinks, names that are not UTF-8.
//! Entries are stored (not compressed) with correct CRCs, so a reader
//! rejects them only for what the test means them to show.

/// One entry of a crafted archive.
pub struct RawEntry {
    /// The name bytes, exactly as written.
    pub name: Vec<u8>,
    /// The contents.
    pub data: Vec<u8>,
    /// Unix mode for the external attributes (e.g. `0o120777` for a symlink).
    pub unix_mode: u32,
}

impl RawEntry {
    /// A regular file.
    pub fn file(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        Self {
            name: name.as_ref().to_vec(),
            data: data.as_ref().to_vec(),
            unix_mode: 0o100_644,
        }
    }

    /// A symbolic link pointing at `target`.
    pub fn symlink(name: &str, target: &str) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            data: target.as_bytes().to_vec(),
            unix_mode: 0o120_777,
        }
    }
}

fn u16le(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u16::try_from(v).unwrap().to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&u32::try_from(v).unwrap().to_le_bytes());
}

/// Builds a ZIP archive of `entries`, in order, without any checks.
pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = out.len() as u64;
        let crc = u64::from(crc32fast::hash(&entry.data));
        let size = entry.data.len() as u64;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        for v in [20, 0, 0, 0, 0x21] {
            u16le(&mut out, v); // version, flags, method=stored, time, date
        }
        u32le(&mut out, crc);
        u32le(&mut out, size);
        u32le(&mut out, size);
        u16le(&mut out, entry.name.len());
        u16le(&mut out, 0);
        out.extend_from_slice(&entry.name);
        out.extend_from_slice(&entry.data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for v in [0x031e, 20, 0, 0, 0, 0x21] {
            u16le(&mut central, v); // made by unix, version, flags, method, time, date
        }
        u32le(&mut central, crc);
        u32le(&mut central, size);
        u32le(&mut central, size);
        u16le(&mut central, entry.name.len());
        for v in [0, 0, 0, 0] {
            u16le(&mut central, v); // extra, comment, disk, internal attrs
        }
        u32le(&mut central, u64::from(entry.unix_mode) << 16);
        u32le(&mut central, offset);
        central.extend_from_slice(&entry.name);
    }
    let central_offset = out.len() as u64;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0, 0, entries.len(), entries.len()] {
        u16le(&mut out, v);
    }
    u32le(&mut out, central.len() as u64);
    u32le(&mut out, central_offset);
    u16le(&mut out, 0);
    out
}
