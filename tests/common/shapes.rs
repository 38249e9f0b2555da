//! The published shape of each alert destination's body, as checks on a parsed JSON value:
//! each `assert_*_shape` panics with the path and the rule a body breaks.
//!
//! One source for two users: the library's unit tests include this file
//! (`src/daemon/alerts/payload/tests.rs`) and the integration tests reach it as
//! `common::shapes`. It uses serde_json only.
//!
//! Sources: Slack Block Kit reference (header, section, context) and "Formatting text for app
//! surfaces"; PagerDuty Events API v2 "Send an Alert Event"; Microsoft Teams "Create and send
//! messages" (Workflows) and the Adaptive Cards schema; prometheus/alertmanager
//! notify/webhook/webhook.go and template/template.go, prometheus/common model/signature.go.

use serde_json::{Map, Value};

/// The daemon's event names.
pub const EVENTS: [&str; 6] = [
    "offline",
    "still_offline",
    "recovered",
    "api_errors",
    "api_recovered",
    "agent_missing",
];
/// Alertmanager's zero time: `endsAt` of a firing alert.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// Teams refuses a message over about 28 KB.
pub const TEAMS_MAX_BYTES: usize = 28 * 1024;

fn obj<'a>(v: &'a Value, path: &str) -> &'a Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{path}: expected an object, got {v}"))
}

fn field<'a>(o: &'a Map<String, Value>, path: &str, key: &str) -> &'a Value {
    o.get(key)
        .unwrap_or_else(|| panic!("{path}.{key}: required, missing"))
}

fn string<'a>(o: &'a Map<String, Value>, path: &str, key: &str) -> &'a str {
    let v = field(o, path, key);
    v.as_str()
        .unwrap_or_else(|| panic!("{path}.{key}: expected a string, got {v}"))
}

fn array<'a>(o: &'a Map<String, Value>, path: &str, key: &str) -> &'a Vec<Value> {
    let v = field(o, path, key);
    v.as_array()
        .unwrap_or_else(|| panic!("{path}.{key}: expected an array, got {v}"))
}

fn one_of(value: &str, allowed: &[&str], path: &str) {
    assert!(
        allowed.contains(&value),
        "{path}: {value:?} is not one of {allowed:?}"
    );
}

/// Length in characters (what the services document), between `min` and `max`.
fn length(text: &str, min: usize, max: usize, path: &str) {
    let n = text.chars().count();
    assert!(
        (min..=max).contains(&n),
        "{path}: {n} characters, allowed {min}..={max}"
    );
}

fn only_keys(o: &Map<String, Value>, allowed: &[&str], path: &str) {
    for key in o.keys() {
        assert!(allowed.contains(&key.as_str()), "{path}.{key}: unknown key");
    }
}

fn no_control(text: &str, path: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "{path}: control character in {text:?}"
    );
}

/// RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn assert_rfc3339(text: &str, path: &str) {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let mut ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let mut i = 19;
    if ok && b[i] == b'.' {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        ok = i > start;
    }
    ok = ok
        && match b.get(i) {
            Some(b'Z' | b'z') => i + 1 == b.len(),
            Some(b'+' | b'-') => {
                i + 6 == b.len() && digits(i + 1..i + 3) && b[i + 3] == b':' && digits(i + 4..i + 6)
            }
            _ => false,
        };
    assert!(ok, "{path}: {text:?} is not an RFC 3339 date-time");
}

/// The daemon's own payload (`format = "json"`, `alerts.webhook`).
pub fn assert_json_shape(v: &Value) {
    let o = obj(v, "$");
    let strings = [
        "event",
        "agent_arn",
        "agent_name",
        "region",
        "status",
        "host",
        "message",
        "at",
        "severity",
        "state",
    ];
    let mut keys: Vec<&str> = strings.to_vec();
    keys.extend(["since", "outage_seconds", "resolves"]);
    only_keys(o, &keys, "$");
    // What a recovery ends: firing alerts' names, only on a resolved alert.
    let resolves = field(o, "$", "resolves")
        .as_array()
        .unwrap_or_else(|| panic!("$.resolves: an array"));
    for r in resolves {
        one_of(
            r.as_str().unwrap_or_default(),
            &["offline", "api_errors", "agent_missing"],
            "$.resolves[]",
        );
    }
    assert!(
        resolves.is_empty() || string(o, "$", "state") == "resolved",
        "$.resolves: only a resolved alert ends others"
    );
    for key in strings {
        string(o, "$", key);
    }
    one_of(string(o, "$", "event"), &EVENTS, "$.event");
    one_of(
        string(o, "$", "severity"),
        &["critical", "warning", "info"],
        "$.severity",
    );
    one_of(string(o, "$", "state"), &["firing", "resolved"], "$.state");
    assert_rfc3339(string(o, "$", "at"), "$.at");
    let since = field(o, "$", "since");
    if let Some(s) = since.as_str() {
        assert_rfc3339(s, "$.since");
    } else {
        assert!(since.is_null(), "$.since: string or null, got {since}");
    }
    let outage = field(o, "$", "outage_seconds");
    assert!(
        outage.is_null() || outage.is_u64(),
        "$.outage_seconds: unsigned integer or null, got {outage}"
    );
}

