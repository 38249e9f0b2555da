//! Public value types: configuration, fault switches and the snapshots tests assert on.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How the simulator is set up. `Default` gives an ephemeral-port, us-east-1 simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The Region the fake agent and control plane live in; activation requests must name it.
    pub region: String,
    /// The 12-digit account id that goes into agent ARNs.
    pub account_id: String,
    /// Where the agent activation endpoint listens (the real one is TCP 80 on the agent VM).
    pub agent_listen: SocketAddr,
    /// Where the DataSync JSON 1.1 API (and the `/_sim/` admin API) listens.
    pub api_listen: SocketAddr,
    /// How long an issued activation key stays usable (AWS: 30 minutes).
    pub key_lifetime: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        SimConfig {
            region: "us-east-1".to_owned(),
            account_id: "111122223333".to_owned(),
            agent_listen: loopback,
            api_listen: loopback,
            key_lifetime: Duration::from_secs(30 * 60),
        }
    }
}

/// The two ways a client can ask the agent for a key; agents misbehave per mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// No `no_redirect` flag: the key travels in a 302 `Location`.
    Redirect,
    /// `no_redirect` given: the key is the plain-text body.
    NoRedirect,
}

/// A misbehaviour of the agent activation endpoint, seen with real agent versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentFault {
    /// Read the request, then close the connection without answering.
    Eof,
    /// Read the request and never answer, keeping the socket open.
    Hang,
    /// Answer correctly after this delay.
    Slow(Duration),
    /// Answer with a body of this many bytes (`A`s; for redirects after a valid 302 head).
    Oversized(usize),
    /// Answer with something that is not a key (`not-a-key!` / `activationKey=abc`).
    Garbage,
    /// Send the correct answer one byte every 500 ms.
    Trickle,
}

/// Documented CreateAgent failures caused by missing IAM rights (DataSync troubleshooting guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateAgentError {
    /// `Invalid EC2 subnet, ARN: …, reason: invalid subnet, StatusCode: 403`.
    SubnetForbidden,
    /// `Invalid EC2 security group, ARN: …, reason: invalid security group, StatusCode: 403`.
    SecurityGroupForbidden,
    /// `Private link configuration is invalid: VPC endpoint vpce-… is not valid`.
    VpcEndpointInvalid,
}

/// A generic control-plane fault, for one operation or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFault {
    /// Answer `ThrottlingException` (HTTP 400) to the next `times` calls.
    Throttle {
        /// How many calls to throttle.
        times: u32,
    },
    /// Answer `InternalException` (HTTP 500) to the next `times` calls.
    Internal {
        /// How many calls to fail.
        times: u32,
    },
    /// Delay every call by this much (until `clear_faults`).
    Latency(Duration),
    /// Close the connection without answering the next `times` calls.
    ResetConnection {
        /// How many calls to drop.
        times: u32,
    },
    /// CreateAgent creates the agent completely, then never answers (crash/timeout tests).
    /// Stays armed until `clear_faults`.
    CreateThenHang,
    /// Run the call, then wait this long before answering (until `clear_faults`): widens the
    /// window in which the effect exists but the caller does not know it yet (crash tests).
    AnswerLatency(Duration),
    /// Answer the next `times` calls with DataSync's "does not exist" wording for an agent
    /// (`InvalidRequestException: host-… does not exist or has been deleted.`), as DescribeAgent
    /// does for a while right after CreateAgent (eventual consistency).
    NotFound {
        /// How many calls.
        times: u32,
    },
    /// Answer the next `times` calls with this AWS error code and HTTP status, e.g.
    /// `AccessDeniedException`/400 or `ExpiredTokenException`/403 (`None` = until cleared).
    Error {
        /// The `__type` (error code).
        code: &'static str,
        /// HTTP status.
        status: u16,
        /// How many calls; `None` = until `clear_faults`.
        times: Option<u32>,
    },
}

/// `AgentStatus` of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentStatus {
    /// In contact with the service.
    Online,
    /// No contact for five minutes or more.
    Offline,
}

impl AgentStatus {
    /// The wire spelling (`ONLINE` / `OFFLINE`).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "ONLINE",
            AgentStatus::Offline => "OFFLINE",
        }
    }
}

/// `EndpointType` of the model; fixed at activation by the key's `endpointType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndpointType {
    /// Key fetched without `endpointType`.
    Public,
    /// Key fetched with `endpointType=PRIVATE_LINK`.
    PrivateLink,
    /// Key fetched with `endpointType=FIPS`.
    Fips,
    /// Present in the model; the simulator never issues it.
    FipsPrivateLink,
}

impl EndpointType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointType::Public => "PUBLIC",
            EndpointType::PrivateLink => "PRIVATE_LINK",
            EndpointType::Fips => "FIPS",
            EndpointType::FipsPrivateLink => "FIPS_PRIVATE_LINK",
        }
    }
}

/// One request the activation endpoint received (recorded even if it was then faulted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRequest {
    /// The query string exactly as received (without the `?`).
    pub query: String,
    /// Which mode the request asked for.
    pub mode: ResponseMode,
    /// When it arrived.
    pub at: SystemTime,
    /// Who sent it.
    pub peer: SocketAddr,
    /// The key this request was given, if any.
    pub issued_key: Option<String>,
}

/// What the control plane knows about one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// `arn:aws:datasync:<region>:<account>:agent/agent-<17 hex>`.
    pub arn: String,
    /// `AgentName`, if one was given.
    pub name: Option<String>,
    /// Current status.
    pub status: AgentStatus,
    /// Endpoint type taken from the activation key.
    pub endpoint_type: EndpointType,
    /// Tags in the order they were first set, as (key, value).
    pub tags: Vec<(String, String)>,
    /// `VpcEndpointId` from CreateAgent.
    pub vpc_endpoint_id: Option<String>,
    /// `SubnetArns` from CreateAgent.
    pub subnet_arns: Vec<String>,
    /// `SecurityGroupArns` from CreateAgent.
    pub security_group_arns: Vec<String>,
    /// The `privateLinkEndpoint` IP the key was fetched with.
    pub private_link_endpoint: Option<String>,
    /// The key used to create it (`None` for `seed_agents` agents).
    pub activation_key: Option<String>,
    /// When it was created.
    pub created_at: SystemTime,
}
