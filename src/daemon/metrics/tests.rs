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
        s.revision = "0123456789ab";
        s.agent_name = "nfs-site-a".into();
        if !populated {
            return;
        }
        s.phase = Phase::Monitoring;
        s.agent_arn = Some("arn:aws:datasync:eu-west-1:111122223333:agent/agent-x".into());
        s.agent_status = Some("ONLINE".into());
        s.offline = true;
        s.last_poll_timestamp = Some(1_700_000_123.5);
        s.last_connection_timestamp = Some(1_700_000_100.0);
        s.endpoint_type = Some("PRIVATE_LINK".into());
        s.check_failures_total.insert("endpoint.https".into(), 5);
        s.check_failures_total.insert("not.a.check".into(), 1);
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

const POPULATED: &str = include_str!("populated.prom");
const FRESH: &str = include_str!("fresh.prom");

#[test]
fn label_values_are_escaped() {
    assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

/// The quoted strings of `source` that `keep` accepts.
fn literals(source: &str, keep: impl Fn(&str) -> bool) -> std::collections::BTreeSet<String> {
    source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| keep(s))
        .map(str::to_string)
        .collect()
}

/// A kind added to `AwsError::kind` without a row in `KINDS` would have no series until its
/// first error, and `increase()` would miss that first one.
#[test]
fn every_aws_error_kind_is_listed() {
    let source = include_str!("../../aws/error.rs");
    let start = source.find("fn kind(&self)").unwrap();
    let end = start + source[start..].find("\n    }\n").unwrap();
    let kinds = literals(&source[start..end], |_| true);
    let mut listed: std::collections::BTreeSet<String> = crate::aws::error::KINDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    listed.insert("dry_run_ok".into());
    assert_eq!(kinds, listed);
}

/// Every check name the preflight uses is listed in `check::NAMES` (and nothing else is).
#[test]
fn every_check_name_is_listed() {
    let sources = [
        include_str!("../../preflight/aws_checks.rs"),
        include_str!("../../preflight/discovery.rs"),
        include_str!("../../preflight/targets.rs"),
        include_str!("../../agent/probe.rs"),
    ];
    let name = |s: &str| {
        let mut parts = s.split('.');
        matches!(parts.next(), Some("aws" | "endpoint" | "agent"))
            && s.split('.').count() >= 2
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
            && s != "agent.example"
    };
    let used: std::collections::BTreeSet<String> = sources
        .iter()
        // The tests' own names are not checks.
        .map(|s| s.split("#[cfg(test)]").next().unwrap())
        .flat_map(|s| literals(s, name))
        .collect();
    let listed = crate::preflight::check::NAMES
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(used, listed);
}

#[test]
fn counters_have_every_known_label_from_zero() {
    let text = render(&snapshot(false));
    for kind in crate::aws::error::KINDS {
        assert!(text.contains(&format!(
            "datasync_warden_aws_errors_total{{kind=\"{kind}\"}} 0\n"
        )));
    }
    for check in crate::preflight::check::NAMES {
        let line = format!("datasync_warden_check_failures_total{{check=\"{check}\"}} 0\n");
        assert!(text.contains(&line), "{line}");
    }
    assert!(
        !text.contains("datasync_warden_check_ok{"),
        "no check ran yet"
    );
}

#[test]
fn agent_info_is_one_series_before_and_after_activation() {
    let fresh = render(&snapshot(false));
    assert!(fresh.contains(
        "datasync_warden_agent_info{agent_arn=\"\",agent_name=\"nfs-site-a\",region=\"eu-west-1\",endpoint_type=\"\"} 1\n"
    ));
    let st = Status::new("eu-west-1");
    st.update(|s| {
        // Adopted in the Region an interrupted run recorded, not endpoint.region's.
        s.agent_arn = Some("arn:aws:datasync:us-east-2:111122223333:agent/agent-y".into());
        s.endpoint_type = Some("PRIVATE_LINK".into());
    });
    let text = render(&st.snapshot());
    assert_eq!(text.matches("datasync_warden_agent_info{").count(), 1);
    assert!(text.contains("agent_arn=\"arn:aws:datasync:us-east-2:111122223333:agent/agent-y\",agent_name=\"\",region=\"us-east-2\",endpoint_type=\"PRIVATE_LINK\"} 1\n"));
}

/// The README's metrics table has a row for every family (the names are an interface).
#[test]
fn every_family_is_in_the_readme() {
    let readme = include_str!("../../../README.md");
    for f in FAMILIES {
        assert!(
            readme.contains(&format!("| `{}` |", f.name)),
            "README.md's metrics table lacks {}",
            f.name
        );
    }
}
