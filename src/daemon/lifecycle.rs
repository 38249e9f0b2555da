//! The daemon's lifecycle: activate until done (each failed attempt diagnosed and retried
//! with backoff), then monitor. Activation's progress becomes the daemon's phases, STATUS=
//! lines and check gauges here.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use backoff::backoff::Backoff;

use super::run::{Ctx, announce};
use super::watch::monitor;
use crate::activation::{Activation, ActivationError, Activator, Known, Progress};
use crate::daemon::status::Phase;

/// First wait after a failed phase: long enough not to hammer a booting agent or AWS.
const PHASE_RETRY_INITIAL: Duration = Duration::from_secs(5);
/// Longest wait between phase retries: a fixed problem is picked up within 5 minutes.
const PHASE_RETRY_MAX: Duration = Duration::from_secs(5 * 60);
/// Activates (if needed), then monitors forever. Returns only on invalid configuration.
pub(super) async fn lifecycle(ctx: &Ctx) -> Result<()> {
    let known = activate_until_done(ctx).await?;
    monitor(ctx, known).await
}

async fn activate_until_done(ctx: &Ctx) -> Result<Known> {
    let mut retry = crate::support::retry::exponential(PHASE_RETRY_INITIAL, PHASE_RETRY_MAX, None);
    loop {
        let settings = ctx.settings();
        let activator = Activator::new(
            settings,
            ctx.store.clone(),
            ctx.api.clone(),
            ctx.ec2.clone(),
        )
        .with_progress(progress_reporter(ctx));
        // Each step of an attempt promises its own bound (see crate::support::liveness).
        let attempt = async {
            if let Some(known) = activator.known_agent().await? {
                return Ok(known);
            }
            activator.activate(None).await.map(|a| Known {
                arn: a.arn().clone(),
                activated_at: match a {
                    // Another command may have activated it moments ago (it held the lock).
                    Activation::AlreadyActivated { activated_at, .. } => activated_at,
                    Activation::Adopted { .. } | Activation::Created { .. } => {
                        Some(SystemTime::now())
                    }
                },
            })
        };
        match attempt.await {
            Ok(known) => {
                ctx.status.update(|s| {
                    s.agent_arn = Some(known.arn.to_string());
                    s.last_diagnosis = None;
                });
                return Ok(known);
            }
            Err(ActivationError::Config(e)) => return Err(e.into()),
            Err(e) => {
                let wait = retry.next_backoff().unwrap_or(PHASE_RETRY_MAX);
                ctx.status.diagnose(
                    e.kind(),
                    e.to_string(),
                    Some(e.hint()),
                    matches!(e, ActivationError::Aws(_)),
                );
                let phase = ctx.status.snapshot().phase;
                ctx.phase(
                    phase,
                    format!("{}: {}; retry in {}", e.headline(), e.short(), secs(wait)),
                );
                log::warn!("{e}");
                log::warn!("hint: {}", e.hint());
                crate::support::liveness::sleep(wait).await;
            }
        }
    }
}

pub(super) fn secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs().max(1))).to_string()
}

fn progress_reporter(ctx: &Ctx) -> crate::activation::ProgressFn {
    let (status, notifier) = (ctx.status.clone(), ctx.notifier.clone());
    let s = ctx.settings();
    let agent = crate::agent::probe::host_port(
        s.agent.address.as_deref().unwrap_or("?"),
        s.agent.activation_port,
    );
    Arc::new(move |p: Progress<'_>| {
        let (phase, text) = match p {
            Progress::Stage(stage, text) => (Some(Phase::from(stage)), text),
            Progress::Checks(checks) => {
                // One gauge per check name: a group of ports passes only if every port did.
                let mut fresh = std::collections::BTreeMap::new();
                for c in checks {
                    *fresh.entry(c.check.clone()).or_insert(true) &= !c.failed();
                }
                status.update(|s| {
                    for (name, ok) in &fresh {
                        if !ok {
                            *s.check_failures_total.entry(name.clone()).or_default() += 1;
                        }
                    }
                    s.checks.extend(fresh);
                });
                return;
            }
            Progress::KeyRetry(e, wait) => {
                status.diagnose(e.kind(), e.to_string(), Some(e.hint()), false);
                let text = format!(
                    "waiting for agent {agent}: {}, retry in {}",
                    e.short(),
                    secs(wait)
                );
                (None, text)
            }
        };
        announce(&status, &notifier, phase, text);
    })
}
