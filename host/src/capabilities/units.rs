//! The list of grantable capabilities the host's loops walk.

use crate::capabilities::capability::Capability;
use crate::capabilities::{config, files, headers, kv, modules, network, records, routes, ui};

/// Every grantable capability, in the order grants are described.
pub const ALL: &[&Capability] = &[
    &routes::CAPABILITY,
    &kv::CAPABILITY,
    &network::CAPABILITY,
    &config::CAPABILITY,
    &headers::CAPABILITY,
    &ui::CAPABILITY,
    &modules::CAPABILITY,
    &records::CAPABILITY,
    &files::CAPABILITY,
];
