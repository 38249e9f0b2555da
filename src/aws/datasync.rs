//! The DataSync control plane: CreateAgent, DescribeAgent, and finding an agent by tag.
//!
//! Every failure is classified into an [`AwsError`] (see [`crate::aws::error`]); the documented
//! CreateAgent failures (DataSync API reference and troubleshooting guide) get their specific
//! diagnosis. Retries of throttling and 5xx answers are the SDK's alone; each call also has its
//! own bound ([`crate::aws::call::CALL_BOUND`]) so that nothing awaits AWS forever.

use std::time::SystemTime;

use aws_sdk_datasync::Client;
use aws_sdk_datasync::types::TagListEntry;
use serde::Serialize;

use crate::config::ActivationTarget;
use crate::ids::{AgentArn, TagKey, TagValue};
use datasync_warden_parsers::activation_response::ActivationKey;

pub(crate) use crate::aws::error::AwsError;
use crate::aws::{Classified, next_item};

/// What DescribeAgent says about an agent.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub(crate) struct AgentInfo {
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
pub(crate) struct ControlPlane {
    client: Client,
}

impl ControlPlane {
    /// Wraps a client built from the shared SDK configuration.
    pub(crate) fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(sdk),
        }
    }

    /// CreateAgent for a private endpoint. `extra_tags` follow the configured ones.
    pub(crate) async fn create_agent(
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
            .classified("datasync:CreateAgent")
            .await?;
        let arn = out.agent_arn().unwrap_or_default();
        AgentArn::parse(arn).map_err(|p| AwsError::Other {
            op: "datasync:CreateAgent",
            chain: format!("DataSync returned an agent ARN {arn:?} that is not one: {p}"),
        })
    }

    pub(crate) async fn describe_agent(&self, arn: &AgentArn) -> Result<AgentInfo, AwsError> {
        let out = self
            .client
            .describe_agent()
            .agent_arn(arn.as_str())
            .send()
            .classified("datasync:DescribeAgent")
            .await?;
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
    pub(crate) async fn list_one(&self) -> Result<(), AwsError> {
        self.client
            .list_agents()
            .max_results(1)
            .send()
            .classified("datasync:ListAgents")
            .await
            .map(drop)
    }

    /// The same account and identity in another Region (an interrupted activation recorded
    /// its Region; the configuration may have changed since).
    pub(crate) fn for_region(&self, region: &str) -> ControlPlane {
        let conf = Client::config(&self.client)
            .to_builder()
            .region(aws_sdk_datasync::config::Region::new(region.to_string()))
            .build();
        ControlPlane {
            client: Client::from_conf(conf),
        }
    }

    /// Finds the agent that carries tag `key = value`, whatever its name: agents named one of
    /// `likely_names` are asked first (one ListTagsForResource each), then every other agent,
    /// so that a renamed host (cloud-init sets the hostname, the default name) still adopts
    /// the agent its interrupted run created.
    pub(crate) async fn find_tagged(
        &self,
        likely_names: &[&str],
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
        let mut all = Vec::new();
        while let Some(agent) = next_item("datasync:ListAgents", agents.next()).await? {
            if let Some(arn) = agent.agent_arn() {
                let likely = agent.name().is_some_and(|n| likely_names.contains(&n));
                all.push((!likely, arn.to_string()));
            }
        }
        // Likely names first; the sort is stable, so ListAgents' order is kept within each.
        all.sort_by_key(|(unlikely, _)| *unlikely);
        let mut skipped = None;
        for (unlikely, arn) in all {
            match self.has_tag(&arn, key, value).await {
                Ok(true) => return Ok(AgentArn::parse(&arn).ok()),
                Ok(false) => {}
                // Someone else's agent: just deleted (ListAgents lags) or its tags denied to us
                // (ABAC). One such agent must not stop the search for ours.
                Err(e @ (AwsError::NotFound { .. } | AwsError::AccessDenied { .. }))
                    if unlikely =>
                {
                    log::debug!("skipping {arn} while looking for the token: {e}");
                    skipped = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = skipped {
            log::warn!(
                "the token was on no agent this identity may read; some could not be asked: {e}"
            );
        }
        Ok(None)
    }

    async fn has_tag(&self, arn: &str, key: &str, value: &str) -> Result<bool, AwsError> {
        let mut tags = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .into_paginator()
            .items()
            .send();
        while let Some(tag) = next_item("datasync:ListTagsForResource", tags.next()).await? {
            if tag.key() == key && tag.value() == Some(value) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
