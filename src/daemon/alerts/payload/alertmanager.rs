//! Alertmanager's webhook payload, version 4: the body Alertmanager itself POSTs to a
//! `webhook_config` receiver, so anything built to receive Alertmanager's webhooks takes ours.
//!
//! Shape: prometheus/alertmanager `notify/webhook/webhook.go` (`Message`: `template.Data` plus
//! `version` "4", `groupKey`, `truncatedAlerts`) and `template/template.go` (`Data`, `Alert`,
//! `receiver` passed through `regexp.QuoteMeta`); `types.Alerts` exposes a firing alert's
//! `endsAt` as Go's zero time. The fingerprint is prometheus/common `model.LabelSet`'s
//! (`labelSetToFingerprint` in `model/signature.go`: FNV-1a 64 over the label names in sorted
//! order, each name and value followed by the separator byte 255; `Fingerprint.String` is
//! `%016x`). The group key is `dispatch.aggrGroup.GroupKey`: route key `{}` (the root route),
//! `:`, then the group labels as `LabelSet.String` prints them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Alert, Condition, Target, line, outage, resolves, title};

/// The payload version Alertmanager's webhook notifier sends.
pub(crate) const VERSION: &str = "4";
/// Go's zero `time.Time` in JSON: `endsAt` of an alert that is still firing.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// prometheus/common `model.SeparatorByte`: a byte that cannot occur in UTF-8.
const SEPARATOR: u8 = 0xff;
/// FNV-1a 64 offset basis and prime (prometheus/common `model/fnv.go`).
const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
/// The labels the daemon groups by: one group per agent and condition, as an Alertmanager
/// route with `group_by: [alertname, agent_arn]` would form.
const GROUP_BY: [&str; 2] = ["agent_arn", "alertname"];

/// Label or annotation name to value, sorted by name (as Go's `sort.Strings` orders bytes).
pub(crate) type Labels = BTreeMap<&'static str, String>;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Message {
    receiver: String,
    status: &'static str,
    alerts: Vec<AmAlert>,
    group_labels: Labels,
    common_labels: Labels,
    common_annotations: Labels,
    #[serde(rename = "externalURL")]
    external_url: &'static str,
    version: &'static str,
    group_key: String,
    truncated_alerts: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AmAlert {
    status: &'static str,
    labels: Labels,
    annotations: Labels,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'static str,
    fingerprint: String,
}

/// The `alertname` of each condition (what Alertmanager routes, groups and silences by).
pub(crate) fn alertname(condition: Condition) -> &'static str {
    match condition {
        Condition::Offline => "DataSyncAgentOffline",
        Condition::ApiErrors => "DataSyncWardenAwsErrors",
        Condition::Missing => "DataSyncAgentMissing",
    }
}

/// FNV-1a 64 over the concatenated parts (Go's `hash/fnv` New64a).
pub(crate) fn fnv1a64<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    parts.into_iter().flatten().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// prometheus/common `LabelSet.Fingerprint`.
pub(crate) fn fingerprint(labels: &BTreeMap<&str, String>) -> u64 {
    let sep = [SEPARATOR];
    fnv1a64(
        labels
            .iter()
            .flat_map(|(name, value)| [name.as_bytes(), &sep[..], value.as_bytes(), &sep[..]]),
    )
}

/// The alert's identity: the same for every event of one condition on one agent, firing or
/// resolved, so a recovery resolves the alert its trigger raised.
pub(crate) fn labels(a: &Alert, condition: Condition) -> Labels {
    BTreeMap::from([
        ("alertname", alertname(condition).to_string()),
        ("severity", condition.severity().to_string()),
        ("agent_arn", a.agent_arn.clone()),
        ("agent_name", a.agent_name.clone()),
        ("region", a.region.clone()),
        ("instance", a.host.clone()),
    ])
}

fn annotations(a: &Alert) -> Labels {
    let mut description = format!(
        "{}: DataSync agent {} ({}) in {} is {}",
        title(a.event),
        a.agent_name,
        a.agent_arn,
        a.region,
        a.status
    );
    if let Some(since) = &a.since {
        description += &format!(", OFFLINE since {since}");
    }
    if let Some(outage) = outage(a) {
        description += &format!(", outage {outage}");
    }
    description += &format!("; seen by datasync-warden on {} at {}", a.host, a.at);
    BTreeMap::from([
        ("summary", line(&a.message).into_owned()),
        ("description", line(&description).into_owned()),
    ])
}

/// Go's `%q` for a label value: quotes, backslashes and control characters escaped.
fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `dispatch.aggrGroup.GroupKey` for the root route: `{}:{agent_arn="…", alertname="…"}`.
fn group_key(group: &Labels) -> String {
    let pairs: Vec<String> = group
        .iter()
        .map(|(name, value)| format!("{name}={}", go_quote(value)))
        .collect();
    format!("{{}}:{{{}}}", pairs.join(", "))
}

/// Go's `regexp.QuoteMeta`, which Alertmanager applies to the receiver's name.
fn quote_meta(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn message(a: &Alert, target: &Target<'_>) -> Message {
    let annotations = annotations(a);
    let resolved = resolves(a);
    let status = if resolved { "resolved" } else { "firing" };
    let ends_at = if resolved {
        a.at.clone()
    } else {
        ZERO_TIME.into()
    };
    // One alert per condition: a recovery may end two (api_errors and agent_missing).
    let alerts: Vec<AmAlert> = super::conditions(a)
        .into_iter()
        .map(|condition| {
            let labels = labels(a, condition);
            AmAlert {
                status,
                fingerprint: format!("{:016x}", fingerprint(&labels)),
                labels,
                annotations: annotations.clone(),
                // An outage started when the agent went OFFLINE, not when the daemon said so again.
                starts_at: match (&a.since, condition) {
                    (Some(since), Condition::Offline) => since.clone(),
                    _ => a.at.clone(),
                },
                ends_at: ends_at.clone(),
                generator_url: "",
            }
        })
        .collect();
    // What every alert of the notification shares, as Alertmanager computes it.
    let common_labels: Labels = alerts[0]
        .labels
        .iter()
        .filter(|(k, v)| alerts.iter().all(|x| x.labels.get(*k) == Some(*v)))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    let group_labels: Labels = GROUP_BY
        .into_iter()
        .filter_map(|name| {
            common_labels
                .get_key_value(name)
                .map(|(k, v)| (*k, v.clone()))
        })
        .collect();
    Message {
        receiver: quote_meta(target.name),
        status,
        alerts,
        group_key: group_key(&group_labels),
        group_labels,
        common_labels,
        common_annotations: annotations,
        external_url: "",
        version: VERSION,
        truncated_alerts: 0,
    }
}
