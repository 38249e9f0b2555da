//! `check` through the binary: classification, exit status, JSON schema, activated agents.

mod common;

use common::*;

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[tokio::test(flavor = "multi_thread")]
async fn open_agent_port_passes() {
    let h = Harness::new().await;
    let run = h.run(&["check", "--format", "json"]).await;
    run.assert_ok();
    let v = json(&run);
    assert_eq!(v["schema"], 2);
    assert_eq!(v["ok"], true);
    assert_eq!(v["agent_arn"], serde_json::Value::Null);
    let c = &v["checks"][0];
    assert_eq!(c["check"], "agent.activation_port");
    assert_eq!(c["group"], "network");
    assert_eq!(c["port"], h.sim.agent_addr().port());
    assert_eq!(c["outcome"], "open");
    assert_eq!(c["status"], "pass");
    assert!(c["elapsed_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        h.sim.agent_requests().len(),
        0,
        "a probe is a bare TCP connect, never a key request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_port_fails_with_a_hint() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h = Harness::with_fragment(&format!("[agent]\nactivation_port = {closed}\n")).await;
    let run = h.run(&["check"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("FAIL agent.activation_port"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "refused: nothing accepts TCP {closed} on 127.0.0.1"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 required check(s) failed"),
        "{}",
        run.stdout
    );
    let v = json(&h.run(&["check", "--format", "json"]).await);
    assert_eq!(v["ok"], false);
    assert_eq!(v["checks"][0]["outcome"], "refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn control_ports_are_probed_concurrently_and_grouped() {
    // The endpoint IP is loopback here: nothing listens on 443 or 1024-1064 for this test...
    // except ports other programs may hold, so only the grouping and count are asserted.
    let h = Harness::with_fragment(
        "[endpoint]\nip = \"127.0.0.1\"\n[checks]\ncontrol_ports = true\nsupport_port = true\n",
    )
    .await;
    let v = json(&h.run(&["check", "--format", "json"]).await);
    let checks = v["checks"].as_array().unwrap();
    let count = |name: &str| checks.iter().filter(|c| c["check"] == name).count();
    assert_eq!(count("agent.activation_port"), 1);
    assert_eq!(count("endpoint.https"), 1);
    assert_eq!(count("endpoint.control_ports"), 41, "1024-1064 inclusive");
    assert_eq!(count("endpoint.support_port"), 1);
    let support = checks
        .iter()
        .find(|c| c["check"] == "endpoint.support_port")
        .unwrap();
    assert_ne!(support["status"], "fail", "TCP 22 never blocks activation");
}

#[tokio::test(flavor = "multi_thread")]
async fn activated_agent_port_is_not_checked() {
    let h = Harness::new().await;
    let arn = h.run(&["activate"]).await.stdout.trim().to_string();
    let run = h.run(&["check", "--format", "json"]).await;
    run.assert_ok();
    let v = json(&run);
    assert_eq!(v["agent_arn"], arn.as_str());
    assert_eq!(v["checks"].as_array().unwrap().len(), 0);
    let text = h.run(&["check"]).await;
    assert!(
        text.stdout
            .contains("is activated: its activation port is closed by design"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stdout_is_not_a_crash() {
    let h = Harness::new().await;
    let mut child = h.command(&["check", "--format", "json"]).spawn().unwrap();
    drop(child.stdout.take()); // like `check | head -c0`: the reader is gone before the output
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help_and_version_are_the_daemons() {
    // The CLI definition lives in the parsers crate; a bare clap `version`/`about` there
    // would print that crate's description and version.
    let bin = env!("CARGO_BIN_EXE_datasync-warden");
    let version = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("datasync-warden {}", env!("CARGO_PKG_VERSION"))
    );
    let help = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert_eq!(
        help.lines().next(),
        Some(env!("CARGO_PKG_DESCRIPTION")),
        "{help}"
    );
}
