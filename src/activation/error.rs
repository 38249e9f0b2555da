//! Why activation did not complete: each failure with a stable kind and a hint.

use crate::activation::state::StateError;
use crate::agent::activation_key::KeyError;
use crate::agent::probe::Probe;
use crate::aws::datasync::AwsError;
use crate::config::ConfigError;

/// Why activation did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActivationError {
    /// Configuration is incomplete for activation.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A required port check failed.
    #[error("{} required port check(s) failed: {}", failed.len(), summary(failed))]
    Checks {
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
    /// The state file could not be read or written, or another command holds it.
    #[error(transparent)]
    State(#[from] StateError),
    /// Discovery cannot complete yet: the endpoint is not visible, not available, or has no
    /// usable network interface. Not a configuration error: retried until it completes.
    #[error("{what}")]
    DiscoveryPending {
        /// What is missing, naming the endpoint.
        what: String,
    },
    /// A step overran its own bound and was cancelled.
    #[error("{step} did not finish within {} (cancelled)", humantime::format_duration(*after))]
    Stalled {
        step: &'static str,
        after: std::time::Duration,
    },
    /// The OS random source failed (the activation token).
    #[error("cannot read the OS random source for the activation token: {0}")]
    Random(String),
}

fn summary(failed: &[Probe]) -> String {
    failed
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                crate::agent::probe::host_port(&p.target.host, p.target.port),
                p.outcome.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl ActivationError {
    /// Stable label for metrics and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ActivationError::Config(e) => e.kind(),
            ActivationError::Checks { .. } => "port_check",
            ActivationError::Key(e) => e.kind(),
            ActivationError::Aws(e) => e.kind(),
            ActivationError::State(e) => e.kind(),
            ActivationError::DiscoveryPending { .. } => "discovery_pending",
            ActivationError::Stalled { .. } => "stalled",
            ActivationError::Random(_) => "random",
        }
    }

    /// The first words of a STATUS= line: what the daemon is stuck on.
    pub(crate) fn headline(&self) -> &'static str {
        match self {
            ActivationError::Config(_) => "invalid configuration",
            ActivationError::Checks { .. } => "port check failed",
            ActivationError::Key(_) => "no activation key",
            ActivationError::Aws(_) => "activation failed",
            ActivationError::State(StateError::Locked { .. }) => "state directory in use",
            ActivationError::State(_) => "state file problem",
            ActivationError::DiscoveryPending { .. } => "waiting for the VPC endpoint",
            ActivationError::Stalled { .. } => "step timed out",
            ActivationError::Random(_) => "no randomness",
        }
    }

    /// A few words for a STATUS= line.
    pub(crate) fn short(&self) -> String {
        match self {
            ActivationError::Checks { failed, .. } => summary(failed),
            ActivationError::Key(e) => e.short(),
            other => other.to_string(),
        }
    }

    /// What the operator should do.
    pub(crate) fn hint(&self) -> String {
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
            ActivationError::DiscoveryPending { .. } => "nothing to edit if the endpoint was just created: EC2 needs a moment \
                 to show it and its network interfaces (retrying with backoff). If this persists, check \
                 endpoint.vpc_endpoint_id and endpoint.region, that the endpoint is in a subnet (one network \
                 interface per subnet), and that it is not pending acceptance by its service"
                .into(),
            ActivationError::Stalled { .. } => "the step was cancelled and will be retried; if it recurs, look for a \
                 slow proxy, DNS or disk on the path it names"
                .into(),
            ActivationError::Random(_) => "the kernel's getrandom(2) failed: check the host".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::probe::{Outcome, Target};

    #[test]
    fn failed_checks_use_the_outcome_names_of_check_and_metrics() {
        let probe = |host: &str, outcome| Probe {
            target: Target {
                check: "agent.activation_port",
                host: host.into(),
                port: 80,
                required: true,
                need: String::new(),
            },
            outcome,
            elapsed_ms: 1.0,
            detail: None,
            hint: String::new(),
        };
        let failed = vec![
            probe("agent.example", Outcome::ResolveFailed),
            probe("2001:db8::5", Outcome::Filtered),
        ];
        assert_eq!(
            summary(&failed),
            "agent.example:80 resolve_failed, [2001:db8::5]:80 filtered"
        );
    }
}
