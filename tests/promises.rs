//! Promises kept on the paths outsiders found broken: one writer of the state at a time,
//! adoption whatever the agent is named now, no false page right after activation, a failed
//! reload that stays visible, a machine id that must be one, stale temporary files removed.

mod common;

use std::time::{Duration, Instant};

use common::daemon::*;
use common::*;
use datasync_sim::{AgentStatus, ApiFault};

/// `activate` by hand while `run` is activating: the second writer waits for the lock and
/// then finds the activated record, instead of overwriting it with a fresh `activating` one
/// (which lost the agent's ARN from disk).
#[tokio::test(flavor = "multi_thread")]
async fn activate_by_hand_while_run_activates_never_loses_the_record() {
    let h = Harness::with_fragment("[monitor]\ninterval = \"1s\"\n").await;
    // CreateAgent takes 3 s before it creates the agent: the daemon holds the lock meanwhile,
    // and a second writer that did not wait would find no agent to adopt and activate again.
    h.sim.inject_fault(
        Some("CreateAgent"),
        ApiFault::Latency(Duration::from_secs(3)),
    );
    let d = Running::start(&h, false).await;
    eventually(LIMIT, "CreateAgent reaches the simulator", async || {
        h.sim.call_count("CreateAgent") == 1
    })
    .await;
    let by_hand = h.run(&["activate"]).await;
    by_hand.assert_ok();
    d.wait_phase_text("monitoring agent-").await;
    let ours = h.own_agents();
    assert_eq!(ours.len(), 1, "exactly one agent");
    assert_eq!(h.sim.call_count("CreateAgent"), 1, "never activated twice");
    assert_eq!(by_hand.stdout.trim(), ours[0].arn, "{by_hand:?}");
    assert_eq!(h.state()["status"], "activated");
    assert_eq!(h.state()["agent_arn"], ours[0].arn.as_str());
    d.stop().await;
}

/// A second writer that cannot get the lock in time says who holds it (exit 1, retryable).
#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_names_its_holder() {
    let h = Harness::new().await;
    std::fs::create_dir_all(h.state_dir()).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(h.state_dir().join(".lock"))
        .unwrap();
    lock.lock().unwrap();
    std::fs::write(
        h.state_dir().join(".lock"),
        "pid 4242 (datasync-warden run)\n",
    )
    .unwrap();
    let started = Instant::now();
    let r = h.run(&["activate"]).await;
    r.assert_failed_with(
        1,
        &["is in use by pid 4242 (datasync-warden run)", "wait for it"],
    );
    assert!(
        started.elapsed() >= Duration::from_secs(29),
        "waits (bounded) first"
    );
    assert_eq!(h.sim.call_count("CreateAgent"), 0);
    drop(lock);
    h.run(&["activate"]).await.assert_ok();
}

/// After an interrupted CreateAgent, the next run finds the agent by its token even though
/// `agent.name` changed meanwhile (cloud-init set the hostname, the default name).
#[tokio::test(flavor = "multi_thread")]
async fn adoption_finds_the_agent_after_a_rename() {
    let h = Harness::new().await;
    h.sim.seed_agents(120); // other agents first: the search must not stop at the name
    h.sim
        .inject_fault(Some("CreateAgent"), ApiFault::CreateThenHang);
    let mut child = h.command(&["activate"]).spawn().unwrap();
    eventually(LIMIT, "CreateAgent creates the agent", async || {
        !h.own_agents().is_empty()
    })
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert_eq!(h.state()["status"], "activating");
    h.sim.clear_faults();
    h.fragment("[agent]\nname = \"renamed-by-cloud-init\"\n");

    let run = h.run(&["activate"]).await;
    run.assert_ok();
    let ours = h.own_agents();
    assert_eq!(ours.len(), 1);
    assert_eq!(run.stdout.trim(), ours[0].arn, "{run:?}");
    assert_eq!(h.sim.call_count("CreateAgent"), 1, "never activated twice");
    assert_eq!(h.state()["adopted"], true);
    assert_eq!(
        h.state()["agent_name"],
        AGENT_NAME,
        "the name DataSync knows"
    );
}

/// Right after activation DescribeAgent may say "does not exist" (eventual consistency) and
/// the agent may go OFFLINE while AWS updates it: neither pages anyone.
#[tokio::test(flavor = "multi_thread")]
async fn first_boot_pages_nobody() {
    let hook = Webhook::start(0).await;
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\noffline_after = 1\nactivation_grace = \"10m\"\n[alerts]\nwebhook = \"{}\"\n",
        hook.url
    ))
    .await;
    // The first DescribeAgent calls after CreateAgent find nothing (the one right after
    // activation included).
    h.sim
        .inject_fault(Some("DescribeAgent"), ApiFault::NotFound { times: 4 });
    let d = Running::start(&h, false).await;
    d.wait_phase_text("not visible in DataSync yet").await;
    eventually(LIMIT, "the not-found answers are used up", async || {
        h.sim.call_count("DescribeAgent") >= 5
    })
    .await;
    let arn = h.own_agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    d.wait_phase_text("OFFLINE, expected right after activation")
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = d.status().await;
    assert_eq!(status["alerts_total"], serde_json::json!({}), "{status:#}");
    assert!(hook.events().is_empty(), "{:?}", hook.events());
    assert!(
        status["aws_errors_total"].get("not_found").is_none(),
        "{status:#}"
    );
    d.stop().await;
}

