//! The DataSync JSON 1.1 control plane: CreateAgent errors, faults, pagination, admin API.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use datasync_sim::{AgentStatus, ApiFault, CreateAgentError, SimConfig, Simulator};
use serde_json::{Value, json};

#[tokio::test]
async fn documented_create_agent_errors_have_exact_messages() {
    let sim = start().await;
    let key = fetch_key(&sim).await;
    let cases = [
        (
            CreateAgentError::SubnetForbidden,
            format!("Invalid EC2 subnet, ARN: {SUBNET}, reason: invalid subnet, StatusCode: 403"),
        ),
        (
            CreateAgentError::SecurityGroupForbidden,
            format!(
                "Invalid EC2 security group, ARN: {SG}, reason: invalid security group, StatusCode: 403"
            ),
        ),
        (
            CreateAgentError::VpcEndpointInvalid,
            format!("Private link configuration is invalid: VPC endpoint {VPCE} is not valid"),
        ),
    ];
    for (e, want) in cases {
        sim.inject_create_error(e, Some(1));
        let r = call(&sim, "CreateAgent", create_input(&key)).await;
        assert_eq!(expect_error(&r, 400, "InvalidRequestException"), want);
        assert!(
            sim.agent_port_open(),
            "a failed CreateAgent must not activate"
        );
    }
    // Injections were for one call each; the same key still works.
    let r = call(&sim, "CreateAgent", create_input(&key)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sim.call_count("CreateAgent"), 4);
}

#[tokio::test]
async fn public_key_with_vpc_endpoint_is_rejected() {
    let sim = start().await;
    let r = agent_get(
        &sim,
        "gatewayType=SYNC&activationRegion=us-east-1&no_redirect",
    )
    .await;
    let r = call(&sim, "CreateAgent", create_input(&r.text())).await;
    assert_eq!(
        expect_error(&r, 400, "InvalidRequestException"),
        "Private link configuration is invalid: VPC Endpoint Id should remain unspecified for public-endpoint activation keys."
    );
}

#[tokio::test]
async fn keys_must_be_issued_unexpired_and_well_formed() {
    let cfg = SimConfig {
        key_lifetime: Duration::from_millis(50),
        ..SimConfig::default()
    };
    let sim = Simulator::start(cfg).await.unwrap();
    let key = fetch_key(&sim).await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let r = call(&sim, "CreateAgent", create_input(&key)).await;
    assert_eq!(
        expect_error(&r, 400, "InvalidRequestException"),
        "Activation key is invalid or has expired"
    );
    let r = call(
        &sim,
        "CreateAgent",
        create_input("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"),
    )
    .await;
    assert_eq!(
        expect_error(&r, 400, "InvalidRequestException"),
        "Activation key is invalid or has expired"
    );

    let mut bad = create_input("not-a-key");
    bad["SubnetArns"] = json!([SUBNET, SUBNET]);
    bad["VpcEndpointId"] = json!("vpce-123");
    let msg = expect_error(
        &call(&sim, "CreateAgent", bad).await,
        400,
        "InvalidRequestException",
    );
    assert!(msg.starts_with("3 validation errors detected: "), "{msg}");
    assert!(msg.contains("at 'activationKey' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Z0-9]{5}(-[A-Z0-9]{5}){4}"), "{msg}");
    assert!(msg.contains("at 'subnetArns' failed to satisfy constraint: Member must have length less than or equal to 1"), "{msg}");

    let tags: Vec<Value> = (0..51)
        .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
        .collect();
    let msg = expect_error(
        &call(
            &sim,
            "CreateAgent",
            json!({"ActivationKey": key, "Tags": tags}),
        )
        .await,
        400,
        "InvalidRequestException",
    );
    assert!(msg.contains("at 'tags'"), "{msg}");
    let r = call(&sim, "CreateAgent", json!({"ActivationKey": 5})).await;
    expect_error(&r, 400, "SerializationException");
}

