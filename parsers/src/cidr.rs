//! IPv4 CIDR blocks: parsing, containment and overlap, for security-group rules and the
//! network-overlap check.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network such as `10.0.0.0/16` (host bits are cleared on parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    base: u32,
    len: u8,
}

impl Cidr {
    /// A network from an address and prefix length (0–32).
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Cidr> {
        (len <= 32).then(|| Cidr {
            base: u32::from(addr) & mask(len),
            len,
        })
    }

    /// The single address `ip/32`.
    pub fn host(ip: Ipv4Addr) -> Cidr {
        Cidr {
            base: u32::from(ip),
            len: 32,
        }
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.len) == self.base
    }

    /// Whether all of `other` is inside.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.len >= self.len && other.base & mask(self.len) == self.base
    }

    /// Whether the two share at least one address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.covers(other) || other.covers(self)
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad = || format!("{s:?} is not an IPv4 CIDR block such as \"10.0.0.0/16\"");
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Cidr::new(addr, len).ok_or_else(bad)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_normalises_and_rejects() {
        assert_eq!(c("10.1.2.3/16").to_string(), "10.1.0.0/16");
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("fd00::/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn containment_and_overlap() {
        assert!(c("10.0.0.0/16").contains("10.0.255.1".parse().unwrap()));
        assert!(!c("10.0.0.0/16").contains("10.1.0.1".parse().unwrap()));
        assert!(c("0.0.0.0/0").covers(&c("192.168.0.0/24")));
        assert!(c("10.0.0.0/8").covers(&c("10.2.0.0/16")));
        assert!(!c("10.2.0.0/16").covers(&c("10.0.0.0/8")));
        assert!(c("10.2.0.0/16").overlaps(&c("10.0.0.0/8")));
        assert!(!c("10.0.0.0/16").overlaps(&c("10.1.0.0/16")));
        assert!(c("172.16.1.10/32").overlaps(&c("172.16.0.0/12")));
    }
}
