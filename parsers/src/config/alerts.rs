//! `[alerts]`: alert destinations, their formats and secrets.

use std::fmt;
use std::path::Path;

use super::fragment::MergedDestination;
use super::secret::{Secret, SecretFile, SecretRef, SecretSource, Shape};
use super::values::invalid;
use super::{ConfigError, Origin, Sourced};

/// How a destination wants alerts written (`format` of an `[[alerts.destinations]]` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// The daemon's own JSON payload (`alerts.webhook` is one of these).
    Json,
    /// A Slack incoming webhook: `text` plus Block Kit blocks.
    Slack,
    /// PagerDuty Events API v2 (`trigger` / `resolve` with a `dedup_key`).
    Pagerduty,
    /// A Microsoft Teams Workflows webhook: a message holding an Adaptive Card.
    Teams,
    /// Alertmanager's webhook payload, version 4.
    Alertmanager,
}

impl Format {
    /// Every format, in the order the documentation lists them.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Slack,
        Format::Pagerduty,
        Format::Teams,
        Format::Alertmanager,
    ];

    /// The configuration's word for it, also the `format` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Slack => "slack",
            Format::Pagerduty => "pagerduty",
            Format::Teams => "teams",
            Format::Alertmanager => "alertmanager",
        }
    }

    /// Parses the configuration's word.
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The alert kinds `events` may name (the daemon's event names: `alerts_total{event}`).
pub const EVENTS: [&str; 6] = [
    "offline",
    "still_offline",
    "recovered",
    "api_errors",
    "api_recovered",
    "agent_missing",
];

/// PagerDuty's Events API v2 endpoint, the default `url` of a `pagerduty` destination.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Destinations a configuration may hold: each has its own worker and queue, and a page
/// rarely needs more than a few (chat, pager, Alertmanager).
pub const MAX_DESTINATIONS: usize = 16;

/// Header names the alert client sets itself.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// One validated `[[alerts.destinations]]` table (or `alerts.webhook`).
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// Its name: `name`, else the format (with `-2`, `-3`… for the second, third of a format).
    pub name: String,
    /// How alerts are written for it.
    pub format: Format,
    /// Where they are posted.
    pub url: SecretRef,
    /// PagerDuty's integration key (pagerduty only, required there).
    pub routing_key: Option<SecretRef>,
    /// Extra request headers (`headers` and `header_files`), by lowercase name.
    pub headers: Vec<(String, SecretRef)>,
    /// The event names it receives, in [`EVENTS`] order.
    pub events: Vec<&'static str>,
    /// Where it was declared.
    pub origin: Origin,
}

/// A destination with its secrets read: what the delivery worker uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// See [`Destination::name`].
    pub name: String,
    /// See [`Destination::format`].
    pub format: Format,
    /// The URL.
    pub url: Secret,
    /// PagerDuty's integration key.
    pub routing_key: Option<Secret>,
    /// Extra request headers, by lowercase name.
    pub headers: Vec<(String, Secret)>,
    /// See [`Destination::events`].
    pub events: Vec<&'static str>,
}

impl Destination {
    /// Reads the destination's secret files (`credentials` is `$CREDENTIALS_DIRECTORY`).
    pub fn resolve(&self, credentials: Option<&Path>) -> Result<Resolved, ConfigError> {
        // Everything `secrets` lists is read here: `config check` reads the same ones.
        Ok(Resolved {
            name: self.name.clone(),
            format: self.format,
            url: self.url.read(credentials)?,
            routing_key: self
                .routing_key
                .as_ref()
                .map(|k| k.read(credentials))
                .transpose()?,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| Ok((n.clone(), v.read(credentials)?)))
                .collect::<Result<_, ConfigError>>()?,
            events: self.events.clone(),
        })
    }

    /// Every secret the destination holds: its URL, routing key and header values. What
    /// [`Destination::resolve`] reads, and `config check` reads ahead of a start.
    pub fn secrets(&self) -> impl Iterator<Item = &SecretRef> {
        std::iter::once(&self.url)
            .chain(&self.routing_key)
            .chain(self.headers.iter().map(|(_, r)| r))
    }

    /// Whether `event` goes to this destination.
    pub fn wants(&self, event: &str) -> bool {
        self.events.contains(&event)
    }
}

impl Resolved {
    /// Whether `event` goes to this destination.
    pub fn wants(&self, event: &str) -> bool {
        self.events.contains(&event)
    }
}