/// The same daemon with no grace (`activation_grace = "0s"`) alerts on a missing agent, after
/// `offline_after` polls: the grace is what silences the first boot, nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_grace_a_missing_agent_is_alerted_debounced() {
    let hook = Webhook::start(0).await;
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\noffline_after = 2\nactivation_grace = \"0s\"\n[alerts]\nwebhook = \"{}\"\n",
        hook.url
    ))
    .await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    h.sim
        .inject_fault(Some("DescribeAgent"), ApiFault::NotFound { times: 1 });
    let before = h.sim.call_count("DescribeAgent");
    eventually(LIMIT, "two more polls", async || {
        h.sim.call_count("DescribeAgent") >= before + 2
    })
    .await;
    assert!(
        hook.events().is_empty(),
        "one not-found is debounced: {:?}",
        hook.events()
    );
    h.sim
        .inject_fault(Some("DescribeAgent"), ApiFault::NotFound { times: 100 });
    eventually(LIMIT, "agent_missing alert", async || {
        hook.events().contains(&"agent_missing".to_string())
    })
    .await;
    d.stop().await;
}

/// A failed SIGHUP reload stays visible in /status (its own field) until a good reload, even
/// after polls that clear the last diagnosis.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_reload_stays_visible_until_a_good_one() {
    let h = Harness::with_fragment("[monitor]\ninterval = \"1s\"\n").await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    h.fragment("[monitor]\ninterval = \"not a duration\"\n");
    let pid = d.child.id().unwrap() as i32;
    unsafe_kill(pid, "HUP");
    eventually(LIMIT, "reload_error in /status", async || {
        d.status().await["reload_error"]["kind"].is_string()
    })
    .await;
    let polls = h.sim.call_count("DescribeAgent");
    eventually(LIMIT, "two more polls", async || {
        h.sim.call_count("DescribeAgent") >= polls + 2
    })
    .await;
    let s = d.status().await;
    assert!(
        s["reload_error"]["message"]
            .as_str()
            .unwrap()
            .contains("monitor.interval"),
        "{s:#}"
    );
    h.fragment("[monitor]\ninterval = \"1s\"\n");
    unsafe_kill(pid, "HUP");
    eventually(LIMIT, "reload_error cleared", async || {
        d.status().await["reload_error"].is_null()
    })
    .await;
    d.stop().await;
}

/// A machine-id file that exists but holds no id is an error naming the file, not an
/// identity every clone would share.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_machine_id_is_an_error() {
    let h = Harness::new().await;
    let bad = h.dir.path().join("bad-machine-id");
    for text in ["", "uninitialized\n", "not-hex-not-hex-not-hex-not-hex\n"] {
        std::fs::write(&bad, text).unwrap();
        let mut c = h.command(&["activate"]);
        c.env("DATASYNC_WARDEN_MACHINE_ID_FILE", &bad);
        let r = output(c).await;
        r.assert_failed_with(1, &["bad-machine-id", "32 hexadecimal digits"]);
    }
    assert_eq!(h.sim.call_count("CreateAgent"), 0);
}

/// A temporary file left by a write killed before its rename is removed at the next start.
#[tokio::test(flavor = "multi_thread")]
async fn stale_temporary_files_are_removed() {
    let h = Harness::new().await;
    std::fs::create_dir_all(h.state_dir()).unwrap();
    let stale = h.state_dir().join(".state.json.AbC123");
    std::fs::write(&stale, "{\"version\":1,").unwrap();
    h.run(&["activate"]).await.assert_ok();
    assert!(!stale.exists(), "the killed write's temporary file is gone");
    assert_eq!(h.state()["status"], "activated");
}

/// An oversized state file is refused (size-capped read), naming the file.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_state_file_is_refused() {
    let h = Harness::new().await;
    std::fs::create_dir_all(h.state_dir()).unwrap();
    std::fs::write(h.state_file(), vec![b' '; 1 << 20]).unwrap();
    h.run(&["activate"])
        .await
        .assert_failed_with(1, &["state.json is not a valid state file", "larger than"]);
    assert_eq!(h.sim.call_count("CreateAgent"), 0);
}

/// No credentials anywhere is named as such, not as an unreachable API.
#[tokio::test(flavor = "multi_thread")]
async fn missing_credentials_are_named_not_called_unreachable() {
    let h = Harness::new().await;
    let mut c = h.command(&["activate"]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let r = output(c).await;
    r.assert_failed_with(
        1,
        &[
            "datasync:CreateAgent: no AWS credentials found",
            "instance profile",
        ],
    );
    assert!(!r.stderr.contains("cannot reach"), "{}", r.stderr);
}

/// STS refusing `sts:AssumeRole` for `aws.role_arn` is named, with the request id AWS gave.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_assume_role_is_named_with_its_request_id() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sts = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sts_url = format!("http://{}", sts.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = sts.accept().await {
            tokio::spawn(async move {
                // Read the whole request: closing with unread bytes would reset the connection.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap_or(0));
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let body = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                    <Code>AccessDenied</Code><Message>User: arn:aws:iam::111122223333:user/host is not authorized to perform: \
                    sts:AssumeRole on resource: arn:aws:iam::444455556666:role/datasync</Message></Error>\
                    <RequestId>deadbeef-1111-2222-3333-444455556666</RequestId></ErrorResponse>";
                let resp = format!(
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nx-amzn-RequestId: deadbeef-1111-2222-3333-444455556666\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    let h =
        // aws.endpoint_url covers every service, STS included: point it at the refusing STS.
        Harness::with_fragment(&format!(
            "[aws]\nrole_arn = \"arn:aws:iam::444455556666:role/datasync\"\nendpoint_url = \"{sts_url}\"\n"
        ))
        .await;
    let c = h.command(&["activate"]);
    let r = output(c).await;
    r.assert_failed_with(1, &["sts:AssumeRole was denied", "trust policy"]);
    assert!(
        r.stderr.contains("deadbeef-1111-2222-3333-444455556666"),
        "request id kept: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("cannot reach"), "{}", r.stderr);
}
