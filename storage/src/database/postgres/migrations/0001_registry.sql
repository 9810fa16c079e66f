-- berth registry, schema version 1: one table per registry table (see
-- storage/src/database/schema.rs), keyed by its key columns. Text keys use
-- the "C" collation, so they sort byte by byte as in the embedded backend.
-- Records are JSON documents in text columns (query them with
-- `value::jsonb`): text keeps every document the embedded backend keeps,
-- where jsonb would refuse a string holding U+0000.

CREATE TABLE orgs (
    org text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE installations (
    org text COLLATE "C",
    plugin text COLLATE "C",
    value text NOT NULL,
    PRIMARY KEY (org, plugin)
);

CREATE TABLE dependency_edges (
    org text COLLATE "C",
    plugin text COLLATE "C",
    value text NOT NULL,
    PRIMARY KEY (org, plugin)
);

CREATE TABLE audit (
    org text COLLATE "C",
    seq bigint,
    value text NOT NULL,
    PRIMARY KEY (org, seq)
);

CREATE TABLE tokens (
    id text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE plugin_config (
    org text COLLATE "C",
    plugin text COLLATE "C",
    value text NOT NULL,
    PRIMARY KEY (org, plugin)
);

CREATE TABLE published (
    scope text COLLATE "C",
    name text COLLATE "C",
    version text COLLATE "C",
    value text NOT NULL,
    PRIMARY KEY (scope, name, version)
);

CREATE TABLE records (
    org text COLLATE "C",
    module text COLLATE "C",
    id bigint,
    value text NOT NULL,
    PRIMARY KEY (org, module, id)
);

CREATE TABLE record_ids (
    org text COLLATE "C",
    module text COLLATE "C",
    value bigint NOT NULL,
    PRIMARY KEY (org, module)
);

CREATE TABLE module_owners (
    org text COLLATE "C",
    module text COLLATE "C",
    value text NOT NULL,
    PRIMARY KEY (org, module)
);

CREATE TABLE kv (
    org text COLLATE "C",
    plugin text COLLATE "C",
    key text COLLATE "C",
    value bytea NOT NULL,
    PRIMARY KEY (org, plugin, key)
);

CREATE TABLE kv_usage (
    org text COLLATE "C",
    plugin text COLLATE "C",
    value text NOT NULL,
    PRIMARY KEY (org, plugin)
);

CREATE TABLE org_generations (
    org text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);

CREATE TABLE registry_meta (
    name text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);

-- Package ZIPs, content-addressed: every node fetches what it lacks.
CREATE TABLE blobs (
    digest text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);
