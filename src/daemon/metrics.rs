//! Prometheus text exposition (format 0.0.4) of the daemon's status.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::daemon::monitor::EventKind;
use crate::daemon::status::{Phase, Snapshot};

/// Content type of `/metrics`.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric family: one row of [`FAMILIES`].
struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    read: Read,
}

/// The family's `# TYPE`.
#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// How a family's samples are read from the snapshot.
enum Read {
    /// One sample without labels.
    Value(fn(&Snapshot) -> f64),
    /// One sample per value of the label named first, in the order returned.
    ByLabel(&'static str, fn(&Snapshot) -> Vec<(&str, f64)>),
    /// One sample per tuple of values of the labels named first, in the order returned.
    ByLabels(
        &'static [&'static str],
        fn(&Snapshot) -> Vec<LabelledSample<'_>>,
    ),
}

/// One sample's label values (in the order of its family's label names) and value.
type LabelledSample<'a> = (Vec<&'a str>, f64);

/// 1 or 0.
fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// One sample per known label value from 0 (so that `rate()` sees every counter start), then
/// any other value counted, in order.
fn every<'a>(known: &[&'a str], counts: &'a BTreeMap<String, u64>) -> Vec<(&'a str, f64)> {
    let mut out: Vec<(&str, f64)> = known
        .iter()
        .map(|&k| (k, counts.get(k).copied().unwrap_or(0) as f64))
        .collect();
    out.extend(
        counts
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, n)| (k.as_str(), *n as f64)),
    );
    out
}

