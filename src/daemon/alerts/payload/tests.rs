//! Each format, each event kind, checked against its service's published shape.

use serde_json::Value;

use super::*;
use crate::daemon::alerts::Alert;

// The shape checks live in one file shared with the integration tests (tests/common/shapes.rs),
// whose items are `pub` for them.
#[path = "../../../../tests/common/shapes.rs"]
#[allow(unreachable_pub, dead_code)]
mod shapes;
pub(crate) use shapes::{
    EVENTS, ZERO_TIME, assert_alertmanager_shape, assert_json_shape, assert_pagerduty_shape,
    assert_slack_shape, assert_teams_shape, prometheus_fingerprint,
};

const ARN: &str = "arn:aws:datasync:eu-west-1:111122223333:agent/agent-0123456789abcdef0";
const OTHER_ARN: &str = "arn:aws:datasync:eu-west-1:111122223333:agent/agent-0fedcba9876543210";
const SINCE: &str = "2026-03-01T10:00:00Z";
const AT: &str = "2026-03-01T10:30:00Z";
const KEY: &str = "0123456789abcdef0123456789abcdef";

fn target() -> Target<'static> {
    Target {
        name: "ops.pager",
        routing_key: Some(KEY),
    }
}

/// An alert as `alerts::alert` builds it for `event`.
fn alert(event: &'static str) -> Alert {
    let outage = matches!(event, "offline" | "still_offline" | "recovered");
    let (severity, state) = match event {
        "recovered" | "api_recovered" => ("info", "resolved"),
        "api_errors" => ("warning", "firing"),
        _ => ("critical", "firing"),
    };
    Alert {
        event,
        agent_arn: ARN.into(),
        agent_name: "lab-agent_1".into(),
        region: "eu-west-1".into(),
        status: if event == "recovered" {
            "ONLINE"
        } else {
            "OFFLINE"
        }
        .into(),
        since: outage.then(|| SINCE.into()),
        outage_seconds: (outage && event != "offline").then_some(1800),
        host: "gw-01.example.internal".into(),
        message: format!("DataSync agent lab-agent_1: {event}"),
        at: AT.into(),
        severity,
        state,
        resolves: match event {
            "recovered" => vec!["offline"],
            "api_recovered" => vec!["api_errors"],
            _ => Vec::new(),
        },
    }
}

/// Outside text at its worst: 10 000 characters with Slack's and Markdown's specials, newlines.
fn hostile(event: &'static str) -> Alert {
    let nasty = "<&>[x](https://evil.example)*_\n\r\t".repeat(200);
    Alert {
        agent_name: format!("{nasty}{}", "n".repeat(10_000 - nasty.chars().count())),
        message: format!("{nasty}{}", "m".repeat(10_000 - nasty.chars().count())),
        status: "<!channel> & @here".into(),
        host: "host<&>\nforged: line".into(),
        ..alert(event)
    }
}

fn body(format: Format, a: &Alert) -> Value {
    let bytes = render(format, a, &target());
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{format} body is not JSON: {e}"))
}

fn check(format: Format, v: &Value) {
    match format {
        Format::Json => assert_json_shape(v),
        Format::Slack => assert_slack_shape(v),
        Format::Pagerduty => assert_pagerduty_shape(v),
        Format::Teams => assert_teams_shape(v),
        Format::Alertmanager => assert_alertmanager_shape(v),
    }
}

#[test]
fn every_format_and_event_has_the_published_shape() {
    for format in Format::ALL {
        for event in EVENTS {
            for a in [alert(event), hostile(event)] {
                check(format, &body(format, &a));
            }
        }
    }
}

#[test]
fn json_is_the_alert_itself() {
    for event in EVENTS {
        let a = alert(event);
        assert_eq!(
            render(Format::Json, &a, &target()),
            serde_json::to_vec(&a).unwrap()
        );
    }
}

#[test]
fn shape_checks_catch_violations() {
    let good = body(Format::Slack, &alert("offline"));
    let mut bad = good.clone();
    bad["blocks"][0]["text"]["text"] = Value::from("h".repeat(151));
    assert!(std::panic::catch_unwind(|| assert_slack_shape(&bad)).is_err());
    let mut bad = good;
    bad["blocks"][1]["text"]["text"] = Value::from("a <b> & c");
    assert!(std::panic::catch_unwind(|| assert_slack_shape(&bad)).is_err());
    let mut bad = body(Format::Pagerduty, &alert("offline"));
    bad["payload"]["severity"] = Value::from("fatal");
    assert!(std::panic::catch_unwind(|| assert_pagerduty_shape(&bad)).is_err());
    let mut bad = body(Format::Alertmanager, &alert("offline"));
    bad["alerts"][0]["labels"]["region"] = Value::from("us-east-1");
    assert!(std::panic::catch_unwind(|| assert_alertmanager_shape(&bad)).is_err());
    let mut bad = body(Format::Teams, &alert("offline"));
    bad["attachments"][0]["content"]["version"] = Value::from("1.6");
    assert!(std::panic::catch_unwind(|| assert_teams_shape(&bad)).is_err());
}

