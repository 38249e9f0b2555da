//! `datasync-warden run` end to end: systemd notifications, health endpoint, alerts and their
//! webhook, restarts, reloads and shutdown, against the simulator.

mod common;

use std::time::Duration;

use common::daemon::*;
use common::*;
use datasync_sim::{AgentStatus, ApiFault};

#[tokio::test(flavor = "multi_thread")]
async fn activates_then_alerts_offline_realerts_and_recovers() {
    let hook = Webhook::start(0).await;
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\noffline_after = 2\nrealert_every = \"3s\"\n[alerts]\nwebhook = \"{}\"\n",
        hook.url
    ))
    .await;
    let d = Running::start(&h, true).await;
    d.wait_phase_text("monitoring agent-").await;
    for needle in [
        "checking ports 127.0.0.1:",
        "fetching the activation key from 127.0.0.1:",
        "calling CreateAgent in us-east-1",
    ] {
        assert!(
            d.notify.statuses().iter().any(|s| s.contains(needle)),
            "no STATUS with {needle:?}: {:?}",
            d.notify.statuses()
        );
    }
    let arn = h.sim.agents()[0].arn.clone();
    assert_eq!(d.get("/healthz").await.0, 200);
    let (code, body) = d.get("/readyz").await;
    assert_eq!(
        (code, body.trim()),
        (200, format!("ready: {arn} is ONLINE").as_str())
    );
    let s = d.status().await;
    assert_eq!(s["phase"], "monitoring");
    assert_eq!(s["agent_arn"], arn.as_str());
    assert_eq!(s["agent_status"], "ONLINE");

    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    eventually(LIMIT, "offline alert", async || {
        hook.events().contains(&"offline".to_string())
    })
    .await;
    let (code, body) = d.get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("OFFLINE"), "{body}");
    eventually(LIMIT, "still_offline alert", async || {
        hook.events().contains(&"still_offline".to_string())
    })
    .await;
    h.sim.set_agent_status(&arn, AgentStatus::Online);
    eventually(LIMIT, "recovered alert", async || {
        hook.events().contains(&"recovered".to_string())
    })
    .await;

    let alerts = hook.received.lock().unwrap().clone();
    let offline = alerts.iter().find(|a| a["event"] == "offline").unwrap();
    for key in [
        "agent_arn",
        "agent_name",
        "region",
        "status",
        "since",
        "host",
        "message",
    ] {
        assert!(
            !offline[key].is_null(),
            "offline alert lacks {key}: {offline}"
        );
    }
    assert_eq!(offline["agent_arn"], arn.as_str());
    assert_eq!(offline["status"], "OFFLINE");
    let recovered = alerts.iter().find(|a| a["event"] == "recovered").unwrap();
    assert!(
        recovered["outage_seconds"].as_u64().unwrap() >= 2,
        "{recovered}"
    );
    assert_eq!(
        alerts.iter().filter(|a| a["event"] == "offline").count(),
        1,
        "one offline alert per outage"
    );

    let (_, metrics) = d.get("/metrics").await;
    assert!(
        metrics.contains("datasync_warden_alerts_total{event=\"offline\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("datasync_warden_alerts_total{event=\"recovered\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("datasync_warden_agent_online 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("datasync_warden_phase{phase=\"monitoring\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("datasync_warden_check_ok{check=\"agent.activation_port\"} 1\n"),
        "{metrics}"
    );
    // Joinable: one info series naming the agent as DataSync does.
    let info = format!("datasync_warden_agent_info{{agent_arn=\"{arn}\",");
    assert_eq!(metrics.matches("datasync_warden_agent_info{").count(), 1);
    assert!(metrics.contains(&info), "{metrics}");
    assert!(
        metrics.contains("endpoint_type=\"PRIVATE_LINK\"} 1\n"),
        "{metrics}"
    );
    let connected = metrics
        .lines()
        .find_map(|l| l.strip_prefix("datasync_warden_agent_last_connection_timestamp_seconds "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_default();
    assert!(connected > 1.0e9, "LastConnectionTime exported: {metrics}");
    assert!(
        metrics.contains("datasync_warden_aws_errors_total{kind=\"throttled\"} 0\n"),
        "every kind from 0: {metrics}"
    );
    promtool_check(&metrics);
    assert!(
        d.notify.count("WATCHDOG=1") >= 1,
        "the main loop pings the watchdog"
    );

    let (code, took, stderr) = d.stop().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(took < Duration::from_secs(1), "graceful stop took {took:?}");
    assert!(
        !stderr.contains(&h.sim.agent_requests()[0].issued_key.clone().unwrap()),
        "no whole key in logs"
    );
}

/// `promtool check metrics` when available; scripts/test installs it and sets REQUIRE_PROMTOOL.
fn promtool_check(metrics: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(
            std::env::var_os("REQUIRE_PROMTOOL").is_none(),
            "promtool is required but missing"
        );
        eprintln!("promtool not installed: metrics format not checked by promtool");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_goes_straight_to_monitoring() {
    let h = Harness::with_fragment("[monitor]\ninterval = \"1s\"\n").await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    d.stop().await;
    let requests = h.sim.agent_requests().len();
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    assert!(
        !d.notify.statuses().iter().any(|s| s.contains("fetching")),
        "{:?}",
        d.notify.statuses()
    );
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
    assert_eq!(h.sim.agent_requests().len(), requests);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_phase_is_retried_and_diagnosed_not_fatal() {
    let h =
        Harness::with_fragment("[activation]\ndeadline = \"3s\"\n[monitor]\ninterval = \"1s\"\n")
            .await;
    h.sim
        .set_error_type("PRIVATE_LINK_ENDPOINT_UNREACHABLE", None);
    let d = Running::start(&h, false).await;
    let agent = h.sim.agent_addr();
    // Retries inside the key deadline, then the phase itself is retried.
    d.wait_phase_text(&format!(
        "waiting for agent {agent}: agent reports PRIVATE_LINK_ENDPOINT_UNREACHABLE, retry in"
    ))
    .await;
    d.wait_phase_text(
        "no activation key: agent reports PRIVATE_LINK_ENDPOINT_UNREACHABLE; retry in",
    )
    .await;
    let s = d.status().await;
    assert_eq!(s["last_diagnosis"]["kind"], "agent_error_type", "{s}");
    assert!(
        s["last_diagnosis"]["hint"]
            .as_str()
            .unwrap()
            .contains("TCP 443"),
        "{s}"
    );
    let (code, body) = d.get("/readyz").await;
    assert_eq!(code, 503);
    assert!(body.starts_with("not activated"), "{body}");
    assert_eq!(d.get("/healthz").await.0, 200, "a retrying daemon is alive");
    h.sim
        .set_error_type("PRIVATE_LINK_ENDPOINT_UNREACHABLE", Some(0));
    d.wait_phase_text("monitoring agent-").await;
    assert_eq!(d.status().await["last_diagnosis"], serde_json::Value::Null);
    assert_eq!(h.sim.agents().len(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_down_webhook_neither_stops_monitoring_nor_loses_alerts() {
    let hook = Webhook::start(3).await; // three 500s before it accepts anything
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\noffline_after = 1\nrealert_every = \"1h\"\n[alerts]\nwebhook = \"{}\"\n",
        hook.url
    ))
    .await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    let arn = h.sim.agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    eventually(LIMIT, "declared offline", async || {
        d.status().await["offline"] == true
    })
    .await;
    h.sim.set_agent_status(&arn, AgentStatus::Online);
    eventually(LIMIT, "both alerts delivered", async || {
        hook.events() == ["offline", "recovered"]
    })
    .await;
    assert!(
        *hook.attempts.lock().unwrap() >= 5,
        "the failed POSTs were retried"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_api_errors_alert_but_are_not_offline() {
    let hook = Webhook::start(0).await;
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\n[alerts]\nwebhook = \"{}\"\n",
        hook.url
    ))
    .await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    h.sim
        .inject_fault(Some("DescribeAgent"), ApiFault::Internal { times: 1000 });
    eventually(Duration::from_secs(60), "api_errors alert", async || {
        hook.events().contains(&"api_errors".to_string())
    })
    .await;
    assert!(!hook.events().contains(&"offline".to_string()));
    let s = d.status().await;
    assert_eq!(s["offline"], false);
    assert!(
        s["aws_errors_total"]["internal"].as_u64().unwrap() >= 3,
        "{s}"
    );
    h.sim.clear_faults();
    eventually(LIMIT, "api_recovered alert", async || {
        hook.events().contains(&"api_recovered".to_string())
    })
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_agent_raises_agent_missing_and_keeps_running() {
    let hook = Webhook::start(0).await;
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\n[alerts]\nwebhook = \"{}\"\n",
        hook.url
    ))
    .await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    h.sim.delete_agent(&h.sim.agents()[0].arn.clone());
    eventually(LIMIT, "agent_missing alert", async || {
        hook.events() == ["agent_missing"]
    })
    .await;
    assert_eq!(d.get("/healthz").await.0, 200);
    assert_eq!(d.status().await["last_diagnosis"]["kind"], "not_found");
    let (code, _, _) = d.stop().await;
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_and_keeps_the_old_config_when_the_new_one_is_bad() {
    let h = Harness::with_fragment("[monitor]\ninterval = \"1h\"\n").await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    let polls = h.sim.call_count("DescribeAgent");
    std::fs::write(
        h.dir.path().join("config.d/70-reload.toml"),
        "[monitor]\ninterval = \"nonsense\"\n",
    )
    .unwrap();
    unsafe_kill(d.child.id().unwrap() as i32, "HUP");
    eventually(LIMIT, "reload diagnosis", async || {
        d.status().await["reload_error"]["kind"] == "config_invalid"
    })
    .await;
    assert!(
        d.status().await["reload_error"]["message"]
            .as_str()
            .unwrap()
            .contains("70-reload.toml")
    );
    std::fs::write(
        h.dir.path().join("config.d/70-reload.toml"),
        "[monitor]\ninterval = \"1s\"\n",
    )
    .unwrap();
    unsafe_kill(d.child.id().unwrap() as i32, "HUP");
    eventually(LIMIT, "faster polling after reload", async || {
        h.sim.call_count("DescribeAgent") >= polls + 3
    })
    .await;
    assert!(d.notify.count("RELOADING=1") >= 2);
    let (code, _, stderr) = d.stop().await;
    assert_eq!(code, 0);
    assert!(
        stderr.contains("keeping the running configuration"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn monitor_only_mode_never_activates() {
    let h = Harness::new().await;
    let arn = h.run(&["activate"]).await.stdout.trim().to_string();
    let other = Harness::with_fragment("").await;
    other.fragment(&format!(
        "[agent]\narn = \"{arn}\"\n[aws]\nendpoint_url = \"{}\"\n[monitor]\ninterval = \"1s\"\n",
        h.sim.api_url()
    ));
    let d = Running::start(&other, false).await;
    d.wait_phase_text("monitoring agent-").await;
    assert_eq!(d.status().await["agent_arn"], arn.as_str());
    assert_eq!(other.sim.agent_requests().len(), 0);
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_config_exits_2_and_a_taken_port_exits_1() {
    let h = Harness::with_fragment("[monitor]\noffline_after = 0\n").await;
    let run = h.run(&["run"]).await;
    run.assert_failed_with(2, &["monitor.offline_after"]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let h = Harness::with_fragment(&format!(
        "[health]\nlisten = \"{}\"\n",
        taken.local_addr().unwrap()
    ))
    .await;
    let run = h.run(&["run"]).await;
    run.assert_failed_with(1, &["failed to bind the health endpoint", "health.listen"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reads_the_daemon_or_falls_back_to_the_state() {
    let h = Harness::with_fragment("[monitor]\ninterval = \"1s\"\n").await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    let health = d.health;
    std::fs::write(
        h.dir.path().join("config.d/80-health.toml"),
        format!("[health]\nlisten = \"{health}\"\n"),
    )
    .unwrap();
    let run = h.run(&["status", "--format", "json"]).await;
    run.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["source"], "daemon");
    assert_eq!(v["phase"], "monitoring");
    d.stop().await;
    let run = h.run(&["status"]).await;
    run.assert_ok();
    assert!(
        run.stdout.contains("state file + DescribeAgent"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("agent status:  ONLINE"),
        "{}",
        run.stdout
    );
}
