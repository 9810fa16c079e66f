//! Identifiers shared by every module: org and plugin names, and the
//! identity a plugin instance carries.

/// Longest accepted org or plugin name.
pub const MAX_ID_LEN: usize = 64;

/// Checks an org or plugin name: 1–64 characters of `[a-z0-9-]`, not
/// starting or ending with `-`. Returns a message saying what is wrong.
pub fn validate(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!("`{id}` must be 1 to {MAX_ID_LEN} characters long"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("`{id}` may contain only a-z, 0-9 and `-`"));
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err(format!("`{id}` must not start or end with `-`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_lowercase_names_and_rejects_everything_else() {
        for ok in ["demo", "hello", "crm-sync", "a1"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Demo", "-x", "x-", "a b", "a/b", "ü", &"a".repeat(65)] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}

/// Which plugin, serving which org, a store belongs to (for logs and metrics).
#[derive(Clone, Debug)]
pub struct PluginIdentity {
    /// The org the request is for.
    pub org: String,
    /// The plugin's name.
    pub plugin: String,
}
