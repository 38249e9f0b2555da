//! Proxies, end to end on the real binary: the AWS calls and the webhook go through
//! HTTPS_PROXY/HTTP_PROXY/ALL_PROXY unless NO_PROXY names their host, while the agent (the
//! activation-key request and the port probes) is always reached directly.
//!
//! The simulator's API is plain http:// on loopback, so the AWS calls here exercise the
//! absolute-form path; the CONNECT path is shown with an https:// endpoint and webhook the
//! test proxy refuses (it never leaves loopback), and with TLS in the alert client's unit
//! tests.

mod common;

use common::daemon::*;
use common::proxy::Proxy;
use common::*;
use datasync_sim::AgentStatus;

/// `Proxy-Authorization` for `user:s3cret`.
const USER_S3CRET: &str = "Basic dXNlcjpzM2NyZXQ=";

/// Every proxy variable (both cases) pointing at `proxy`, and NO_PROXY set to `no_proxy`.
fn proxy_env<'a>(proxy: &'a str, no_proxy: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("HTTP_PROXY", proxy),
        ("HTTPS_PROXY", proxy),
        ("ALL_PROXY", proxy),
        ("http_proxy", proxy),
        ("https_proxy", proxy),
        ("all_proxy", proxy),
        ("NO_PROXY", no_proxy),
    ]
}

/// `host:port` of an `http://host:port` URL.
fn authority(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn activation_reaches_the_agent_directly_and_aws_through_the_proxy() {
    let proxy = Proxy::start().await;
    let h = Harness::new().await;
    let mut c = h.command(&["activate"]);
    c.envs(proxy_env(&proxy.url(), ""));
    let run = output(c).await;
    run.assert_ok();

    let api = authority(&h.sim.api_url());
    let agent = h.sim.agent_addr().to_string();
    let seen = proxy.seen();
    assert!(
        seen.iter().any(|s| s.target == api && s.method == "POST"),
        "the AWS calls went through the proxy: {seen:?}"
    );
    assert!(
        seen.iter().all(|s| s.target == api),
        "nothing but the AWS API went through the proxy (not the agent {agent}): {seen:?}"
    );
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
    assert_eq!(
        h.sim.agent_requests().len(),
        1,
        "the key came from the agent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_proxy_naming_the_api_host_sends_the_aws_calls_direct() {
    let proxy = Proxy::start().await;
    let h = Harness::new().await;
    let mut c = h.command(&["activate"]);
    c.envs(proxy_env(&proxy.url(), "example.com, 127.0.0.1"));
    let run = output(c).await;
    run.assert_ok();
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    assert_eq!(h.sim.call_count("CreateAgent"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_https_aws_endpoint_is_tunnelled_with_connect() {
    let proxy = Proxy::start().await;
    // The test proxy answers 502 to a CONNECT to anything but loopback, without a lookup:
    // the activation fails, after the CONNECT reached the proxy.
    let h = Harness::with_fragment(
        "[aws]\nendpoint_url = \"https://datasync.us-east-1.vpce.example\"\n",
    )
    .await;
    let mut c = h.command(&["activate"]);
    c.envs(proxy_env(&proxy.url(), ""));
    let run = output(c).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "{}", run.stderr);
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.target.as_str()),
            ("CONNECT", "datasync.us-east-1.vpce.example:443"),
            "{seen:?}"
        );
    }
    assert_eq!(
        h.sim.agent_requests().len(),
        1,
        "the key came from the agent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_alert_arrives_through_the_proxy() {
    let proxy = Proxy::start_with(Some(USER_S3CRET)).await;
    let hook = Webhook::start(0).await;
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\noffline_after = 2\n[alerts]\nwebhook = \"{}\"\n",
        hook.url
    ))
    .await;
    let url = proxy.url_with("user", "s3cret");
    let d = Running::start_with(&h, false, &proxy_env(&url, "")).await;
    d.wait_phase_text("monitoring agent-").await;
    let arn = h.sim.agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    eventually(LIMIT, "offline alert", async || {
        hook.events().contains(&"offline".to_string())
    })
    .await;

    let seen = proxy.seen();
    let hook_target = authority(hook.url.trim_end_matches("/hook"));
    let posts: Vec<_> = seen.iter().filter(|s| s.target == hook_target).collect();
    assert!(!posts.is_empty(), "{seen:?}");
    for p in posts {
        assert_eq!(
            (p.method.as_str(), p.uri.as_str()),
            ("POST", hook.url.as_str())
        );
        assert_eq!(p.authorization.as_deref(), Some(USER_S3CRET));
    }
    let api = authority(&h.sim.api_url());
    assert!(seen.iter().any(|s| s.target == api), "{seen:?}");
    assert!(
        seen.iter()
            .all(|s| s.target == api || s.target == hook_target),
        "the agent is never reached through the proxy: {seen:?}"
    );
    let (code, _, stderr) = d.stop().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_https_webhook_is_tunnelled_and_its_failure_names_the_proxy_not_the_secret() {
    let proxy = Proxy::start().await;
    let h = Harness::with_fragment(
        "[monitor]\ninterval = \"1s\"\noffline_after = 2\n[alerts]\n\
         webhook = \"https://hooks.example/services/T0/B0/SECRET\"\n",
    )
    .await;
    let password_url = format!("http://user:PROXYPASS@{}", proxy.addr);
    let d = Running::start_with(&h, false, &proxy_env(&password_url, "127.0.0.1")).await;
    d.wait_phase_text("monitoring agent-").await;
    let arn = h.sim.agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    // A second CONNECT is a retry: the first failure has been logged.
    eventually(LIMIT, "two CONNECTs to the webhook", async || {
        proxy
            .targets()
            .iter()
            .filter(|t| *t == "hooks.example:443")
            .count()
            >= 2
    })
    .await;
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .all(|s| s.method == "CONNECT" && s.target == "hooks.example:443"),
        "only the webhook, and by CONNECT (NO_PROXY covers the API): {seen:?}"
    );
    let (_, _, stderr) = d.stop().await;
    assert!(
        stderr.contains(&format!("via proxy {}: ", proxy.url())),
        "{stderr}"
    );
    for secret in ["SECRET", "PROXYPASS"] {
        assert!(!stderr.contains(secret), "{secret} in {stderr}");
    }
}
