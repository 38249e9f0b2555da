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

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        let _ = writeln!(self.0, "{name}{labels} {value}");
    }
}

/// Renders every metric.
pub(crate) fn render(s: &Snapshot) -> String {
    let mut o = Out(String::with_capacity(4096));
    o.family(
        "datasync_warden_build_info",
        "gauge",
        "Build information; always 1.",
    );
    o.sample("datasync_warden_build_info", &[("version", s.version)], 1.0);
    o.family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch in seconds.",
    );
    o.sample("process_start_time_seconds", &[], s.start_time);
    o.family(
        "datasync_warden_phase",
        "gauge",
        "1 for the phase the daemon is in, 0 for the others.",
    );
    for p in Phase::ALL {
        o.sample(
            "datasync_warden_phase",
            &[("phase", p.as_str())],
            f64::from(u8::from(p == s.phase)),
        );
    }
    o.family(
        "datasync_warden_agent_activated",
        "gauge",
        "1 once the agent is activated (or monitored by ARN).",
    );
    o.sample(
        "datasync_warden_agent_activated",
        &[],
        f64::from(u8::from(s.agent_arn.is_some())),
    );
    o.family(
        "datasync_warden_agent_online",
        "gauge",
        "1 when the last DescribeAgent said ONLINE.",
    );
    o.sample(
        "datasync_warden_agent_online",
        &[],
        f64::from(u8::from(s.agent_status.as_deref() == Some("ONLINE"))),
    );
    o.family(
        "datasync_warden_agent_offline_declared",
        "gauge",
        "1 while the agent is declared OFFLINE (after monitor.offline_after polls).",
    );
    o.sample(
        "datasync_warden_agent_offline_declared",
        &[],
        f64::from(u8::from(s.offline)),
    );
    o.family(
        "datasync_warden_last_poll_timestamp_seconds",
        "gauge",
        "Time of the last successful DescribeAgent since the Unix epoch.",
    );
    o.sample(
        "datasync_warden_last_poll_timestamp_seconds",
        &[],
        s.last_poll_timestamp.unwrap_or(0.0),
    );
    o.family(
        "datasync_warden_alerts_total",
        "counter",
        "Alerts raised, by event.",
    );
    for k in EventKind::ALL {
        let n = s.alerts_total.get(k.as_str()).copied().unwrap_or(0);
        o.sample(
            "datasync_warden_alerts_total",
            &[("event", k.as_str())],
            n as f64,
        );
    }
    o.family(
        "datasync_warden_aws_errors_total",
        "counter",
        "Failed AWS calls, by error kind.",
    );
    for (kind, n) in &s.aws_errors_total {
        o.sample(
            "datasync_warden_aws_errors_total",
            &[("kind", kind)],
            *n as f64,
        );
    }
    o.family(
        "datasync_warden_webhook_failures_total",
        "counter",
        "Alerts the webhook did not accept after retries.",
    );
    o.sample(
        "datasync_warden_webhook_failures_total",
        &[],
        s.webhook_failures_total as f64,
    );
    o.family(
        "datasync_warden_check_ok",
        "gauge",
        "1 when the named check passed at its last run.",
    );
    for (check, ok) in &s.checks {
        o.sample(
            "datasync_warden_check_ok",
            &[("check", check)],
            f64::from(u8::from(*ok)),
        );
    }
    o.0
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

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
