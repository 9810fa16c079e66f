//! End-to-end tests: each starts the real `berth` binary on an ephemeral
//! loopback port and talks HTTP to it, with components built from `guests/`.

mod support;
mod zips;

mod api_versions;
mod auth;
mod author;
mod bad_packages;
mod cli;
mod cluster;
mod console;
mod crash;
mod dependencies;
mod every_guest;
mod faults;
mod field_errors;
mod files;
mod front_door;
mod grants;
mod graph_invariant;
mod hooks;
mod http;
mod integrations;
mod isolation;
mod kv;
mod lifecycle;
mod modules;
mod openapi;
mod outbound;
mod plugin_config;
mod plugin_logs;
mod preview;
mod python;
mod readme;
mod records;
mod registry;
mod serve;
mod signing;
mod slow_activation;
mod tenants;
mod tls;
mod ui;
mod upgrades;
mod usage;
