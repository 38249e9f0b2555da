//! The shipped Prometheus rules and Grafana dashboard (packaging/monitoring/): promtool's own
//! checks and unit tests, the rules as a real Prometheus loads them (severity, annotations, a
//! runbook that exists, metrics the daemon exports), the dashboard's queries, and end to end: a
//! real Prometheus scraping the daemon fires DataSyncAgentOffline when the simulator takes the
//! agent OFFLINE and resolves it when the agent is back.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::daemon::*;
use common::prometheus::{Prometheus, alerts_yml, tool};
use common::*;
use datasync_sim::AgentStatus;
use serde_json::Value;

const MONITORING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/monitoring");
/// Where every runbook_url points: the README's "Alert runbooks" section, on the repository.
const RUNBOOK_BASE: &str = "https://example.invalid/datasync-warden/blob/main/README.md#";
/// Bound on an alert firing or resolving: two 1 s scrapes and evaluations, plus the daemon's
/// `offline_after = 2` polls at 1 s, with room for a loaded CI machine.
const ALERT_LIMIT: Duration = Duration::from_secs(60);

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(MONITORING).join(name)).unwrap()
}

#[test]
fn promtool_checks_the_rules_and_runs_their_unit_tests() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(args)
            .current_dir(MONITORING)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Metric names the daemon exports (the golden exposition holds every family), plus `up`.
fn exported() -> BTreeSet<String> {
    let golden = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/daemon/metrics/populated.prom"
    ))
    .unwrap();
    let mut names: BTreeSet<String> = golden
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.insert("up".to_owned());
    names
}

/// The metric names a PromQL expression reads: every identifier outside quotes and label
/// matchers that is not a function, keyword or modifier.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    const NOT_METRICS: &[&str] = &[
        "sum",
        "count",
        "max",
        "min",
        "by",
        "on",
        "and",
        "or",
        "unless",
        "group_left",
        "rate",
        "increase",
        "changes",
        "time",
        "absent",
        "vector",
        "last_over_time",
        "count_over_time",
        "bool",
        "offset",
        "without",
        "ignoring",
    ];
    let re = regex_lite::Regex::new(
        r#""[^"]*"|\{[^}]*\}|\[[^\]]*\]|\([a-z_, ]*\)|[a-zA-Z_:][a-zA-Z0-9_:]*"#,
    )
    .unwrap();
    re.find_iter(expr)
        .map(|m| m.as_str())
        .filter(|t| t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .filter(|t| !NOT_METRICS.contains(t))
        .map(str::to_owned)
        .collect()
}

