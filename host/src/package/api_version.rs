//! The released versions of the `berth:plugin` API, and which one a
//! component was built against, read from the names of its imports and
//! exports.

use std::collections::BTreeSet;
use std::fmt;

/// A released version of the `berth:plugin` WIT package. The host serves
/// every one side by side (see `wit/README.md` for the policy).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub enum ApiVersion {
    /// `berth:plugin@0.1.0`, the first release.
    V0_1_0,
    /// `berth:plugin@0.2.0`: `on-deactivate`, log fields, paged
    /// `list-keys`, `quota-exceeded`.
    V0_2_0,
}

impl ApiVersion {
    /// Every released version, oldest first.
    pub const ALL: [ApiVersion; 2] = [ApiVersion::V0_1_0, ApiVersion::V0_2_0];
    /// The version new plugins target.
    pub const NEWEST: ApiVersion = ApiVersion::V0_2_0;

    /// The version as written in WIT and manifests, e.g. `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V0_1_0 => "0.1.0",
            ApiVersion::V0_2_0 => "0.2.0",
        }
    }

    /// The released version written `text`, if there is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// The full name of `interface` in this version, e.g.
    /// `berth:plugin/hooks@0.2.0`.
    pub fn interface(self, interface: &str) -> String {
        format!("{PACKAGE}/{interface}@{}", self.as_str())
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for ApiVersion {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text).ok_or_else(|| {
            let released: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
            format!(
                "unknown berth:plugin API version `{text}` (released: {})",
                released.join(", ")
            )
        })
    }
}

impl From<ApiVersion> for String {
    fn from(version: ApiVersion) -> String {
        version.as_str().to_owned()
    }
}

/// The WIT package every berth interface belongs to.
const PACKAGE: &str = "berth:plugin";

/// Which `berth:plugin` versions a component's import and export `names`
/// mention (`berth:plugin/kv@0.1.0` mentions `0.1.0`), as written: a
/// component built against one version mentions exactly one; one using
/// only WASI mentions none.
pub fn versions_named<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    names
        .into_iter()
        .filter_map(|name| name.strip_prefix(PACKAGE)?.strip_prefix('/'))
        .filter_map(|rest| rest.split_once('@').map(|(_, version)| version.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip_and_names_are_read_per_package() {
        for version in ApiVersion::ALL {
            assert_eq!(ApiVersion::parse(version.as_str()), Some(version));
        }
        assert_eq!(ApiVersion::parse("0.3.0"), None);
        assert_eq!(
            ApiVersion::V0_2_0.interface("hooks"),
            "berth:plugin/hooks@0.2.0"
        );
        let named = versions_named([
            "wasi:http/incoming-handler@0.2.12",
            "berth:plugin/log@0.1.0",
            "berth:plugin/kv@0.1.0",
            "berth:plugin-extra/kv@9.0.0",
        ]);
        assert_eq!(named.into_iter().collect::<Vec<_>>(), ["0.1.0"]);
        assert!(versions_named(["wasi:cli/run@0.2.0"]).is_empty());
    }
}