#[tokio::test]
async fn describe_reflects_creation_and_status_changes() {
    let sim = start().await;
    let key = fetch_key(&sim).await;
    let arn = call(&sim, "CreateAgent", create_input(&key)).await.json()["AgentArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = call(&sim, "DescribeAgent", json!({"AgentArn": arn}))
        .await
        .json();
    assert_eq!(d["Status"], "ONLINE");
    assert_eq!(d["Name"], "warden-test");
    assert_eq!(d["EndpointType"], "PRIVATE_LINK");
    assert_eq!(
        d["PrivateLinkConfig"],
        json!({"VpcEndpointId": VPCE, "PrivateLinkEndpoint": "10.0.1.25", "SubnetArns": [SUBNET], "SecurityGroupArns": [SG]})
    );
    assert!(d["CreationTime"].is_f64() && d["LastConnectionTime"].is_f64());
    assert!(d["Platform"]["Version"].is_string());

    sim.set_agent_status(&arn, AgentStatus::Offline);
    let d1 = call(&sim, "DescribeAgent", json!({"AgentArn": arn}))
        .await
        .json();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let d2 = call(&sim, "DescribeAgent", json!({"AgentArn": arn}))
        .await
        .json();
    assert_eq!(d1["Status"], "OFFLINE");
    assert_eq!(
        d1["LastConnectionTime"], d2["LastConnectionTime"],
        "offline freezes LastConnectionTime"
    );

    let tags = call(&sim, "ListTagsForResource", json!({"ResourceArn": arn}))
        .await
        .json();
    assert_eq!(
        tags,
        json!({"Tags": [{"Key": "managed-by", "Value": "datasync-warden"}]})
    );

    sim.delete_agent(&arn);
    let r = call(&sim, "DescribeAgent", json!({"AgentArn": arn})).await;
    expect_error(&r, 400, "InvalidRequestException");
    let r = call(
        &sim,
        "DescribeAgent",
        json!({"AgentArn": "arn:aws:datasync:us-east-1:1:agent/x"}),
    )
    .await;
    assert!(expect_error(&r, 400, "InvalidRequestException").contains("at 'agentArn'"));
}

#[tokio::test]
async fn generic_faults() {
    let sim = start().await;
    sim.inject_fault(Some("ListAgents"), ApiFault::Throttle { times: 2 });
    for _ in 0..2 {
        let r = call(&sim, "ListAgents", json!({})).await;
        assert_eq!(
            expect_error(&r, 400, "ThrottlingException"),
            "Rate exceeded"
        );
    }
    assert_eq!(call(&sim, "ListAgents", json!({})).await.status, 200);

    sim.inject_fault(None, ApiFault::Internal { times: 1 });
    expect_error(
        &call(&sim, "ListAgents", json!({})).await,
        500,
        "InternalException",
    );

    sim.inject_fault(Some("ListAgents"), ApiFault::ResetConnection { times: 1 });
    let raw = api_raw(
        &sim,
        "POST",
        "/",
        &[("X-Amz-Target", "FmrsService.ListAgents")],
        "{}",
    )
    .await;
    assert!(
        raw.map(|b| b.is_empty()).unwrap_or(true),
        "reset must answer nothing"
    );

    sim.inject_fault(
        Some("ListAgents"),
        ApiFault::Latency(Duration::from_millis(150)),
    );
    let t = std::time::Instant::now();
    assert_eq!(call(&sim, "ListAgents", json!({})).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    sim.clear_faults();
    assert_eq!(sim.call_count("ListAgents"), 6);

    let r = call(&sim, "StartTaskExecution", json!({})).await;
    expect_error(&r, 400, "UnknownOperationException");
    let huge = "x".repeat(1_200_000);
    let raw = api_raw(
        &sim,
        "POST",
        "/",
        &[("X-Amz-Target", "FmrsService.ListAgents")],
        &huge,
    )
    .await
    .unwrap();
    assert_eq!(parse(&raw).status, 413);
    let raw = api_raw(
        &sim,
        "POST",
        "/",
        &[("X-Amz-Target", "FmrsService.ListAgents")],
        "{nope",
    )
    .await
    .unwrap();
    expect_error(&parse(&raw), 400, "SerializationException");
}

#[tokio::test]
async fn create_then_hang_creates_but_never_answers() {
    let sim = start().await;
    let key = fetch_key(&sim).await;
    sim.inject_fault(Some("CreateAgent"), ApiFault::CreateThenHang);
    let call = call(&sim, "CreateAgent", create_input(&key));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), call)
            .await
            .is_err()
    );
    assert_eq!(sim.agents().len(), 1);
    assert!(!sim.agent_port_open());
}

