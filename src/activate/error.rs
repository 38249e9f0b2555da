//! Why activation did not complete: each failure with a stable kind and a hint.

use crate::activation_key::KeyError;
use crate::config::ConfigError;
use crate::control_plane::AwsError;
use crate::probe::Probe;
use crate::state::StateError;

/// Why activation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// Configuration is incomplete for activation.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A required port check failed.
    #[error("{} required port check(s) failed: {}", failed.len(), summary(failed))]
    Checks {
        /// The failed probes.
        failed: Vec<Probe>,
        /// An `activating` record exists: an earlier run may have activated the agent.
        interrupted: bool,
    },
    /// No key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

fn summary(failed: &[Probe]) -> String {
    failed
        .iter()
        .map(|p| format!("{}:{} {:?}", p.target.host, p.target.port, p.outcome).to_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ActivationError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ActivationError::Config(e) => e.kind(),
            ActivationError::Checks { .. } => "port_check",
            ActivationError::Key(e) => e.kind(),
            ActivationError::Aws(e) => e.kind(),
            ActivationError::State(e) => e.kind(),
        }
    }

    /// A few words for a STATUS= line.
    pub fn short(&self) -> String {
        match self {
            ActivationError::Checks { failed, .. } => summary(failed),
            ActivationError::Key(e) => e.short(),
            other => other.to_string(),
        }
    }

    /// What the operator should do.
    pub fn hint(&self) -> String {
        match self {
            ActivationError::Config(_) => "fix the configuration key named above".into(),
            ActivationError::Checks {
                failed,
                interrupted,
            } => {
                let mut h = failed.iter().map(|p| p.hint.clone()).collect::<Vec<_>>();
                h.dedup();
                if *interrupted {
                    h.push("an earlier run was interrupted while activating: the agent may already be activated \
                            (its port closes) and will be adopted as soon as ListAgents lists it; run again shortly"
                        .into());
                }
                h.join("\n")
            }
            ActivationError::Key(e) => e.hint(),
            ActivationError::Aws(e) => e.hint(),
            ActivationError::State(e) => e.hint(),
        }
    }
}
