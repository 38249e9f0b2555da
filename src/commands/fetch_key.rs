//! `fetch-key`: discovery when needed, then the activation key on stdout.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::emit;
use crate::activation::ActivationError;
use crate::agent::activation_key::{KeyClient, KeyRequest};
use crate::aws;
use crate::aws::ec2::Ec2;
use crate::config::Settings;

pub(super) async fn fetch_key(settings: &Settings) -> Result<ExitCode> {
    let discovered = match &settings.endpoint.vpc_endpoint_id {
        Some(id) if settings.needs_discovery() => {
            let sdk = aws::sdk_config(&settings.endpoint.region, &settings.aws).await;
            let found = crate::preflight::discovery::discover(&Ec2::new(&sdk), settings)
                .await
                .with_context(|| format!("failed to discover VPC endpoint {id}"))?;
            if let Some(what) = crate::preflight::discovery::gap(settings, found.as_ref()) {
                return Err(ActivationError::DiscoveryPending { what }.into());
            }
            found.map(|d| d.discovered())
        }
        _ => None,
    };
    let target = settings.activation_target(discovered)?;
    let req = KeyRequest {
        agent: target.agent_address,
        port: target.agent_port,
        region: target.region,
        endpoint_ip: target.endpoint_ip,
    };
    let key = KeyClient::new(settings.activation.request_timeout)
        .fetch(&req, settings.activation.deadline)
        .await
        .context("failed to fetch the activation key")?;
    log::info!("activation key {key} obtained; it expires 30 minutes after issue");
    emit(&format!("{}\n", key.expose()))?;
    Ok(ExitCode::SUCCESS)
}
