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
            s.checks.insert("agent.activation_port".into(), true);
            s.checks.insert("endpoint.https".into(), false);
        });
        st.snapshot()
    }

    /// Today's exposition, byte for byte: a change here changes what every scraper reads.
    #[test]
    fn output_is_pinned() {
        assert_eq!(render(&snapshot(true)), POPULATED);
        assert_eq!(render(&snapshot(false)), FRESH);
    }

    const POPULATED: &str = r#"# HELP datasync_warden_build_info Build information; always 1.
# TYPE datasync_warden_build_info gauge
datasync_warden_build_info{version="1.2.3-test"} 1
# HELP process_start_time_seconds Start time of the process since the Unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1700000000.25
# HELP datasync_warden_phase 1 for the phase the daemon is in, 0 for the others.
# TYPE datasync_warden_phase gauge
datasync_warden_phase{phase="configuration"} 0
datasync_warden_phase{phase="preflight"} 0
datasync_warden_phase{phase="fetching_key"} 0
datasync_warden_phase{phase="activating"} 0
datasync_warden_phase{phase="monitoring"} 1
datasync_warden_phase{phase="stopping"} 0
# HELP datasync_warden_agent_activated 1 once the agent is activated (or monitored by ARN).
# TYPE datasync_warden_agent_activated gauge
datasync_warden_agent_activated 1
# HELP datasync_warden_agent_online 1 when the last DescribeAgent said ONLINE.
# TYPE datasync_warden_agent_online gauge
datasync_warden_agent_online 1
# HELP datasync_warden_agent_offline_declared 1 while the agent is declared OFFLINE (after monitor.offline_after polls).
# TYPE datasync_warden_agent_offline_declared gauge
datasync_warden_agent_offline_declared 1
# HELP datasync_warden_last_poll_timestamp_seconds Time of the last successful DescribeAgent since the Unix epoch.
# TYPE datasync_warden_last_poll_timestamp_seconds gauge
datasync_warden_last_poll_timestamp_seconds 1700000123.5
# HELP datasync_warden_alerts_total Alerts raised, by event.
# TYPE datasync_warden_alerts_total counter
datasync_warden_alerts_total{event="offline"} 3
datasync_warden_alerts_total{event="still_offline"} 0
datasync_warden_alerts_total{event="recovered"} 0
datasync_warden_alerts_total{event="api_errors"} 12
datasync_warden_alerts_total{event="api_recovered"} 0
datasync_warden_alerts_total{event="agent_missing"} 0
# HELP datasync_warden_aws_errors_total Failed AWS calls, by error kind.
# TYPE datasync_warden_aws_errors_total counter
datasync_warden_aws_errors_total{kind="throttled"} 2
datasync_warden_aws_errors_total{kind="we\"ird\\kind\n"} 1
# HELP datasync_warden_webhook_failures_total Alerts the webhook did not accept after retries.
# TYPE datasync_warden_webhook_failures_total counter
datasync_warden_webhook_failures_total 4
# HELP datasync_warden_check_ok 1 when the named check passed at its last run.
# TYPE datasync_warden_check_ok gauge
datasync_warden_check_ok{check="agent.activation_port"} 1
datasync_warden_check_ok{check="endpoint.https"} 0
"#;
    const FRESH: &str = r#"# HELP datasync_warden_build_info Build information; always 1.
# TYPE datasync_warden_build_info gauge
datasync_warden_build_info{version="1.2.3-test"} 1
# HELP process_start_time_seconds Start time of the process since the Unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1700000000.25
# HELP datasync_warden_phase 1 for the phase the daemon is in, 0 for the others.
# TYPE datasync_warden_phase gauge
datasync_warden_phase{phase="configuration"} 1
datasync_warden_phase{phase="preflight"} 0
datasync_warden_phase{phase="fetching_key"} 0
datasync_warden_phase{phase="activating"} 0
datasync_warden_phase{phase="monitoring"} 0
datasync_warden_phase{phase="stopping"} 0
# HELP datasync_warden_agent_activated 1 once the agent is activated (or monitored by ARN).
# TYPE datasync_warden_agent_activated gauge
datasync_warden_agent_activated 0
# HELP datasync_warden_agent_online 1 when the last DescribeAgent said ONLINE.
# TYPE datasync_warden_agent_online gauge
datasync_warden_agent_online 0
# HELP datasync_warden_agent_offline_declared 1 while the agent is declared OFFLINE (after monitor.offline_after polls).
# TYPE datasync_warden_agent_offline_declared gauge
datasync_warden_agent_offline_declared 0
# HELP datasync_warden_last_poll_timestamp_seconds Time of the last successful DescribeAgent since the Unix epoch.
# TYPE datasync_warden_last_poll_timestamp_seconds gauge
datasync_warden_last_poll_timestamp_seconds 0
# HELP datasync_warden_alerts_total Alerts raised, by event.
# TYPE datasync_warden_alerts_total counter
datasync_warden_alerts_total{event="offline"} 0
datasync_warden_alerts_total{event="still_offline"} 0
datasync_warden_alerts_total{event="recovered"} 0
datasync_warden_alerts_total{event="api_errors"} 0
datasync_warden_alerts_total{event="api_recovered"} 0
datasync_warden_alerts_total{event="agent_missing"} 0
# HELP datasync_warden_aws_errors_total Failed AWS calls, by error kind.
# TYPE datasync_warden_aws_errors_total counter
# HELP datasync_warden_webhook_failures_total Alerts the webhook did not accept after retries.
# TYPE datasync_warden_webhook_failures_total counter
datasync_warden_webhook_failures_total 0
# HELP datasync_warden_check_ok 1 when the named check passed at its last run.
# TYPE datasync_warden_check_ok gauge
"#;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
