//! The DataSync control plane: CreateAgent, DescribeAgent, and finding an agent by tag.
//!
//! Every failure is classified into an [`AwsError`] with a stable kind and a hint; the
//! documented CreateAgent failures (DataSync API reference and troubleshooting guide) get their specific diagnosis. Retries of
//! throttling and 5xx answers are the SDK's alone.

use std::time::SystemTime;

use aws_sdk_datasync::Client;
use aws_sdk_datasync::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_datasync::types::TagListEntry;
use serde::Serialize;

use crate::activation_key::ActivationKey;
use crate::config::ActivationTarget;
use crate::ids::{AgentArn, TagKey, TagValue};

/// IAM actions activation needs on EC2 resources, named in permission diagnoses.
pub const EC2_ACTIONS_HINT: &str = "ec2:DescribeVpcEndpoints, ec2:DescribeNetworkInterfaces, \
    ec2:DescribeSubnets and ec2:DescribeSecurityGroups (see the shipped IAM policy)";

/// A classified AWS failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    /// The key was fetched for a public endpoint but a VPC endpoint was given.
    #[error("CreateAgent refused a public activation key for a private endpoint: {message}")]
    PublicKey {
        /// AWS's message.
        message: String,
    },
    /// The caller may not use the subnet (EC2 answered 403 to DataSync).
    #[error("CreateAgent could not use the subnet: {message}")]
    SubnetForbidden {
        /// AWS's message.
        message: String,
    },
    /// The caller may not use the security group.
    #[error("CreateAgent could not use the security group: {message}")]
    SecurityGroupForbidden {
        /// AWS's message.
        message: String,
    },
    /// The VPC endpoint is unknown to the caller (rights, id or Region).
    #[error("CreateAgent could not use the VPC endpoint: {message}")]
    VpcEndpointInvalid {
        /// AWS's message.
        message: String,
    },
    /// The agent ARN does not exist (deleted out of band, or wrong account/Region).
    #[error("{op}: agent not found: {message}")]
    NotFound {
        /// Operation.
        op: &'static str,
        /// AWS's message.
        message: String,
    },
    /// Any other InvalidRequestException.
    #[error("{op} was rejected: {message}")]
    InvalidRequest {
        /// Operation.
        op: &'static str,
        /// AWS's message.
        message: String,
    },
    /// The caller's identity lacks a permission.
    #[error("{op} was denied: {message}")]
    AccessDenied {
        /// Operation.
        op: &'static str,
        /// AWS's message.
        message: String,
    },
    /// No usable credentials, or they expired.
    #[error("{op}: credentials problem: {chain}")]
    Credentials {
        /// Operation.
        op: &'static str,
        /// Whole cause chain.
        chain: String,
    },
    /// Throttled even after the SDK's retries.
    #[error("{op} was throttled (after the SDK's retries): {message}")]
    Throttled {
        /// Operation.
        op: &'static str,
        /// AWS's message.
        message: String,
    },
    /// DataSync failed internally even after the SDK's retries.
    #[error("{op} failed inside DataSync (after the SDK's retries): {message}")]
    Internal {
        /// Operation.
        op: &'static str,
        /// AWS's message.
        message: String,
    },
    /// Connection, TLS or timeout trouble reaching the API.
    #[error("{op}: cannot reach the DataSync API: {chain}")]
    Unreachable {
        /// Operation.
        op: &'static str,
        /// Whole cause chain.
        chain: String,
    },
    /// EC2's answer to a permitted `DryRun` call (not a failure for a permission check).
    #[error("the request would have succeeded (DryRun)")]
    DryRunOk,
    /// Anything else, with its whole cause chain.
    #[error("{op} failed: {chain}")]
    Other {
        /// Operation.
        op: &'static str,
        /// Whole cause chain.
        chain: String,
    },
}

