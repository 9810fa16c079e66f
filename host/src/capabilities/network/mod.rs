//! Outbound HTTP for plugins (`wasi:http/outgoing-handler`), limited to
//! what the org granted.
//!
//! Every request a guest sends passes, in order:
//! 1. the **grant**: its host and port must match an entry of the plugin's
//!    granted `network` permission (`host` allows the scheme's default port,
//!    `host:port` that port) — otherwise `HTTP-request-denied`;
//! 2. **resolution**, done here, not by the guest;
//! 3. the **address policy** ([`addresses`]): only public addresses, or those
//!    the operator allowed (`outbound.allow-private`) — otherwise
//!    `destination-IP-prohibited`, even when an allowed name resolves to a
//!    private address;
//! 4. the **connection** ([`connect`]) to exactly the approved address, with
//!    one deadline for resolving, connecting and TLS, a read timeout for the
//!    response head and between body chunks, and a response-size cap.
//!
//! Before the first step, each request takes one of its org's in-flight
//! permits ([`Outbound`]), held until its connection ends: a plugin that
//! fires requests without awaiting them waits for its own org's permits,
//! and cannot use up the server's sockets or resolver threads.
//!
//! Refusals never open a socket, and are logged with the org and plugin.

pub mod addresses;

use crate::capabilities::capability::{Capability, missing, retain_declared};

/// The `network` permission: the hosts a plugin may call over HTTP.
/// `wasi:sockets` is not behind it: berth gives no instance a socket (the
/// imports link and every socket call is refused), and toolchains such as
/// componentize-py import it whatever the plugin does.
pub const CAPABILITY: Capability = Capability {
    permission: "network",
    imports: &["wasi:http/outgoing-handler@"],
    declared: |p| !p.network.is_empty(),
    not_covered: |wanted, available| missing("network", &wanted.network, &available.network),
    narrow: |granted, declared| retain_declared(&mut granted.network, &declared.network),
    forget: None,
};
pub(crate) mod connect;

use crate::common::ids::PluginIdentity;
use crate::common::settings::OutboundSettings;
use crate::package::manifest::Permissions;
use connect::{ConnectionTask, Destination, Timeouts};
use http::uri::Scheme;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The operator's outbound rules, and each org's requests in flight.
pub struct Outbound {
    /// The rules.
    pub settings: Arc<OutboundSettings>,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Outbound {
    /// Outbound HTTP under `settings`.
    pub fn new(settings: OutboundSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            in_flight: Mutex::default(),
        }
    }

    /// `org`'s in-flight permits, [`OutboundSettings::max_in_flight_per_org`] in all.
    fn permits(&self, org: &str) -> Arc<Semaphore> {
        let mut orgs = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let permits = orgs
            .entry(org.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.settings.max_in_flight_per_org)));
        permits.clone()
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Self::new(OutboundSettings::default())
    }
}

/// The `wasi:http` hooks of one plugin store: its grant and the operator's rules.
pub struct OutboundHooks {
    grants: Arc<Permissions>,
    outbound: Arc<Outbound>,
    identity: Arc<PluginIdentity>,
}

impl OutboundHooks {
    /// Hooks sending only what `grants` allows, under `outbound`.
    pub fn new(
        grants: Arc<Permissions>,
        outbound: Arc<Outbound>,
        identity: Arc<PluginIdentity>,
    ) -> Self {
        Self {
            grants,
            outbound,
            identity,
        }
    }
}

