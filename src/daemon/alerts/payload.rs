//! The body each destination format posts for an alert.
//!
//! One alert in, one JSON document out, in the shape the receiving service publishes: the
//! daemon's own payload (`json`), a Slack incoming webhook (`slack`), a PagerDuty Events API v2
//! event (`pagerduty`), a Teams Workflows message holding an Adaptive Card (`teams`) and
//! Alertmanager's webhook payload version 4 (`alertmanager`). Rendering cannot fail: every
//! limit a service sets is met by truncating, never by refusing.
//!
//! The alert's text comes partly from outside (the agent's name, AWS's error messages), so each
//! format neutralises what its receiver would interpret: Slack's `&`, `<`, `>`, Teams' Markdown,
//! and newlines everywhere a person reads.

use std::borrow::Cow;
use std::fmt;

use super::Alert;
use crate::config::alerts::Format;
use crate::daemon::systemd::one_line;

mod alertmanager;
mod pagerduty;
mod slack;
mod teams;

#[cfg(test)]
pub(crate) mod tests;

/// What a destination needs besides the alert itself.
pub(crate) struct Target<'a> {
    /// The destination's name (metrics label; Alertmanager's `receiver`).
    pub name: &'a str,
    /// PagerDuty's integration (routing) key; None for other formats.
    pub routing_key: Option<&'a str>,
}

/// The routing key is a credential: Debug names the destination and says whether a key is set.
impl fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("routing_key", &self.routing_key.map(|_| "<redacted>"))
            .finish()
    }
}

/// The JSON body to POST for `alert` in `format` (Content-Type application/json).
pub(crate) fn render(format: Format, alert: &Alert, target: &Target<'_>) -> Vec<u8> {
    // Strings, numbers, options and string maps only: serializing cannot fail, and an empty
    // body (which every receiver rejects, counted as a failed delivery) beats a panic.
    let body = match format {
        Format::Json => serde_json::to_vec(alert),
        Format::Slack => serde_json::to_vec(&slack::message(alert)),
        Format::Pagerduty => {
            serde_json::to_vec(&pagerduty::event(alert, conditions(alert)[0], target))
        }
        Format::Teams => serde_json::to_vec(&teams::message(alert)),
        Format::Alertmanager => serde_json::to_vec(&alertmanager::message(alert, target)),
    };
    body.unwrap_or_default()
}

/// Every body to POST for `alert`, in order: one, except that PagerDuty takes one `resolve`
/// per condition a recovery ends (one event has one `dedup_key`).
pub(crate) fn bodies(format: Format, alert: &Alert, target: &Target<'_>) -> Vec<Vec<u8>> {
    match format {
        Format::Pagerduty => conditions(alert)
            .into_iter()
            .map(|c| serde_json::to_vec(&pagerduty::event(alert, c, target)).unwrap_or_default())
            .collect(),
        _ => vec![render(format, alert, target)],
    }
}

/// The conditions an alert is about: the one it fires, or each one a recovery ends (an
/// `api_recovered` may end both `api_errors` and `agent_missing`). Never empty.
pub(crate) fn conditions(alert: &Alert) -> Vec<Condition> {
    let mut out: Vec<Condition> = Vec::new();
    if resolves(alert) {
        for e in &alert.resolves {
            let c = Condition::of(e);
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        out.push(Condition::of(alert.event));
    }
    out
}

/// The condition an event is about: a recovery resolves the condition its trigger fired, so
/// both must name the same one (PagerDuty's dedup_key, Alertmanager's labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// offline, still_offline, recovered.
    Offline,
    /// api_errors, api_recovered.
    ApiErrors,
    /// agent_missing (nothing resolves it).
    Missing,
}

impl Condition {
    /// The condition of an event name. Event names come from `EventKind::as_str`; anything else
    /// is read as an API error, as the journal writer does.
    pub(crate) fn of(event: &str) -> Condition {
        match event {
            "offline" | "still_offline" | "recovered" => Condition::Offline,
            "agent_missing" => Condition::Missing,
            _ => Condition::ApiErrors,
        }
    }

    /// Stable word for keys (never change it: PagerDuty dedup keys are built from it).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Condition::Offline => "offline",
            Condition::ApiErrors => "api_errors",
            Condition::Missing => "agent_missing",
        }
    }

    /// The severity while the condition fires (a recovery's own severity is `info`, but the
    /// identity of the alert it resolves must not change).
    pub(crate) fn severity(self) -> &'static str {
        match self {
            Condition::Offline | Condition::Missing => "critical",
            Condition::ApiErrors => "warning",
        }
    }
}

/// Whether the alert ends its condition (a recovery) rather than fires it.
pub(crate) fn resolves(alert: &Alert) -> bool {
    alert.state == "resolved"
}

/// A short title that names the event only: no outside text, so it needs no escaping.
pub(crate) fn title(event: &str) -> &'static str {
    match event {
        "offline" => "DataSync agent OFFLINE",
        "still_offline" => "DataSync agent still OFFLINE",
        "recovered" => "DataSync agent back ONLINE",
        "api_errors" => "Cannot read the DataSync agent's status",
        "api_recovered" => "DataSync agent status readable again",
        "agent_missing" => "DataSync agent no longer exists",
        _ => "DataSync agent alert",
    }
}

/// An emoji a person sees before reading: red while critical, orange for a warning, green
/// once resolved.
pub(crate) fn emoji(alert: &Alert) -> &'static str {
    if resolves(alert) {
        "\u{2705}"
    } else {
        match alert.severity {
            "critical" => "\u{1F534}",
            "warning" => "\u{1F7E0}",
            _ => "\u{2139}\u{FE0F}",
        }
    }
}

/// The outage as a person reads it (`1h 2m 3s`).
pub(crate) fn outage(alert: &Alert) -> Option<String> {
    alert
        .outage_seconds
        .map(|s| humantime::format_duration(std::time::Duration::from_secs(s)).to_string())
}

/// Text a person reads on one line: control characters (newlines) become spaces, so outside
/// text cannot forge a line of its own.
pub(crate) fn line(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(one_line(text))
    } else {
        Cow::Borrowed(text)
    }
}

/// Marks text cut short.
const ELLIPSIS: char = '\u{2026}';

/// Length as the services count it. Slack, Teams and PagerDuty say "characters"; UTF-16 code
/// units are never fewer than characters, so a text within this length is within theirs
/// whichever they count (JavaScript front ends count UTF-16).
pub(crate) fn len16(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` cut to at most `max` (UTF-16 units), with an ellipsis when cut.
pub(crate) fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    fit(text, max, |c, out| out.push(c))
}

/// `text` transformed character by character by `push` (an escaper), cut so the result is at
/// most `max` UTF-16 units with an ellipsis when cut. Escapes are never split.
pub(crate) fn fit<'a>(text: &'a str, max: usize, push: impl Fn(char, &mut String)) -> Cow<'a, str> {
    let mut whole = String::with_capacity(text.len());
    text.chars().for_each(|c| push(c, &mut whole));
    if len16(&whole) <= max {
        return if whole == text {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(whole)
        };
    }
    let budget = max.saturating_sub(ELLIPSIS.len_utf16());
    let (mut out, mut used, mut piece) = (String::new(), 0, String::new());
    for c in text.chars() {
        piece.clear();
        push(c, &mut piece);
        let n = len16(&piece);
        if used + n > budget {
            break;
        }
        out.push_str(&piece);
        used += n;
    }
    if max >= ELLIPSIS.len_utf16() {
        out.push(ELLIPSIS);
    }
    Cow::Owned(out)
}