/// Every family, in the order they are exposed: adding a metric is adding a row.
const FAMILIES: &[Family] = &[
    Family {
        name: "datasync_warden_build_info",
        kind: Kind::Gauge,
        help: "Build information: version and the commit built from (revision); always 1.",
        read: Read::ByLabels(&["version", "revision"], |s| {
            vec![(vec![s.version, s.revision], 1.0)]
        }),
    },
    Family {
        name: "process_start_time_seconds",
        kind: Kind::Gauge,
        help: "Start time of the process since the Unix epoch in seconds.",
        read: Read::Value(|s| s.start_time),
    },
    Family {
        name: "datasync_warden_phase",
        kind: Kind::Gauge,
        help: "1 for the phase the daemon is in, 0 for the others.",
        read: Read::ByLabel("phase", |s| {
            Phase::ALL
                .iter()
                .map(|&p| (p.as_str(), flag(p == s.phase)))
                .collect()
        }),
    },
    Family {
        name: "datasync_warden_agent_activated",
        kind: Kind::Gauge,
        help: "1 once the agent is activated (or monitored by ARN).",
        read: Read::Value(|s| flag(s.agent_arn.is_some())),
    },
    Family {
        name: "datasync_warden_agent_info",
        kind: Kind::Gauge,
        help: "The agent watched, for joins (group_left); always 1. agent_arn and endpoint_type are empty until known.",
        // Always one series, so that a join never drops a daemon that has not activated yet.
        read: Read::ByLabels(
            &["agent_arn", "agent_name", "region", "endpoint_type"],
            |s| {
                let arn = s.agent_arn.as_deref().unwrap_or_default();
                // An agent lives in its ARN's Region, whatever endpoint.region says now.
                let region = crate::ids::arn_region(arn).unwrap_or(&s.region);
                let endpoint_type = s.endpoint_type.as_deref().unwrap_or_default();
                vec![(vec![arn, s.agent_name.as_str(), region, endpoint_type], 1.0)]
            },
        ),
    },
    Family {
        name: "datasync_warden_agent_online",
        kind: Kind::Gauge,
        help: "1 when the last DescribeAgent said ONLINE.",
        read: Read::Value(|s| flag(s.agent_status.as_deref() == Some("ONLINE"))),
    },
    Family {
        name: "datasync_warden_agent_offline_declared",
        kind: Kind::Gauge,
        help: "1 while the agent is declared OFFLINE (after monitor.offline_after polls).",
        read: Read::Value(|s| flag(s.offline)),
    },
    Family {
        name: "datasync_warden_last_poll_timestamp_seconds",
        kind: Kind::Gauge,
        help: "Time of the last successful DescribeAgent since the Unix epoch.",
        read: Read::Value(|s| s.last_poll_timestamp.unwrap_or(0.0)),
    },
    Family {
        name: "datasync_warden_agent_last_connection_timestamp_seconds",
        kind: Kind::Gauge,
        help: "When the agent last connected to AWS (DescribeAgent's LastConnectionTime) since the Unix epoch; 0 while unknown.",
        read: Read::Value(|s| s.last_connection_timestamp.unwrap_or(0.0)),
    },
    Family {
        name: "datasync_warden_alerts_total",
        kind: Kind::Counter,
        help: "Alerts raised, by event.",
        // Every event, raised or not, so that rate() sees a counter start at 0.
        read: Read::ByLabel("event", |s| {
            EventKind::ALL
                .iter()
                .map(|k| {
                    let n = s.alerts_total.get(k.as_str()).copied().unwrap_or(0);
                    (k.as_str(), n as f64)
                })
                .collect()
        }),
    },
    Family {
        name: "datasync_warden_aws_errors_total",
        kind: Kind::Counter,
        help: "Failed AWS calls, by error kind.",
        read: Read::ByLabel("kind", |s| {
            every(crate::aws::error::KINDS, &s.aws_errors_total)
        }),
    },
    Family {
        name: "datasync_warden_webhook_failures_total",
        kind: Kind::Counter,
        help: "Alert deliveries failed after retries or dropped from a full queue, all destinations.",
        read: Read::Value(|s| s.webhook_failures_total as f64),
    },
    Family {
        name: "datasync_warden_alert_deliveries_total",
        kind: Kind::Counter,
        help: "Alert deliveries by destination and result (delivered, failed after retries, dropped from a full queue).",
        // Every result of every configured destination, from 0.
        read: Read::ByLabels(&["destination", "format", "result"], |s| {
            s.deliveries
                .iter()
                .flat_map(|(name, d)| {
                    [
                        ("delivered", d.delivered),
                        ("failed", d.failed),
                        ("dropped", d.dropped),
                    ]
                    .map(|(result, n)| (vec![name.as_str(), d.format, result], n as f64))
                })
                .collect()
        }),
    },
    Family {
        name: "datasync_warden_alert_queue_length",
        kind: Kind::Gauge,
        help: "Alerts waiting for a destination or being delivered to it.",
        read: Read::ByLabels(&["destination", "format"], |s| {
            s.deliveries
                .iter()
                .map(|(name, d)| (vec![name.as_str(), d.format], d.queued as f64))
                .collect()
        }),
    },
    Family {
        name: "datasync_warden_check_failures_total",
        kind: Kind::Counter,
        help: "Runs of the named check that failed.",
        read: Read::ByLabel("check", |s| {
            every(crate::preflight::check::NAMES, &s.check_failures_total)
        }),
    },
    Family {
        name: "datasync_warden_check_ok",
        kind: Kind::Gauge,
        // Only checks that ran: a 0 from the start would say "failed" of a check not run yet.
        help: "1 when the named check passed at its last run, 0 when it failed; absent until it runs.",
        read: Read::ByLabel("check", |s| {
            s.checks
                .iter()
                .map(|(check, ok)| (check.as_str(), flag(*ok)))
                .collect()
        }),
    },
];

/// Renders every metric.
pub(crate) fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    for f in FAMILIES {
        let (name, kind) = (f.name, f.kind.as_str());
        let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {kind}", f.help);
        match f.read {
            Read::Value(read) => {
                let _ = writeln!(out, "{name} {}", read(s));
            }
            Read::ByLabel(key, read) => {
                for (value, n) in read(s) {
                    let _ = writeln!(out, "{name}{{{key}=\"{}\"}} {n}", label(value));
                }
            }
            Read::ByLabels(keys, read) => {
                for (values, n) in read(s) {
                    let pairs = keys
                        .iter()
                        .zip(values)
                        .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                        .collect::<Vec<_>>()
                        .join(",");
                    let _ = writeln!(out, "{name}{{{pairs}}} {n}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