/// Validates `alerts.webhook` (a `json` destination named `webhook`) and the destinations.
pub(super) fn destinations(
    webhook: Option<Sourced<String>>,
    tables: Vec<MergedDestination>,
) -> Result<Vec<Destination>, ConfigError> {
    let mut out: Vec<Destination> = Vec::new();
    if let Some(w) = webhook {
        let url = inline(w, "alerts.webhook", Shape::Url)?;
        out.push(Destination {
            name: "webhook".into(),
            format: Format::Json,
            origin: url.origin.clone(),
            url,
            routing_key: None,
            headers: Vec::new(),
            events: EVENTS.to_vec(),
        });
    }
    if let Some(extra) = tables.get(MAX_DESTINATIONS.saturating_sub(out.len())) {
        return Err(ConfigError::Invalid {
            origin: extra.origin.clone(),
            key: "alerts.destinations",
            value: format!("{} tables", tables.len() + out.len()),
            problem: format!(
                "at most {MAX_DESTINATIONS} destinations (alerts.webhook counts as one)"
            ),
        });
    }
    for t in tables {
        let d = destination(t, &out)?;
        if let Some(other) = out.iter().find(|o| o.name == d.name) {
            return Err(ConfigError::Invalid {
                origin: d.origin,
                key: "alerts.destinations.name",
                value: format!("{:?}", d.name),
                problem: format!(
                    "the destination at {} already has this name; names must be unique \
                     (they label the delivery metrics)",
                    other.origin
                ),
            });
        }
        out.push(d);
    }
    Ok(out)
}

fn destination(
    mut t: MergedDestination,
    before: &[Destination],
) -> Result<Destination, ConfigError> {
    let format = t.format.take().ok_or_else(|| ConfigError::Invalid {
        origin: t.origin.clone(),
        key: "alerts.destinations.format",
        value: "(not set)".into(),
        problem: format!("every destination needs a format: {}", formats()),
    })?;
    let format = Format::parse(&format.value).ok_or_else(|| {
        invalid(
            &format,
            "alerts.destinations.format",
            format!("{:?}", format.value),
            format!("expected one of {}", formats()),
        )
    })?;
    let name = match t.name.take() {
        Some(n) => {
            name(&n.value).map_err(|p| {
                invalid(&n, "alerts.destinations.name", format!("{:?}", n.value), p)
            })?;
            n.value
        }
        None => default_name(format, before),
    };
    let url = one_of(t.url.take(), t.url_file.take(), "url", Shape::Url)?;
    let url = match (url, format) {
        (Some(u), _) => u,
        (None, Format::Pagerduty) => SecretRef {
            source: SecretSource::Inline(Secret::new(PAGERDUTY_EVENTS_URL)),
            shape: Shape::Url,
            key: "alerts.destinations.url",
            origin: t.origin.clone(),
            written: format!("{PAGERDUTY_EVENTS_URL:?} (the default)"),
        },
        (None, _) => {
            return Err(ConfigError::Invalid {
                origin: t.origin.clone(),
                key: "alerts.destinations.url",
                value: "(not set)".into(),
                problem: format!(
                    "a {format} destination needs url or url_file (better: url_file, since the \
                     URL is the secret)"
                ),
            });
        }
    };
    let routing_key = routing_key(&mut t, format)?;
    Ok(Destination {
        headers: headers(&mut t)?,
        events: events(t.events.take())?,
        name,
        format,
        url,
        routing_key,
        origin: t.origin,
    })
}

fn formats() -> String {
    Format::ALL.map(Format::as_str).join(", ")
}

/// Names label metrics and logs: short, and free of characters that need quoting.
fn name(v: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err("expected 1 to 64 letters, digits, '-', '_' or '.'".into())
    }
}

/// The format, or `<format>-2`, `-3`… when taken: the first free one.
fn default_name(format: Format, before: &[Destination]) -> String {
    let taken = |n: &str| before.iter().any(|d| d.name == n);
    (1..)
        .map(|i| match i {
            1 => format.as_str().to_string(),
            i => format!("{format}-{i}"),
        })
        .find(|n| !taken(n))
        .unwrap_or_default()
}

/// An inline secret, checked now.
fn inline(s: Sourced<String>, key: &'static str, shape: Shape) -> Result<SecretRef, ConfigError> {
    let value = s.value.trim();
    shape
        .check(value)
        .map_err(|p| invalid(&s, key, shape.shown(value), p))?;
    Ok(SecretRef {
        source: SecretSource::Inline(Secret::new(value)),
        shape,
        key,
        written: shape.shown(value),
        origin: s.origin,
    })
}

