//! Which IP addresses a plugin may connect to.
//!
//! Only globally routable unicast addresses are reachable by default.
//! Loopback, private, link-local (cloud metadata lives at
//! `169.254.169.254`), carrier-grade NAT, multicast, documentation and
//! reserved ranges are refused, including when they hide inside IPv6
//! (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible, NAT64 `64:ff9b::/96`,
//! 6to4 `2002::/16`). The operator may allow specific addresses (e.g. a
//! local test server) with `outbound.allow-private`.

use crate::common::settings::AllowedAddress;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether a plugin may connect to `addr`: a public address, or one the
/// operator allowed.
pub fn reachable(addr: SocketAddr, allowed: &[AllowedAddress]) -> bool {
    allowed.iter().any(|a| a.covers(addr)) || is_public(addr.ip())
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0                            // "this network"
        || a == 10                                  // private
        || a == 127                                 // loopback
        || (a == 100 && (64..128).contains(&b))     // carrier-grade NAT
        || (a == 169 && b == 254)                   // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))      // private
        || (a == 192 && b == 0 && c == 0)           // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)           // documentation
        || (a == 192 && b == 88 && c == 99)         // 6to4 relay anycast
        || (a == 192 && b == 168)                   // private
        || (a == 198 && (18..20).contains(&b))      // benchmarking
        || (a == 198 && b == 51 && c == 100)        // documentation
        || (a == 203 && b == 0 && c == 113)         // documentation
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || (segments[0] & 0xfe00) == 0xfc00          // unique local (fc00::/7)
        || (segments[0] & 0xffc0) == 0xfe80          // link-local (fe80::/10)
        || (segments[0] & 0xffc0) == 0xfec0          // deprecated site-local
        || (segments[0] & 0xff00) == 0xff00          // multicast
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] < 0x0200)  // IETF assignments, Teredo
        || (segments[0] == 0x0064 && segments[1] == 0xff9b) // NAT64 local-use (RFC 8215)
        || (segments[0] & 0xfff0) == 0x3ff0                 // documentation (3fff::/20)
        || segments[0] == 0x5f00                            // SRv6 SIDs
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]) // discard-only
        || segments[0] == 0; // remaining ::/16 (reserved)
    !special
}

/// The IPv4 address an IPv6 address stands for, if it embeds one:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from(((hi as u32) << 16) | lo as u32)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap())
    }

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
            "64:ff9b:1::a00:1",
            "3fff::1",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_reachable() {
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::",
        ] {
            assert!(public(ip), "{ip} must be reachable");
        }
    }

    #[test]
    fn operator_exceptions_match_address_and_port() {
        let with_port = AllowedAddress::try_from("127.0.0.1:9000".to_owned()).unwrap();
        let any_port = AllowedAddress::try_from("10.0.0.5".to_owned()).unwrap();
        let allowed = [with_port, any_port];
        let addr = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert!(reachable(addr("127.0.0.1:9000"), &allowed));
        assert!(reachable(addr("[::ffff:127.0.0.1]:9000"), &allowed));
        assert!(!reachable(addr("127.0.0.1:9001"), &allowed));
        assert!(reachable(addr("10.0.0.5:1"), &allowed));
        assert!(!reachable(addr("10.0.0.6:80"), &allowed));
        assert!(AllowedAddress::try_from("localhost:80".to_owned()).is_err());
    }
}
