//! Where a call comes from: the peer address of its connection, or, when the peer is a
//! trusted proxy, the client its `X-Forwarded-For` names.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

use crate::config::AddrBlock;

/// The source of a call as the limits and the audit log count it: an IPv4 address, an IPv6
/// /64 (one host usually holds a whole /64), or unknown when the router runs without a
/// socket (in-process calls share one source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(Option<IpAddr>);

impl Source {
    /// The source of calls from `addr`.
    pub fn of(addr: IpAddr) -> Self {
        Self(Some(match addr.to_canonical() {
            IpAddr::V6(v6) => {
                let net = u128::from(v6) >> 64 << 64;
                IpAddr::V6(Ipv6Addr::from(net))
            }
            v4 => v4,
        }))
    }

    /// The source of calls whose peer address is not known.
    pub const UNKNOWN: Self = Self(None);

    /// The source of a call from `peer` with `headers`: when `peer` is in `trusted`, the
    /// hops of `X-Forwarded-For` are walked from the right (the hop the trusted proxy added)
    /// while they are trusted proxies themselves; the first that is not, or the last
    /// readable one, is the client.
    pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[AddrBlock]) -> Self {
        let Some(mut client) = peer.map(|peer| peer.to_canonical()) else {
            return Self::UNKNOWN;
        };
        let is_trusted = |addr: IpAddr| trusted.iter().any(|block| block.contains(addr));
        if trusted.is_empty() || !is_trusted(client) {
            return Self::of(client);
        }
        let values: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.as_bytes())
            .collect();
        let hops = values
            .iter()
            .rev()
            .flat_map(|value| value.rsplit(|byte| *byte == b','));
        for hop in hops {
            match parse_hop(hop) {
                Some(addr) => client = addr,
                None => break,
            }
            if !is_trusted(client) {
                break;
            }
        }
        Self::of(client)
    }
}

/// One `X-Forwarded-For` hop: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, or either with a
/// port.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
        .map(|addr: IpAddr| addr.to_canonical())
}

/// `192.0.2.1`, `2001:db8:1:2::/64` or `unknown`.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Some(IpAddr::V6(v6)) => write!(f, "{v6}/64"),
            None => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use rstest::rstest;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn blocks(list: &[&str]) -> Vec<AddrBlock> {
        list.iter().map(|b| b.parse().unwrap()).collect()
    }

    #[rstest]
    #[case::no_proxies_ignores_the_header("203.0.113.9", &["198.51.100.1"], &[], "203.0.113.9")]
    #[case::untrusted_peer_ignores_the_header("203.0.113.9", &["198.51.100.1"], &["10.0.0.0/8"], "203.0.113.9")]
    #[case::trusted_peer_names_the_client("10.0.0.5", &["198.51.100.1"], &["10.0.0.0/8"], "198.51.100.1")]
    #[case::spoofed_left_hops_are_ignored("10.0.0.5", &["1.1.1.1, 198.51.100.1"], &["10.0.0.0/8"], "198.51.100.1")]
    #[case::chained_proxies("10.0.0.5", &["198.51.100.1, 10.0.0.9"], &["10.0.0.0/8"], "198.51.100.1")]
    #[case::several_headers("10.0.0.5", &["1.1.1.1", "198.51.100.1"], &["10.0.0.0/8"], "198.51.100.1")]
    #[case::garbage_stops_at_the_last_proxy("10.0.0.5", &["198.51.100.1, not-an-ip"], &["10.0.0.0/8"], "10.0.0.5")]
    #[case::no_header_is_the_proxy("10.0.0.5", &[], &["10.0.0.0/8"], "10.0.0.5")]
    #[case::all_hops_trusted("10.0.0.5", &["10.0.0.7"], &["10.0.0.0/8"], "10.0.0.7")]
    #[case::with_a_port("10.0.0.5", &["198.51.100.1:4711"], &["10.0.0.0/8"], "198.51.100.1")]
    #[case::v6_with_a_port("10.0.0.5", &["[2001:db8:1:2::7]:4711"], &["10.0.0.0/8"], "2001:db8:1:2::/64")]
    #[case::v6_counts_by_its_64("2001:db8:1:2:aaaa::1", &[], &[], "2001:db8:1:2::/64")]
    #[case::v4_mapped_peer("::ffff:10.0.0.5", &["198.51.100.1"], &["10.0.0.0/8"], "198.51.100.1")]
    fn resolves(
        #[case] peer: &str,
        #[case] forwarded: &[&str],
        #[case] trusted: &[&str],
        #[case] expected: &str,
    ) {
        let source = Source::resolve(
            Some(peer.parse().unwrap()),
            &headers(forwarded),
            &blocks(trusted),
        );
        assert_eq!(source.to_string(), expected);
    }

    #[test]
    fn without_a_peer_the_source_is_unknown() {
        let source = Source::resolve(None, &headers(&["198.51.100.1"]), &blocks(&["0.0.0.0/0"]));
        assert_eq!(source, Source::UNKNOWN);
        assert_eq!(source.to_string(), "unknown");
    }
}