/// A Block Kit text object: `plain_text` or `mrkdwn`, non-empty, at most `max` characters.
/// mrkdwn from this daemon never uses Slack's `<…>` control sequences, so a raw `<` or `>`,
/// or an `&` that starts no entity, is outside text that escaped escaping.
fn slack_text(v: &Value, max: usize, path: &str) -> String {
    let o = obj(v, path);
    let kind = string(o, path, "type");
    one_of(kind, &["plain_text", "mrkdwn"], &format!("{path}.type"));
    let text = string(o, path, "text");
    length(text, 1, max, &format!("{path}.text"));
    if kind == "mrkdwn" {
        assert_slack_escaped(text, &format!("{path}.text"));
    }
    text.to_string()
}

/// Slack's escaping: no raw `<`, `>`; every `&` begins `&amp;`, `&lt;` or `&gt;`.
pub fn assert_slack_escaped(text: &str, path: &str) {
    assert!(!text.contains(['<', '>']), "{path}: raw < or > in {text:?}");
    for (i, _) in text.match_indices('&') {
        let rest = &text[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;"]
                .iter()
                .any(|e| rest.starts_with(e)),
            "{path}: bare & at byte {i}"
        );
    }
}

/// A Slack incoming-webhook message: `text` plus Block Kit `blocks`.
pub fn assert_slack_shape(v: &Value) {
    let o = obj(v, "$");
    let text = string(o, "$", "text");
    length(text, 1, 40_000, "$.text");
    no_control(text, "$.text");
    assert_slack_escaped(text, "$.text");
    let blocks = array(o, "$", "blocks");
    assert!(
        (1..=50).contains(&blocks.len()),
        "$.blocks: {} blocks, allowed 1..=50",
        blocks.len()
    );
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("$.blocks[{i}]");
        let b = obj(block, &path);
        match string(b, &path, "type") {
            "header" => {
                let t = field(b, &path, "text");
                assert_eq!(
                    t["type"], "plain_text",
                    "{path}.text.type: header text is plain_text"
                );
                no_control(&slack_text(t, 150, &format!("{path}.text")), &path);
            }
            "section" => {
                assert!(
                    b.contains_key("text") || b.contains_key("fields"),
                    "{path}: text or fields required"
                );
                if let Some(t) = b.get("text") {
                    no_control(&slack_text(t, 3000, &format!("{path}.text")), &path);
                }
                if b.contains_key("fields") {
                    let fields = array(b, &path, "fields");
                    assert!(
                        (1..=10).contains(&fields.len()),
                        "{path}.fields: {} items, allowed 1..=10",
                        fields.len()
                    );
                    for (j, f) in fields.iter().enumerate() {
                        slack_text(f, 2000, &format!("{path}.fields[{j}]"));
                    }
                }
            }
            "context" => {
                let elements = array(b, &path, "elements");
                assert!(
                    (1..=10).contains(&elements.len()),
                    "{path}.elements: {} items, allowed 1..=10",
                    elements.len()
                );
                for (j, e) in elements.iter().enumerate() {
                    slack_text(e, 3000, &format!("{path}.elements[{j}]"));
                }
            }
            "divider" => {}
            other => panic!("{path}.type: {other:?} is not a block this daemon sends"),
        }
    }
}

