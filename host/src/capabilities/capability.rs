//! The shape every capability unit fills in for the host's loops: import
//! gates, grant coverage, and what uninstalling forgets.

use crate::package::manifest::Permissions;
use berth_storage::{StorageError, WriteTxn};

/// Removes what a capability keeps for a plugin (`org`, `plugin`) inside
/// a write transaction.
pub type Forget = fn(&mut WriteTxn<'_>, &str, &str) -> Result<(), StorageError>;

/// What berth knows of one grantable capability outside an instance: the
/// imports it gates, whether a manifest declares it, what a grant of it
/// lacks, and what of a plugin's it keeps that uninstalling removes.
pub struct Capability {
    /// Its permission, as the manifest spells it (e.g. `storage`).
    pub permission: &'static str,
    /// Name prefixes of the component imports that need it.
    pub imports: &'static [&'static str],
    /// Whether a manifest's permissions declare it.
    pub declared: fn(&Permissions) -> bool,
    /// Each item of its part of `wanted` that `available` lacks, described
    /// for people (`storage write`).
    pub not_covered: fn(wanted: &Permissions, available: &Permissions) -> Vec<String>,
    /// Narrows its part of `granted` to what `declared` still declares (an
    /// upgrade keeps the old grant only where the new version asks for it).
    pub narrow: fn(granted: &mut Permissions, declared: &Permissions),
    /// Removes what it keeps for `plugin` in `org`, in the uninstall's
    /// transaction.
    pub forget: Option<Forget>,
}

/// Keeps the items of `granted` that `declared` holds too.
pub fn retain_declared<T: PartialEq>(granted: &mut Vec<T>, declared: &[T]) {
    granted.retain(|item| declared.contains(item));
}

/// The items of `wanted` missing from `available`, each as `"{kind} {item}"`.
pub fn missing<T: PartialEq + AsRef<str>>(
    kind: &str,
    wanted: &[T],
    available: &[T],
) -> Vec<String> {
    wanted
        .iter()
        .filter(|item| !available.contains(item))
        .map(|item| format!("{kind} {}", item.as_ref()))
        .collect()
}
