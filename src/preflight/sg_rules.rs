//! Evaluation of security-group ingress rules: does a group admit TCP `port` from `source`?
//!
//! Rules are evaluated as AWS does (any matching rule allows): protocol `tcp`/`6` or `-1`
//! (all), the port inside `from..=to` (ignored for `-1`), and a source CIDR that contains the
//! whole source. Rules that name another security group or a prefix list cannot be evaluated
//! from here without guessing; they are reported as such, never counted as allowing.

use serde::Serialize;

pub use crate::aws::ec2::Rule;
use crate::cidr::Cidr;

/// The verdict for one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// A CIDR rule admits the source.
    Allowed,
    /// No rule admits it, and none could.
    Denied,
    /// Only rules that cannot be evaluated here could admit it.
    Unknown(Vec<String>),
}

impl Rule {
    fn covers_port(&self, port: u16) -> bool {
        match self.protocol.as_str() {
            "-1" => true,
            "tcp" | "6" => {
                let p = i32::from(port);
                self.from.is_some_and(|f| f <= p) && self.to.is_some_and(|t| p <= t)
            }
            _ => false,
        }
    }
}

/// Whether the rules admit TCP `port` from every address of `source`.
pub fn admits(rules: &[Rule], port: u16, source: &Cidr) -> Admission {
    let mut unknown = Vec::new();
    for r in rules.iter().filter(|r| r.covers_port(port)) {
        if r.cidrs.iter().any(|c| c.covers(source)) {
            return Admission::Allowed;
        }
        unknown.extend(r.groups.iter().map(|g| format!("security group {g}")));
        unknown.extend(r.prefix_lists.iter().map(|p| format!("prefix list {p}")));
    }
    if unknown.is_empty() {
        Admission::Denied
    } else {
        unknown.sort();
        unknown.dedup();
        Admission::Unknown(unknown)
    }
}

/// Collapses sorted ports into ranges: `[1024, 1025, 1030]` → `"1024-1025, 1030"`.
pub fn ranges(ports: &[u16]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len() && ports[j + 1] == ports[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            ports[i].to_string()
        } else {
            format!("{}-{}", ports[i], ports[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, from: i32, to: i32, cidrs: &[&str]) -> Rule {
        Rule {
            protocol: protocol.into(),
            from: Some(from),
            to: Some(to),
            cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            groups: vec![],
            prefix_lists: vec![],
        }
    }

    fn agent() -> Cidr {
        Cidr::host("10.0.1.25".parse().unwrap())
    }

    #[test]
    fn tcp_ranges_and_cidrs() {
        let rules = [
            rule("tcp", 443, 443, &["10.0.0.0/16"]),
            rule("tcp", 1024, 1040, &["10.0.1.0/24"]),
        ];
        assert_eq!(admits(&rules, 443, &agent()), Admission::Allowed);
        assert_eq!(admits(&rules, 1040, &agent()), Admission::Allowed);
        assert_eq!(admits(&rules, 1041, &agent()), Admission::Denied);
        assert_eq!(
            admits(&rules, 443, &"10.0.0.0/8".parse().unwrap()),
            Admission::Denied,
            "a wider source is not covered"
        );
    }

    #[test]
    fn all_traffic_rule_and_protocol_number() {
        let all = Rule {
            from: None,
            to: None,
            ..rule("-1", 0, 0, &["0.0.0.0/0"])
        };
        assert_eq!(admits(&[all], 1064, &agent()), Admission::Allowed);
        assert_eq!(
            admits(&[rule("6", 0, 65535, &["10.0.1.25/32"])], 22, &agent()),
            Admission::Allowed
        );
        assert_eq!(
            admits(&[rule("udp", 0, 65535, &["0.0.0.0/0"])], 443, &agent()),
            Admission::Denied
        );
    }

    #[test]
    fn group_and_prefix_list_rules_are_unknown_not_allowed() {
        let mut r = rule("tcp", 443, 443, &[]);
        r.groups = vec!["sg-0abc".into()];
        r.prefix_lists = vec!["pl-123".into()];
        assert_eq!(
            admits(&[r.clone()], 443, &agent()),
            Admission::Unknown(vec![
                "prefix list pl-123".into(),
                "security group sg-0abc".into()
            ])
        );
        // A CIDR rule that allows settles it regardless.
        assert_eq!(
            admits(&[r, rule("tcp", 443, 443, &["0.0.0.0/0"])], 443, &agent()),
            Admission::Allowed
        );
    }

    #[test]
    fn port_ranges_render_compactly() {
        assert_eq!(
            ranges(&[1024, 1025, 1026, 1030, 1040, 1041]),
            "1024-1026, 1030, 1040-1041"
        );
        assert_eq!(ranges(&[]), "");
    }
}
