//! Prometheus text exposition (format 0.0.4) of the daemon's status.

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

/// Every family, in the order they are exposed: adding a metric is adding a row.
const FAMILIES: &[Family] = &[
    Family {
        name: "datasync_warden_build_info",
        kind: Kind::Gauge,
        help: "Build information; always 1.",
        read: Read::ByLabel("version", |s| vec![(s.version, 1.0)]),
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
            s.aws_errors_total
                .iter()
                .map(|(kind, n)| (kind.as_str(), *n as f64))
                .collect()
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
        name: "datasync_warden_check_ok",
        kind: Kind::Gauge,
        help: "1 when the named check passed at its last run.",
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
mod tests {
    use super::*;
    use crate::daemon::status::Status;

    #[test]
    fn every_family_has_help_type_and_samples() {
        let st = Status::new("us-east-1");
        st.update(|s| {
            s.phase = Phase::Monitoring;
            s.agent_status = Some("ONLINE".into());
            s.aws_errors_total.insert("throttled".into(), 2);
            s.checks.insert("agent.activation_port".into(), true);
            s.alerts_total.insert("offline".into(), 1);
        });
        let text = render(&st.snapshot());
        assert!(text.contains("datasync_warden_phase{phase=\"monitoring\"} 1\n"));
        assert!(text.contains("datasync_warden_phase{phase=\"preflight\"} 0\n"));
        assert!(text.contains("datasync_warden_agent_online 1\n"));
        assert!(text.contains("datasync_warden_alerts_total{event=\"offline\"} 1\n"));
        assert!(text.contains("datasync_warden_alerts_total{event=\"recovered\"} 0\n"));
        assert!(text.contains("datasync_warden_aws_errors_total{kind=\"throttled\"} 2\n"));
        assert!(text.contains("datasync_warden_check_ok{check=\"agent.activation_port\"} 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}"
            );
        }
    }

    /// A status with every field `render` reads set, labels that need escaping included;
    /// `populated = false` is a fresh daemon's (nothing known yet).
    fn snapshot(populated: bool) -> Snapshot {
        let st = Status::new("eu-west-1");
        st.update(|s| {
            s.start_time = 1_700_000_000.25;
            s.version = "1.2.3-test";
            if !populated {
                return;
            }
            s.phase = Phase::Monitoring;
            s.agent_arn = Some("arn:aws:datasync:eu-west-1:111122223333:agent/agent-x".into());
            s.agent_status = Some("ONLINE".into());
            s.offline = true;
            s.last_poll_timestamp = Some(1_700_000_123.5);
            s.alerts_total.insert("offline".into(), 3);
            s.alerts_total.insert("api_errors".into(), 12);
            s.alerts_total.insert("not_an_event".into(), 9);
            s.aws_errors_total.insert("throttled".into(), 2);
            s.aws_errors_total.insert("we\"ird\\kind\n".into(), 1);
            s.webhook_failures_total = 4;
            s.deliveries.insert(
                "pager".into(),
                crate::daemon::status::Deliveries {
                    format: "pagerduty",
                    delivered: 7,
                    failed: 3,
                    dropped: 1,
                    queued: 2,
                },
            );
            s.deliveries.insert(
                "chat\"ops".into(),
                crate::daemon::status::Deliveries {
                    format: "slack",
                    ..Default::default()
                },
            );
            s.checks.insert("agent.activation_port".into(), true);
            s.checks.insert("endpoint.https".into(), false);
        });
        st.snapshot()
    }

    /// Today's exposition, byte for byte (`metrics/*.prom`): a change here changes what every
    /// scraper reads.
    #[test]
    fn output_is_pinned() {
        if std::env::var_os("BLESS").is_some() {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/daemon/metrics");
            std::fs::write(format!("{dir}/populated.prom"), render(&snapshot(true))).unwrap();
            std::fs::write(format!("{dir}/fresh.prom"), render(&snapshot(false))).unwrap();
            return;
        }
        assert_eq!(render(&snapshot(true)), POPULATED);
        assert_eq!(render(&snapshot(false)), FRESH);
    }

    const POPULATED: &str = include_str!("metrics/populated.prom");
    const FRESH: &str = include_str!("metrics/fresh.prom");

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
