//! Alerts: to journald (structured, a fixed MESSAGE_ID per event) and to every configured
//! destination (`[[alerts.destinations]]`, `alerts.webhook`) in the destination's format.
//!
//! Delivery never blocks the monitor: each destination has its own bounded queue and worker
//! (`deliver`) that posts with a short timeout and bounded, jittered retries (the `backoff`
//! crate, the only retry layer on this path). A destination that is down costs counted
//! failures, never another destination's alert or the next poll.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::alerts::Resolved;
use crate::config::{AlertsSettings, ConfigError};
use crate::daemon::monitor::{Event, EventKind};
use crate::daemon::status::Status;
use crate::daemon::systemd::one_line;
use crate::redact::redact_url;

mod client;
mod deliver;
mod payload;

pub(crate) use client::{AlertClient, ProxyEnv};
use deliver::Queue;
pub(crate) use deliver::{Bounds, register};

/// Longest `message` (UTF-16 units, as the chat services count): AWS error text has no length
/// limit, and a page is read on a phone. Slack and Teams cut further to their own limits.
pub(crate) const MESSAGE_MAX: usize = 2000;

/// journald MESSAGE_ID of each event kind (fixed forever: operators filter on them).
pub(crate) fn message_id(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Offline => "c461c33282a842d7ade9471a05c9bd24",
        EventKind::StillOffline => "f74b3a1e1ee7444188dfa06d00116893",
        EventKind::Recovered => "c47865908b1b4e6994bc19945525338c",
        EventKind::ApiErrors => "4775cba24f05447c871579460ed681d5",
        EventKind::ApiRecovered => "cf52132148f44745a83407b96aec71fd",
        EventKind::AgentMissing => "0275498facfb4cb08a36dd1fb18a83fb",
    }
}

/// The webhook payload.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Alert {
    /// `offline`, `still_offline`, `recovered`, `api_errors`, `api_recovered`, `agent_missing`.
    pub event: &'static str,
    pub agent_arn: String,
    pub agent_name: String,
    pub region: String,
    /// Last observed status (ONLINE / OFFLINE / UNKNOWN).
    pub status: String,
    /// OFFLINE since (RFC 3339), for outage events.
    pub since: Option<String>,
    /// Outage length in seconds (still_offline, recovered).
    pub outage_seconds: Option<u64>,
    /// This host's name.
    pub host: String,
    /// One line for a person.
    pub message: String,
    /// When the alert was raised (RFC 3339).
    pub at: String,
    /// `critical` (the agent is OFFLINE or gone), `warning` (its status cannot be read) or
    /// `info` (a recovery).
    pub severity: &'static str,
    /// `firing` while the condition holds, `resolved` when it ended.
    pub state: &'static str,
    /// For a recovery, the alerts it resolves (`offline`; `api_errors`, `agent_missing`).
    pub resolves: Vec<&'static str>,
}

/// Who the alerts are about.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub agent_arn: String,
    pub agent_name: String,
    pub region: String,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Builds the alert for an event.
pub(crate) fn alert(e: &Event, who: &Subject, status: &str) -> Alert {
    let outage = e
        .outage
        .map(|d| humantime::format_duration(Duration::from_secs(d.as_secs())).to_string());
    let message = match e.kind {
        EventKind::Offline => format!("DataSync agent {} is OFFLINE", who.agent_name),
        EventKind::StillOffline => format!(
            "DataSync agent {} is still OFFLINE ({})",
            who.agent_name,
            outage.unwrap_or_default()
        ),
        EventKind::Recovered => format!(
            "DataSync agent {} is ONLINE again after {}",
            who.agent_name,
            outage.unwrap_or_default()
        ),
        EventKind::ApiErrors => format!(
            "cannot read the status of DataSync agent {}: {}",
            who.agent_name, e.detail
        ),
        EventKind::ApiRecovered => format!(
            "the status of DataSync agent {} can be read again",
            who.agent_name
        ),
        EventKind::AgentMissing => format!(
            "DataSync agent {} no longer exists: {}",
            who.agent_name, e.detail
        ),
    };
    Alert {
        event: e.kind.as_str(),
        agent_arn: who.agent_arn.clone(),
        agent_name: who.agent_name.clone(),
        region: who.region.clone(),
        status: status.to_string(),
        since: e.since.map(rfc3339),
        outage_seconds: e.outage.map(|d| d.as_secs()),
        host: crate::host::hostname(),
        // AWS's messages and the agent's name come from outside: no newline may forge a line
        // (or a journal field) in what a person or a webhook receiver reads.
        message: payload::truncate(&one_line(&message), MESSAGE_MAX).into_owned(),
        at: rfc3339(SystemTime::now()),
        severity: severity(e.kind),
        state: state(e.kind),
        resolves: e.resolves.iter().map(|k| k.as_str()).collect(),
    }
}

