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

/// A DescribeAgent that did not get through.
fn unreachable() -> AwsError {
    AwsError::Unreachable {
        op: "datasync:DescribeAgent",
        cause: "timeout",
        chain: "boom".into(),
    }
}

/// DataSync no longer knows the agent.
fn not_found() -> AwsError {
    AwsError::NotFound {
        op: "DescribeAgent",
        message: "gone".into(),
    }
}

/// Drives the monitor with one observation per minute; returns the kinds per step.
fn drive(steps: &[&str]) -> Vec<Vec<EventKind>> {
    drive_settling(steps, 0)
}

/// [`drive`] for an agent activated just before the first poll, with `grace_polls` minutes of
/// post-activation grace.
fn drive_settling(steps: &[&str], grace_polls: u64) -> Vec<Vec<EventKind>> {
    let (t0, w0) = (
        Instant::now(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    let mut m = Monitor::default().settling_until(t0 + Duration::from_secs(60 * grace_polls));
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (now, wall) = (
                t0 + Duration::from_secs(60 * i as u64),
                w0 + Duration::from_secs(60 * i as u64),
            );
            let (err, missing) = (unreachable(), not_found());
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
fn missing_agent_is_debounced_like_offline_and_alerts_once() {
    let got = drive(&["ONLINE", "missing", "missing", "missing"]);
    assert_eq!(got, vec![vec![], vec![], vec![AgentMissing], vec![]]);
    // One "does not exist" between good answers is eventual consistency, not a deletion.
    let blip = drive(&["ONLINE", "missing", "ONLINE", "missing", "ONLINE"]);
    assert_eq!(blip, vec![vec![]; 5]);
}

#[test]
fn a_deletion_during_an_api_outage_is_still_alerted() {
    // Credentials expire (api_errors), then, once DescribeAgent works again, the agent turns
    // out to be gone: agent_missing must follow, not be swallowed by the first alert.
    let got = drive(&[
        "ONLINE", "err", "err", "err", "missing", "missing", "missing",
    ]);
    assert_eq!(got[3], vec![ApiErrors]);
    assert_eq!(got[5], vec![AgentMissing], "{got:?}");
    assert_eq!(got[6], vec![]);
}

#[test]
fn not_yet_visible_and_updating_right_after_activation_page_nobody() {
    // Terraform's experience: DescribeAgent says "does not exist" for a while after
    // CreateAgent; then the agent goes OFFLINE briefly while AWS updates it.
    let steps = [
        "missing", "missing", "missing", "OFFLINE", "OFFLINE", "OFFLINE", "ONLINE",
    ];
    assert_eq!(drive_settling(&steps, 10), vec![vec![]; 7]);
}

#[test]
fn an_outage_that_outlasts_the_grace_is_alerted_after_it() {
    let mut steps = vec!["OFFLINE"; 6];
    steps.push("ONLINE");
    let got = drive_settling(&steps, 3);
    assert_eq!(got[..3], [vec![], vec![], vec![]]);
    assert_eq!(got[3], vec![Offline], "first poll after the grace: {got:?}");
    assert_eq!(got[6], vec![Recovered]);
    // An agent that never appears is reported missing once the grace is over (debounced).
    let got = drive_settling(&["missing"; 6], 3);
    assert_eq!(
        got,
        [vec![], vec![], vec![], vec![], vec![AgentMissing], vec![]]
    );
}

#[test]
fn unknown_status_changes_nothing() {
    assert_eq!(
        drive(&["OFFLINE", "UNKNOWN", "OFFLINE"]),
        vec![vec![], vec![], vec![Offline]]
    );
}

#[test]
fn a_recovery_names_every_alert_it_ends() {
    let (t0, w0) = (Instant::now(), SystemTime::UNIX_EPOCH);
    let mut m = Monitor::default();
    let (err, missing) = (unreachable(), not_found());
    let mut all = Vec::new();
    for (i, r) in [
        Err(&err),
        Err(&err),
        Err(&err),
        Err(&missing),
        Err(&missing),
        Ok(&info("ONLINE")),
    ]
    .into_iter()
    .enumerate()
    {
        let at = Duration::from_secs(60 * i as u64);
        all.extend(m.observe(r, T, t0 + at, w0 + at));
    }
    let kinds: Vec<_> = all.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ApiErrors, AgentMissing, ApiRecovered]);
    assert_eq!(
        all[2].resolves,
        [ApiErrors, AgentMissing],
        "both incidents close"
    );
    let outage = drive(&["OFFLINE", "OFFLINE", "ONLINE"]);
    assert_eq!(outage[2], [Recovered]);
}

#[test]
fn what_a_previous_process_left_firing_is_resolved_not_paged_again() {
    let (t0, w0) = (
        Instant::now(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    let since = w0 - Duration::from_secs(600);
    let firing = Firing {
        offline_since: Some(since),
        failing: vec![ApiErrors],
    };
    let mut m = Monitor::default().resuming(firing.clone(), t0);
    assert_eq!(m.firing(), firing);
    // DescribeAgent works again, the agent is still OFFLINE: the API alert resolves, the
    // outage is not paged again as new.
    let first = m.observe(Ok(&info("OFFLINE")), T, t0, w0);
    let kinds: Vec<_> = first.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ApiRecovered]);
    assert_eq!(first[0].resolves, [ApiErrors]);
    let at = Duration::from_secs(60);
    let back = m.observe(Ok(&info("ONLINE")), T, t0 + at, w0 + at);
    let kinds: Vec<_> = back.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [Recovered]);
    assert_eq!(
        back[0].since,
        Some(since),
        "the outage began before the restart"
    );
    assert_eq!(back[0].outage, Some(Duration::from_secs(660)));
    assert_eq!(m.firing(), Firing::default());
}
