//! The preflight stage of an activation: the AWS-side checks (reported, never blocking) or
//! plain discovery, then the port checks, waited for until the required ports answer.

use std::time::{Duration, Instant};

use backoff::backoff::Backoff;

use super::ActivationError;
use super::activate::{Activator, Progress, STEP_SLACK, Stage};
use crate::agent::probe::{self, Probe};
use crate::config::ActivationTarget;
use crate::preflight::aws_checks;
use crate::preflight::check::Check;
use crate::preflight::discovery::{self, Discovery};
use crate::support::liveness;

/// First wait for a port that is not open yet: the agent may still be booting.
const PORT_RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait between port checks: a rule just added is noticed within 30 s.
const PORT_RETRY_MAX: Duration = Duration::from_secs(30);

impl Activator {
    /// The AWS-side checks (reported, never blocking) and endpoint discovery, then — unless
    /// the key was supplied — the port checks, whose required failures stop activation.
    pub(super) async fn preflight(
        &self,
        interrupted: bool,
        probe_ports: bool,
    ) -> Result<ActivationTarget, ActivationError> {
        let settings = &self.settings;
        let discovered = self.discover().await?;
        let target = settings.activation_target(discovered.as_ref().map(Discovery::discovered))?;
        if !probe_ports {
            return Ok(target);
        }
        let targets = crate::preflight::targets::targets(settings, false, Some(target.endpoint_ip));
        self.wait_for_ports(targets, interrupted).await?;
        Ok(target)
    }

    /// The AWS-side checks or plain discovery, as configured. A discovery that cannot
    /// complete yet (endpoint not visible, pending, no interface) is
    /// [`ActivationError::DiscoveryPending`]: retryable, never a configuration error.
    pub(super) async fn discover(&self) -> Result<Option<Discovery>, ActivationError> {
        let settings = &self.settings;
        let wanted = settings.needs_discovery() && settings.endpoint.vpc_endpoint_id.is_some();
        let (checks, discovery) = if settings.checks.aws {
            (self.progress)(Progress::Stage(
                Stage::Preflight,
                "checking the endpoint, subnet, security group and permissions in AWS".into(),
            ));
            let (checks, _, discovery) = aws_checks::run(&self.ec2, &self.api, settings).await;
            (checks, discovery)
        } else if wanted {
            (self.progress)(Progress::Stage(
                Stage::Preflight,
                "discovering the endpoint's address, subnet and security group".into(),
            ));
            (Vec::new(), discovery::discover(&self.ec2, settings).await)
        } else {
            (Vec::new(), Ok(None))
        };
        for c in checks.iter().filter(|c| c.failed()) {
            log::warn!("check {} failed: {}; fix: {}", c.check, c.detail, c.hint);
        }
        (self.progress)(Progress::Checks(&checks));
        if !wanted {
            return Ok(discovery.ok().flatten());
        }
        let discovery = discovery?;
        if let Some(what) = discovery::gap(settings, discovery.as_ref()) {
            return Err(ActivationError::DiscoveryPending { what });
        }
        Ok(discovery)
    }

    /// Probes until every required port answers, within `activation.deadline` (a port that
    /// is not open yet — agent booting, rule being added — is waited for).
    pub(super) async fn wait_for_ports(
        &self,
        targets: Vec<probe::Target>,
        interrupted: bool,
    ) -> Result<(), ActivationError> {
        let what: Vec<String> = targets
            .iter()
            .take(2)
            .map(|t| probe::host_port(&t.host, t.port))
            .collect();
        let more = if targets.len() > 2 { ", …" } else { "" };
        (self.progress)(Progress::Stage(
            Stage::Preflight,
            format!("checking ports {}{more}", what.join(", ")),
        ));
        let deadline = Instant::now() + self.settings.activation.deadline;
        let mut retry =
            crate::support::retry::exponential(PORT_RETRY_INITIAL, PORT_RETRY_MAX, None);
        let timeout = self.settings.checks.timeout;
        loop {
            let probes = liveness::step(
                timeout + STEP_SLACK,
                probe::probe_all(targets.clone(), timeout),
            )
            .await
            .ok_or(ActivationError::Stalled {
                step: "probing the ports",
                after: timeout + STEP_SLACK,
            })?;
            (self.progress)(Progress::Checks(
                &probes.iter().map(Check::from_probe).collect::<Vec<_>>(),
            ));
            let failed: Vec<Probe> = probes.into_iter().filter(Probe::failed_required).collect();
            let Some(first) = failed.first() else {
                return Ok(());
            };
            let wait = retry.next_backoff().unwrap_or(PORT_RETRY_MAX);
            if Instant::now() + wait >= deadline {
                return Err(ActivationError::Checks {
                    failed,
                    interrupted,
                });
            }
            let text = format!(
                "waiting for {} ({}): {}, retry in {}",
                probe::host_port(&first.target.host, first.target.port),
                first.target.check,
                first.outcome.as_str(),
                humantime::format_duration(Duration::from_secs(wait.as_secs().max(1)))
            );
            log::warn!("{text}; {}", first.hint);
            (self.progress)(Progress::Stage(Stage::Preflight, text));
            liveness::sleep(wait).await;
        }
    }
}