#[test]
fn metric_names_are_found_in_expressions() {
    // The extractor itself: a label list after by/on/group_left is not a metric.
    let got = metrics_in(
        r#"sum by (instance, kind) (rate(datasync_warden_aws_errors_total{job="x"}[5m])) * on(instance) group_left(agent_name) datasync_warden_agent_info"#,
    );
    assert_eq!(
        got,
        [
            "datasync_warden_agent_info",
            "datasync_warden_aws_errors_total"
        ]
        .map(String::from)
        .into()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rule_as_prometheus_loads_it_is_complete_tested_and_documented() {
    let Some(prom) = Prometheus::start(&[alerts_yml()], &[]).await else {
        return;
    };
    // Health is "unknown" until the first evaluation (1 s); then every rule must be "ok".
    let mut rules: Vec<Value> = Vec::new();
    eventually(ALERT_LIMIT, "every rule evaluated", async || {
        rules = prom.api("rules").await["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .collect();
        !rules.is_empty() && rules.iter().all(|r| r["health"] != "unknown")
    })
    .await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let tests = read("alerts_test.yml");
    let exported = exported();
    let mut names = BTreeSet::new();
    for r in &rules {
        let name = r["name"].as_str().unwrap();
        assert_eq!(r["type"], "alerting", "{name}");
        assert_eq!(r["health"], "ok", "{name}: {r}");
        names.insert(name.to_owned());
        let severity = r["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                r["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name} has no {key}"
            );
        }
        let anchor = name.to_lowercase();
        assert_eq!(
            r["annotations"]["runbook_url"],
            format!("{RUNBOOK_BASE}{anchor}"),
            "{name}"
        );
        assert!(
            readme.lines().any(|l| l == format!("### {name}")),
            "README has no runbook heading `### {name}` (anchor #{anchor})"
        );
        // alerts_test.yml: one case where it must not fire, one where it fires.
        assert!(
            tests.contains(&format!("alertname: {name}, exp_alerts: []}}")),
            "alerts_test.yml has no case where {name} does not fire"
        );
        assert!(
            tests.contains(&format!(
                "alertname: {name}\n        exp_alerts:\n          - exp_labels"
            )),
            "alerts_test.yml has no case where {name} fires"
        );
        let query = r["query"].as_str().unwrap();
        for m in metrics_in(query) {
            assert!(
                exported.contains(&m),
                "{name} reads {m}, which the daemon does not export"
            );
        }
    }
    // The daemon's own OFFLINE alert is critical: the fleet's page must not be quieter.
    let offline = rules
        .iter()
        .find(|r| r["name"] == "DataSyncAgentOffline")
        .unwrap();
    assert_eq!(offline["labels"]["severity"], "critical");
    for required in [
        "DataSyncAgentOffline",
        "DataSyncAgentOfflineLong",
        "DataSyncWardenPollStale",
        "DataSyncWardenDown",
        "DataSyncWardenAbsent",
        "DataSyncAgentNotActivated",
        "DataSyncWardenAwsErrors",
        "DataSyncWardenAlertDeliveryFailing",
        "DataSyncWardenCheckFailing",
    ] {
        assert!(names.contains(required), "alerts.yml lacks {required}");
    }
}

/// Every query of every panel (and of the template variables).
fn dashboard_queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap().to_owned();
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title} has no targets"));
        assert!(!targets.is_empty(), "panel {title} has no query");
        for t in targets {
            out.push((title.clone(), t["expr"].as_str().unwrap().to_owned()));
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["query"]["query"].as_str() {
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|q| q.split(',').next());
            out.push((format!("variable {}", v["name"]), inner.unwrap().to_owned()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_parses_and_reads_exported_metrics() {
    let d: Value = serde_json::from_str(&read("grafana-dashboard.json")).unwrap();
    let exported = exported();
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate panel id {}",
            p["id"]
        );
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "panel {}",
            p["title"]
        );
    }
    let queries = dashboard_queries(&d);
    let mut used = BTreeSet::new();
    for (panel, expr) in &queries {
        let names = metrics_in(expr);
        assert!(!names.is_empty(), "{panel}: {expr} reads no metric");
        for m in names {
            assert!(
                exported.contains(&m),
                "{panel}: {expr} reads {m}, which the daemon does not export"
            );
            used.insert(m);
        }
    }
    for family in [
        "datasync_warden_agent_online",
        "datasync_warden_agent_info",
        "datasync_warden_aws_errors_total",
    ] {
        assert!(used.contains(family), "the dashboard shows no {family}");
    }
    // Prometheus itself parses each one (with the $instance variable at its "All" value).
    let Some(prom) = Prometheus::start(&[], &[]).await else {
        return;
    };
    for (panel, expr) in &queries {
        let expr = expr.replace("$instance", ".*");
        let data = prom.query(&expr).await;
        assert!(data["resultType"].is_string(), "{panel}: {expr}: {data}");
    }
}

async fn firing(prom: &Prometheus) -> Vec<Value> {
    prom.api("alerts").await["alerts"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn real_prometheus_fires_agent_offline_and_resolves_it() {
    if tool("prometheus").is_none() {
        return;
    }
    let h = Harness::with_fragment("[monitor]\ninterval = \"1s\"\noffline_after = 2\n").await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    let arn = h.sim.agents()[0].arn.clone();
    let prom = Prometheus::start(&[alerts_yml()], &[d.health])
        .await
        .unwrap();
    // A healthy first boot pages nobody: after ten scrapes and evaluations, no alert at all.
    eventually(ALERT_LIMIT, "ten scrapes of the daemon", async || {
        let r = prom
            .query("count_over_time(up[1m]) >= 10 and up == 1")
            .await;
        !r["result"].as_array().unwrap().is_empty()
    })
    .await;
    let alerts = firing(&prom).await;
    assert!(alerts.is_empty(), "alerts on a healthy daemon: {alerts:?}");

    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    let mut fired = Value::Null;
    eventually(ALERT_LIMIT, "DataSyncAgentOffline firing", async || {
        fired = firing(&prom)
            .await
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "DataSyncAgentOffline" && a["state"] == "firing")
            .unwrap_or(Value::Null);
        !fired.is_null()
    })
    .await;
    assert_eq!(fired["labels"]["agent_arn"], arn.as_str(), "{fired}");
    assert_eq!(fired["labels"]["agent_name"], AGENT_NAME, "{fired}");
    assert_eq!(fired["labels"]["region"], "us-east-1", "{fired}");
    assert_eq!(fired["labels"]["severity"], "critical", "{fired}");
    assert_eq!(fired["labels"]["instance"], d.health.to_string(), "{fired}");

    h.sim.set_agent_status(&arn, AgentStatus::Online);
    eventually(ALERT_LIMIT, "DataSyncAgentOffline resolved", async || {
        !firing(&prom)
            .await
            .iter()
            .any(|a| a["labels"]["alertname"] == "DataSyncAgentOffline")
    })
    .await;
    let others = firing(&prom).await;
    assert!(others.is_empty(), "alerts left after recovery: {others:?}");
    drop(prom);
    d.stop().await;
}
