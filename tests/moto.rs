//! The AWS-side checks, discovery and cross-account activation against moto (an independent
//! EC2/STS implementation; DataSync is the project's simulator). Scenarios are built with
//! boto3 by tests/moto/scenario.py.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::daemon::free_port;
use common::*;
use serde_json::Value;

fn venv_python() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/moto/scenario.py")
}

/// The shared moto server (it exits with this test process), or None when moto is not
/// installed and not required.
fn moto() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let ok = Command::new(venv_python())
            .args(["-c", "import moto.server, boto3"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("REQUIRE_MOTO").is_none(),
                "moto is required (REQUIRE_MOTO) but .venv lacks it"
            );
            eprintln!("moto not installed in .venv: skipping (scripts/test installs it)");
            return None;
        }
        let port = free_port();
        let mut child = Command::new(venv_python())
            .arg(script())
            .args(["serve", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "moto did not start");
        std::mem::forget(child); // it watches its parent and exits with it
        Some(format!("http://127.0.0.1:{port}"))
    })
    .as_deref()
}

/// Builds a scenario in moto; `args` are scenario.py build options.
fn build(url: &str, args: &[&str]) -> Value {
    let out = Command::new(venv_python())
        .arg(script())
        .args(["build", url])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scenario failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const OPEN_RULES: [&str; 4] = [
    "--rule",
    "tcp:443-443:127.0.0.0/8",
    "--rule",
    "tcp:1024-1064:0.0.0.0/0",
];

/// A harness whose configuration names only the Region and the endpoint; `extra` becomes the
/// `config.d` fragment.
async fn harness(vpce: &str, extra: &str) -> Harness {
    let h = Harness::new().await;
    let config = format!(
        "[agent]\naddress = \"127.0.0.1\"\nname = \"test-agent\"\nactivation_port = {}\n\
         [endpoint]\nregion = \"us-east-1\"\nvpc_endpoint_id = \"{vpce}\"\n\
         [activation]\ndeadline = \"20s\"\nrequest_timeout = \"2s\"\n\
         [checks]\ntimeout = \"1s\"\nsource_cidrs = [\"192.168.77.0/24\"]\n[state]\ndir = \"{}\"\n",
        h.sim.agent_addr().port(),
        h.state_dir().display()
    );
    std::fs::write(h.config(), config).unwrap();
    h.fragment(extra);
    h
}

async fn run(h: &Harness, moto: &str, args: &[&str]) -> Run {
    let mut c = h.command(args);
    c.env("AWS_ENDPOINT_URL_EC2", moto)
        .env("AWS_ENDPOINT_URL_STS", moto)
        .env("AWS_ENDPOINT_URL_DATASYNC", h.sim.api_url());
    output(c).await
}

async fn check_json(h: &Harness, moto: &str) -> (i32, Value) {
    let r = run(h, moto, &["check", "--format", "json"]).await;
    (
        r.code,
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr)),
    )
}