#[test]
fn slack_escapes_outside_text_and_keeps_within_limits() {
    let v = body(Format::Slack, &hostile("api_errors"));
    let header = v["blocks"][0]["text"]["text"].as_str().unwrap();
    assert_eq!(header, "\u{1F7E0} Cannot read the DataSync agent's status");
    let section = v["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.contains("&lt;&amp;&gt;"), "{section}");
    assert!(!section.contains('\n'), "outside text forged a line");
    assert!(section.ends_with('\u{2026}') && len16(section) <= slack::SECTION_TEXT_MAX);
    let fields = v["blocks"][2]["fields"].as_array().unwrap();
    let agent = fields[0]["text"].as_str().unwrap();
    assert!(
        agent.starts_with("*Agent*\n&lt;&amp;&gt;[x]") && len16(agent) <= slack::FIELD_TEXT_MAX
    );
    assert!(
        agent.ends_with('\u{2026}'),
        "a 10 000-character name is cut"
    );
    assert_eq!(fields[4]["text"], "*Status*\n&lt;!channel&gt; &amp; @here");
    assert_eq!(v["blocks"][1]["text"]["verbatim"], true);
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("\u{1F7E0} Cannot read")
    );
}

#[test]
fn slack_shows_the_outage_once_resolved() {
    let v = body(Format::Slack, &alert("recovered"));
    assert!(
        v["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with('\u{2705}')
    );
    let fields: Vec<&str> = v["blocks"][2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"*OFFLINE since*\n2026-03-01T10:00:00Z"),
        "{fields:?}"
    );
    assert!(fields.contains(&"*Outage*\n30m"), "{fields:?}");
}

fn dedup(event: &'static str, arn: &str) -> (String, String) {
    let v = body(
        Format::Pagerduty,
        &Alert {
            agent_arn: arn.into(),
            ..alert(event)
        },
    );
    let key = v["dedup_key"].as_str().unwrap().to_string();
    (v["event_action"].as_str().unwrap().to_string(), key)
}

#[test]
fn pagerduty_recoveries_resolve_what_their_condition_triggered() {
    let (action, offline) = dedup("offline", ARN);
    assert_eq!(action, "trigger");
    assert_eq!(
        offline,
        format!("datasync-warden/offline/{ARN}"),
        "keys survive restarts"
    );
    assert_eq!(
        dedup("still_offline", ARN),
        ("trigger".into(), offline.clone())
    );
    assert_eq!(dedup("recovered", ARN), ("resolve".into(), offline.clone()));
    let (action, api) = dedup("api_errors", ARN);
    assert_eq!(action, "trigger");
    assert_eq!(dedup("api_recovered", ARN), ("resolve".into(), api.clone()));
    let (action, missing) = dedup("agent_missing", ARN);
    assert_eq!(action, "trigger");
    let (_, other) = dedup("offline", OTHER_ARN);
    let keys = [&offline, &api, &missing, &other];
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b, "conditions and agents must not share a key");
        }
    }
}

#[test]
fn pagerduty_fields() {
    let v = body(Format::Pagerduty, &alert("still_offline"));
    assert_eq!(v["routing_key"], KEY);
    assert_eq!(v["client"], "datasync-warden");
    let p = &v["payload"];
    assert_eq!(p["source"], "gw-01.example.internal");
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["timestamp"], AT);
    assert_eq!(p["component"], "lab-agent_1");
    assert_eq!(p["group"], "eu-west-1");
    assert_eq!(p["class"], "agent offline");
    let d = &p["custom_details"];
    assert_eq!(d["agent_arn"], ARN);
    assert_eq!(d["since"], SINCE);
    assert_eq!(d["outage_seconds"], 1800);
    assert_eq!(d["event"], "still_offline");
    assert_eq!(
        body(Format::Pagerduty, &alert("api_errors"))["payload"]["severity"],
        "warning"
    );
    assert_eq!(
        body(Format::Pagerduty, &alert("recovered"))["payload"]["severity"],
        "info"
    );
    let v = body(Format::Pagerduty, &hostile("offline"));
    let summary = v["payload"]["summary"].as_str().unwrap();
    assert!(len16(summary) <= pagerduty::SUMMARY_MAX && !summary.contains('\n'));
}

