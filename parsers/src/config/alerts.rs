//! `[alerts]`: alert destinations, their formats and secrets.

use std::fmt;

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
