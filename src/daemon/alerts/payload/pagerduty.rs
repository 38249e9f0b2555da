//! PagerDuty Events API v2: a `trigger` while a condition holds, a `resolve` when it ends, both
//! with the same `dedup_key`.
//!
//! Shape: PagerDuty's "Send an Alert Event" (developer.pagerduty.com, events-API-v2
//! 02-Trigger-Events): `routing_key`, `event_action`, `dedup_key` (≤ 255 characters) and
//! `payload` with `summary` (≤ 1024 characters), `source`, `severity` (critical, error,
//! warning, info), `timestamp`, `component`, `group`, `class`, `custom_details`. The documented
//! resolve example carries no payload, but PagerDuty accepts one (Alertmanager's own PagerDuty
//! notifier sends the payload on every resolve), so a resolve keeps its summary and details.

use serde::Serialize;

use super::alertmanager::fnv1a64;
use super::{Alert, Condition, Target, line, resolves, title, truncate};

/// `dedup_key`: "The maximum permitted length of this property is 255 characters."
pub(crate) const DEDUP_KEY_MAX: usize = 255;
/// `payload.summary`: "The maximum permitted length of this property is 1024 characters."
pub(crate) const SUMMARY_MAX: usize = 1024;
/// Each text in `component`, `group` and `custom_details`: PagerDuty documents no per-field
/// bound, only 512 KB for the whole event (Alertmanager's `maxEventSize`); a dozen values of at
/// most 2,048 characters (≤ 4 bytes each) keep an event under 100 KB.
pub(crate) const DETAIL_MAX: usize = 2048;
/// `client`: the monitoring tool that sent the event.
const CLIENT: &str = "datasync-warden";
/// Prefix of every dedup key: the keys are ours, and stay the same across daemon restarts.
const KEY_PREFIX: &str = "datasync-warden";

#[derive(Serialize)]
pub(super) struct Event<'a> {
    routing_key: &'a str,
    event_action: &'static str,
    dedup_key: String,
    payload: Payload<'a>,
    client: &'static str,
}

#[derive(Serialize)]
struct Payload<'a> {
    summary: String,
    source: String,
    severity: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    timestamp: &'a str,
    component: String,
    group: String,
    class: &'static str,
    custom_details: Details,
}

#[derive(Serialize)]
struct Details {
    event: &'static str,
    agent_arn: String,
    agent_name: String,
    region: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outage_seconds: Option<u64>,
    host: String,
    message: String,
}

/// One key per agent and condition, so a recovery resolves what its trigger opened, and the
/// same after a restart. An ARN too long for the key (never one AWS issues: theirs are under
/// 130 characters) is replaced by its 64-bit FNV-1a hash, still stable.
pub(crate) fn dedup_key(condition: Condition, agent_arn: &str) -> String {
    let key = format!("{KEY_PREFIX}/{}/{agent_arn}", condition.as_str());
    if key.chars().count() <= DEDUP_KEY_MAX {
        return key;
    }
    let hash = fnv1a64([agent_arn.as_bytes()]);
    format!("{KEY_PREFIX}/{}/fnv1a64:{hash:016x}", condition.as_str())
}

/// PagerDuty's severities are critical, error, warning and info; ours map one to one, and
/// anything else is an `error` (Alertmanager's default severity for PagerDuty).
fn severity(ours: &str) -> &'static str {
    match ours {
        "critical" => "critical",
        "warning" => "warning",
        "info" => "info",
        _ => "error",
    }
}

/// `class`: the type of event, in PagerDuty's words ("ping failure", "cpu load").
fn class(condition: Condition) -> &'static str {
    match condition {
        Condition::Offline => "agent offline",
        Condition::ApiErrors => "agent status unreadable",
        Condition::Missing => "agent missing",
    }
}

fn bounded(text: &str) -> String {
    truncate(text, DETAIL_MAX).into_owned()
}

/// The event for `condition` (the alert's own, or one of those its recovery ends).
pub(super) fn event<'a>(a: &'a Alert, condition: Condition, target: &Target<'a>) -> Event<'a> {
    // `source` is required and must name the affected system; an unnamed host is still ours.
    let source = if a.host.is_empty() { CLIENT } else { &a.host };
    // `summary` is required too: our title stands in for a missing message.
    let summary = if a.message.trim().is_empty() {
        title(a.event)
    } else {
        &a.message
    };
    Event {
        // Required; a destination without one is refused by PagerDuty (a counted failure).
        routing_key: target.routing_key.unwrap_or_default(),
        event_action: if resolves(a) { "resolve" } else { "trigger" },
        dedup_key: dedup_key(condition, &a.agent_arn),
        payload: Payload {
            summary: truncate(&line(summary), SUMMARY_MAX).into_owned(),
            source: bounded(source),
            severity: severity(a.severity),
            timestamp: &a.at,
            component: bounded(&a.agent_name),
            group: bounded(&a.region),
            class: class(condition),
            custom_details: Details {
                event: a.event,
                agent_arn: bounded(&a.agent_arn),
                agent_name: bounded(&a.agent_name),
                region: bounded(&a.region),
                status: bounded(&a.status),
                since: a.since.as_deref().map(bounded),
                outage_seconds: a.outage_seconds,
                host: bounded(&a.host),
                message: bounded(&a.message),
            },
        },
        client: CLIENT,
    }
}
