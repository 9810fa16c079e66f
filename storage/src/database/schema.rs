//! The registry's tables, described once for every backend (see
//! [`super::tables`]). Values are JSON unless said otherwise, so records can
//! gain fields without migrations.

use super::tables::{Table, ValueKind, number, text};

/// org → [`super::OrgRecord`].
pub(crate) const ORGS: Table = Table {
    name: "orgs",
    key: &[text("org")],
    value: ValueKind::Json,
};

/// (org, plugin) → [`super::Installation`].
pub(crate) const INSTALLATIONS: Table = Table {
    name: "installations",
    key: &[text("org"), text("plugin")],
    value: ValueKind::Json,
};

/// (org, plugin) → the [`super::DependencyEdge`]s it declares.
pub(crate) const DEPENDENCY_EDGES: Table = Table {
    name: "dependency_edges",
    key: &[text("org"), text("plugin")],
    value: ValueKind::Json,
};

/// (org, sequence) → [`super::AuditEvent`].
pub(crate) const AUDIT: Table = Table {
    name: "audit",
    key: &[text("org"), number("seq")],
    value: ValueKind::Json,
};

/// token id → [`super::TokenRecord`] (management API credentials, hashed).
pub(crate) const TOKENS: Table = Table {
    name: "tokens",
    key: &[text("id")],
    value: ValueKind::Json,
};

/// (org, plugin) → [`super::PluginConfig`]: settings and sealed secrets.
pub(crate) const PLUGIN_CONFIG: Table = Table {
    name: "plugin_config",
    key: &[text("org"), text("plugin")],
    value: ValueKind::Json,
};

/// (scope, name, version) → [`super::PublishedPackage`]: the internal
/// registries, one per org (scope = org name) and the operator's shared
/// catalog (scope [`super::CATALOG`]).
pub(crate) const PUBLISHED: Table = Table {
    name: "published",
    key: &[text("scope"), text("name"), text("version")],
    value: ValueKind::Json,
};

/// (org, module, id) → [`super::ModuleRecord`]: records of the org's
/// modules (`contacts`, `invoices`, …).
pub(crate) const RECORDS: Table = Table {
    name: "records",
    key: &[text("org"), text("module"), number("id")],
    value: ValueKind::Json,
};

/// (org, module) → the last record id given out, so a deleted record's id
/// is never given out again.
pub(crate) const RECORD_IDS: Table = Table {
    name: "record_ids",
    key: &[text("org"), text("module")],
    value: ValueKind::Number,
};

/// (org, module) → the plugin whose records a plugin-registered module
/// holds: the first to write them. Another plugin registering the name
/// later does not get them.
pub(crate) const MODULE_OWNERS: Table = Table {
    name: "module_owners",
    key: &[text("org"), text("module")],
    value: ValueKind::Text,
};

/// (org, plugin, key) → bytes: each plugin's key-value data per org.
pub(crate) const KV: Table = Table {
    name: "kv",
    key: &[text("org"), text("plugin"), text("key")],
    value: ValueKind::Bytes,
};

/// (org, plugin) → [`super::KvUsage`]: bytes and keys of that data, kept
/// in step with it (see [`super::kv`]).
pub(crate) const KV_USAGE: Table = Table {
    name: "kv_usage",
    key: &[text("org"), text("plugin")],
    value: ValueKind::Json,
};

/// org → how many lifecycle steps have changed it: a step that let go of
/// the writer lock (on any node) compares it to tell whether its org
/// changed meanwhile.
pub(crate) const ORG_GENERATIONS: Table = Table {
    name: "org_generations",
    key: &[text("org")],
    value: ValueKind::Number,
};

/// digest → package ZIP, content-addressed. Kept only in a shared
/// registry, for nodes that lack a package; a lone node's packages live in
/// its data directory.
pub(crate) const BLOBS: Table = Table {
    name: "blobs",
    key: &[text("digest")],
    value: ValueKind::Bytes,
};

/// name → text: facts about the registry itself (`secrets-key-check`: a
/// value sealed with the key every node must hold).
pub(crate) const REGISTRY_META: Table = Table {
    name: "registry_meta",
    key: &[text("name")],
    value: ValueKind::Text,
};

/// Every table.
pub(crate) const TABLES: [&Table; 15] = [
    &ORGS,
    &INSTALLATIONS,
    &DEPENDENCY_EDGES,
    &AUDIT,
    &TOKENS,
    &PLUGIN_CONFIG,
    &PUBLISHED,
    &RECORDS,
    &RECORD_IDS,
    &MODULE_OWNERS,
    &KV,
    &KV_USAGE,
    &ORG_GENERATIONS,
    &BLOBS,
    &REGISTRY_META,
];
