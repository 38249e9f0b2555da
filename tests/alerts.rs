//! Alert destinations end to end: every format to its own receiver, secrets from systemd
//! credentials (read at start and on SIGHUP, never shown), and a hung destination that holds
//! up nobody. The payload shapes are checked in `common::shapes`.

mod common;

use std::path::Path;

use common::daemon::*;
use common::receiver::{Answer, Receiver};
use common::*;
use datasync_sim::AgentStatus;

/// In every secret the tests plant, so that one grep finds any leak.
const MARK: &str = "Zq9s3cr3t";

const MONITOR: &str = "[monitor]\ninterval = \"1s\"\noffline_after = 1\nrealert_every = \"1h\"\n";

fn credential(dir: &Path, name: &str, value: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
}

async fn receiver(format: &str) -> Receiver {
    Receiver::start(
        &format!("/hook/{format}/{MARK}-path?token={MARK}-query"),
        Answer::Status(202),
    )
    .await
}

/// Takes the agent OFFLINE, then ONLINE, waiting for `each` to hold both alerts.
async fn outage(h: &Harness, each: &[&Receiver]) {
    let arn = h.sim.agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    eventually(LIMIT, "the offline alert everywhere", async || {
        each.iter().all(|r| r.count() >= 1)
    })
    .await;
    h.sim.set_agent_status(&arn, AgentStatus::Online);
    eventually(LIMIT, "the recovered alert everywhere", async || {
        each.iter().all(|r| r.count() >= 2)
    })
    .await;
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(MARK), "a secret in {what}: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_reaches_its_receiver_and_no_secret_is_shown() {
    let formats = ["json", "slack", "pagerduty", "teams", "alertmanager"];
    let mut rx = Vec::new();
    for f in formats {
        rx.push(receiver(f).await);
    }
    let mut toml = MONITOR.to_string();
    let h0 = tempfile::tempdir().unwrap();
    let creds = h0.path().join("credentials");
    for (f, r) in formats.iter().zip(&rx) {
        credential(&creds, &format!("{f}-url"), &r.url);
        toml.push_str(&format!(
            "[[alerts.destinations]]\nformat = \"{f}\"\nurl_file = \"{f}-url\"\n"
        ));
        match *f {
            "pagerduty" => toml.push_str("routing_key_file = \"pd-key\"\n"),
            "alertmanager" => toml.push_str("header_files = { Authorization = \"am-auth\" }\n"),
            _ => {}
        }
    }
    credential(&creds, "pd-key", &format!("R0{MARK}key"));
    credential(&creds, "am-auth", &format!("Bearer {MARK}-token"));
    let h = Harness::with_fragment(&toml).await;
    let env = [("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())];
    let d = Running::start_with(&h, false, &env).await;
    d.wait_phase_text("monitoring agent-").await;
    outage(&h, &rx.iter().collect::<Vec<_>>()).await;

    let [json, slack, pd, teams, am] = [0, 1, 2, 3, 4].map(|i| rx[i].bodies());
    assert_eq!(
        (json[0]["event"].as_str(), json[1]["event"].as_str()),
        (Some("offline"), Some("recovered"))
    );
    assert_eq!(
        (json[0]["state"].as_str(), json[1]["state"].as_str()),
        (Some("firing"), Some("resolved"))
    );
    assert_eq!(json[0]["severity"], "critical");
    for j in &json {
        common::shapes::assert_json_shape(j);
    }
    for s in &slack {
        common::shapes::assert_slack_shape(s);
    }
    for t in &teams {
        common::shapes::assert_teams_shape(t);
    }
    for p in &pd {
        common::shapes::assert_pagerduty_shape(p);
        assert_eq!(
            p["routing_key"].as_str(),
            Some(format!("R0{MARK}key").as_str())
        );
    }
    assert_eq!(
        (
            pd[0]["event_action"].as_str(),
            pd[1]["event_action"].as_str()
        ),
        (Some("trigger"), Some("resolve"))
    );
    assert_eq!(
        pd[0]["dedup_key"], pd[1]["dedup_key"],
        "resolve closes the incident trigger opened"
    );
    for a in &am {
        common::shapes::assert_alertmanager_shape(a);
    }
    assert_eq!(
        (am[0]["status"].as_str(), am[1]["status"].as_str()),
        (Some("firing"), Some("resolved"))
    );
    assert_eq!(
        am[0]["alerts"][0]["fingerprint"],
        am[1]["alerts"][0]["fingerprint"]
    );
    let auth = rx[4].requests.lock().unwrap()[0]
        .headers
        .get("authorization")
        .cloned();
    assert_eq!(
        auth,
        Some(format!("Bearer {MARK}-token")),
        "header_files reach the receiver"
    );

    let metrics = d.get("/metrics").await.1;
    for f in formats {
        let line = format!(
            "datasync_warden_alert_deliveries_total{{destination=\"{f}\",format=\"{f}\",result=\"delivered\"}} 2\n"
        );
        assert!(metrics.contains(&line), "no {line:?} in\n{metrics}");
    }
    assert_no_secret("/metrics", &metrics);
    assert_no_secret("/status", &d.get("/status").await.1);
    let (code, _, stderr) = d.stop().await;
    assert_eq!(code, 0);
    assert!(
        stderr.contains("alerts go to json (json, http://127.0.0.1:"),
        "{stderr}"
    );
    assert_no_secret("the log", &stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_deliveries_are_logged_and_counted_without_their_secrets() {
    let refusing = Receiver::start(&format!("/{MARK}"), Answer::Status(400)).await;
    let creds = tempfile::tempdir().unwrap();
    credential(creds.path(), "key", &format!("K{MARK}"));
    let h = Harness::with_fragment(&format!(
        "{MONITOR}[[alerts.destinations]]\nname = \"pager\"\nformat = \"pagerduty\"\nurl = \"{}\"\nrouting_key_file = \"key\"\n",
        refusing.url
    ))
    .await;
    let env = [("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap())];
    let d = Running::start_with(&h, false, &env).await;
    d.wait_phase_text("monitoring agent-").await;
    h.sim
        .set_agent_status(&h.sim.agents()[0].arn.clone(), AgentStatus::Offline);
    eventually(LIMIT, "the refusal counted", async || {
        d.get("/metrics").await.1.contains(
            "datasync_warden_alert_deliveries_total{destination=\"pager\",format=\"pagerduty\",result=\"failed\"} 1\n",
        )
    })
    .await;
    assert_eq!(refusing.count(), 1, "HTTP 400 is not retried");
    let (_, _, stderr) = d.stop().await;
    assert!(
        stderr.contains("alert destination pager (http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 400"), "{stderr}");
    assert_no_secret("the log", &stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_files_are_read_again_on_sighup_and_a_missing_one_keeps_the_old() {
    let (a, b) = (receiver("a").await, receiver("b").await);
    let creds = tempfile::tempdir().unwrap();
    credential(creds.path(), "hook", &a.url);
    let h = Harness::with_fragment(&format!(
        "{MONITOR}[[alerts.destinations]]\nformat = \"json\"\nurl_file = \"hook\"\n"
    ))
    .await;
    let env = [("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap())];
    let d = Running::start_with(&h, false, &env).await;
    d.wait_phase_text("monitoring agent-").await;
    let arn = h.sim.agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    eventually(LIMIT, "offline at a", async || a.count() == 1).await;

    credential(creds.path(), "hook", &b.url);
    let pid = d.child.id().unwrap() as i32;
    unsafe_kill(pid, "HUP");
    eventually(LIMIT, "the reload", async || d.notify.count("READY=1") == 2).await;
    h.sim.set_agent_status(&arn, AgentStatus::Online);
    eventually(LIMIT, "recovered at b", async || b.count() == 1).await;
    assert_eq!(a.count(), 1, "the old URL gets nothing more");

    std::fs::remove_file(creds.path().join("hook")).unwrap();
    unsafe_kill(pid, "HUP");
    eventually(LIMIT, "the failed reload", async || {
        d.notify.count("READY=1") == 3
    })
    .await;
    let s = d.status().await;
    let e = s["reload_error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(e.contains("alerts.destinations.url_file = \"hook\""), "{s}");
    assert!(e.contains("LoadCredential=hook:"), "{e}");
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    eventually(LIMIT, "the next alert still at b", async || b.count() == 2).await;
    let (_, _, stderr) = d.stop().await;
    assert_no_secret("the log", &stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_that_cannot_be_read_stops_the_start_with_exit_2() {
    let h = Harness::with_fragment(
        "[[alerts.destinations]]\nformat = \"slack\"\nurl_file = \"slack-url\"\n",
    )
    .await;
    let run = output(h.command(&["run"])).await;
    run.assert_failed_with(
        2,
        &[
            "alerts.destinations.url_file = \"slack-url\"",
            "$CREDENTIALS_DIRECTORY is not set",
            "LoadCredential=slack-url:",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_destination_holds_up_neither_the_others_nor_the_monitor() {
    let hung = Receiver::start("/hang", Answer::Hang).await;
    let good = receiver("good").await;
    let h = Harness::with_fragment(&format!(
        "{MONITOR}[[alerts.destinations]]\nname = \"hung\"\nformat = \"slack\"\nurl = \"{}\"\n\
         [[alerts.destinations]]\nname = \"good\"\nformat = \"json\"\nurl = \"{}\"\n",
        hung.url, good.url
    ))
    .await;
    let d = Running::start(&h, true).await;
    d.wait_phase_text("monitoring agent-").await;
    outage(&h, &[&good]).await;
    assert!(hung.count() >= 1, "the hung destination was tried");
    // The monitor kept polling (and the watchdog kept being fed) all along.
    assert_eq!(d.get("/healthz").await.0, 200);
    assert_eq!(d.status().await["agent_status"], "ONLINE");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_during_an_outage_neither_pages_again_nor_forgets_the_recovery() {
    let rx = receiver("json").await;
    let h = Harness::with_fragment(&format!(
        "{MONITOR}[[alerts.destinations]]\nformat = \"json\"\nurl = \"{}\"\n",
        rx.url
    ))
    .await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    let arn = h.sim.agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    eventually(LIMIT, "the offline alert", async || rx.count() == 1).await;
    d.stop().await;
    let since = rx.bodies()[0]["since"].clone();

    // Restarted while still OFFLINE: no second page, the outage goes on.
    let d = Running::start(&h, false).await;
    eventually(LIMIT, "monitoring an OFFLINE agent again", async || {
        d.status().await["offline"] == true
    })
    .await;
    let (_, _, stderr) = d.stop().await;
    assert!(
        stderr
            .contains("still firing from before the restart, resolved when it ends: OFFLINE since"),
        "{stderr}"
    );
    assert_eq!(rx.count(), 1, "no second offline page: {:?}", rx.bodies());

    // Back ONLINE while no daemon runs: the next one still sends the recovery.
    h.sim.set_agent_status(&arn, AgentStatus::Online);
    let d = Running::start(&h, false).await;
    eventually(LIMIT, "the recovery", async || rx.count() == 2).await;
    let recovered = &rx.bodies()[1];
    assert_eq!(recovered["event"], "recovered");
    assert_eq!(
        recovered["since"], since,
        "the outage began before the restarts"
    );
    assert_eq!(recovered["resolves"], serde_json::json!(["offline"]));
    d.stop().await;
    let left = std::fs::read_to_string(h.state_dir().join("alerts.json")).unwrap();
    assert!(left.contains("\"offline_since\": null"), "{left}");
}
