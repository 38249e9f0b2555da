//! A hostile environment and hostile input around the binary: a nonsense WATCHDOG_USEC,
//! another program on `health.listen`, secrets in the configuration, a key on stdin or in a
//! file, an IPv6 agent, and core dumps. Every promise is checked on the real binary.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use common::daemon::*;
use common::*;
use datasync_sim::{AgentStatus, SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `body` as a 200 `application/json` answer to every connection.
async fn fake_status_server(body: &'static str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn status_falls_back_when_another_program_answers_with_non_object_json() {
    for body in ["[]", "\"x\"", "42", "null"] {
        let addr = fake_status_server(body).await;
        let h = Harness::with_fragment(&format!("[health]\nlisten = \"{addr}\"\n")).await;
        let run = h.run(&["status", "--format", "json"]).await;
        run.assert_ok();
        assert!(!run.stderr.contains("panicked"), "{body}: {}", run.stderr);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["source"], "state", "{body}: fell back to the state file");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watchdog_usec_zero_runs_without_a_watchdog() {
    let h = Harness::new().await;
    let d = Running::start_with(&h, false, &[("WATCHDOG_USEC", "0")]).await;
    d.wait_phase_text("monitoring agent-").await;
    assert_eq!(d.get("/healthz").await.0, 200);
    assert_eq!(d.notify.count("WATCHDOG=1"), 0, "no watchdog, no pings");
    let (code, _, stderr) = d.stop().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("WATCHDOG_USEC"),
        "the warning names it: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_webhook_is_reported_without_its_secret() {
    let h =
        Harness::with_fragment("[alerts]\nwebhook = \"ftp://h/SECRET?token=SECRETQUERY\"\n").await;
    for cmd in [&["check"][..], &["run"], &["status"]] {
        let run = h.run(cmd).await;
        run.assert_failed_with(2, &["alerts.webhook", "ftp://h/…"]);
        assert!(!run.stderr.contains("SECRET"), "{cmd:?}: {}", run.stderr);
        assert!(!run.stdout.contains("SECRET"), "{cmd:?}: {}", run.stdout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_webhook_is_logged_with_its_cause_and_without_its_secret() {
    let port = free_port(); // nothing listens: every POST is refused
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\noffline_after = 1\nrealert_every = \"1h\"\n[alerts]\n\
         webhook = \"http://127.0.0.1:{port}/services/T000/B000/SECRETPATH?token=SECRETQUERY\"\n"
    ))
    .await;
    let mut d = Running::start(&h, false).await;
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = d.child.stderr.take().unwrap();
    let sink = stderr.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf).await {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    d.wait_phase_text("monitoring agent-").await;
    let arn = h.sim.agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    let shown = format!("alert destination webhook (http://127.0.0.1:{port}/…): ");
    eventually(LIMIT, "a webhook delivery failure is logged", async || {
        stderr.lock().unwrap().contains(&shown)
    })
    .await;
    d.stop().await;
    let log = stderr.lock().unwrap().clone();
    let line = log.lines().find(|l| l.contains(&shown)).unwrap();
    assert!(
        line.contains("refused"),
        "the cause, not only `client error`: {line}"
    );
    assert!(!log.contains("SECRET"), "{log}");
}

/// A private-endpoint key from the simulator's agent, fetched as the daemon would.
async fn private_key(h: &Harness) -> String {
    let target = format!(
        "/?gatewayType=SYNC&activationRegion=us-east-1&endpointType=PRIVATE_LINK&privateLinkEndpoint={ENDPOINT_IP}&no_redirect"
    );
    let body = raw_get(h.sim.agent_addr(), &target).await;
    let key = body.trim();
    assert_eq!(key.len(), 29, "a key: {body:?}");
    key.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn activation_key_from_stdin_reaches_create_agent() {
    let h = Harness::new().await;
    let key = private_key(&h).await;
    let mut cmd = h.command(&["activate", "--activation-key", "-"]);
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{key}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let run = Run::from(out);
    run.assert_ok();
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
    assert_eq!(h.own_agents().len(), 1);
    assert_eq!(run.stdout.trim(), h.own_agents()[0].arn);
    assert!(!run.stderr.contains(&key), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn activation_key_from_a_file_reaches_create_agent() {
    let h = Harness::new().await;
    let key = private_key(&h).await;
    let file = h.dir.path().join("activation-key");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let run = h
        .run(&["activate", "--activation-key", file.to_str().unwrap()])
        .await;
    run.assert_ok();
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
    assert!(!run.stderr.contains(&key), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_key_file_is_a_usage_error_naming_the_file() {
    let h = Harness::new().await;
    let file = h.dir.path().join("not-a-key.txt");
    std::fs::write(&file, "SECRETSTUFF that is no key\n").unwrap();
    let path = file.to_str().unwrap();
    let run = h.run(&["activate", "--activation-key", path]).await;
    run.assert_failed_with(2, &[path, "expected one key"]);
    assert!(!run.stderr.contains("SECRETSTUFF"), "{}", run.stderr);
    let missing = h.dir.path().join("missing/key");
    let run = h
        .run(&["activate", "--activation-key", missing.to_str().unwrap()])
        .await;
    run.assert_failed_with(2, &[missing.to_str().unwrap(), "cannot read the file"]);
    assert_eq!(h.sim.call_count("CreateAgent"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_forbids_core_dumps() {
    // The child inherits our limits: raise ours to the hard limit, or a limit of 0 already in
    // force (common in containers) would make this test pass without the daemon doing a thing.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_CORE).unwrap();
    if hard == 0 {
        eprintln!("notice: the hard core limit is already 0 here: this test proves nothing");
    }
    setrlimit(Resource::RLIMIT_CORE, hard, hard).unwrap();
    let h = Harness::new().await;
    let d = Running::start(&h, false).await;
    let pid = d.child.id().unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core limit line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "soft and hard limit: {core}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_fetched_from_an_ipv6_agent() {
    let cfg = SimConfig {
        agent_listen: "[::1]:0".parse().unwrap(),
        ..SimConfig::default()
    };
    let Ok(sim6) = Simulator::start(cfg).await else {
        eprintln!("notice: cannot bind [::1] here (no IPv6 loopback); skipping");
        return;
    };
    let h = Harness::with_fragment(&format!(
        "[agent]\naddress = \"::1\"\nactivation_port = {}\n[aws]\nendpoint_url = \"{}\"\n",
        sim6.agent_addr().port(),
        sim6.api_url()
    ))
    .await;
    let run = h.run(&["fetch-key"]).await;
    run.assert_ok();
    let reqs = sim6.agent_requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(reqs[0].peer.is_ipv6(), "{:?}", reqs[0].peer);
    assert_eq!(Some(run.stdout.trim()), reqs[0].issued_key.as_deref());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stderr_pipe_keeps_the_documented_exit_code() {
    // eprintln! panics on EPIPE (an abort in release): `check 2>&1 | head -1` must still exit 2.
    let h = Harness::with_fragment("[monitor]\noffline_after = 0\n").await;
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let mut cmd = h.command(&["check"]);
    cmd.stderr(Stdio::from(write));
    let status = tokio::time::timeout(RUN_LIMIT, cmd.status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(2), "{status:?}");

    // The same for log lines: fetch-key logs at info level, then succeeds.
    let h = Harness::new().await;
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let mut cmd = h.command(&["fetch-key"]);
    cmd.stderr(Stdio::from(write));
    let child = cmd.spawn().unwrap();
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim().len(),
        29,
        "the key"
    );
}
