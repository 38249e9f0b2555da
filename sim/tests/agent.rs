//! The agent activation endpoint: both modes, errorType, misbehaviours, port closing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use datasync_sim::{AgentFault, EndpointType, ResponseMode, model};

fn is_key(s: &str) -> bool {
    s.len() == 29 && model::matches(model::ACTIVATION_KEY, s)
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

#[tokio::test]
async fn no_redirect_returns_a_plain_key_and_records_the_request() {
    let sim = start().await;
    let q = pl_query(&sim, true);
    let r = agent_get(&sim, &q).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let key = r.text();
    assert!(is_key(&key), "{key:?}");
    // A bare `no_redirect=` is the same flag.
    let r = agent_get(&sim, &format!("{}&no_redirect=", pl_query(&sim, false))).await;
    assert!(is_key(&r.text()));
    let reqs = sim.agent_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].query, q);
    assert_eq!(reqs[0].mode, ResponseMode::NoRedirect);
    assert_eq!(reqs[0].issued_key.as_deref(), Some(key.as_str()));
}

#[tokio::test]
async fn redirect_puts_the_key_in_the_location() {
    let sim = start().await;
    let r = agent_get(&sim, &pl_query(&sim, false)).await;
    assert_eq!(r.status, 302);
    let loc = r.header("location").expect("Location");
    let prefix = "https://console.aws.amazon.com/datasync/home?region=us-east-1&activationKey=";
    assert!(loc.starts_with(prefix), "{loc}");
    let key = query_param(loc, "activationKey").unwrap();
    assert!(is_key(key), "{loc}");
    assert!(loc.ends_with("&endpointType=PRIVATE_LINK"), "{loc}");
    assert_eq!(sim.agent_requests()[0].mode, ResponseMode::Redirect);
}

#[tokio::test]
async fn bad_activation_requests_get_400() {
    let sim = start().await;
    for q in [
        "gatewayType=FILE_S3&activationRegion=us-east-1",
        "gatewayType=SYNC&activationRegion=eu-west-1&no_redirect",
        "gatewayType=SYNC&activationRegion=us-east-1&endpointType=PRIVATE_LINK",
        "gatewayType=SYNC&activationRegion=us-east-1&endpointType=PRIVATE_LINK&privateLinkEndpoint=300.1.2.3",
        "gatewayType=SYNC&activationRegion=us-east-1&endpointType=BOGUS",
        "%zz&&=&gatewayType",
    ] {
        let r = agent_get(&sim, q).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert!(!r.body.is_empty());
    }
    // Public and FIPS keys are fine without an endpoint IP.
    let r = agent_get(
        &sim,
        "gatewayType=SYNC&activationRegion=us-east-1&no_redirect",
    )
    .await;
    assert!(is_key(&r.text()));
    let r = agent_get(
        &sim,
        "gatewayType=SYNC&activationRegion=us-east-1&endpointType=FIPS",
    )
    .await;
    assert!(query_param(r.header("location").unwrap(), "endpointType") == Some("FIPS"));
    // Garbage on the wire must not hurt the server.
    let raw = exchange(
        sim.agent_addr(),
        b"\x00\xff garbage\r\n\r\n",
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(parse(&raw).status, 405);
}

#[tokio::test]
async fn error_type_mode_answers_without_a_key_then_recovers() {
    let sim = start().await;
    sim.set_error_type("PRIVATE_LINK_ENDPOINT_UNREACHABLE", Some(2));
    let r = agent_get(&sim, &pl_query(&sim, false)).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(
            "https://console.aws.amazon.com/datasync/home?region=us-east-1&errorType=PRIVATE_LINK_ENDPOINT_UNREACHABLE"
        )
    );
    let r = agent_get(&sim, &pl_query(&sim, true)).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "errorType=PRIVATE_LINK_ENDPOINT_UNREACHABLE")
    );
    assert!(is_key(&agent_get(&sim, &pl_query(&sim, true)).await.text()));
}

