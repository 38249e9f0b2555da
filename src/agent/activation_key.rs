//! Fetching the activation key from the agent's HTTP endpoint (the query and redirect that
//! AWS DataSync User Guide, "Activating your agent", documents for `curl`).
//!
//! The agent answers in one of two modes: a `302` whose `Location` carries `activationKey`
//! (or `errorType`), or, with the bare `no_redirect` flag, the key as a plain body. Some agent
//! versions break one mode (EOF or a hang), so each attempt falls back to the other mode when
//! the first fails in a mode-specific way. Redirects are never followed: their target is the
//! AWS console. Transient failures are retried with jittered exponential backoff (the `backoff`
//! crate, the only retry layer on this path) under an overall deadline.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::agent::probe::{self, Outcome, host_port};
use crate::ids::Region;

use datasync_warden_parsers::activation_response::excerpt;
pub use datasync_warden_parsers::activation_response::{
    ActivationKey, AgentReported, ParseFailure, parse_body, parse_location,
};

/// Largest body accepted from the agent. A key is 29 bytes; an error page is a few hundred.
pub const MAX_BODY_BYTES: usize = 4096;
/// Largest response head accepted (hyper's minimum buffer). A `Location` is well under 1 KiB.
pub const MAX_HEAD_BYTES: usize = 8192;
/// First retry delay: the agent may still be booting; a second is cheap.
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait between attempts: 30 s keeps a fixed security group noticed quickly.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The one documented agent error code.
pub const ENDPOINT_UNREACHABLE: &str = "PRIVATE_LINK_ENDPOINT_UNREACHABLE";

/// How the agent is asked to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `302` with the key in `Location` (the article's form).
    Redirect,
    /// Plain body, requested with the bare `no_redirect` flag.
    NoRedirect,
}

impl Mode {
    fn other(self) -> Mode {
        match self {
            Mode::Redirect => Mode::NoRedirect,
            Mode::NoRedirect => Mode::Redirect,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Redirect => "redirect",
            Mode::NoRedirect => "no_redirect",
        })
    }
}

/// What to ask the agent for.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// Agent host name or IP.
    pub agent: String,
    /// Activation port (80 on real agents).
    pub port: u16,
    /// Region to activate in.
    pub region: Region,
    /// The VPC endpoint IP the agent must reach (`privateLinkEndpoint`).
    pub endpoint_ip: Ipv4Addr,
}

impl KeyRequest {
    /// The request target for `mode`: the exact query AWS documents for a
    /// PrivateLink activation. No value needs
    /// percent-encoding: the Region and IP are validated to plain ASCII.
    pub fn path_and_query(&self, mode: Mode) -> String {
        let mut q = format!(
            "/?gatewayType=SYNC&activationRegion={}&endpointType=PRIVATE_LINK&privateLinkEndpoint={}",
            self.region, self.endpoint_ip
        );
        if mode == Mode::NoRedirect {
            q.push_str("&no_redirect");
        }
        q
    }
}

/// Why a key could not be obtained.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    /// TCP connection to the agent failed.
    #[error("cannot connect to the agent at {addr}: {detail}")]
    Connect {
        /// host:port
        addr: String,
        /// Refused, unreachable, …
        outcome: Outcome,
        /// The OS error.
        detail: String,
    },
    /// The agent accepted the connection but did not answer in time.
    #[error("the agent did not answer in {} ({mode} mode)", humantime::format_duration(*after))]
    Timeout {
        /// Mode asked.
        mode: Mode,
        /// Per-request timeout.
        after: Duration,
    },
    /// The agent closed the connection without a complete answer.
    #[error("the agent closed the connection without answering ({mode} mode): {detail}")]
    Eof {
        /// Mode asked.
        mode: Mode,
        /// Protocol detail.
        detail: String,
    },
    /// The answer was larger than any real key answer.
    #[error("the agent's answer exceeds {limit} bytes ({mode} mode)")]
    TooLarge {
        /// Mode asked.
        mode: Mode,
        /// The cap.
        limit: usize,
    },
    /// The answer did not contain a well-formed key or error code.
    #[error("the agent's answer holds no valid activation key ({mode} mode): {what}")]
    Unparseable {
        /// Mode asked.
        mode: Mode,
        /// What was wrong, with a sanitized excerpt.
        what: String,
    },
    /// The agent reported an error (`errorType=`).
    #[error("the agent reported errorType={code}")]
    Agent {
        /// The code, verbatim.
        code: String,
        /// The endpoint IP the agent was told to reach.
        endpoint_ip: Ipv4Addr,
    },
    /// An unexpected HTTP status.
    #[error("the agent answered HTTP {status} ({mode} mode): {excerpt}")]
    Status {
        /// Mode asked.
        mode: Mode,
        /// The status code.
        status: u16,
        /// Sanitized start of the body.
        excerpt: String,
    },
    /// The overall deadline passed.
    #[error("no activation key after {attempts} attempt(s) in {}: last error: {last}", humantime::format_duration(Duration::from_secs(deadline.as_secs_f64().round() as u64)))]
    Deadline {
        /// `activation.deadline`.
        deadline: Duration,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Box<KeyError>,
    },
}