#[test]
fn pagerduty_key_of_an_overlong_arn_is_bounded_and_stable() {
    let arn = format!("arn:{}", "x".repeat(400));
    let key = pagerduty::dedup_key(Condition::Offline, &arn);
    assert!(key.len() <= pagerduty::DEDUP_KEY_MAX, "{key}");
    assert_eq!(key, pagerduty::dedup_key(Condition::Offline, &arn));
    assert_ne!(key, pagerduty::dedup_key(Condition::ApiErrors, &arn));
    assert_ne!(
        key,
        pagerduty::dedup_key(Condition::Offline, &format!("{arn}y"))
    );
}

#[test]
fn the_routing_key_stays_out_of_debug_output() {
    let shown = format!("{:?}", target());
    assert!(
        !shown.contains(KEY) && shown.contains("ops.pager"),
        "{shown}"
    );
}

#[test]
fn teams_posts_one_adaptive_card_in_the_workflows_envelope() {
    let v = body(Format::Teams, &hostile("offline"));
    assert_eq!(v["type"], "message");
    let attachments = v["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["contentType"], teams::CONTENT_TYPE);
    assert!(attachments[0].get("contentUrl").is_some_and(Value::is_null));
    let card = &attachments[0]["content"];
    assert_eq!(card["version"], teams::CARD_VERSION);
    assert_eq!(card["body"][0]["style"], "attention");
    assert_eq!(
        card["body"][0]["items"][0]["text"],
        "DataSync agent OFFLINE"
    );
    // The message is a TextRun: shown as sent (no Markdown), on one line, bounded.
    let run = card["body"][1]["inlines"][0]["text"].as_str().unwrap();
    assert!(run.contains("<&>[x](https://evil.example)*_") && !run.contains('\n'));
    assert!(len16(run) <= teams::TEXT_MAX);
    let facts = card["body"][2]["facts"].as_array().unwrap();
    assert_eq!(facts[0]["title"], "Agent");
    let name = facts[0]["value"].as_str().unwrap();
    assert!(name.contains(r"\[x\](https://evil.example)\*\_"), "{name}");
    assert!(len16(name) <= teams::FACT_MAX);
}

#[test]
fn teams_fact_values_cannot_start_a_list() {
    let a = Alert {
        region: "- 1. item".into(),
        status: "12. twelve".into(),
        ..alert("api_errors")
    };
    let v = body(Format::Teams, &a);
    let facts = &v["attachments"][0]["content"]["body"][2]["facts"];
    assert_eq!(facts[2]["value"], r"\- 1. item");
    assert_eq!(
        facts[4]["value"], r"12\. twelve",
        "the dot escaped, not the digit"
    );
    assert_eq!(
        v["attachments"][0]["content"]["body"][0]["style"],
        "warning"
    );
}

#[test]
fn prometheus_fingerprint_matches_prometheus_common() {
    // prometheus/common model/signature_test.go: TestMetricToFingerprint and the benchmarks.
    let labels = |pairs: &[(&'static str, &str)]| -> alertmanager::Labels {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    assert_eq!(
        alertmanager::fingerprint(&labels(&[])),
        14_695_981_039_346_656_037
    );
    let fp = alertmanager::fingerprint(&labels(&[
        ("name", "garland, briggs"),
        ("fear", "love is not enough"),
    ]));
    assert_eq!(fp, 5_799_056_148_416_392_346);
    assert_eq!(format!("{fp:016x}"), "507a62d79ee76c9a");
    let one = labels(&[("first-label", "first-label-value")]);
    assert_eq!(alertmanager::fingerprint(&one), 5_146_282_821_936_882_169);
}

fn am(event: &'static str) -> Value {
    body(Format::Alertmanager, &alert(event))
}

#[test]
fn alertmanager_firing_and_resolved_alerts_pair_up() {
    let (offline, still, recovered) = (am("offline"), am("still_offline"), am("recovered"));
    for v in [&offline, &still] {
        assert_eq!(v["status"], "firing");
        assert_eq!(v["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(
            v["alerts"][0]["startsAt"], SINCE,
            "an outage starts when the agent went OFFLINE"
        );
    }
    assert_eq!(recovered["status"], "resolved");
    assert_eq!(recovered["alerts"][0]["status"], "resolved");
    assert_eq!(recovered["alerts"][0]["endsAt"], AT);
    assert_eq!(recovered["alerts"][0]["startsAt"], SINCE);
    let fp = &offline["alerts"][0]["fingerprint"];
    assert_eq!(&still["alerts"][0]["fingerprint"], fp);
    assert_eq!(&recovered["alerts"][0]["fingerprint"], fp);
    assert_eq!(
        recovered["alerts"][0]["labels"],
        offline["alerts"][0]["labels"]
    );
    assert_eq!(
        offline["alerts"][0]["labels"]["alertname"],
        "DataSyncAgentOffline"
    );
    assert_eq!(offline["alerts"][0]["labels"]["severity"], "critical");

    let (errors, ok) = (am("api_errors"), am("api_recovered"));
    assert_eq!(
        errors["alerts"][0]["labels"]["alertname"],
        "DataSyncWardenAwsErrors"
    );
    assert_eq!(errors["alerts"][0]["startsAt"], AT);
    assert_eq!(
        ok["alerts"][0]["fingerprint"],
        errors["alerts"][0]["fingerprint"]
    );
    assert_eq!(ok["alerts"][0]["endsAt"], AT);
    assert_ne!(errors["alerts"][0]["fingerprint"], *fp);
    let missing = am("agent_missing");
    assert_eq!(
        missing["alerts"][0]["labels"]["alertname"],
        "DataSyncAgentMissing"
    );
    assert_ne!(missing["alerts"][0]["fingerprint"], *fp);
    let other = body(
        Format::Alertmanager,
        &Alert {
            agent_arn: OTHER_ARN.into(),
            ..alert("offline")
        },
    );
    assert_ne!(other["alerts"][0]["fingerprint"], *fp);
}

#[test]
fn alertmanager_envelope_is_what_alertmanager_sends() {
    let v = am("offline");
    assert_eq!(v["version"], "4");
    assert_eq!(v["truncatedAlerts"], 0);
    assert_eq!(
        v["receiver"], r"ops\.pager",
        "Alertmanager quotes the receiver's name"
    );
    assert_eq!(
        v["groupKey"],
        format!(r#"{{}}:{{agent_arn="{ARN}", alertname="DataSyncAgentOffline"}}"#)
    );
    assert_eq!(v["groupLabels"]["alertname"], "DataSyncAgentOffline");
    assert_eq!(v["commonLabels"], v["alerts"][0]["labels"]);
    assert_eq!(v["commonAnnotations"], v["alerts"][0]["annotations"]);
    let labels = v["alerts"][0]["labels"].as_object().unwrap();
    assert_eq!(labels["instance"], "gw-01.example.internal");
    assert_eq!(labels["agent_name"], "lab-agent_1");
    assert_eq!(labels["region"], "eu-west-1");
    assert_eq!(
        v["alerts"][0]["fingerprint"],
        prometheus_fingerprint(labels)
    );
    let description = v["alerts"][0]["annotations"]["description"]
        .as_str()
        .unwrap();
    assert!(
        description.contains(ARN) && description.contains(SINCE),
        "{description}"
    );
}

#[test]
fn fit_never_splits_an_escape() {
    let esc = |c: char, out: &mut String| match c {
        '&' => out.push_str("&amp;"),
        c => out.push(c),
    };
    assert_eq!(fit("a&b", 7, esc), "a&amp;b");
    assert_eq!(fit("a&b", 6, esc), "a\u{2026}");
    assert_eq!(fit("a&&", 7, esc), "a&amp;\u{2026}");
    assert_eq!(truncate("abc", 3), "abc");
    assert_eq!(truncate("abcd", 3), "ab\u{2026}");
    // An emoji is two UTF-16 units: never more than the limit, counted either way.
    assert_eq!(truncate("\u{1F534}\u{1F534}", 3), "\u{1F534}\u{2026}");
}

#[test]
fn a_recovery_from_both_failures_resolves_both() {
    let a = Alert {
        resolves: vec!["api_errors", "agent_missing"],
        ..alert("api_recovered")
    };
    let pd: Vec<Value> = bodies(Format::Pagerduty, &a, &target())
        .iter()
        .map(|b| serde_json::from_slice(b).unwrap())
        .collect();
    assert_eq!(pd.len(), 2, "one resolve per dedup_key");
    for (p, c) in pd.iter().zip([Condition::ApiErrors, Condition::Missing]) {
        assert_pagerduty_shape(p);
        assert_eq!(p["event_action"], "resolve");
        assert_eq!(p["dedup_key"], pagerduty::dedup_key(c, ARN).as_str());
    }
    let am = body(Format::Alertmanager, &a);
    assert_alertmanager_shape(&am);
    let names: Vec<_> = am["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["labels"]["alertname"].as_str().unwrap(),
                x["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("DataSyncWardenAwsErrors", "resolved"),
            ("DataSyncAgentMissing", "resolved")
        ]
    );
    let missing = body(Format::Alertmanager, &alert("agent_missing"));
    assert_eq!(
        missing["alerts"][0]["fingerprint"], am["alerts"][1]["fingerprint"],
        "the resolve names the alert agent_missing fired"
    );
    for f in [Format::Json, Format::Slack, Format::Teams] {
        assert_eq!(bodies(f, &a, &target()).len(), 1);
    }
}
