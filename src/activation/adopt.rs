//! Adoption: an interrupted run left an `activating` record; the agent it may have created
//! is looked for by its token tag and, when found, recorded instead of activating again. Also
//! the confirmation of an agent the state file already names.

use super::ActivationError;
use super::activate::{Activation, Activator};
use super::record::Place;
use crate::aws::datasync::{AgentInfo, AwsError};
use crate::config::TOKEN_TAG_KEY;
use crate::ids::AgentArn;

impl Activator {
    /// Looks for the agent an interrupted run may have created: by its token tag, in the
    /// Region that run recorded, whatever the agent is named now.
    pub(super) async fn adopt(
        &self,
        recorded_name: &str,
        region: &str,
        token: &str,
    ) -> Result<Option<AgentArn>, ActivationError> {
        log::info!(
            "an earlier run was interrupted while activating; looking for the agent tagged with its token in {region}"
        );
        let api = if region == self.settings.endpoint.region.as_str() {
            self.api.clone()
        } else {
            self.api.for_region(region)
        };
        let names = [recorded_name, self.settings.agent.name.as_str()];
        let Some(arn) = api.find_tagged(&names, TOKEN_TAG_KEY, token).await? else {
            log::info!("no agent carries the token: activating");
            return Ok(None);
        };
        log::warn!("adopting {arn}, activated by the interrupted run");
        // What the agent was activated with, as DataSync records it.
        let (name, place) = match api.describe_agent(&arn).await {
            Ok(info) => (
                info.name
                    .clone()
                    .unwrap_or_else(|| recorded_name.to_string()),
                Place {
                    vpc_endpoint_id: info.vpc_endpoint_id.unwrap_or_default(),
                    endpoint_ip: info.private_link_endpoint.unwrap_or_default(),
                    subnet_arn: info.subnet_arns.into_iter().next().unwrap_or_default(),
                    security_group_arn: info
                        .security_group_arns
                        .into_iter()
                        .next()
                        .unwrap_or_default(),
                },
            ),
            Err(e) => {
                log::warn!(
                    "DescribeAgent failed [{}]: {e}; recording the adopted agent without its endpoint details",
                    e.kind()
                );
                (recorded_name.to_string(), Place::default())
            }
        };
        self.record_activated(&name, region, &arn, place, token, true)
            .await?;
        Ok(Some(arn))
    }

    pub(super) async fn confirm(
        &self,
        arn: AgentArn,
        activated_at: Option<std::time::SystemTime>,
    ) -> Result<Activation, ActivationError> {
        log::info!(
            "already activated: {arn} (from {})",
            self.store.path().display()
        );
        match self.api.describe_agent(&arn).await {
            Ok(info) => Ok(Activation::AlreadyActivated {
                arn,
                info: Some(info),
                activated_at,
            }),
            Err(e @ AwsError::NotFound { .. }) => Err(e.into()),
            Err(e) => {
                log::warn!(
                    "DescribeAgent failed [{}]: {e}; the state file still names {arn}",
                    e.kind()
                );
                Ok(Activation::AlreadyActivated {
                    arn,
                    info: None,
                    activated_at,
                })
            }
        }
    }

    pub(super) async fn describe_quietly(&self, arn: &AgentArn) -> Option<AgentInfo> {
        match self.api.describe_agent(arn).await {
            Ok(info) => {
                log::info!("DescribeAgent: {arn} is {}", info.status);
                Some(info)
            }
            Err(e) => {
                log::warn!("activated, but DescribeAgent failed [{}]: {e}", e.kind());
                None
            }
        }
    }
}

/// Failures after which the agent may exist anyway (the answer, not the request, was lost).
pub(super) fn may_have_created(e: &AwsError) -> bool {
    matches!(
        e,
        AwsError::Unreachable { .. }
            | AwsError::Timeout { .. }
            | AwsError::Internal { .. }
            | AwsError::Other { .. }
            | AwsError::InvalidRequest { .. }
    )
}