impl AwsError {
    /// Stable label for metrics (`datasync_warden_aws_errors_total{kind}`).
    pub fn kind(&self) -> &'static str {
        match self {
            AwsError::PublicKey { .. } => "public_key_for_private_endpoint",
            AwsError::SubnetForbidden { .. } => "subnet_forbidden",
            AwsError::SecurityGroupForbidden { .. } => "security_group_forbidden",
            AwsError::VpcEndpointInvalid { .. } => "vpc_endpoint_invalid",
            AwsError::NotFound { .. } => "not_found",
            AwsError::InvalidRequest { .. } => "invalid_request",
            AwsError::AccessDenied { .. } => "access_denied",
            AwsError::Credentials { .. } => "credentials",
            AwsError::Throttled { .. } => "throttled",
            AwsError::Internal { .. } => "internal",
            AwsError::Unreachable { .. } => "unreachable",
            AwsError::Other { .. } => "other",
            AwsError::DryRunOk => "dry_run_ok",
        }
    }

    /// What the operator should do.
    pub fn hint(&self) -> String {
        match self {
            AwsError::PublicKey { .. } => "the key was fetched without endpointType=PRIVATE_LINK (datasync-warden never does this; a \
                 key supplied by hand may): fetch a private key with `datasync-warden fetch-key`".into(),
            AwsError::SubnetForbidden { .. } => format!("the caller lacks EC2 subnet rights: grant {EC2_ACTIONS_HINT}"),
            AwsError::SecurityGroupForbidden { .. } => format!("the caller lacks EC2 security-group rights: grant {EC2_ACTIONS_HINT}"),
            AwsError::VpcEndpointInvalid { .. } => format!(
                "check endpoint.vpc_endpoint_id and endpoint.region (the endpoint must be in that Region and \
                 account), and grant {EC2_ACTIONS_HINT}"
            ),
            AwsError::NotFound { op, .. } if op.starts_with("ec2:") => {
                "no such resource in this Region and account: check the id, endpoint.region and the credentials' account \
                 (aws.role_arn for cross-account)"
                    .into()
            }
            AwsError::NotFound { .. } => "the agent was deleted, or belongs to another account or Region; check agent.arn / the \
                 state file, endpoint.region and the credentials' account"
                .into(),
            AwsError::InvalidRequest { .. } => "read AWS's message above; the request was well-formed for this tool but DataSync refused it".into(),
            AwsError::AccessDenied { op, .. } => format!("grant {op} to the caller (see the shipped IAM policy)"),
            AwsError::Credentials { .. } => "provide credentials: instance profile, AWS_* environment, aws.profile, or aws.role_arn; \
                 check they have not expired"
                .into(),
            AwsError::Throttled { .. } => "DataSync is throttling this account; the next attempt will back off further".into(),
            AwsError::Internal { .. } => "a DataSync-side failure; retry later, and contact AWS Support if it persists".into(),
            AwsError::Unreachable { .. } => "check the route, proxy and DNS to the DataSync API endpoint (aws.endpoint_url / \
                 AWS_ENDPOINT_URL if set)"
                .into(),
            AwsError::Other { .. } => "see the cause chain above".into(),
            AwsError::DryRunOk => String::new(),
        }
    }
}

/// Classifies an SDK error of the call `op` (an IAM action name such as `ec2:DescribeSubnets`).
pub(crate) fn classify<E>(op: &'static str, err: SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let chain = DisplayErrorContext(&err).to_string();
    let message = err.message().unwrap_or_default().to_string();
    match &err {
        SdkError::ServiceError(_) => {}
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            return AwsError::Unreachable { op, chain };
        }
        _ if chain.to_ascii_lowercase().contains("credentials") => {
            return AwsError::Credentials { op, chain };
        }
        _ => return AwsError::Other { op, chain },
    }
    let lower = message.to_ascii_lowercase();
    match err.code().unwrap_or_default() {
        "InvalidRequestException"
            if message.contains("should remain unspecified for public-endpoint") =>
        {
            AwsError::PublicKey { message }
        }
        "InvalidRequestException" if message.starts_with("Invalid EC2 subnet") => {
            AwsError::SubnetForbidden { message }
        }
        "InvalidRequestException" if message.starts_with("Invalid EC2 security group") => {
            AwsError::SecurityGroupForbidden { message }
        }
        "InvalidRequestException"
            if message.contains("VPC endpoint") && message.contains("is not valid") =>
        {
            AwsError::VpcEndpointInvalid { message }
        }
        "InvalidRequestException"
            if ["not found", "does not exist", "unable to find"]
                .iter()
                .any(|p| lower.contains(p)) =>
        {
            AwsError::NotFound { op, message }
        }
        "InvalidRequestException" => AwsError::InvalidRequest { op, message },
        "DryRunOperation" => AwsError::DryRunOk,
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
            AwsError::AccessDenied { op, message }
        }
        code if code.ends_with(".NotFound") => AwsError::NotFound { op, message },
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "ExpiredToken" => AwsError::Credentials { op, chain },
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" => {
            AwsError::Throttled { op, message }
        }
        "InternalException" | "InternalFailure" | "ServiceUnavailable" => {
            AwsError::Internal { op, message }
        }
        _ => AwsError::Other { op, chain },
    }
}

