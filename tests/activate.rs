//! Activation end to end against the simulator: happy paths, fallbacks, every documented
//! failure, idempotence and crash recovery.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::*;
use datasync_sim::{AgentFault, ApiFault, CreateAgentError, ResponseMode};

fn tag<'a>(a: &'a datasync_sim::AgentSnapshot, key: &str) -> Option<&'a str> {
    a.tags
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn assert_is_agent_arn(s: &str) {
    let arn = s.trim();
    assert!(
        arn.starts_with("arn:aws:datasync:us-east-1:111122223333:agent/agent-"),
        "{s:?}"
    );
    assert_eq!(
        arn.len(),
        "arn:aws:datasync:us-east-1:111122223333:agent/agent-".len() + 17
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn happy_path_sends_the_right_query_and_create_agent() {
    let h = Harness::new().await;
    let run = h.run(&["activate"]).await;
    run.assert_ok();
    assert_is_agent_arn(&run.stdout);

    let reqs = h.sim.agent_requests();
    assert_eq!(reqs.len(), 1, "one exchange with the agent: {reqs:?}");
    let q = &reqs[0].query;
    for part in [
        "gatewayType=SYNC",
        "activationRegion=us-east-1",
        "endpointType=PRIVATE_LINK",
        &format!("privateLinkEndpoint={ENDPOINT_IP}"),
    ] {
        assert!(q.split('&').any(|p| p == part), "{part} missing from {q}");
    }

    let agents = h.sim.agents();
    assert_eq!(agents.len(), 1);
    let a = &agents[0];
    assert_eq!(a.arn, run.stdout.trim());
    assert_eq!(a.name.as_deref(), Some("test-agent"));
    assert_eq!(a.vpc_endpoint_id.as_deref(), Some(VPCE));
    assert_eq!(a.subnet_arns, vec![SUBNET.to_string()]);
    assert_eq!(a.security_group_arns, vec![SG.to_string()]);
    assert_eq!(a.private_link_endpoint.as_deref(), Some(ENDPOINT_IP));
    assert_eq!(tag(a, "Team"), Some("storage"));
    let token = tag(a, "datasync-warden:activation-token").expect("token tag");
    assert!(
        !h.sim.agent_port_open(),
        "the agent closes its port after activation"
    );

    let state = h.state();
    assert_eq!(state["status"], "activated");
    assert_eq!(state["agent_arn"], a.arn.as_str());
    assert_eq!(state["activation_token"], token);
    assert_eq!(state["region"], "us-east-1");
    assert_eq!(state["vpc_endpoint_id"], VPCE);
    assert_eq!(state["machine_id"], MACHINE_ID);
    let mode = |p| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(h.state_file()), 0o600);
    assert_eq!(mode(h.state_dir()), 0o700);
    let key = reqs[0].issued_key.clone().expect("a key was issued");
    assert!(!run.stderr.contains(&key), "the whole key is never logged");
    assert!(
        run.stderr.contains(&key[..5]),
        "its first group identifies it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_redirect_mode_is_used_when_redirect_mode_breaks() {
    for fault in [AgentFault::Eof, AgentFault::Garbage, AgentFault::Hang] {
        let h = Harness::new().await;
        h.sim.set_agent_fault(ResponseMode::Redirect, Some(fault));
        let run = h.run(&["activate"]).await;
        run.assert_ok();
        let modes: Vec<_> = h.sim.agent_requests().iter().map(|r| r.mode).collect();
        assert_eq!(
            modes,
            vec![ResponseMode::Redirect, ResponseMode::NoRedirect],
            "{fault:?}"
        );
        assert!(
            run.stderr.contains("trying no_redirect mode"),
            "{}",
            run.stderr
        );
        assert_eq!(h.sim.agents().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_mode_is_used_when_no_redirect_breaks() {
    let h = Harness::new().await;
    h.sim
        .set_agent_fault(ResponseMode::Redirect, Some(AgentFault::Eof));
    h.sim.set_agent_fault(
        ResponseMode::NoRedirect,
        Some(AgentFault::Oversized(1 << 20)),
    );
    let run = h.run(&["fetch-key"]).await;
    // Both modes broken: no key, and the diagnosis says so.
    run.assert_failed_with(1, &["exceeds 4096 bytes", "misbehaved in both modes"]);
    h.sim.set_agent_fault(ResponseMode::Redirect, None);
    let run = h.run(&["fetch-key"]).await;
    run.assert_ok();
    let key = run.stdout.trim();
    assert_eq!(key.len(), 29, "stdout holds only the key: {:?}", run.stdout);
    assert!(!run.stderr.contains(key), "the whole key is never logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoint_unreachable_twice_then_a_key() {
    let h = Harness::new().await;
    h.sim
        .set_error_type("PRIVATE_LINK_ENDPOINT_UNREACHABLE", Some(2));
    let run = h.run(&["activate"]).await;
    run.assert_ok();
    assert_eq!(h.sim.agent_requests().len(), 3);
    assert!(
        run.stderr.contains("attempt 1 failed [agent_error_type]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("attempt 2 failed [agent_error_type]"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoint_unreachable_forever_fails_within_the_deadline() {
    let h = Harness::with_fragment("[activation]\ndeadline = \"4s\"\n").await;
    h.sim
        .set_error_type("PRIVATE_LINK_ENDPOINT_UNREACHABLE", None);
    let started = Instant::now();
    let run = h.run(&["activate"]).await;
    let took = started.elapsed();
    run.assert_failed_with(
        1,
        &[
            "errorType=PRIVATE_LINK_ENDPOINT_UNREACHABLE",
            "cannot reach the VPC endpoint 172.16.1.10 on TCP 443",
        ],
    );
    assert!(took < Duration::from_secs(4 + 3), "took {took:?}");
    assert!(h.sim.agent_requests().len() >= 2, "retried");
    assert_eq!(h.sim.call_count("CreateAgent"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn documented_create_agent_errors_are_diagnosed() {
    let cases = [
        (
            CreateAgentError::SubnetForbidden,
            "Invalid EC2 subnet",
            "lacks EC2 subnet rights: grant ec2:DescribeVpcEndpoints",
        ),
        (
            CreateAgentError::SecurityGroupForbidden,
            "Invalid EC2 security group",
            "lacks EC2 security-group rights: grant",
        ),
        (
            CreateAgentError::VpcEndpointInvalid,
            "VPC endpoint vpce-0123456789abcdef0 is not valid",
            "check endpoint.vpc_endpoint_id and endpoint.region",
        ),
    ];
    for (err, message, hint) in cases {
        let h = Harness::new().await;
        h.sim.inject_create_error(err, None);
        let run = h.run(&["activate"]).await;
        run.assert_failed_with(1, &[message, hint]);
        assert_eq!(h.sim.agents().len(), 0);
        assert_eq!(
            h.state()["status"],
            "activating",
            "the attempt stays recorded, not lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn public_key_for_private_endpoint_is_diagnosed() {
    let h = Harness::new().await;
    // A key fetched the public way, as a person might paste from the agent's console.
    let addr = h.sim.agent_addr();
    let body = raw_get(
        addr,
        "/?gatewayType=SYNC&activationRegion=us-east-1&no_redirect",
    )
    .await;
    let run = h.run(&["activate", "--activation-key", body.trim()]).await;
    run.assert_failed_with(
        1,
        &[
            "should remain unspecified for public-endpoint activation keys",
            "fetch a private key",
        ],
    );
    let run = h.run(&["activate", "--activation-key", "not-a-key"]).await;
    run.assert_failed_with(2, &["--activation-key: expected five groups"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_5xx_are_retried_by_the_sdk() {
    let h = Harness::new().await;
    h.sim
        .inject_fault(Some("CreateAgent"), ApiFault::Throttle { times: 2 });
    h.run(&["activate"]).await.assert_ok();
    assert_eq!(h.sim.call_count("CreateAgent"), 3);
    assert_eq!(h.sim.agents().len(), 1);

    let h = Harness::new().await;
    h.sim
        .inject_fault(Some("CreateAgent"), ApiFault::Internal { times: 2 });
    h.run(&["activate"]).await.assert_ok();
    assert_eq!(h.sim.agents().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn second_run_reports_the_same_agent_without_activating() {
    let h = Harness::new().await;
    let first = h.run(&["activate"]).await;
    first.assert_ok();
    let describes = h.sim.call_count("DescribeAgent");
    let second = h.run(&["activate"]).await;
    second.assert_ok();
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
    assert_eq!(
        h.sim.call_count("DescribeAgent"),
        describes + 1,
        "exactly one DescribeAgent"
    );
    assert_eq!(h.sim.call_count("ListAgents"), 0);
    assert_eq!(
        h.sim.agent_requests().len(),
        1,
        "the agent is not contacted again"
    );
    assert!(
        second.stderr.contains("already activated"),
        "{}",
        second.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_between_create_agent_and_state_write_is_adopted() {
    let h = Harness::new().await;
    h.sim.seed_agents(350); // adoption must page through ListAgents (4 pages)
    h.sim
        .inject_fault(Some("CreateAgent"), ApiFault::CreateThenHang);
    let mut child = h.command(&["activate"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while h
        .sim
        .agents()
        .iter()
        .all(|a| a.name.as_deref() != Some("test-agent"))
    {
        assert!(
            Instant::now() < deadline,
            "CreateAgent never reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap(); // SIGKILL: no chance to write anything
    child.wait().await.unwrap();
    assert_eq!(
        h.state()["status"],
        "activating",
        "the token was persisted before CreateAgent"
    );
    h.sim.clear_faults();

    let run = h.run(&["activate"]).await;
    run.assert_ok();
    let ours = h.own_agents();
    assert_eq!(ours.len(), 1, "exactly one agent");
    assert_eq!(run.stdout.trim(), ours[0].arn);
    assert_eq!(h.sim.call_count("CreateAgent"), 1, "never activated twice");
    assert_eq!(h.state()["adopted"], true);
    assert!(run.stderr.contains("adopting"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_from_another_machine_is_not_trusted() {
    let h = Harness::new().await;
    std::fs::create_dir_all(h.state_dir()).unwrap();
    let foreign = r#"{"version":1,"machine_id":"fedcba9876543210fedcba9876543210","status":"activated",
      "agent_arn":"arn:aws:datasync:us-east-1:111122223333:agent/agent-00000000000000000","agent_name":"golden",
      "region":"us-east-1","vpc_endpoint_id":"vpce-0123456789abcdef0","endpoint_ip":"172.16.1.10",
      "subnet_arn":"x","security_group_arn":"y","activated_at":"2026-01-01T00:00:00Z","activation_token":"t","adopted":false}"#;
    std::fs::write(h.state_file(), foreign).unwrap();
    let run = h.run(&["activate"]).await;
    run.assert_ok();
    assert!(
        run.stderr
            .contains("was written on machine fedcba9876543210fedcba9876543210"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("not trusted"), "{}", run.stderr);
    assert_ne!(
        run.stdout.trim(),
        "arn:aws:datasync:us-east-1:111122223333:agent/agent-00000000000000000"
    );
    assert_eq!(h.sim.agents().len(), 1);
    assert_eq!(h.state()["agent_arn"], run.stdout.trim());
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_agent_is_reported_not_reactivated() {
    let h = Harness::new().await;
    let arn = h.run(&["activate"]).await.stdout.trim().to_string();
    h.sim.delete_agent(&arn);
    let run = h.run(&["activate"]).await;
    run.assert_failed_with(
        1,
        &["DataSync says it does not exist", "the agent was deleted"],
    );
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn monitor_only_agent_is_described_not_activated() {
    let h = Harness::new().await;
    let arn = h.run(&["activate"]).await.stdout.trim().to_string();
    let other = Harness::with_fragment("").await;
    other.fragment(&format!(
        "[agent]\narn = \"{arn}\"\n[aws]\nendpoint_url = \"{}\"\n",
        h.sim.api_url()
    ));
    let run = other.run(&["activate"]).await;
    run.assert_ok();
    assert_eq!(run.stdout.trim(), arn);
    assert_eq!(other.sim.agent_requests().len(), 0);
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_agent_port_blocks_activation_with_a_hint() {
    let h = Harness::new().await;
    h.run(&["activate"]).await.assert_ok(); // closes the simulated agent's port
    std::fs::remove_file(h.state_file()).unwrap();
    h.fragment("[activation]\ndeadline = \"3s\"\n");
    let started = Instant::now();
    let run = h.run(&["activate"]).await;
    run.assert_failed_with(
        1,
        &[
            "required port check(s) failed",
            "refused: nothing accepts TCP",
            "(agent.activation_port): refused, retry in",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3 + 5),
        "gave up within the deadline"
    );
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
}
