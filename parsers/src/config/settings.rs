//! Validated settings with domain types, and the defaults (each with where it comes from).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use crate::cidr::Cidr;
use crate::ids::{
    AgentArn, AgentName, ExternalId, Region, RoleArn, SecurityGroupArn, SubnetArn, TagKey,
    TagValue, VpcEndpointId,
};

/// Port the agent serves its activation key on (AWS DataSync User Guide, "Activating your
/// agent").
pub const DEFAULT_ACTIVATION_PORT: u16 = 80;
/// Overall time to obtain a key and call CreateAgent. Keys live 30 minutes; 10 leaves ample
/// room for CreateAgent and its SDK retries after the key arrives.
pub const DEFAULT_ACTIVATION_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// Upper bound on `activation.deadline`: CreateAgent must still run inside the key's 30 min life.
pub const MAX_ACTIVATION_DEADLINE: Duration = Duration::from_secs(25 * 60);
/// One HTTP exchange with the agent. The agent contacts the endpoint on 443 before it
/// answers, which takes a few seconds at worst on a healthy network.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Per-probe TCP connect timeout. A LAN or Direct Connect handshake takes milliseconds; 4 s
/// outlasts Linux's neighbour resolution (3 probes 1 s apart), so a host that is down is
/// reported as unreachable rather than mistaken for a firewall, and covers two SYN
/// retransmissions (RFC 6298: after 1 s and 3 s). Probes run concurrently: 4 s in all.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(4);
/// DescribeAgent polling period; DataSync itself only flips to OFFLINE after 5 minutes.
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_secs(60);
/// Consecutive OFFLINE observations before declaring the agent OFFLINE.
pub const DEFAULT_OFFLINE_AFTER: u32 = 2;
/// After an activation, how long OFFLINE and "does not exist" answers are expected rather than
/// alerted: DescribeAgent may answer "does not exist" for a while after CreateAgent (eventual
/// consistency; Terraform retries it), and AWS updates a freshly activated agent's software,
/// during which it "may go offline briefly" — and DataSync reports OFFLINE only after 5 minutes
/// without contact, so a brief update can show as OFFLINE until about 5 minutes after it ends.
pub const DEFAULT_ACTIVATION_GRACE: Duration = Duration::from_secs(10 * 60);
/// Re-alert period while an agent stays OFFLINE.
pub const DEFAULT_REALERT_EVERY: Duration = Duration::from_secs(30 * 60);
/// Health endpoint address (the interface contract).
pub const DEFAULT_HEALTH_LISTEN: &str = "127.0.0.1:9417";
/// State directory (the interface contract).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/datasync-warden";
/// DataSync allows 50 tags per resource; one is reserved for the activation token.
pub const MAX_USER_TAGS: usize = 49;
/// Tag key carrying the activation token, used to adopt an agent after a crash.
pub const TOKEN_TAG_KEY: &str = "datasync-warden:activation-token";

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct Settings {
    /// The files it was read from, for messages.
    pub files: String,
    /// `--instance NAME`, when this daemon is one of several on the host.
    pub instance: Option<super::Instance>,
    pub agent: AgentSettings,
    pub endpoint: EndpointSettings,
    pub aws: AwsSettings,
    pub activation: ActivationSettings,
    pub checks: ChecksSettings,
    pub monitor: MonitorSettings,
    pub alerts: AlertsSettings,
    pub health: HealthSettings,
    pub state: StateSettings,
}

/// `[agent]`
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// Host name or IP address of the agent VM.
    pub address: Option<String>,
    /// Name given to the agent at activation.
    pub name: AgentName,
    /// TCP port of the activation endpoint.
    pub activation_port: u16,
    /// An agent activated elsewhere: monitor only.
    pub arn: Option<AgentArn>,
}

/// `[endpoint]`
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSettings {
    /// Region of the VPC endpoint (and of the activation).
    pub region: Region,
    /// The interface VPC endpoint for DataSync.
    pub vpc_endpoint_id: Option<VpcEndpointId>,
    /// The endpoint's private IP the agent must reach.
    pub ip: Option<Ipv4Addr>,
    /// The subnet for the agent's task ENIs.
    pub subnet_arn: Option<SubnetArn>,
    /// The security group for the agent's task ENIs.
    pub security_group_arn: Option<SecurityGroupArn>,
}