type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, ConnectionTask), Error>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let grants = self.grants.clone();
        let settings = self.outbound.settings.clone();
        let permits = self.outbound.permits(&self.identity.org);
        let identity = self.identity.clone();
        Box::new(async move {
            let options = options.unwrap_or_default();
            let ours = |ms: u64| Duration::from_millis(ms);
            let shorter =
                |asked: Option<Duration>, ms: u64| asked.map_or(ours(ms), |a| a.min(ours(ms)));
            let timeouts = Timeouts {
                connect_by: Instant::now()
                    + shorter(options.connect_timeout, settings.connect_timeout_ms),
                first_byte: shorter(options.first_byte_timeout, settings.read_timeout_ms),
                between_bytes: shorter(options.between_bytes_timeout, settings.read_timeout_ms),
            };
            let permit = tokio::time::timeout_at(timeouts.connect_by, permits.acquire_owned())
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .expect("the permits are never closed");
            let uri = request.uri().clone();
            let destination = match approve(&uri, &grants, &settings, timeouts.connect_by).await {
                Ok(destination) => destination,
                Err(refusal) => {
                    // Scheme, host and port only: paths and queries may hold secrets.
                    tracing::info!(
                        org = %identity.org,
                        plugin = %identity.plugin,
                        scheme = uri.scheme_str().unwrap_or_default(),
                        host = uri.host().unwrap_or_default(),
                        port = uri.port_u16(),
                        "outbound request refused: {refusal:?}"
                    );
                    return Err(refusal);
                }
            };
            let (response, connection) =
                connect::send(request, destination, timeouts, settings.max_response_bytes).await?;
            let connection: ConnectionTask = Box::new(async move {
                let _permit = permit;
                Box::into_pin(connection).await
            });
            Ok((response, connection))
        })
    }
}

/// Checks `request` against the grant and the address policy and picks the
/// address to connect to, resolving the name by `deadline`.
async fn approve(
    uri: &http::Uri,
    grants: &Permissions,
    settings: &OutboundSettings,
    deadline: Instant,
) -> Result<Destination, Error> {
    let tls = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => return Err(Error::HttpProtocolError),
    };
    // Userinfo would travel in the Host header wasmtime builds from the
    // authority; no grant names it.
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Error::HttpRequestDenied);
    }
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let default_port = if tls { 443 } else { 80 };
    let port = uri.port_u16().unwrap_or(default_port);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let permitted = grants
        .network
        .iter()
        .any(|entry| grant_covers(entry, host, port, default_port));
    if !permitted {
        return Err(Error::HttpRequestDenied);
    }
    let candidates: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => resolve(host, port, deadline).await?,
    };
    let addr = candidates
        .into_iter()
        .find(|addr| addresses::reachable(*addr, &settings.allow_private))
        .ok_or(Error::DestinationIpProhibited)?;
    Ok(Destination {
        addr,
        host: host.to_owned(),
        tls,
    })
}

async fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Error> {
    let found = tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| Error::DnsTimeout)?
        .map_err(|_| Error::DestinationNotFound)?;
    Ok(found.collect())
}

/// Whether the `network` grant `entry` (`host`, `host:port`, `[v6]:port`)
/// allows `host` on `port`. Without a port, only the scheme's default port
/// is allowed. Names compare case-insensitively; IP literals by address.
fn grant_covers(entry: &str, host: &str, port: u16, default_port: u16) -> bool {
    let (entry_host, entry_port) = split_host_port(entry);
    let port_ok = match entry_port {
        Some(p) => p.parse::<u16>() == Ok(port),
        None => port == default_port,
    };
    let host_ok = match (entry_host.parse::<IpAddr>(), host.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a.to_canonical() == b.to_canonical(),
        (Err(_), Err(_)) => entry_host
            .trim_end_matches('.')
            .eq_ignore_ascii_case(host.trim_end_matches('.')),
        _ => false,
    };
    port_ok && host_ok
}

fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (rest, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::grant_covers;

    #[test]
    fn a_bare_host_allows_only_the_default_port() {
        assert!(grant_covers("api.example.com", "api.example.com", 443, 443));
        assert!(grant_covers("API.example.com", "api.example.com.", 80, 80));
        assert!(!grant_covers(
            "api.example.com",
            "api.example.com",
            8443,
            443
        ));
        assert!(!grant_covers(
            "api.example.com",
            "evil.example.com",
            443,
            443
        ));
        assert!(!grant_covers("example.com", "api.example.com", 443, 443));
    }

    #[test]
    fn a_port_allows_exactly_that_port() {
        assert!(grant_covers("localhost:9000", "localhost", 9000, 80));
        assert!(!grant_covers("localhost:9000", "localhost", 80, 80));
        assert!(grant_covers("[::1]:9000", "::1", 9000, 80));
        assert!(grant_covers("127.0.0.1:9000", "::ffff:127.0.0.1", 9000, 80));
        assert!(!grant_covers("127.0.0.1:9000", "127.0.0.2", 9000, 80));
        assert!(!grant_covers("127.0.0.1:9000", "localhost", 9000, 80));
    }
}
