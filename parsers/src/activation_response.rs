//! The agent's answer to the activation-key request: the key type, the `Location` and body
//! parsers and the log-safe excerpt. The HTTP client that asks is
//! `datasync_warden::agent::activation_key`.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::LazyLock;

use regex_lite::Regex;

/// The key pattern (AWS DataSync User Guide, "Activating your agent").
const KEY_PATTERN: &str = r"[A-Z0-9]{5}(-[A-Z0-9]{5}){4}";
static KEY_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{KEY_PATTERN}$")).expect("valid pattern"));
/// A key anywhere in a text, to keep it out of excerpts.
static KEY_RUN_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(KEY_PATTERN).expect("valid pattern"));
/// Characters of an answer quoted in an error: enough to recognise an error page.
const EXCERPT_CHARS: usize = 64;

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
        f.write_str(&masked(&self.0))
    }
}

/// A key-shaped run with all but its first group masked. The run is ASCII (the pattern), so
/// the slice is on a character boundary; `get` keeps that from being a promise to panic on.
fn masked(key: &str) -> String {
    format!(
        "{}-*****-*****-*****-*****",
        key.get(..5).unwrap_or("*****")
    )
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

/// The first 64 characters with control characters escaped and any key-shaped run masked
/// as [`ActivationKey`]'s `Display` does, safe to log. Keys are masked before the cut, so a
/// key across the 64th character leaves no more than its first group either.
pub fn excerpt(s: &str) -> String {
    let s = KEY_RUN_RE.replace_all(s, |c: &regex_lite::Captures<'_>| masked(&c[0]));
    let mut out: String = s
        .chars()
        .take(EXCERPT_CHARS)
        .flat_map(char::escape_default)
        .collect();
    if s.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}