/// A PagerDuty Events API v2 alert event.
pub fn assert_pagerduty_shape(v: &Value) {
    let o = obj(v, "$");
    only_keys(
        o,
        &[
            "routing_key",
            "event_action",
            "dedup_key",
            "payload",
            "client",
            "client_url",
            "images",
            "links",
        ],
        "$",
    );
    length(
        string(o, "$", "routing_key"),
        1,
        usize::MAX,
        "$.routing_key",
    );
    let action = string(o, "$", "event_action");
    one_of(
        action,
        &["trigger", "acknowledge", "resolve"],
        "$.event_action",
    );
    length(string(o, "$", "dedup_key"), 1, 255, "$.dedup_key");
    for key in ["client", "client_url"] {
        if o.contains_key(key) {
            string(o, "$", key);
        }
    }
    for key in ["images", "links"] {
        if o.contains_key(key) {
            array(o, "$", key);
        }
    }
    // A trigger needs the payload; PagerDuty accepts one on a resolve, and it must be as valid.
    if action == "trigger" || o.contains_key("payload") {
        let p = obj(field(o, "$", "payload"), "$.payload");
        only_keys(
            p,
            &[
                "summary",
                "source",
                "severity",
                "timestamp",
                "component",
                "group",
                "class",
                "custom_details",
            ],
            "$.payload",
        );
        length(
            string(p, "$.payload", "summary"),
            1,
            1024,
            "$.payload.summary",
        );
        length(
            string(p, "$.payload", "source"),
            1,
            usize::MAX,
            "$.payload.source",
        );
        one_of(
            string(p, "$.payload", "severity"),
            &["critical", "error", "warning", "info"],
            "$.payload.severity",
        );
        if p.contains_key("timestamp") {
            assert_rfc3339(string(p, "$.payload", "timestamp"), "$.payload.timestamp");
        }
        for key in ["component", "group", "class"] {
            if p.contains_key(key) {
                string(p, "$.payload", key);
            }
        }
        if let Some(d) = p.get("custom_details") {
            obj(d, "$.payload.custom_details");
        }
    }
}

fn teams_element(v: &Value, path: &str) {
    let e = obj(v, path);
    match string(e, path, "type") {
        "TextBlock" => {
            string(e, path, "text");
            if let Some(wrap) = e.get("wrap") {
                assert!(wrap.is_boolean(), "{path}.wrap: boolean, got {wrap}");
            }
        }
        "RichTextBlock" => {
            for (i, run) in array(e, path, "inlines").iter().enumerate() {
                let rp = format!("{path}.inlines[{i}]");
                let r = obj(run, &rp);
                assert_eq!(string(r, &rp, "type"), "TextRun", "{rp}.type");
                string(r, &rp, "text");
            }
        }
        "FactSet" => {
            let facts = array(e, path, "facts");
            assert!(!facts.is_empty(), "{path}.facts: at least one fact");
            for (i, fact) in facts.iter().enumerate() {
                let fp = format!("{path}.facts[{i}]");
                let f = obj(fact, &fp);
                string(f, &fp, "title");
                string(f, &fp, "value");
            }
        }
        "Container" => {
            for (i, item) in array(e, path, "items").iter().enumerate() {
                teams_element(item, &format!("{path}.items[{i}]"));
            }
        }
        other => panic!("{path}.type: {other:?} is not an element this daemon sends"),
    }
}

/// A Teams Workflows webhook message holding one Adaptive Card (schema ≤ 1.5).
pub fn assert_teams_shape(v: &Value) {
    let size = v.to_string().len();
    assert!(
        size <= TEAMS_MAX_BYTES,
        "$: {size} bytes, Teams takes {TEAMS_MAX_BYTES}"
    );
    let o = obj(v, "$");
    assert_eq!(string(o, "$", "type"), "message", "$.type");
    let attachments = array(o, "$", "attachments");
    assert!(!attachments.is_empty(), "$.attachments: at least one");
    for (i, a) in attachments.iter().enumerate() {
        let path = format!("$.attachments[{i}]");
        let att = obj(a, &path);
        assert_eq!(
            string(att, &path, "contentType"),
            "application/vnd.microsoft.card.adaptive",
            "{path}.contentType"
        );
        assert!(
            field(att, &path, "contentUrl").is_null(),
            "{path}.contentUrl: null"
        );
        let cp = format!("{path}.content");
        let card = obj(field(att, &path, "content"), &cp);
        assert_eq!(string(card, &cp, "type"), "AdaptiveCard", "{cp}.type");
        assert_eq!(
            string(card, &cp, "$schema"),
            "http://adaptivecards.io/schemas/adaptive-card.json",
            "{cp}.$schema"
        );
        let version = string(card, &cp, "version");
        let (major, minor) = version
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
            .unwrap_or_else(|| panic!("{cp}.version: {version:?} is not MAJOR.MINOR"));
        assert!(
            major == 1 && minor <= 5,
            "{cp}.version: Teams renders up to 1.5, got {version}"
        );
        let body = array(card, &cp, "body");
        assert!(!body.is_empty(), "{cp}.body: at least one element");
        for (j, e) in body.iter().enumerate() {
            teams_element(e, &format!("{cp}.body[{j}]"));
        }
    }
}

