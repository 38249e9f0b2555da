use super::*;

const T: Thresholds = Thresholds {
    offline_after: 2,
    realert_every: Duration::from_secs(1800),
};

fn info(status: &str) -> AgentInfo {
    AgentInfo {
        arn: "arn:aws:datasync:us-east-1:111122223333:agent/agent-0123456789abcdef0".into(),
        name: None,
        status: status.into(),
        last_connection_time: None,
        endpoint_type: None,
        vpc_endpoint_id: None,
        private_link_endpoint: None,
        subnet_arns: vec![],
        security_group_arns: vec![],
        platform_version: None,
    }
}

/// Drives the monitor with one observation per minute; returns the kinds per step.
fn drive(steps: &[&str]) -> Vec<Vec<EventKind>> {
    let mut m = Monitor::default();
    let (t0, w0) = (
        Instant::now(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (now, wall) = (
                t0 + Duration::from_secs(60 * i as u64),
                w0 + Duration::from_secs(60 * i as u64),
            );
            let err = AwsError::Unreachable {
                op: "DescribeAgent",
                chain: "boom".into(),
            };
            let missing = AwsError::NotFound {
                op: "DescribeAgent",
                message: "gone".into(),
            };
            let r = match *s {
                "err" => m.observe(Err(&err), T, now, wall),
                "missing" => m.observe(Err(&missing), T, now, wall),
                status => m.observe(Ok(&info(status)), T, now, wall),
            };
            r.into_iter().map(|e| e.kind).collect()
        })
        .collect()
}

use EventKind::*;

#[test]
fn one_offline_poll_is_not_an_outage() {
    assert_eq!(
        drive(&["ONLINE", "OFFLINE", "ONLINE", "OFFLINE", "ONLINE"]),
        vec![vec![]; 5]
    );
}

#[test]
fn offline_after_two_polls_then_recovered() {
    let got = drive(&["ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "ONLINE"]);
    assert_eq!(
        got,
        vec![vec![], vec![], vec![Offline], vec![], vec![Recovered]]
    );
}

#[test]
fn still_offline_every_realert_period() {
    // 2 polls to declare, then re-alert every 30 polls (30 min at one poll a minute).
    let mut steps = vec!["OFFLINE"; 70];
    steps.push("ONLINE");
    let got = drive(&steps);
    let at = |k| {
        got.iter()
            .enumerate()
            .filter(|(_, e)| e.contains(&k))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    assert_eq!(at(Offline), vec![1]);
    assert_eq!(at(StillOffline), vec![31, 61]);
    assert_eq!(at(Recovered), vec![70]);
}

#[test]
fn recovery_reports_outage_from_last_connection_time() {
    let mut m = Monitor::default();
    let (t0, w0) = (
        Instant::now(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(10_000),
    );
    let mut off = info("OFFLINE");
    off.last_connection_time = Some(w0 - Duration::from_secs(300));
    assert!(m.observe(Ok(&off), T, t0, w0).is_empty());
    let e = m.observe(
        Ok(&off),
        T,
        t0 + Duration::from_secs(60),
        w0 + Duration::from_secs(60),
    );
    assert_eq!(e[0].since, off.last_connection_time);
    let e = m.observe(
        Ok(&info("ONLINE")),
        T,
        t0 + Duration::from_secs(120),
        w0 + Duration::from_secs(120),
    );
    assert_eq!(e[0].kind, Recovered);
    assert_eq!(e[0].outage, Some(Duration::from_secs(420)));
}

#[test]
fn api_errors_are_not_offline_and_alert_only_when_persistent() {
    let got = drive(&["ONLINE", "err", "err", "err", "err", "ONLINE"]);
    assert_eq!(
        got,
        vec![
            vec![],
            vec![],
            vec![],
            vec![ApiErrors],
            vec![],
            vec![ApiRecovered]
        ]
    );
}

#[test]
fn errors_between_offline_polls_do_not_hide_the_outage() {
    let got = drive(&["OFFLINE", "err", "OFFLINE", "ONLINE"]);
    assert_eq!(got, vec![vec![], vec![], vec![Offline], vec![Recovered]]);
}

#[test]
fn missing_agent_alerts_at_once_and_once() {
    let got = drive(&["ONLINE", "missing", "missing", "missing"]);
    assert_eq!(got, vec![vec![], vec![AgentMissing], vec![], vec![]]);
}

#[test]
fn unknown_status_changes_nothing() {
    assert_eq!(
        drive(&["OFFLINE", "UNKNOWN", "OFFLINE"]),
        vec![vec![], vec![], vec![Offline]]
    );
}