#[tokio::test]
async fn pagination_over_250_agents_and_tags() {
    let sim = start().await;
    sim.seed_agents(250);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut input = json!({});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let out = call(&sim, "ListAgents", input).await.json();
        let agents = out["Agents"].as_array().unwrap();
        pages.push(agents.len());
        for a in agents {
            assert_eq!(a["Status"], "ONLINE");
            seen.push(a["AgentArn"].as_str().unwrap().to_owned());
        }
        match out.get("NextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, [100, 100, 50]);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 250);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered by ARN");

    let out = call(&sim, "ListAgents", json!({"MaxResults": 7}))
        .await
        .json();
    assert_eq!(out["Agents"].as_array().unwrap().len(), 7);
    let r = call(&sim, "ListAgents", json!({"MaxResults": 101})).await;
    assert!(expect_error(&r, 400, "InvalidRequestException").contains("less than or equal to 100"));
    let r = call(&sim, "ListAgents", json!({"NextToken": "garbage"})).await;
    expect_error(&r, 400, "InvalidRequestException");

    let arn = &seen[0];
    let tags: Vec<Value> = (0..48)
        .map(|i| json!({"Key": format!("k{i:02}"), "Value": "v"}))
        .collect();
    assert_eq!(
        call(
            &sim,
            "TagResource",
            json!({"ResourceArn": arn, "Tags": tags})
        )
        .await
        .status,
        200
    );
    let mut total = 0;
    let mut input = json!({"ResourceArn": arn, "MaxResults": 20});
    loop {
        let out = call(&sim, "ListTagsForResource", input.clone())
            .await
            .json();
        total += out["Tags"].as_array().unwrap().len();
        match out.get("NextToken") {
            Some(t) => input["NextToken"] = t.clone(),
            None => break,
        }
    }
    assert_eq!(total, 50, "2 seeded tags + 48");
    let r = call(
        &sim,
        "UntagResource",
        json!({"ResourceArn": arn, "Keys": ["seed", "team"]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let extra = json!({"ResourceArn": arn, "Tags": [{"Key": "a"}, {"Key": "b"}, {"Key": "c"}]});
    expect_error(
        &call(&sim, "TagResource", extra).await,
        400,
        "InvalidRequestException",
    );
}

#[tokio::test]
async fn admin_api() {
    let sim = start().await;
    let post = |path: &'static str, body: Value| {
        let sim = sim.clone();
        async move {
            parse(
                &api_raw(&sim, "POST", path, &[], &body.to_string())
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(post("/_sim/seed", json!({"n": 3})).await.status, 200);
    let agents = parse(&api_raw(&sim, "GET", "/_sim/agents", &[], "").await.unwrap()).json();
    let arn = agents[0]["arn"].as_str().unwrap().to_owned();
    let r = post(
        "/_sim/agents/status",
        json!({"arn": arn, "status": "OFFLINE"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sim.agents()[0].status, AgentStatus::Offline);

    let r = post(
        "/_sim/fault",
        json!({"kind": "throttle", "op": "DescribeAgent", "times": 1}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    expect_error(
        &call(&sim, "DescribeAgent", json!({"AgentArn": arn})).await,
        400,
        "ThrottlingException",
    );
    post(
        "/_sim/fault",
        json!({"kind": "error_type", "code": "X", "times": 1}),
    )
    .await;
    assert_eq!(
        agent_get(&sim, &pl_query(&sim, true)).await.text(),
        "errorType=X"
    );
    post(
        "/_sim/fault",
        json!({"kind": "agent_fault", "mode": "no_redirect", "fault": "garbage"}),
    )
    .await;
    post(
        "/_sim/fault",
        json!({"kind": "create_error", "error": "SubnetForbidden", "times": null}),
    )
    .await;
    assert_eq!(
        agent_get(&sim, &pl_query(&sim, true)).await.text(),
        "not-a-key!"
    );
    assert_eq!(
        post("/_sim/fault", json!({"kind": "clear"})).await.status,
        200
    );
    assert_eq!(
        post("/_sim/fault", json!({"kind": "nonsense"}))
            .await
            .status,
        400
    );

    let calls = parse(&api_raw(&sim, "GET", "/_sim/calls", &[], "").await.unwrap()).json();
    assert_eq!(calls["DescribeAgent"], 1);
    let reqs = parse(
        &api_raw(&sim, "GET", "/_sim/agent/requests", &[], "")
            .await
            .unwrap(),
    )
    .json();
    assert_eq!(reqs.as_array().unwrap().len(), 2);
    let port = parse(
        &api_raw(&sim, "GET", "/_sim/agent/port", &[], "")
            .await
            .unwrap(),
    )
    .json();
    assert_eq!(port, json!({"open": true}));
}