/// A `*_file` key, checked for its form now and read later. A value that is neither a path nor
/// a credential name is never quoted: it may be the secret itself, written in the wrong key.
fn file(s: Sourced<String>, key: &'static str, shape: Shape) -> Result<SecretRef, ConfigError> {
    let f = SecretFile::parse(&s.value).map_err(|p| invalid(&s, key, "(not shown)".into(), p))?;
    Ok(SecretRef {
        source: SecretSource::File(f),
        shape,
        key,
        written: format!("{:?}", s.value),
        origin: s.origin,
    })
}

/// `<what>` or `<what>_file`, not both.
fn one_of(
    value: Option<Sourced<String>>,
    path: Option<Sourced<String>>,
    what: &'static str,
    shape: Shape,
) -> Result<Option<SecretRef>, ConfigError> {
    let (key, file_key) = match what {
        "url" => ("alerts.destinations.url", "alerts.destinations.url_file"),
        _ => (
            "alerts.destinations.routing_key",
            "alerts.destinations.routing_key_file",
        ),
    };
    match (value, path) {
        (Some(v), Some(f)) => Err(invalid(
            &f,
            file_key,
            format!("{:?}", f.value),
            format!("{key} is set too (at {}): set one of them", v.origin),
        )),
        (Some(v), None) => inline(v, key, shape).map(Some),
        (None, Some(f)) => file(f, file_key, shape).map(Some),
        (None, None) => Ok(None),
    }
}

fn routing_key(
    t: &mut MergedDestination,
    format: Format,
) -> Result<Option<SecretRef>, ConfigError> {
    let key = one_of(
        t.routing_key.take(),
        t.routing_key_file.take(),
        "routing_key",
        Shape::Token,
    )?;
    match (key, format) {
        (Some(k), Format::Pagerduty) => Ok(Some(k)),
        (None, Format::Pagerduty) => Err(ConfigError::Invalid {
            origin: t.origin.clone(),
            key: "alerts.destinations.routing_key",
            value: "(not set)".into(),
            problem: "a pagerduty destination needs routing_key_file (or routing_key): the \
                      integration key of an Events API v2 integration"
                .into(),
        }),
        (Some(k), _) => Err(ConfigError::Invalid {
            origin: k.origin,
            key: k.key,
            value: k.written,
            problem: format!("only pagerduty destinations take a routing key, not {format}"),
        }),
        (None, _) => Ok(None),
    }
}

fn headers(t: &mut MergedDestination) -> Result<Vec<(String, SecretRef)>, ConfigError> {
    let inline_ones = std::mem::take(&mut t.headers)
        .into_iter()
        .map(|(n, v)| (n, v, false));
    let file_ones = std::mem::take(&mut t.header_files)
        .into_iter()
        .map(|(n, v)| (n, v, true));
    let mut out: Vec<(String, SecretRef)> = Vec::new();
    for (name, v, from_file) in inline_ones.chain(file_ones) {
        let key = if from_file {
            "alerts.destinations.header_files"
        } else {
            "alerts.destinations.headers"
        };
        let lower = name.to_ascii_lowercase();
        let problem = if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            Some("not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)".to_string())
        } else if RESERVED_HEADERS.contains(&lower.as_str()) {
            Some(format!("{name} is set by the daemon itself"))
        } else if out.iter().any(|(n, _)| *n == lower) {
            Some(format!(
                "{name} is set in both headers and header_files: keep one"
            ))
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(invalid(&v, key, format!("{{ {name:?} = … }}"), p));
        }
        let secret = if from_file {
            file(v, key, Shape::HeaderValue)?
        } else {
            inline(v, key, Shape::HeaderValue)?
        };
        out.push((lower, secret));
    }
    Ok(out)
}

fn events(src: Option<Sourced<Vec<String>>>) -> Result<Vec<&'static str>, ConfigError> {
    let Some(s) = src else {
        return Ok(EVENTS.to_vec());
    };
    let bad = |p: String| {
        invalid(
            &s,
            "alerts.destinations.events",
            format!("{:?}", s.value),
            p,
        )
    };
    if s.value.is_empty() {
        return Err(bad(format!(
            "an empty list sends nothing; remove the key for all events, or name some of {}",
            EVENTS.join(", ")
        )));
    }
    if let Some(unknown) = s.value.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(bad(format!(
            "{unknown:?} is not an event; expected some of {}",
            EVENTS.join(", ")
        )));
    }
    Ok(EVENTS
        .into_iter()
        .filter(|e| s.value.iter().any(|v| v == e))
        .collect())
}

#[cfg(test)]
mod tests;