/// What DescribeAgent says about an agent.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct AgentInfo {
    pub arn: String,
    pub name: Option<String>,
    /// ONLINE or OFFLINE.
    pub status: String,
    #[serde(serialize_with = "ser_time")]
    pub last_connection_time: Option<SystemTime>,
    pub endpoint_type: Option<String>,
    pub vpc_endpoint_id: Option<String>,
    pub private_link_endpoint: Option<String>,
    pub subnet_arns: Vec<String>,
    pub security_group_arns: Vec<String>,
    pub platform_version: Option<String>,
}

fn ser_time<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string()),
        None => s.serialize_none(),
    }
}

/// A DataSync client for one Region and identity.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    client: Client,
}

impl ControlPlane {
    /// Wraps a client built from the shared SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(sdk),
        }
    }

    /// CreateAgent for a private endpoint. `extra_tags` follow the configured ones.
    pub async fn create_agent(
        &self,
        target: &ActivationTarget,
        key: &ActivationKey,
        tags: &[(TagKey, TagValue)],
        token: (&str, &str),
    ) -> Result<AgentArn, AwsError> {
        let entries = tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(std::iter::once(token))
            .map(|(k, v)| {
                TagListEntry::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key is set")
            });
        let out = self
            .client
            .create_agent()
            .activation_key(key.expose())
            .agent_name(target.agent_name.as_str())
            .vpc_endpoint_id(target.vpc_endpoint_id.as_str())
            .subnet_arns(target.subnet_arn.as_str())
            .security_group_arns(target.security_group_arn.as_str())
            .set_tags(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| classify("datasync:CreateAgent", e))?;
        let arn = out.agent_arn().unwrap_or_default();
        AgentArn::parse(arn).map_err(|p| AwsError::Other {
            op: "datasync:CreateAgent",
            chain: format!("DataSync returned an agent ARN {arn:?} that is not one: {p}"),
        })
    }

    /// DescribeAgent.
    pub async fn describe_agent(&self, arn: &AgentArn) -> Result<AgentInfo, AwsError> {
        let out = self
            .client
            .describe_agent()
            .agent_arn(arn.as_str())
            .send()
            .await
            .map_err(|e| classify("datasync:DescribeAgent", e))?;
        let pl = out.private_link_config();
        Ok(AgentInfo {
            arn: arn.to_string(),
            name: out.name().map(str::to_string),
            status: out.status().map_or("UNKNOWN", |s| s.as_str()).to_string(),
            last_connection_time: out
                .last_connection_time()
                .and_then(|t| SystemTime::try_from(*t).ok()),
            endpoint_type: out.endpoint_type().map(|e| e.as_str().to_string()),
            vpc_endpoint_id: pl.and_then(|p| p.vpc_endpoint_id()).map(str::to_string),
            private_link_endpoint: pl
                .and_then(|p| p.private_link_endpoint())
                .map(str::to_string),
            subnet_arns: pl.map(|p| p.subnet_arns().to_vec()).unwrap_or_default(),
            security_group_arns: pl
                .map(|p| p.security_group_arns().to_vec())
                .unwrap_or_default(),
            platform_version: out.platform().and_then(|p| p.version()).map(str::to_string),
        })
    }

    /// ListAgents with one result: proves the permission.
    pub async fn list_one(&self) -> Result<(), AwsError> {
        self.client
            .list_agents()
            .max_results(1)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("datasync:ListAgents", e))
    }

    /// Finds the agent named `name` that carries tag `key = value` (ListAgents, then
    /// ListTagsForResource for same-named agents only, to keep the calls few on big accounts).
    pub async fn find_tagged(
        &self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<AgentArn>, AwsError> {
        let mut agents = self
            .client
            .list_agents()
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        while let Some(agent) = agents.next().await {
            let agent = agent.map_err(|e| classify("datasync:ListAgents", e))?;
            let (Some(arn), Some(n)) = (agent.agent_arn(), agent.name()) else {
                continue;
            };
            if n != name {
                continue;
            }
            let mut tags = self
                .client
                .list_tags_for_resource()
                .resource_arn(arn)
                .into_paginator()
                .items()
                .send();
            while let Some(tag) = tags.next().await {
                let tag = tag.map_err(|e| classify("datasync:ListTagsForResource", e))?;
                if tag.key() == key && tag.value() == Some(value) {
                    return Ok(AgentArn::parse(arn).ok());
                }
            }
        }
        Ok(None)
    }
}
