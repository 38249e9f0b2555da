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

use crate::agent::probe::host_port;
use crate::ids::Region;

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
        let last = last.lock().expect("not poisoned").take();
        past_deadline(result.ok(), last, deadline, attempts.into_inner())
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

/// The end of a fetch: the key, a permanent error as is, or — retries exhausted or the
/// deadline cut the last attempt short (`ended` is None) — the deadline error with the last
/// failure seen.
fn past_deadline(
    ended: Option<Result<ActivationKey, KeyError>>,
    last: Option<KeyError>,
    deadline: Duration,
    attempts: u32,
) -> Result<ActivationKey, KeyError> {
    let last = match ended {
        Some(Ok(key)) => return Ok(key),
        Some(Err(e)) if e.permanent() => return Err(e),
        Some(Err(e)) => e,
        None => last.unwrap_or(KeyError::Timeout {
            mode: Mode::Redirect,
            after: deadline,
        }),
    };
    Err(KeyError::Deadline {
        deadline,
        attempts,
        last: Box::new(last),
    })
}

mod error;
mod exchange;
#[cfg(test)]
mod tests;

pub use error::KeyError;
use exchange::{connect, exchange};
