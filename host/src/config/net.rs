//! Address blocks in the configuration (`limits.trusted_proxies`): `10.0.0.0/8`, `fd00::/8`, or
//! one address (`192.0.2.7`, a /32 or /128).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;

/// A block of IP addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AddrBlock {
    network: IpAddr,
    prefix: u8,
}

impl AddrBlock {
    /// Whether `addr` is in the block (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                masked(u128::from(u32::from(addr)), 32, self.prefix) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                masked(u128::from(addr), 128, self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// `bits` (an address of `width` bits) with every bit after `prefix` cleared.
fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    let host = u32::from(width - prefix);
    bits.checked_shr(host)
        .unwrap_or(0)
        .checked_shl(host)
        .unwrap_or(0)
}

impl FromStr for AddrBlock {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("`{text}` is not an IP address or a block such as `10.0.0.0/8`");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network = IpAddr::from_str(addr)
            .map_err(|_| invalid())?
            .to_canonical();
        let width: u8 = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(invalid)?,
        };
        let bits = match network {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        if masked(bits, width, prefix) != bits {
            return Err(format!(
                "`{text}` has address bits set after its /{prefix} prefix"
            ));
        }
        Ok(Self { network, prefix })
    }
}

impl TryFrom<String> for AddrBlock {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for AddrBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::v4_block("10.0.0.0/8", "10.200.3.4", true)]
    #[case::v4_outside("10.0.0.0/8", "11.0.0.1", false)]
    #[case::one_v4("192.0.2.7", "192.0.2.7", true)]
    #[case::one_v4_other("192.0.2.7", "192.0.2.8", false)]
    #[case::everything("0.0.0.0/0", "203.0.113.9", true)]
    #[case::v4_mapped("127.0.0.1", "::ffff:127.0.0.1", true)]
    #[case::v6_block("fd00::/8", "fd12:3456::1", true)]
    #[case::v6_outside("fd00::/8", "fe80::1", false)]
    #[case::families_differ("0.0.0.0/0", "::1", false)]
    #[case::one_v6("::1", "::1", true)]
    fn contains(#[case] block: &str, #[case] addr: &str, #[case] expected: bool) {
        let block: AddrBlock = block.parse().unwrap();
        assert_eq!(block.contains(addr.parse().unwrap()), expected);
    }

    #[rstest]
    #[case::not_an_address("proxy.example.com", "is not an IP address")]
    #[case::prefix_too_long("10.0.0.0/33", "is not an IP address")]
    #[case::prefix_not_a_number("10.0.0.0/x", "is not an IP address")]
    #[case::host_bits("10.0.0.1/8", "has address bits set after its /8 prefix")]
    fn invalid(#[case] text: &str, #[case] message: &str) {
        let error = text.parse::<AddrBlock>().unwrap_err();
        assert!(error.contains(message), "{error}");
    }
}
