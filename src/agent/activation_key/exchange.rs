//! One HTTP exchange with the agent: the TCP handshake under its own bound, the GET, and the
//! key from the redirect's `Location` or from the body (parsed by the parsers crate).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{
    ActivationKey, KeyError, KeyRequest, MAX_BODY_BYTES, MAX_HEAD_BYTES, Mode, ParseFailure,
    parse_body, parse_location,
};
use crate::agent::probe::{self, Outcome, host_port};
use datasync_warden_parsers::activation_response::excerpt;

/// Aborts the connection driver when the exchange ends or is cancelled.
struct AbortOnDrop(tokio::task::AbortHandle);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The TCP handshake, bounded on its own: a dropped SYN is a firewall (filtered), not an
/// agent that fails to answer, and trying the other answer mode would not help.
pub(super) async fn connect(req: &KeyRequest, limit: Duration) -> Result<TcpStream, KeyError> {
    let addr = host_port(&req.agent, req.port);
    match tokio::time::timeout(limit, TcpStream::connect((req.agent.as_str(), req.port))).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(KeyError::Connect {
            addr,
            outcome: probe::classify(&e),
            detail: e.to_string(),
        }),
        Err(_) => Err(KeyError::Connect {
            addr,
            outcome: Outcome::Filtered,
            detail: format!(
                "no answer to the TCP handshake within {}",
                humantime::format_duration(limit)
            ),
        }),
    }
}

/// One HTTP/1.1 GET in `mode`; the key from the redirect's `Location` or from the body.
pub(super) async fn exchange(
    stream: TcpStream,
    req: &KeyRequest,
    mode: Mode,
) -> Result<ActivationKey, KeyError> {
    // The connection's driver must outlive the body, which streams through it.
    let (resp, _driver) = send(stream, req, mode).await?;
    let status = resp.status();
    if status.is_redirection() {
        let location = location(&resp, mode)?;
        return parse_location(location, req.endpoint_ip).map_err(|what| unparseable(mode, what));
    }
    let body = Limited::new(resp.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
            Ok(_) => KeyError::TooLarge {
                mode,
                limit: MAX_BODY_BYTES,
            },
            Err(e) => KeyError::Eof {
                mode,
                detail: e.to_string(),
            },
        })?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() {
        return Err(KeyError::Status {
            mode,
            status: status.as_u16(),
            excerpt: excerpt(&text),
        });
    }
    parse_body(text.trim(), req.endpoint_ip).map_err(|what| unparseable(mode, what))
}

/// The handshake and the request: the response head, and the connection's driver, which the
/// caller keeps while it reads the body.
async fn send(
    stream: TcpStream,
    req: &KeyRequest,
    mode: Mode,
) -> Result<(hyper::Response<hyper::body::Incoming>, AbortOnDrop), KeyError> {
    let addr = host_port(&req.agent, req.port);
    let eof = |e: hyper::Error| KeyError::Eof {
        mode,
        detail: e.to_string(),
    };
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(eof)?;
    let driver = AbortOnDrop(tokio::spawn(conn).abort_handle());
    let request = hyper::Request::get(req.path_and_query(mode))
        .header(hyper::header::HOST, &addr)
        .header(
            hyper::header::USER_AGENT,
            concat!("datasync-warden/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::new())
        // The path holds a validated Region and an IPv4 address; the Host a host that
        // config::values::host admits (letters, digits, '.', '-', ':') and a port.
        .expect("request parts are valid");
    let resp = sender.send_request(request).await.map_err(|e| {
        // An oversized head is a parse error too (hyper names it "message head is too large").
        if e.is_parse() {
            KeyError::Unparseable {
                mode,
                what: format!("malformed HTTP: {e}"),
            }
        } else {
            eof(e)
        }
    })?;
    Ok((resp, driver))
}

/// The one `Location` of a redirect: none, several or a non-ASCII one is unparseable (two are
/// as ambiguous as two `activationKey` parameters: take neither).
fn location(resp: &hyper::Response<hyper::body::Incoming>, mode: Mode) -> Result<&str, KeyError> {
    let status = resp.status();
    let mut locations = resp.headers().get_all(hyper::header::LOCATION).iter();
    let (location, None) = (locations.next(), locations.next()) else {
        return Err(KeyError::Unparseable {
            mode,
            what: format!("HTTP {status} with several Location headers: ambiguous"),
        });
    };
    let location = location.ok_or_else(|| KeyError::Unparseable {
        mode,
        what: format!("HTTP {status} without Location"),
    })?;
    location.to_str().map_err(|_| KeyError::Unparseable {
        mode,
        what: "Location is not ASCII".into(),
    })
}

fn unparseable(mode: Mode, e: ParseFailure) -> KeyError {
    match e {
        ParseFailure::Agent(reported) => reported.into(),
        ParseFailure::Garbage(what) => KeyError::Unparseable { mode, what },
    }
}