/// The alert's severity, in the words PagerDuty, Alertmanager and most pagers share.
pub(crate) fn severity(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Offline | EventKind::StillOffline | EventKind::AgentMissing => "critical",
        EventKind::ApiErrors => "warning",
        EventKind::Recovered | EventKind::ApiRecovered => "info",
    }
}

/// `firing` or `resolved`: a recovery resolves the condition an earlier event fired.
pub(crate) fn state(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Recovered | EventKind::ApiRecovered => "resolved",
        _ => "firing",
    }
}

/// Sends alerts to journald and to every destination, one worker each.
pub(crate) struct Alerter {
    queues: Vec<Queue>,
    http: AlertClient,
    status: Arc<Status>,
    bounds: Bounds,
}

impl Alerter {
    /// An alerter with one delivery worker per destination, on the current runtime.
    pub(crate) fn spawn(
        destinations: &[Resolved],
        client: &AlertClient,
        status: Arc<Status>,
        bounds: Bounds,
    ) -> Self {
        let mut alerter = Alerter {
            queues: Vec::new(),
            http: client.clone(),
            status,
            bounds,
        };
        alerter.update(destinations);
        alerter
    }

    /// Follows a reload: a destination that keeps its name keeps its worker and queue (with
    /// the new settings), a new one gets a worker, a removed one's worker delivers what it
    /// holds and ends.
    pub(crate) fn update(&mut self, destinations: &[Resolved]) {
        register(&self.status, destinations);
        let mut old = std::mem::take(&mut self.queues);
        for d in destinations {
            let queue = match old.iter().position(|q| q.name() == d.name) {
                Some(i) => {
                    let q = old.swap_remove(i);
                    q.update(d.clone());
                    q
                }
                None => Queue::spawn(
                    d.clone(),
                    self.http.clone(),
                    self.status.clone(),
                    self.bounds,
                ),
            };
            self.queues.push(queue);
        }
    }

    /// Raises one alert: journald now, the destinations in the background.
    pub(crate) fn emit(&self, a: Alert) {
        journal(&a);
        self.status
            .update(|s| *s.alerts_total.entry(a.event.to_string()).or_default() += 1);
        for q in &self.queues {
            q.offer(&a, &self.status);
        }
    }
}

/// Reads the destinations' secret files (at start and on every reload).
pub(crate) fn resolve(
    settings: &AlertsSettings,
    credentials: Option<&Path>,
) -> Result<Vec<Resolved>, ConfigError> {
    settings
        .destinations
        .iter()
        .map(|d| d.resolve(credentials))
        .collect()
}

/// The destinations in words for the log: name, format and host, never the URL's secret part.
pub(crate) fn describe(destinations: &[Resolved]) -> String {
    if destinations.is_empty() {
        return "journald only (no alerts.webhook or [[alerts.destinations]])".into();
    }
    destinations
        .iter()
        .map(|d| format!("{} ({}, {})", d.name, d.format, redact_url(d.url.expose())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Logs the alert with structured fields; under journald they become journal fields.
fn journal(a: &Alert) {
    let kind = EventKind::ALL
        .into_iter()
        .find(|k| k.as_str() == a.event)
        .unwrap_or(EventKind::ApiErrors);
    let level = match kind {
        EventKind::Offline | EventKind::StillOffline | EventKind::AgentMissing => log::Level::Error,
        EventKind::ApiErrors => log::Level::Warn,
        EventKind::Recovered | EventKind::ApiRecovered => log::Level::Warn,
    };
    let since = one_line(a.since.as_deref().unwrap_or_default());
    let (arn, name, status) = (
        one_line(&a.agent_arn),
        one_line(&a.agent_name),
        one_line(&a.status),
    );
    let fields: [(&str, &str); 6] = [
        ("MESSAGE_ID", message_id(kind)),
        ("ALERT_EVENT", a.event),
        ("AGENT_ARN", &arn),
        ("AGENT_NAME", &name),
        ("AGENT_STATUS", &status),
        ("OFFLINE_SINCE", &since),
    ];
    let fields = if since.is_empty() {
        &fields[..5]
    } else {
        &fields[..]
    };
    log::logger().log(
        &log::Record::builder()
            .level(level)
            .target("datasync_warden::alert")
            .key_values(&fields)
            .args(format_args!("alert {}: {}", a.event, one_line(&a.message)))
            .build(),
    );
}

#[cfg(test)]
mod tests;
