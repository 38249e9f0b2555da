//! Raw HTTP helpers for the simulator's tests: the crate must not depend on the
//! AWS SDK, and raw sockets let the tests see exactly what goes over the wire.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::net::SocketAddr;
use std::time::Duration;

use datasync_sim::{SimConfig, Simulator};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub async fn start() -> Simulator {
    Simulator::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

/// Sends `request` verbatim and reads until the server closes (at most `timeout`).
pub async fn exchange(
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request).await?;
    let mut buf = Vec::new();
    match tokio::time::timeout(timeout, s.read_to_end(&mut buf)).await {
        Ok(r) => r.map(|_| buf),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("timed out after {} bytes", buf.len()),
        )),
    }
}

pub fn parse(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete head");
    let head = std::str::from_utf8(&raw[..end]).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// `GET /?<query>` against the agent endpoint.
pub async fn agent_get(sim: &Simulator, query: &str) -> Resp {
    let req = format!("GET /?{query} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
    parse(
        &exchange(sim.agent_addr(), req.as_bytes(), Duration::from_secs(3))
            .await
            .expect("agent answers"),
    )
}

/// The usual private-link activation query.
pub fn pl_query(sim: &Simulator, no_redirect: bool) -> String {
    let mut q = format!(
        "gatewayType=SYNC&activationRegion={}&endpointType=PRIVATE_LINK&privateLinkEndpoint=10.0.1.25",
        sim.region()
    );
    if no_redirect {
        q.push_str("&no_redirect");
    }
    q
}

/// Fetches a private-link key in no_redirect mode.
pub async fn fetch_key(sim: &Simulator) -> String {
    let r = agent_get(sim, &pl_query(sim, true)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

fn api_addr(sim: &Simulator) -> SocketAddr {
    sim.api_url()
        .trim_start_matches("http://")
        .parse()
        .expect("api addr")
}

/// An HTTP request to the API port with a JSON body, read to the end.
pub async fn api_raw(
    sim: &Simulator,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Vec<u8>> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: datasync\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    exchange(api_addr(sim), req.as_bytes(), Duration::from_secs(3)).await
}

/// A JSON 1.1 call, shaped like the SDK's.
pub async fn call(sim: &Simulator, op: &str, input: Value) -> Resp {
    let target = format!("FmrsService.{op}");
    let headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Amz-Target", target.as_str()),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/datasync/aws4_request, SignedHeaders=host, Signature=00",
        ),
    ];
    let raw = api_raw(sim, "POST", "/", &headers, &input.to_string())
        .await
        .expect("api answers");
    parse(&raw)
}

/// Asserts an AWS JSON error of `kind` and returns its message.
pub fn expect_error(r: &Resp, status: u16, kind: &str) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("x-amzn-ErrorType"), Some(kind));
    let v = r.json();
    assert_eq!(v["__type"], kind);
    v["message"].as_str().expect("message").to_owned()
}

pub const VPCE: &str = "vpce-0123456789abcdef0";
pub const SUBNET: &str = "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0a1b2c3d4e5f60718";
pub const SG: &str = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0";

/// A private-link CreateAgent input.
pub fn create_input(key: &str) -> Value {
    serde_json::json!({
        "ActivationKey": key,
        "AgentName": "warden-test",
        "Tags": [{"Key": "managed-by", "Value": "datasync-warden"}],
        "VpcEndpointId": VPCE,
        "SubnetArns": [SUBNET],
        "SecurityGroupArns": [SG],
    })
}