#[tokio::test]
async fn misbehaviours_per_mode() {
    let sim = start().await;
    let get = |nr: bool| {
        let q = pl_query(&sim, nr);
        let addr = sim.agent_addr();
        async move {
            let req = format!("GET /?{q} HTTP/1.1\r\nHost: a\r\n\r\n");
            exchange(addr, req.as_bytes(), Duration::from_millis(400)).await
        }
    };

    sim.set_agent_fault(ResponseMode::NoRedirect, Some(AgentFault::Eof));
    assert_eq!(get(true).await.unwrap(), b"");
    // The other mode still works: that is what a robust client falls back to.
    assert_eq!(parse(&get(false).await.unwrap()).status, 302);

    sim.set_agent_fault(ResponseMode::Redirect, Some(AgentFault::Hang));
    let e = get(false).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);

    sim.set_agent_fault(ResponseMode::NoRedirect, Some(AgentFault::Garbage));
    assert_eq!(parse(&get(true).await.unwrap()).text(), "not-a-key!");
    sim.set_agent_fault(ResponseMode::Redirect, Some(AgentFault::Garbage));
    let r = parse(&get(false).await.unwrap());
    assert_eq!(
        query_param(r.header("location").unwrap(), "activationKey"),
        Some("abc")
    );

    sim.set_agent_fault(
        ResponseMode::NoRedirect,
        Some(AgentFault::Oversized(300_000)),
    );
    let r = parse(&get(true).await.unwrap());
    assert_eq!((r.status, r.body.len()), (200, 300_000));
    assert!(r.body.iter().all(|&b| b == b'A'));
    sim.set_agent_fault(ResponseMode::Redirect, Some(AgentFault::Oversized(100_000)));
    let r = parse(&get(false).await.unwrap());
    assert_eq!((r.status, r.body.len()), (302, 100_000));
    assert!(is_key(
        query_param(r.header("location").unwrap(), "activationKey").unwrap()
    ));

    sim.set_agent_fault(
        ResponseMode::NoRedirect,
        Some(AgentFault::Slow(Duration::from_millis(200))),
    );
    let t = Instant::now();
    let r = parse(&get(true).await.unwrap());
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert!(is_key(&r.text()));

    sim.set_agent_fault(ResponseMode::NoRedirect, Some(AgentFault::Trickle));
    let e = get(true).await.unwrap_err();
    assert!(e.to_string().contains("timed out after 1 bytes"), "{e}");

    sim.clear_faults();
    assert!(is_key(&parse(&get(true).await.unwrap()).text()));
}

#[tokio::test]
async fn create_agent_closes_the_agent_port() {
    let sim = start().await;
    let key = fetch_key(&sim).await;
    let spare = fetch_key(&sim).await;
    assert!(sim.agent_port_open());
    let r = call(&sim, "CreateAgent", create_input(&key)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    let arn = r.json()["AgentArn"].as_str().unwrap().to_owned();
    assert!(model::matches(model::AGENT_ARN, &arn), "{arn}");
    assert!(arn.starts_with("arn:aws:datasync:us-east-1:111122223333:agent/agent-"));

    assert!(!sim.agent_port_open());
    let refused = tokio::net::TcpStream::connect(sim.agent_addr()).await;
    assert!(refused.is_err(), "agent port still accepts connections");

    let agents = sim.agents();
    assert_eq!(agents.len(), 1);
    let a = &agents[0];
    assert_eq!(a.arn, arn);
    assert_eq!(a.endpoint_type, EndpointType::PrivateLink);
    assert_eq!(a.private_link_endpoint.as_deref(), Some("10.0.1.25"));
    assert_eq!(a.vpc_endpoint_id.as_deref(), Some(VPCE));
    assert_eq!(a.subnet_arns, [SUBNET]);
    assert_eq!(a.security_group_arns, [SG]);
    assert_eq!(
        a.tags,
        [("managed-by".to_owned(), "datasync-warden".to_owned())]
    );

    // One VM, one activation: neither key works again.
    for k in [&key, &spare] {
        let r = call(&sim, "CreateAgent", create_input(k)).await;
        let msg = expect_error(&r, 400, "InvalidRequestException");
        assert_eq!(msg, "Activation key is invalid or has expired");
    }
}
