//! The client's address behind reverse proxies.
//!
//! `X-Forwarded-For` is honoured only when the TCP peer is a configured
//! trusted proxy ([`TrustedProxies`], `PAYTAP_TRUSTED_PROXIES`, default
//! none): anyone else could write any address into it and so choose whose
//! failed-login budget they spend. With trusted proxies, the list is read
//! from the right (the hop nearest to us) and the first address that is
//! not itself a trusted proxy is the client; an entry that does not parse
//! stops the walk at the hop that wrote it. IPv4-mapped IPv6 addresses are
//! taken as IPv4.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// No proxy is trusted (the default).
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// True when `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|(net, bits)| in_net(ip, *net, *bits))
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses and CIDR blocks, e.g.
    /// `10.0.0.0/8, 192.168.1.7, fd00::/8`; empty means none.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("trusted proxy {item:?}: not an IP address"))?;
            let ip = ip.to_canonical();
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("trusted proxy {item:?}: bad prefix length"))?,
            };
            nets.push((ip, bits));
        }
        Ok(TrustedProxies { nets })
    }
}

/// The client's address for a request that came from `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = TrustedProxies::none();
        let proxies: TrustedProxies = "10.0.0.0/8, ::ffff:192.168.1.7".parse().unwrap();
        let h = xff("203.0.113.9, 10.1.2.3");
        // Not a proxy: the header is ignored.
        assert_eq!(
            client_address(ip("198.51.100.1"), &h, &proxies),
            ip("198.51.100.1")
        );
        assert_eq!(client_address(ip("10.0.0.1"), &h, &none), ip("10.0.0.1"));
        // From a proxy: the rightmost address that is not a proxy.
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("::ffff:192.168.1.7"), &xff("1.2.3.4"), &proxies),
            ip("1.2.3.4")
        );
        // A spoofed left part does not move the client past a real hop.
        let h = xff("1.1.1.1, 203.0.113.9");
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &proxies),
            ip("203.0.113.9")
        );
        // Garbage stops the walk at the proxy that wrote it.
        assert_eq!(
            client_address(ip("10.0.0.1"), &xff("junk"), &proxies),
            ip("10.0.0.1")
        );
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy".parse::<TrustedProxies>().is_err());
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }
}