impl From<AgentReported> for KeyError {
    fn from(a: AgentReported) -> KeyError {
        KeyError::Agent {
            code: a.code,
            endpoint_ip: a.endpoint_ip,
        }
    }
}

impl KeyError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyError::Connect { .. } => "agent_connect",
            KeyError::Timeout { .. } => "agent_timeout",
            KeyError::Eof { .. } => "agent_eof",
            KeyError::TooLarge { .. } => "agent_oversized",
            KeyError::Unparseable { .. } => "agent_unparseable",
            KeyError::Agent { .. } => "agent_error_type",
            KeyError::Status { .. } => "agent_http_status",
            KeyError::Deadline { last, .. } => last.kind(),
        }
    }

    /// What the operator should do about it.
    pub fn hint(&self) -> String {
        match self {
            KeyError::Connect {
                addr,
                outcome: Outcome::Refused,
                ..
            } => format!(
                "nothing accepts connections on {addr}: is the agent VM booted? An agent closes \
                 its activation port once activated: if so, look for it in DataSync"
            ),
            KeyError::Connect { addr, .. } => format!(
                "check the route and firewalls from this host to {addr} (DataSync activation \
                 needs TCP 80 from this host to the agent)"
            ),
            KeyError::Timeout { .. } | KeyError::Eof { .. } | KeyError::TooLarge { .. } => {
                "the agent's activation service misbehaved in both modes; restart the agent VM \
                 or fetch the key from its local console"
                    .into()
            }
            KeyError::Unparseable { .. } | KeyError::Status { .. } => {
                "the address may not be a DataSync agent (or the agent version is unsupported); \
                 check agent.address and agent.activation_port"
                    .into()
            }
            KeyError::Agent { code, endpoint_ip } if code == ENDPOINT_UNREACHABLE => format!(
                "the agent cannot reach the VPC endpoint {endpoint_ip} on TCP 443: allow TCP 443 \
                 (and 1024-1064) from the agent to the endpoint's network-interface IPs in the \
                 endpoint's security group, network ACLs, firewalls and routes"
            ),
            KeyError::Agent { code, .. } => format!(
                "the agent reported an undocumented error code {code:?}; quote it verbatim to \
                 AWS Support"
            ),
            KeyError::Deadline { last, .. } => last.hint(),
        }
    }

    /// A few words for a STATUS= line ("connection refused").
    pub fn short(&self) -> String {
        match self {
            KeyError::Connect {
                outcome: Outcome::Refused,
                ..
            } => "connection refused".into(),
            KeyError::Connect {
                outcome: Outcome::Filtered,
                ..
            } => "no answer to connect".into(),
            KeyError::Connect {
                outcome: Outcome::ResolveFailed,
                ..
            } => "name does not resolve".into(),
            KeyError::Connect { .. } => "no route to host".into(),
            KeyError::Timeout { after, .. } => {
                format!("no answer in {}", humantime::format_duration(*after))
            }
            KeyError::Eof { .. } => "connection closed without an answer".into(),
            KeyError::TooLarge { .. } => "answer too large".into(),
            KeyError::Unparseable { .. } => "answer holds no key".into(),
            KeyError::Agent { code, .. } => format!("agent reports {code}"),
            KeyError::Status { status, .. } => format!("HTTP {status}"),
            KeyError::Deadline { last, .. } => last.short(),
        }
    }

    /// Failures specific to one answer mode: worth trying the other mode at once.
    fn mode_specific(&self) -> bool {
        matches!(
            self,
            KeyError::Timeout { .. }
                | KeyError::Eof { .. }
                | KeyError::TooLarge { .. }
                | KeyError::Unparseable { .. }
        )
    }

    /// A client error from the agent means our request is wrong: retrying will not help.
    fn permanent(&self) -> bool {
        matches!(
            self,
            KeyError::Status {
                status: 400..=499,
                ..
            }
        )
    }
}

/// Talks to one agent's activation endpoint.
#[derive(Debug)]
pub struct KeyClient {
    request_timeout: Duration,
    /// Starts with the redirect mode; flips to the mode that last worked.
    prefer_no_redirect: AtomicBool,
}

impl KeyClient {
    /// A client whose every HTTP exchange is bounded by `request_timeout`.
    pub fn new(request_timeout: Duration) -> Self {
        Self {
            request_timeout,
            prefer_no_redirect: AtomicBool::new(false),
        }
    }

