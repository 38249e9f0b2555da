//! Small HTTP plumbing shared by the servers: the hyper accept loop, capped body
//! reading, response building, and the raw request-head reader the agent uses.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::state::State;

/// Response body type of the hyper-served endpoints.
pub(crate) type Body = Full<Bytes>;

/// Request bodies above this are refused: nothing legitimate comes close.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Returned by a handler to make hyper drop the connection without answering
/// (hyper writes nothing when the service fails).
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// Serves HTTP/1.1 on `listener`, one task per connection, until shutdown.
pub(crate) async fn serve<F, Fut>(listener: TcpListener, state: Arc<State>, handler: F)
where
    F: Fn(Arc<State>, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, DropConnection>> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = state.shutdown_signal() => return,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Usually EMFILE; back off instead of spinning.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc_state = state.clone();
            let svc = service_fn(move |req| handler(svc_state.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                r = conn => if let Err(e) = r { log::debug!("connection ended: {e}") },
                _ = state.shutdown_signal() => {}
            }
        });
    }
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Above [`MAX_BODY`].
    TooLarge,
    /// The client went away or sent broken framing.
    Broken,
}

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes.
pub(crate) async fn read_body(body: Incoming) -> Result<Bytes, BodyError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Broken),
    }
}

/// Builds a response; header values come from us, so building cannot fail in practice,
/// but a bad one degrades to a bare 500 rather than a panic.
pub(crate) fn response(
    status: StatusCode,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body.into())).unwrap_or_else(|_| {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// A JSON response with the given content type.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    response(
        status,
        &[("content-type", "application/json")],
        value.to_string(),
    )
}

/// Largest request head the agent endpoint accepts.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// Outcome of reading a raw request head.
#[derive(Debug)]
pub(crate) enum Head {
    /// The bytes up to (excluding) the blank line.
    Complete(String),
    /// Longer than [`MAX_HEAD`].
    TooLarge,
    /// The peer closed or timed out.
    Broken,
}

/// Reads a request head up to `\r\n\r\n`. Any body is ignored: GETs carry none.
pub(crate) async fn read_head(stream: &mut TcpStream, timeout: Duration) -> Head {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            buf.truncate(end);
            // Lossy, so a mangled head still gets an answer (a 4xx) instead of silence.
            return Head::Complete(String::from_utf8_lossy(&buf).into_owned());
        }
        if buf.len() > MAX_HEAD {
            return Head::TooLarge;
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return Head::Broken,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a query string into decoded `(name, value)` pairs; a bare `flag` has value `None`.
pub(crate) fn parse_query(query: &str) -> Vec<(String, Option<String>)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), Some(percent_decode(v))),
            None => (percent_decode(p), None),
        })
        .collect()
}

/// Decodes `%XX` and `+`; malformed escapes are kept literally (we must not choke on them).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
