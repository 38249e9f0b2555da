//! A tiny HTTP proxy on loopback for the proxy tests: absolute-form forwarding of `http://`
//! requests and CONNECT tunnelling, an optional required `Proxy-Authorization`, and a record of
//! every request's target, so a test can assert what went through it and what did not.
//!
//! It only ever connects to loopback: a target that is not a loopback IP literal (or
//! `localhost`) is answered 502 without any DNS lookup, so a test may name a host such as
//! `hooks.example` and see the CONNECT arrive without traffic leaving the machine.
//!
//! Also compiled into the library's unit tests (`src/daemon/alerts/client/tests.rs`, via
//! `#[path]`): tokio only, no other dependency.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest request head the proxy reads; real heads are a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;
/// Bound on connecting to a loopback target: it answers at once or not at all.
const UPSTREAM_CONNECT: Duration = Duration::from_secs(5);

/// One request the proxy received.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// `CONNECT`, `POST`, `GET`, …
    pub method: String,
    /// `host:port` the client asked for (the port defaulted as the scheme implies).
    pub target: String,
    /// The request target as sent: `host:port` for CONNECT, the absolute URL otherwise.
    pub uri: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
}

/// A running proxy; dropping it does not stop it (the test's runtime ends it).
#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    /// A proxy that needs no authorization.
    pub async fn start() -> Proxy {
        Self::start_with(None).await
    }

    /// A proxy that answers 407 unless `Proxy-Authorization` is exactly `expected` (for
    /// example `Basic dXNlcjpzM2NyZXQ=`, base64 of `user:s3cret`). Refused requests are
    /// recorded too.
    pub async fn start_with(expected: Option<&str>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, expected) = (seen.clone(), expected.map(str::to_string));
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, s.clone(), expected.clone()));
            }
        });
        Proxy { addr, seen }
    }

    /// `http://127.0.0.1:PORT`, for HTTP_PROXY and friends.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://user:password@127.0.0.1:PORT`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The `host:port` of every request so far, in order.
    pub fn targets(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.target).collect()
    }
}

async fn serve(mut client: TcpStream, seen: Arc<Mutex<Vec<Seen>>>, expected: Option<String>) {
    let Some((head, rest)) = read_head(&mut client).await else {
        return;
    };
    let Some(req) = parse(&head) else {
        let _ = reply(&mut client, "400 Bad Request").await;
        return;
    };
    seen.lock().unwrap().push(req.seen.clone());
    if expected.is_some() && req.seen.authorization != expected {
        let _ = client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    }
    let Some(upstream) = connect_loopback(&req.seen.target).await else {
        let _ = reply(&mut client, "502 Bad Gateway").await;
        return;
    };
    let mut upstream = upstream;
    if req.seen.method == "CONNECT" {
        if reply_open(&mut client).await.is_err() {
            return;
        }
    } else if upstream.write_all(&req.forward).await.is_err() {
        return;
    }
    if upstream.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

async fn reply(s: &mut TcpStream, status: &str) -> std::io::Result<()> {
    s.write_all(
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

async fn reply_open(s: &mut TcpStream) -> std::io::Result<()> {
    s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
}

/// The request head (without the blank line) and whatever was read past it.
async fn read_head(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > MAX_HEAD {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).ok()?;
            return Some((head, buf[end + 4..].to_vec()));
        }
    }
}

struct Parsed {
    seen: Seen,
    /// For an absolute-form request: the head to send upstream, in origin-form, without the
    /// proxy's own headers and with `Connection: close`, so each request is seen here.
    forward: Vec<u8>,
}

fn parse(head: &str) -> Option<Parsed> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, uri, version) = (first.next()?, first.next()?, first.next()?);
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let authorization = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.to_string());
    let (target, path) = if method == "CONNECT" {
        (with_port(uri, 443), String::new())
    } else {
        let rest = uri.strip_prefix("http://")?;
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        (with_port(authority, 80), path.to_string())
    };
    let mut forward = format!("{method} {path} {version}\r\n");
    for (k, v) in &headers {
        let k_low = k.to_ascii_lowercase();
        if !k_low.starts_with("proxy-") && k_low != "connection" {
            forward.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    forward.push_str("Connection: close\r\n\r\n");
    Some(Parsed {
        seen: Seen {
            method: method.to_string(),
            target,
            uri: uri.to_string(),
            authorization,
        },
        forward: forward.into_bytes(),
    })
}

/// `authority` with `default` appended when it names no port (IPv6 literals in brackets).
fn with_port(authority: &str, default: u16) -> String {
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default}")
    }
}

/// Connects to `host:port` only when the host is a loopback IP literal or `localhost`.
async fn connect_loopback(target: &str) -> Option<TcpStream> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse().ok()?
    };
    if !ip.is_loopback() {
        return None;
    }
    tokio::time::timeout(UPSTREAM_CONNECT, TcpStream::connect((ip, port)))
        .await
        .ok()?
        .ok()
}
