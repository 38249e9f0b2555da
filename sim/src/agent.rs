//! The agent VM's activation endpoint (TCP 80 on a real agent).
//!
//! Responses are written by hand over the `TcpStream` rather than through hyper:
//! the misbehaviours under test (EOF, hangs, trickling, oversized bodies) are
//! exactly what a well-behaved HTTP library would refuse to produce.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::http::{Head, parse_query, percent_encode, read_head};
use crate::model;
use crate::state::State;
use crate::types::{AgentFault, AgentRequest, EndpointType, ResponseMode};

/// Where real agents send the browser; the key rides in its query.
const CONSOLE: &str = "https://console.aws.amazon.com/datasync/home";
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// `AgentFault::Trickle` pace.
const TRICKLE_GAP: Duration = Duration::from_millis(500);

/// Accepts connections until shutdown, or until the first activation closes the port.
pub(crate) async fn run(
    listener: TcpListener,
    state: Arc<State>,
    mut close_rx: oneshot::Receiver<oneshot::Sender<()>>,
) {
    enum Event {
        Close(Option<oneshot::Sender<()>>),
        Stop,
        Conn(std::io::Result<(TcpStream, SocketAddr)>),
    }
    loop {
        let event = tokio::select! {
            r = &mut close_rx => Event::Close(r.ok()),
            _ = state.shutdown_signal() => Event::Stop,
            r = listener.accept() => Event::Conn(r),
        };
        match event {
            Event::Close(ack) => {
                // Dropping the listener makes the port refuse connections, as after a real activation.
                drop(listener);
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
                return;
            }
            Event::Stop => return,
            Event::Conn(Ok((stream, peer))) => {
                let state = state.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = handle(stream, peer, &state) => {}
                        _ = state.shutdown_signal() => {}
                    }
                });
            }
            Event::Conn(Err(e)) => {
                log::warn!("agent accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What the endpoint decided to say, before rendering for the mode.
enum Reply {
    Key {
        key: String,
        endpoint_type: EndpointType,
    },
    ErrorType(String),
    Refuse(u16, String),
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, state: &State) {
    let head = match read_head(&mut stream, HEAD_TIMEOUT).await {
        Head::Complete(h) => h,
        Head::TooLarge => {
            let r = raw(431, &[], b"request head too large".to_vec());
            let _ = stream.write_all(&r).await;
            return;
        }
        Head::Broken => return,
    };
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default();
    // Accept absolute-form targets (`GET http://host/?…`) as proxies send them.
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let target = target.split('#').next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = parse_query(query);
    let mode = if params.iter().any(|(k, _)| k == "no_redirect") {
        ResponseMode::NoRedirect
    } else {
        ResponseMode::Redirect
    };
    let idx = state.record_request(AgentRequest {
        query: query.to_owned(),
        mode,
        at: SystemTime::now(),
        peer,
        issued_key: None,
    });
    let fault = state.agent_fault(mode);
    log::info!("agent {peer}: {method} {target} ({mode:?}, fault {fault:?})");

    let mut trickle = false;
    let mut oversize = None;
    match fault {
        Some(AgentFault::Eof) => {
            let _ = stream.shutdown().await;
            return;
        }
        // Keep the socket open and silent; the connection task ends on shutdown.
        Some(AgentFault::Hang) => std::future::pending::<()>().await,
        Some(AgentFault::Slow(d)) => tokio::time::sleep(d).await,
        Some(AgentFault::Garbage) => {
            let bytes = match mode {
                ResponseMode::NoRedirect => raw(200, &[], b"not-a-key!".to_vec()),
                ResponseMode::Redirect => {
                    let loc = format!(
                        "{CONSOLE}?region={}&activationKey=abc&endpointType=PRIVATE_LINK",
                        state.region
                    );
                    raw(302, &[("Location", &loc)], Vec::new())
                }
            };
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
            return;
        }
        Some(AgentFault::Oversized(n)) if mode == ResponseMode::NoRedirect => {
            let _ = write_oversized(
                &mut stream,
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
                n,
            )
            .await;
            return;
        }
        Some(AgentFault::Oversized(n)) => oversize = Some(n),
        Some(AgentFault::Trickle) => trickle = true,
        None => {}
    }

    let reply = decide(state, &method, path, &params);
    if let Reply::Key { key, .. } = &reply {
        state.note_issued_key(idx, key);
    }
    let bytes = render(state, mode, &params, reply);
    if let Some(n) = oversize {
        // Keep the real 302 head (with a real key), then a body far larger than any client should read.
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
        let head = String::from_utf8_lossy(&bytes[..head_end]);
        let head: String = head
            .lines()
            .filter(|l| !l.starts_with("Content-Length:") && !l.starts_with("Connection:"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        let _ = write_oversized(&mut stream, head.as_bytes(), n).await;
        return;
    }
    if trickle {
        for b in bytes {
            if stream.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(TRICKLE_GAP).await;
        }
    } else if stream.write_all(&bytes).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
}

/// Validates the activation request the way the agent does, and issues a key.
fn decide(state: &State, method: &str, path: &str, params: &[(String, Option<String>)]) -> Reply {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref().unwrap_or_default())
    };
    if method != "GET" {
        return Reply::Refuse(405, "only GET is supported".to_owned());
    }
    if path != "/" {
        return Reply::Refuse(404, "not found".to_owned());
    }
    if get("gatewayType") != Some("SYNC") {
        return Reply::Refuse(400, "gatewayType must be SYNC".to_owned());
    }
    if get("activationRegion") != Some(state.region.as_str()) {
        let msg = format!("activationRegion must be {}", state.region);
        return Reply::Refuse(400, msg);
    }
    let (endpoint_type, ple) = match get("endpointType") {
        None => (EndpointType::Public, None),
        Some("PRIVATE_LINK") => match get("privateLinkEndpoint") {
            Some(ip) if model::matches(model::ENDPOINT, ip) => {
                (EndpointType::PrivateLink, Some(ip.to_owned()))
            }
            _ => {
                let msg = "privateLinkEndpoint must be an IPv4 address".to_owned();
                return Reply::Refuse(400, msg);
            }
        },
        Some("FIPS") => (EndpointType::Fips, None),
        Some(other) => return Reply::Refuse(400, format!("unsupported endpointType {other}")),
    };
    if let Some(code) = state.take_error_type() {
        return Reply::ErrorType(code);
    }
    let key = state.issue_key(endpoint_type, ple);
    log::info!("agent issued key {key} ({})", endpoint_type.as_str());
    Reply::Key { key, endpoint_type }
}

/// Turns a reply into the full HTTP response for the requested mode.
fn render(
    state: &State,
    mode: ResponseMode,
    params: &[(String, Option<String>)],
    reply: Reply,
) -> Vec<u8> {
    let region = percent_encode(&state.region);
    match (reply, mode) {
        (Reply::Refuse(code, msg), _) => raw(code, &[], msg.into_bytes()),
        (Reply::Key { key, .. }, ResponseMode::NoRedirect) => raw(200, &[], key.into_bytes()),
        (Reply::ErrorType(code), ResponseMode::NoRedirect) => {
            raw(200, &[], format!("errorType={code}").into_bytes())
        }
        (Reply::Key { key, endpoint_type }, ResponseMode::Redirect) => {
            let query = format!(
                "region={region}&activationKey={key}&endpointType={}",
                endpoint_type.as_str()
            );
            raw(302, &[("Location", &location(params, &query))], Vec::new())
        }
        (Reply::ErrorType(code), ResponseMode::Redirect) => {
            let query = format!("region={region}&errorType={}", percent_encode(&code));
            raw(302, &[("Location", &location(params, &query))], Vec::new())
        }
    }
}

/// The console URL, or the client's `redirect_to` if it gave an http(s) one.
fn location(params: &[(String, Option<String>)], query: &str) -> String {
    let base = params
        .iter()
        .find(|(k, _)| k == "redirect_to")
        .and_then(|(_, v)| v.as_deref())
        .filter(|v| v.starts_with("http://") || v.starts_with("https://"))
        .unwrap_or(CONSOLE);
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{query}")
}

/// A complete `Connection: close` response.
fn raw(status: u16, headers: &[(&str, &str)], body: Vec<u8>) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        out.push_str("Content-Type: text/plain\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Writes `head` (status line and headers, each ending in CRLF), then `n` bytes of `A`.
async fn write_oversized(stream: &mut TcpStream, head: &[u8], n: usize) -> std::io::Result<()> {
    stream.write_all(head).await?;
    let tail = format!("Content-Length: {n}\r\nConnection: close\r\n\r\n");
    stream.write_all(tail.as_bytes()).await?;
    let chunk = vec![b'A'; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        stream.write_all(&chunk[..k]).await?;
        left -= k;
    }
    stream.shutdown().await
}
