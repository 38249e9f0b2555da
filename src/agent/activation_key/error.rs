//! Why a key request failed: each failure with a stable kind, a hint, whether retrying can help
//! and whether the other answer mode might.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{AgentReported, ENDPOINT_UNREACHABLE, Mode};
use crate::agent::probe::Outcome;

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
    pub(crate) fn mode_specific(&self) -> bool {
        matches!(
            self,
            KeyError::Timeout { .. }
                | KeyError::Eof { .. }
                | KeyError::TooLarge { .. }
                | KeyError::Unparseable { .. }
        )
    }

    /// A client error from the agent means our request is wrong: retrying will not help.
    pub(crate) fn permanent(&self) -> bool {
        matches!(
            self,
            KeyError::Status {
                status: 400..=499,
                ..
            }
        )
    }
}
