//! `activate`: one activation in the foreground (or nothing, when the state says it is done).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::emit;
use crate::activation::state::{self, StateStore};
use crate::activation::{Activation, Activator, Progress};
use crate::agent::activation_key::ActivationKey;
use crate::aws;
use crate::aws::datasync::ControlPlane;
use crate::aws::ec2::Ec2;
use crate::config::Settings;

pub(super) async fn activate(settings: Settings, key: Option<String>) -> Result<ExitCode> {
    // Blocking reads of stdin or a small file, before anything else runs: harmless here.
    let supplied: Option<ActivationKey> = key
        .map(|k| crate::commands::key_arg::read_key(&k, std::io::stdin().lock()))
        .transpose()?;
    let store = StateStore::new(&settings.state.dir, state::machine_id()?);
    let sdk = aws::sdk_config(&settings.endpoint.region, &settings.aws).await;
    let activator = Activator::new(settings, store, ControlPlane::new(&sdk), Ec2::new(&sdk))
        .with_progress(Arc::new(|p| {
            if let Progress::Stage(_, text) = p {
                log::info!("{text}");
            }
        }));
    let outcome = activator
        .activate(supplied)
        .await
        .context("failed to activate the agent")?;
    match &outcome {
        Activation::AlreadyActivated { arn, info, .. } => {
            let status = info
                .as_ref()
                .map_or("status unknown", |i| i.status.as_str());
            log::info!("{arn} was already activated ({status}); nothing to do");
        }
        Activation::Adopted { arn } => log::info!("adopted {arn}, activated by an interrupted run"),
        Activation::Created { arn, info } => {
            let status = info
                .as_ref()
                .map_or("status unknown", |i| i.status.as_str());
            log::info!("activated {arn} ({status})");
        }
    }
    emit(&format!("{}\n", outcome.arn()))?;
    Ok(ExitCode::SUCCESS)
}