/// `[aws]`
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub role_arn: Option<RoleArn>,
    pub external_id: Option<ExternalId>,
    pub endpoint_url: Option<String>,
}

/// `[activation]`
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ActivationSettings {
    pub deadline: Duration,
    pub request_timeout: Duration,
    pub tags: Vec<(TagKey, TagValue)>,
}

/// `[checks]`
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ChecksSettings {
    pub timeout: Duration,
    pub control_ports: bool,
    pub support_port: bool,
    /// Run the AWS-side checks (EC2, STS, permissions).
    pub aws: bool,
    /// DataSync tasks planned through this agent: each takes 4 subnet addresses.
    pub planned_tasks: u32,
    /// The agent's networks, for the overlap check (default: this host's interfaces).
    pub source_cidrs: Vec<Cidr>,
}

/// `[monitor]`
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct MonitorSettings {
    pub interval: Duration,
    pub offline_after: u32,
    pub realert_every: Duration,
    /// After this host activates the agent, OFFLINE and "does not exist" are expected for a while.
    pub activation_grace: Duration,
}

/// `[alerts]`
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertsSettings {
    /// Where alerts are posted: `alerts.webhook` first (as a `json` destination named
    /// `webhook`), then every `[[alerts.destinations]]` in the order the fragments set them.
    pub destinations: Vec<super::alerts::Destination>,
}

/// `[health]`
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct HealthSettings {
    pub listen: SocketAddr,
}

/// `[state]`
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct StateSettings {
    pub dir: PathBuf,
}

/// Everything needed to activate, once all required keys are present.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct ActivationTarget {
    pub agent_address: String,
    pub agent_port: u16,
    pub agent_name: AgentName,
    pub region: Region,
    pub vpc_endpoint_id: VpcEndpointId,
    pub endpoint_ip: Ipv4Addr,
    pub subnet_arn: SubnetArn,
    pub security_group_arn: SecurityGroupArn,
}

impl Settings {
    /// Whether activation needs endpoint discovery (a key it needs is not pinned).
    pub fn needs_discovery(&self) -> bool {
        let e = &self.endpoint;
        e.ip.is_none() || e.subnet_arn.is_none() || e.security_group_arn.is_none()
    }

    /// The keys activation needs, from the configuration or else from `discovered` values
    /// (endpoint IP, subnet ARN, security-group ARN); or which one is missing.
    pub fn activation_target(
        &self,
        discovered: Option<Discovered>,
    ) -> Result<ActivationTarget, ConfigError> {
        let missing = |key, why| ConfigError::Missing {
            key,
            files: self.files.clone(),
            why,
        };
        let e = &self.endpoint;
        let d = discovered.unwrap_or_default();
        Ok(ActivationTarget {
            agent_address: self.agent.address.clone().ok_or_else(|| {
                missing(
                    "agent.address",
                    "the activation key is fetched from the agent's address",
                )
            })?,
            agent_port: self.agent.activation_port,
            agent_name: self.agent.name.clone(),
            region: e.region.clone(),
            vpc_endpoint_id: e.vpc_endpoint_id.clone().ok_or_else(|| {
                missing(
                    "endpoint.vpc_endpoint_id",
                    "private activation needs the DataSync interface endpoint",
                )
            })?,
            endpoint_ip: e.ip.or(d.ip).ok_or_else(|| {
                missing(
                    "endpoint.ip",
                    "the agent must be told the endpoint IP, and discovery found none",
                )
            })?,
            subnet_arn: e.subnet_arn.clone().or(d.subnet_arn).ok_or_else(|| {
                missing(
                    "endpoint.subnet_arn",
                    "CreateAgent needs one subnet ARN, and discovery found none",
                )
            })?,
            security_group_arn: e
                .security_group_arn
                .clone()
                .or(d.security_group_arn)
                .ok_or_else(|| {
                    missing(
                        "endpoint.security_group_arn",
                        "CreateAgent needs one security-group ARN, and discovery found none",
                    )
                })?,
        })
    }
}

/// Values endpoint discovery supplies when the configuration does not pin them.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// The endpoint ENI's IP in the chosen subnet.
    pub ip: Option<Ipv4Addr>,
    /// The chosen subnet.
    pub subnet_arn: Option<SubnetArn>,
    /// The chosen security group.
    pub security_group_arn: Option<SecurityGroupArn>,
}

#[cfg(test)]
mod tests;
mod validate;
