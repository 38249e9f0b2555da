//! Parsers for single configuration values: each turns a raw value into a domain type or an
//! error that names the key, shows the value and says what would be valid.

use std::time::Duration;

use super::{ConfigError, OneOrMany, Sourced};
use crate::ids::AgentName;

pub(super) fn invalid<T>(
    s: &Sourced<T>,
    key: &'static str,
    value: String,
    problem: String,
) -> ConfigError {
    ConfigError::Invalid {
        origin: s.origin.clone(),
        key,
        value,
        problem,
    }
}

/// Validates an optional string key with `f`.
pub(super) fn opt<T>(
    src: Option<Sourced<String>>,
    key: &'static str,
    f: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    src.map(|s| f(&s.value).map_err(|p| invalid(&s, key, format!("{:?}", s.value), p)))
        .transpose()
}

pub(super) fn duration(
    src: Option<Sourced<String>>,
    key: &'static str,
    default: Duration,
    (min, max): (Duration, Duration),
) -> Result<Duration, ConfigError> {
    let d = opt(src, key, |v| {
        let d = humantime::parse_duration(v).map_err(|e| {
            format!("{e}; expected a duration such as \"90s\", \"15m\" or \"1h 30m\"")
        })?;
        if d < min || d > max {
            return Err(format!(
                "must be between {} and {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ));
        }
        Ok(d)
    })?;
    Ok(d.unwrap_or(default))
}

/// A count from 1 to 1000 (polls, tasks): zero would disable the feature by accident.
pub(super) fn count(
    src: Option<Sourced<i64>>,
    key: &'static str,
) -> Result<Option<u32>, ConfigError> {
    src.map(|s| {
        u32::try_from(s.value)
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                invalid(
                    &s,
                    key,
                    s.value.to_string(),
                    "expected a count from 1 to 1000".into(),
                )
            })
    })
    .transpose()
}

pub(super) fn exactly_one<T>(
    src: Option<Sourced<OneOrMany>>,
    key: &'static str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    let Some(s) = src else { return Ok(None) };
    let one = match &s.value {
        OneOrMany::One(v) => v.clone(),
        OneOrMany::Many(v) if v.len() == 1 => v[0].clone(),
        OneOrMany::Many(v) => {
            return Err(invalid(
                &s,
                key,
                format!("{v:?}"),
                format!(
                    "CreateAgent takes exactly one; got {}. Keep one ARN",
                    v.len()
                ),
            ));
        }
    };
    parse(&one)
        .map(Some)
        .map_err(|p| invalid(&s, key, format!("{one:?}"), p))
}

pub(super) fn host(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if ok && (v.parse::<std::net::IpAddr>().is_ok() || !v.contains(':')) {
        Ok(v.to_string())
    } else {
        Err(
            "expected a host name or IP address only (no scheme, no port: the port is \
             agent.activation_port)"
                .into(),
        )
    }
}

pub(super) fn http_url(v: &str) -> Result<String, String> {
    let uri: http::Uri = v.parse().map_err(|e| format!("not a URL ({e})"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(v.to_string()),
        _ => Err("expected an http:// or https:// URL with a host".into()),
    }
}

/// The default agent name: this host's name, with characters DataSync refuses replaced;
/// `<hostname>-NAME` for an instance, so that the agents of one host tell apart.
pub(super) fn default_agent_name(instance: Option<&super::Instance>) -> AgentName {
    let host = crate::host::hostname();
    let host = if host.is_empty() {
        "datasync-warden"
    } else {
        host.as_str()
    };
    let name = match instance {
        Some(i) => format!("{host}-{i}"),
        None => host.to_owned(),
    };
    // DataSync's agent-name pattern (AgentName) and its 256-character limit.
    let clean = crate::ids::sanitized(&name, "+=._:@/-", 256);
    AgentName::parse(&clean).unwrap_or_else(|_| AgentName::parse("datasync-warden").expect("valid"))
}
