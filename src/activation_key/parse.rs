//! The pure parsers of the agent's answers: the key type, the `Location` and body parsers and
//! the log-safe excerpt.
//!
//! This file depends on nothing but `std` and `regex-lite` (no `crate::` paths) so that the
//! fuzz crate (`fuzz/`) compiles it on its own with `#[path]`, without the AWS SDK.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::LazyLock;

use regex_lite::Regex;

static KEY_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z0-9]{5}(-[A-Z0-9]{5}){4}$").expect("valid pattern"));

/// An activation key. `Display` and `Debug` show only its first group: a whole key lets
/// anyone holding it activate the agent into their account for 30 minutes.
#[derive(Clone, PartialEq, Eq)]
pub struct ActivationKey(String);

impl ActivationKey {
    /// Accepts only strings matching `^[A-Z0-9]{5}(-[A-Z0-9]{5}){4}$`.
    pub fn parse(s: &str) -> Option<Self> {
        KEY_RE.is_match(s).then(|| Self(s.to_string()))
    }
    /// The whole key, for CreateAgent and `fetch-key`'s stdout only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActivationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-*****-*****-*****-*****", &self.0[..5])
    }
}

impl fmt::Debug for ActivationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActivationKey({self})")
    }
}

/// The agent answered with `errorType=`: it says why it has no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentReported {
    /// The code, sanitized by [`excerpt`].
    pub code: String,
    /// The endpoint IP the agent was told to reach.
    pub endpoint_ip: Ipv4Addr,
}

/// Why an answer yielded no key: the agent said why, or it made no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseFailure {
    /// `errorType=` was present.
    Agent(AgentReported),
    /// Nothing usable.
    Garbage(String),
}

/// Extracts the key (or the agent's error) from a redirect `Location`.
///
/// The key is taken as is from the query: the `Location`'s host is never contacted. Exactly
/// one `activationKey` parameter must be present; two are ambiguous and refused.
pub fn parse_location(
    location: &str,
    endpoint_ip: Ipv4Addr,
) -> Result<ActivationKey, ParseFailure> {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    let values = |name: &str| -> Vec<&str> {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .collect()
    };
    if let Some(code) = values("errorType").first() {
        return Err(ParseFailure::Agent(AgentReported {
            code: excerpt(code),
            endpoint_ip,
        }));
    }
    match values("activationKey").as_slice() {
        [one] => ActivationKey::parse(one).ok_or_else(|| {
            ParseFailure::Garbage(format!(
                "activationKey {:?} does not match the key pattern",
                excerpt(one)
            ))
        }),
        [] => Err(ParseFailure::Garbage(format!(
            "no activationKey or errorType in Location {:?}",
            excerpt(location)
        ))),
        many => Err(ParseFailure::Garbage(format!(
            "{} activationKey parameters in Location: ambiguous",
            many.len()
        ))),
    }
}

/// Extracts the key (or the agent's error) from a `no_redirect` body.
pub fn parse_body(body: &str, endpoint_ip: Ipv4Addr) -> Result<ActivationKey, ParseFailure> {
    if let Some(code) = body.strip_prefix("errorType=") {
        return Err(ParseFailure::Agent(AgentReported {
            code: excerpt(code),
            endpoint_ip,
        }));
    }
    ActivationKey::parse(body)
        .ok_or_else(|| ParseFailure::Garbage(format!("body {:?} is not a key", excerpt(body))))
}

/// The first 64 characters with control characters escaped, safe to log.
pub fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_default).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}