fn find<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {report:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn discovers_the_endpoint_and_activates_through_it() {
    let Some(moto) = moto() else { return };
    let s = build(moto, &OPEN_RULES);
    let h = harness(s["vpce_id"].as_str().unwrap(), "").await;
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(code, 0, "{report:#}");
    let d = &report["discovered"];
    // moto quirk: the ENI's IP lies outside its subnet; AWS would give one inside. The daemon
    // takes the ENI's address as AWS documents, so it must equal what moto holds.
    assert_eq!(d["ip"], s["eni_ip"]);
    assert_eq!(d["subnet_arn"], s["subnet_arn"]);
    assert_eq!(d["security_group_arn"], s["sg_arn"]);
    assert_eq!(d["endpoint"]["vpc_id"], s["vpc_id"]);
    for name in [
        "aws.identity",
        "aws.endpoint",
        "aws.subnet_free_ips",
        "aws.security_group.https",
        "aws.security_group.control_ports",
        "aws.cidr_overlap",
    ] {
        assert_eq!(find(&report, name)["status"], "pass", "{name}: {report:#}");
    }
    for action in [
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
        "datasync:ListAgents",
        "datasync:DescribeAgent",
    ] {
        assert_eq!(
            find(&report, &format!("permissions.{action}"))["status"],
            "pass",
            "{action}"
        );
    }
    assert_eq!(
        find(&report, "permissions.datasync:CreateAgent")["status"],
        "skipped"
    );

    let act = run(&h, moto, &["activate"]).await;
    act.assert_ok();
    let agent = &h.sim.agents()[0];
    assert_eq!(agent.vpc_endpoint_id.as_deref(), s["vpce_id"].as_str());
    assert_eq!(
        agent.subnet_arns,
        vec![s["subnet_arn"].as_str().unwrap().to_string()]
    );
    assert_eq!(
        agent.security_group_arns,
        vec![s["sg_arn"].as_str().unwrap().to_string()]
    );
    let q = &h.sim.agent_requests()[0].query;
    assert!(
        q.contains(&format!(
            "privateLinkEndpoint={}",
            s["eni_ip"].as_str().unwrap()
        )),
        "{q}"
    );
    assert_eq!(h.state()["endpoint_ip"], s["eni_ip"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nearly_full_subnet_fails_and_a_small_one_warns() {
    let Some(moto) = moto() else { return };
    // A /28 has 11 usable addresses; the endpoint takes one, 8 more leave 2.
    let mut args = vec!["--subnet-cidr", "10.20.1.0/28", "--fill", "8"];
    args.extend(OPEN_RULES);
    let s = build(moto, &args);
    assert_eq!(s["free_ips"], 2);
    let h = harness(s["vpce_id"].as_str().unwrap(), "").await;
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(code, 1);
    let c = find(&report, "aws.subnet_free_ips");
    assert_eq!(c["status"], "fail");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("2 free IPv4 address(es)"),
        "{c}"
    );
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("4 free addresses per task"),
        "{c}"
    );

    let mut args = vec!["--subnet-cidr", "10.20.1.0/28", "--fill", "4"];
    args.extend(OPEN_RULES);
    let s = build(moto, &args);
    let h = harness(
        s["vpce_id"].as_str().unwrap(),
        "[checks]\nplanned_tasks = 2\n",
    )
    .await;
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(
        find(&report, "aws.subnet_free_ips")["status"],
        "warn",
        "6 free < 2 tasks x 4"
    );
    assert_eq!(code, 0, "a warning does not fail the check");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_control_ports_are_named() {
    let Some(moto) = moto() else { return };
    let s = build(
        moto,
        &[
            "--rule",
            "tcp:443-443:0.0.0.0/0",
            "--rule",
            "tcp:1024-1040:127.0.0.1/32",
        ],
    );
    let h = harness(s["vpce_id"].as_str().unwrap(), "").await;
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(code, 1);
    assert_eq!(find(&report, "aws.security_group.https")["status"], "pass");
    let c = find(&report, "aws.security_group.control_ports");
    assert_eq!(c["status"], "fail");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("do(es) not admit TCP 1041-1064 from 127.0.0.1/32"),
        "{c}"
    );
    assert!(
        c["hint"].as_str().unwrap().contains(&format!(
            "add an inbound rule to {} for TCP 1041-1064",
            s["sg_id"].as_str().unwrap()
        )),
        "{c}"
    );

    let s = build(moto, &["--rule", "tcp:443-443:0.0.0.0/0"]);
    let h = harness(s["vpce_id"].as_str().unwrap(), "").await;
    let (_, report) = check_json(&h, moto).await;
    assert!(
        find(&report, "aws.security_group.control_ports")["detail"]
            .as_str()
            .unwrap()
            .contains("TCP 1024-1064")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_for_another_service_fails() {
    let Some(moto) = moto() else { return };
    let mut args = vec!["--service", "s3"];
    args.extend(OPEN_RULES);
    let s = build(moto, &args);
    let h = harness(s["vpce_id"].as_str().unwrap(), "").await;
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(code, 1);
    let c = find(&report, "aws.endpoint");
    assert_eq!(c["status"], "fail");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("is for com.amazonaws.us-east-1.s3, not com.amazonaws.us-east-1.datasync"),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_networks_fail() {
    let Some(moto) = moto() else { return };
    let mut args = vec![
        "--vpc-cidr",
        "10.30.0.0/16",
        "--subnet-cidr",
        "10.30.1.0/24",
    ];
    args.extend(OPEN_RULES);
    let s = build(moto, &args);
    let h = harness(s["vpce_id"].as_str().unwrap(), "").await;
    h.fragment("[checks]\nsource_cidrs = [\"10.30.200.0/24\"]\n");
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(code, 1);
    let c = find(&report, "aws.cidr_overlap");
    assert_eq!(c["status"], "fail");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("10.30.0.0/16 (VPC) and 10.30.200.0/24 (checks.source_cidrs)"),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_account_lookups_happen_in_the_role_account() {
    let Some(moto) = moto() else { return };
    let role = "arn:aws:iam::222233334444:role/datasync-activation";
    let mut args = vec!["--role-arn", role];
    args.extend(OPEN_RULES);
    let s = build(moto, &args);
    assert_eq!(s["account"], "222233334444");
    let vpce = s["vpce_id"].as_str().unwrap();

    // Without the role the endpoint is invisible: moto keeps accounts apart, as AWS does.
    let h = harness(vpce, "").await;
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(code, 1);
    assert_eq!(find(&report, "aws.endpoint")["status"], "fail");

    let h = harness(
        vpce,
        &format!("[aws]\nrole_arn = \"{role}\"\nexternal_id = \"warden-test\"\n"),
    )
    .await;
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["identity"]["account"], "222233334444");
    assert!(
        report["identity"]["arn"]
            .as_str()
            .unwrap()
            .contains("datasync-activation"),
        "{report:#}"
    );
    assert_eq!(report["discovered"]["subnet_arn"], s["subnet_arn"]);
    let text = run(&h, moto, &["check"]).await;
    assert!(
        text.stdout.contains("identity:   account 222233334444 as"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_discovers_activates_and_exports_the_checks() {
    let Some(moto) = moto() else { return };
    let s = build(moto, &["--rule", "tcp:443-443:0.0.0.0/0"]); // 1024-1064 missing: reported, not blocking
    let h = harness(
        s["vpce_id"].as_str().unwrap(),
        "[monitor]\ninterval = \"1s\"\n",
    )
    .await;
    let api = h.sim.api_url();
    let env = [
        ("AWS_ENDPOINT_URL_EC2", moto),
        ("AWS_ENDPOINT_URL_STS", moto),
        ("AWS_ENDPOINT_URL_DATASYNC", api.as_str()),
    ];
    let d = common::daemon::Running::start_with(&h, false, &env).await;
    d.wait_phase_text("monitoring agent-").await;
    let (_, metrics) = d.get("/metrics").await;
    for (check, ok) in [
        ("aws.endpoint", 1),
        ("aws.subnet_free_ips", 1),
        ("aws.security_group.control_ports", 0),
        ("agent.activation_port", 1),
    ] {
        let line = format!("datasync_warden_check_ok{{check=\"{check}\"}} {ok}\n");
        assert!(metrics.contains(&line), "no {line:?} in {metrics}");
        // One preflight ran: a failed check counted once, a passed one not at all.
        let failures = 1 - ok;
        let line =
            format!("datasync_warden_check_failures_total{{check=\"{check}\"}} {failures}\n");
        assert!(metrics.contains(&line), "no {line:?} in {metrics}");
    }
    assert_eq!(
        h.sim.agents()[0].subnet_arns,
        vec![s["subnet_arn"].as_str().unwrap().to_string()]
    );
    d.stop().await;
}

/// A front for moto's EC2 that says the first `hide` DescribeVpcEndpoints calls' endpoint does
/// not exist (as AWS does for a while after creating one: eventual consistency), forwarding
/// everything else. Returns its URL.
async fn lagging_ec2(moto: &str, hide: usize) -> String {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = moto.to_string();
    let hidden = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        while let Ok((stream, _)) = listener.accept().await {
            let (client, upstream, hidden) = (client.clone(), upstream.clone(), hidden.clone());
            let svc = hyper::service::service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let (client, upstream, hidden) =
                        (client.clone(), upstream.clone(), hidden.clone());
                    async move {
                        let (mut parts, body) = req.into_parts();
                        let body = body.collect().await?.to_bytes();
                        let describe =
                            String::from_utf8_lossy(&body).contains("Action=DescribeVpcEndpoints");
                        if describe && hidden.fetch_add(1, Ordering::SeqCst) < hide {
                            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error>\
                            <Code>InvalidVpcEndpointId.NotFound</Code><Message>The Vpc Endpoint Id does not exist</Message>\
                            </Error></Errors><RequestID>lagging-1</RequestID></Response>";
                            return Ok::<_, hyper::Error>(
                                hyper::Response::builder()
                                    .status(400)
                                    .body(Full::new(Bytes::from(xml)))
                                    .unwrap(),
                            );
                        }
                        let path = parts
                            .uri
                            .path_and_query()
                            .map_or("/", |p| p.as_str())
                            .to_string();
                        parts.uri = format!("{upstream}{path}").parse().unwrap();
                        let resp = client
                            .request(hyper::Request::from_parts(parts, Full::new(body)))
                            .await
                            .unwrap();
                        let (parts, body) = resp.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        Ok(hyper::Response::from_parts(parts, Full::new(body)))
                    }
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
            );
        }
    });
    url
}

/// An endpoint EC2 does not show yet, then shows: `run` waits (never exit 2, which the unit
/// would not restart), says what it waits for, and activates as soon as discovery completes.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_waits_for_an_endpoint_not_yet_visible_then_activates() {
    let Some(moto) = moto() else { return };
    let s = build(moto, &OPEN_RULES);
    let h = harness(s["vpce_id"].as_str().unwrap(), "[checks]\naws = false\n").await;
    let ec2 = lagging_ec2(moto, 2).await;
    let api = h.sim.api_url();
    let env = [
        ("AWS_ENDPOINT_URL_EC2", ec2.as_str()),
        ("AWS_ENDPOINT_URL_STS", moto),
        ("AWS_ENDPOINT_URL_DATASYNC", api.as_str()),
    ];
    let mut d = common::daemon::Running::start_with(&h, false, &env).await;
    d.wait_phase_text("waiting for the VPC endpoint").await;
    let status = d.status().await;
    assert_eq!(
        status["last_diagnosis"]["kind"], "discovery_pending",
        "{status:#}"
    );
    assert!(
        status["last_diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("is not visible in us-east-1 yet"),
        "{status:#}"
    );
    assert!(d.child.try_wait().unwrap().is_none(), "run must not exit");
    // The third look finds it (the first retry waits ~5 s, the second ~10 s).
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        d.wait_phase_text("monitoring agent-"),
    )
    .await
    .expect("activates once the endpoint is visible");
    assert_eq!(h.sim.agents().len(), 1);
    d.stop().await;
}

/// An endpoint in no subnet has no network interface: a gap in discovery, not a configuration
/// error. `activate` and `check` exit 1 (retryable), `run` keeps retrying.
#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_without_interfaces_is_retryable_not_bad_configuration() {
    let Some(moto) = moto() else { return };
    let mut args = OPEN_RULES.to_vec();
    args.push("--no-subnets");
    let s = build(moto, &args);
    let h = harness(
        s["vpce_id"].as_str().unwrap(),
        "[activation]\ndeadline = \"2s\"\n",
    )
    .await;
    let act = run(&h, moto, &["activate"]).await;
    act.assert_failed_with(
        1,
        &[
            "has no network interface with an IPv4 address yet",
            "(it is in no subnet)",
        ],
    );
    let (code, report) = check_json(&h, moto).await;
    assert_eq!(code, 1, "{report:#}");
    let api = h.sim.api_url();
    let env = [
        ("AWS_ENDPOINT_URL_EC2", moto),
        ("AWS_ENDPOINT_URL_STS", moto),
        ("AWS_ENDPOINT_URL_DATASYNC", api.as_str()),
    ];
    let mut d = common::daemon::Running::start_with(&h, false, &env).await;
    d.wait_phase_text("waiting for the VPC endpoint").await;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await; // past the first retry
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "run exited: the unit would stay failed"
    );
    assert_eq!(
        d.status().await["last_diagnosis"]["kind"],
        "discovery_pending"
    );
    d.stop().await;
}

/// EC2 unreachable during discovery is named as such, for EC2, never as "not found".
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_ec2_is_named_not_called_not_found() {
    let Some(moto) = moto() else { return };
    let s = build(moto, &OPEN_RULES);
    let h = harness(s["vpce_id"].as_str().unwrap(), "[checks]\naws = false\n").await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut c = h.command(&["activate"]);
    c.env("AWS_ENDPOINT_URL_EC2", &closed)
        .env("AWS_ENDPOINT_URL_DATASYNC", h.sim.api_url());
    let r = output(c).await;
    r.assert_failed_with(
        1,
        &[
            "ec2:DescribeVpcEndpoints",
            "cannot reach the EC2 API (connection refused)",
        ],
    );
    assert!(!r.stderr.contains("not found"), "{}", r.stderr);
}