fn string_map<'a>(v: &'a Value, path: &str) -> &'a Map<String, Value> {
    let m = obj(v, path);
    for (k, val) in m {
        assert!(val.is_string(), "{path}.{k}: expected a string, got {val}");
    }
    m
}

/// prometheus/common `LabelSet.Fingerprint` as `%016x`: FNV-1a 64 over the names in sorted
/// order, each name and value followed by byte 255.
pub fn prometheus_fingerprint(labels: &Map<String, Value>) -> String {
    let mut names: Vec<&String> = labels.keys().collect();
    names.sort();
    let mut h: u64 = 14_695_981_039_346_656_037;
    for name in names {
        let value = labels[name].as_str().unwrap_or_default();
        for b in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff])
        {
            h = (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211);
        }
    }
    format!("{h:016x}")
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One alert of an Alertmanager webhook payload; returns whether it is resolved.
fn alertmanager_alert(v: &Value, common: &Map<String, Value>, path: &str) -> bool {
    let a = obj(v, path);
    let status = string(a, path, "status");
    one_of(status, &["firing", "resolved"], &format!("{path}.status"));
    let labels = string_map(field(a, path, "labels"), &format!("{path}.labels"));
    for name in labels.keys() {
        assert!(
            valid_label_name(name),
            "{path}.labels.{name}: invalid label name"
        );
    }
    length(
        string(labels, &format!("{path}.labels"), "alertname"),
        1,
        usize::MAX,
        &format!("{path}.labels.alertname"),
    );
    for (k, val) in common {
        assert_eq!(
            labels.get(k),
            Some(val),
            "{path}.labels.{k}: commonLabels must be in every alert"
        );
    }
    string_map(
        field(a, path, "annotations"),
        &format!("{path}.annotations"),
    );
    let starts = string(a, path, "startsAt");
    assert_rfc3339(starts, &format!("{path}.startsAt"));
    let ends = string(a, path, "endsAt");
    assert_rfc3339(ends, &format!("{path}.endsAt"));
    if status == "firing" {
        assert_eq!(
            ends, ZERO_TIME,
            "{path}.endsAt: a firing alert's end is not exposed"
        );
    } else {
        assert_ne!(
            ends, ZERO_TIME,
            "{path}.endsAt: a resolved alert has an end"
        );
        assert!(
            ends >= starts,
            "{path}: endsAt {ends} before startsAt {starts}"
        );
    }
    string(a, path, "generatorURL");
    let fp = string(a, path, "fingerprint");
    assert_eq!(fp, prometheus_fingerprint(labels), "{path}.fingerprint");
    status == "resolved"
}

/// Alertmanager's webhook payload, version 4.
pub fn assert_alertmanager_shape(v: &Value) {
    let o = obj(v, "$");
    assert_eq!(string(o, "$", "version"), "4", "$.version");
    length(string(o, "$", "groupKey"), 1, usize::MAX, "$.groupKey");
    let truncated = field(o, "$", "truncatedAlerts");
    assert!(
        truncated.is_u64(),
        "$.truncatedAlerts: unsigned integer, got {truncated}"
    );
    let status = string(o, "$", "status");
    one_of(status, &["firing", "resolved"], "$.status");
    string(o, "$", "receiver");
    string(o, "$", "externalURL");
    let group = string_map(field(o, "$", "groupLabels"), "$.groupLabels");
    let common = string_map(field(o, "$", "commonLabels"), "$.commonLabels");
    string_map(field(o, "$", "commonAnnotations"), "$.commonAnnotations");
    for (k, val) in group {
        assert_eq!(
            common.get(k),
            Some(val),
            "$.groupLabels.{k}: group labels are common to all"
        );
    }
    let alerts = array(o, "$", "alerts");
    assert!(!alerts.is_empty(), "$.alerts: at least one alert");
    let mut all_resolved = true;
    for (i, a) in alerts.iter().enumerate() {
        all_resolved &= alertmanager_alert(a, common, &format!("$.alerts[{i}]"));
    }
    // types.Alerts(...).Status(): resolved only when every alert is.
    let expected = if all_resolved { "resolved" } else { "firing" };
    assert_eq!(
        status, expected,
        "$.status: must follow the alerts' statuses"
    );
}