    /// Fetches a key, retrying transient failures until `deadline` has passed.
    pub async fn fetch(
        &self,
        req: &KeyRequest,
        deadline: Duration,
    ) -> Result<ActivationKey, KeyError> {
        self.fetch_reporting(req, deadline, &|_, _| {}).await
    }

    /// [`KeyClient::fetch`], calling `on_retry` with each failure and the wait before the next try.
    pub async fn fetch_reporting(
        &self,
        req: &KeyRequest,
        deadline: Duration,
        on_retry: &(dyn Fn(&KeyError, Duration) + Sync),
    ) -> Result<ActivationKey, KeyError> {
        let started = Instant::now();
        let backoff =
            crate::support::retry::exponential(BACKOFF_INITIAL, BACKOFF_MAX, Some(deadline));
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let last = std::sync::Mutex::new(None::<KeyError>);
        let op = || async {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            log::debug!(
                "fetching activation key from {} (attempt {n})",
                host_port(&req.agent, req.port)
            );
            self.fetch_once(req).await.map_err(|e| {
                *last.lock().expect("not poisoned") = Some(e.clone());
                if e.permanent() {
                    backoff::Error::permanent(e)
                } else {
                    backoff::Error::transient(e)
                }
            })
        };
        let notify = |e: KeyError, wait: Duration| {
            on_retry(&e, wait);
            log::warn!(
                "activation key attempt {} failed [{}]: {e}; retry in {}",
                attempts.load(Ordering::Relaxed),
                e.kind(),
                humantime::format_duration(Duration::from_millis(wait.as_millis() as u64))
            );
        };
        let remaining = deadline.saturating_sub(started.elapsed());
        let result = tokio::time::timeout(
            remaining,
            backoff::future::retry_notify(backoff, op, notify),
        )
        .await;
        let wrap = |last: KeyError| KeyError::Deadline {
            deadline,
            attempts: attempts.load(Ordering::Relaxed),
            last: Box::new(last),
        };
        match result {
            Ok(Ok(key)) => Ok(key),
            Ok(Err(e)) if e.permanent() => Err(e),
            Ok(Err(e)) => Err(wrap(e)),
            Err(_) => Err(wrap(last.lock().expect("not poisoned").take().unwrap_or(
                KeyError::Timeout {
                    mode: Mode::Redirect,
                    after: deadline,
                },
            ))),
        }
    }

    /// One attempt: the preferred mode, then the other if the first failed mode-specifically.
    pub async fn fetch_once(&self, req: &KeyRequest) -> Result<ActivationKey, KeyError> {
        let first = if self.prefer_no_redirect.load(Ordering::Relaxed) {
            Mode::NoRedirect
        } else {
            Mode::Redirect
        };
        let err = match self.fetch_mode(req, first).await {
            Ok(k) => return Ok(k),
            Err(e) if e.mode_specific() => e,
            Err(e) => return Err(e),
        };
        log::info!("{first} mode failed ({err}); trying {} mode", first.other());
        let key = self.fetch_mode(req, first.other()).await?;
        self.prefer_no_redirect
            .store(first.other() == Mode::NoRedirect, Ordering::Relaxed);
        Ok(key)
    }

    /// One HTTP exchange in one mode, bounded by the request timeout.
    pub async fn fetch_mode(
        &self,
        req: &KeyRequest,
        mode: Mode,
    ) -> Result<ActivationKey, KeyError> {
        let stream = connect(req, self.request_timeout).await?;
        match tokio::time::timeout(self.request_timeout, exchange(stream, req, mode)).await {
            Ok(r) => r,
            Err(_) => Err(KeyError::Timeout {
                mode,
                after: self.request_timeout,
            }),
        }
    }
}

/// Aborts the connection driver when the exchange ends or is cancelled.
struct AbortOnDrop(tokio::task::AbortHandle);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The TCP handshake, bounded on its own: a dropped SYN is a firewall (filtered), not an
/// agent that fails to answer, and trying the other answer mode would not help.
async fn connect(req: &KeyRequest, limit: Duration) -> Result<TcpStream, KeyError> {
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

async fn exchange(
    stream: TcpStream,
    req: &KeyRequest,
    mode: Mode,
) -> Result<ActivationKey, KeyError> {
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
    let _driver = AbortOnDrop(tokio::spawn(conn).abort_handle());
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
    let status = resp.status();
    if status.is_redirection() {
        // Two Locations are as ambiguous as two activationKey parameters: take neither.
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
        let location = location.to_str().map_err(|_| KeyError::Unparseable {
            mode,
            what: "Location is not ASCII".into(),
        })?;
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

fn unparseable(mode: Mode, e: ParseFailure) -> KeyError {
    match e {
        ParseFailure::Agent(reported) => reported.into(),
        ParseFailure::Garbage(what) => KeyError::Unparseable { mode, what },
    }
}

#[cfg(test)]
mod tests;
