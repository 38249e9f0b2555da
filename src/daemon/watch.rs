//! The monitoring loop: one DescribeAgent per interval (jittered), the observation fed to the
//! monitor's state machine, the alerts it raises, drift from the configuration, and the
//! STATUS= line while monitoring.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use super::lifecycle::secs;
use super::run::Ctx;
use crate::activation::Known;
use crate::aws::datasync::{AgentInfo, AwsError, ControlPlane};
use crate::config::Settings;
use crate::config::alerts::Resolved;
use crate::daemon::alerts::{self, Alerter, Bounds, Subject};
use crate::daemon::firing::{self, FIRING_IO_BOUND};
use crate::daemon::monitor::{Firing, Monitor, Thresholds};
use crate::daemon::status::{Phase, epoch_seconds};
use crate::ids::AgentArn;

/// ±10% jitter, so that a fleet started together does not poll in lock-step.
fn jittered(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = getrandom::getrandom(&mut b).map_or(0.5, |()| {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
    });
    d.mul_f64(0.9 + 0.2 * r)
}

/// The post-activation grace still ahead for an agent activated at `at`.
fn grace_left(grace: Duration, at: Option<SystemTime>) -> Duration {
    at.and_then(|at| SystemTime::now().duration_since(at).ok())
        .map_or(Duration::ZERO, |ago| grace.saturating_sub(ago))
}

pub(super) async fn monitor(ctx: &Ctx, known: Known) -> Result<()> {
    let settings = ctx.settings();
    let dir = settings.state.dir.clone();
    let arn = known.arn.to_string();
    let left_firing = on_blocking(move || firing::load(&dir, &arn))
        .await
        .unwrap_or_default();
    let mut watch = Watch::new(ctx, &settings, known, left_firing);
    let mut settings_rx = ctx.settings.clone();
    loop {
        let settings = ctx.settings();
        watch.poll(ctx, &settings).await;
        let wait = jittered(settings.monitor.interval);
        crate::support::liveness::expect_within(wait);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // A reload applies at once (e.g. a shorter interval).
            _ = settings_rx.changed() => {}
        }
    }
}

/// `f` on the blocking pool, within [`FIRING_IO_BOUND`]; None if it did not finish.
async fn on_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    crate::support::liveness::step(FIRING_IO_BOUND, tokio::task::spawn_blocking(f))
        .await
        .and_then(Result::ok)
}

/// What the monitoring loop keeps between polls.
struct Watch {
    arn: AgentArn,
    api: ControlPlane,
    machine: Monitor,
    who: Subject,
    /// The destinations the alerter was started with, to restart it when a reload changes
    /// them (or the content of their secret files).
    destinations: Arc<Vec<Resolved>>,
    alerter: Alerter,
    /// What `<state.dir>/alerts.json` says fires (written when the monitor's view changes).
    recorded: Firing,
}

impl Watch {
    fn new(ctx: &Ctx, settings: &Settings, known: Known, left: Firing) -> Watch {
        let Known { arn, activated_at } = known;
        let grace = grace_left(settings.monitor.activation_grace, activated_at);
        if !grace.is_zero() {
            log::info!(
                "{arn} was activated moments ago: \"does not exist\" and OFFLINE are expected for {} more",
                secs(grace)
            );
        }
        if left != Firing::default() {
            log::info!(
                "still firing from before the restart, resolved when it ends: {}",
                firing::describe(&left)
            );
        }
        ctx.status.update(|s| s.agent_arn = Some(arn.to_string()));
        let destinations = ctx.destinations.borrow().clone();
        Watch {
            api: monitoring_api(ctx, settings, &arn),
            machine: Monitor::default()
                .settling_until(Instant::now() + grace)
                .resuming(left.clone(), Instant::now()),
            recorded: left,
            who: Subject {
                agent_arn: arn.to_string(),
                agent_name: settings.agent.name.to_string(),
                region: settings.endpoint.region.to_string(),
            },
            alerter: Alerter::spawn(
                &destinations,
                &ctx.alert_client,
                ctx.status.clone(),
                Bounds::default(),
            ),
            destinations,
            arn,
        }
    }

    /// One DescribeAgent, its observation, the alerts it raises and the STATUS= line.
    async fn poll(&mut self, ctx: &Ctx, settings: &Settings) {
        let destinations = ctx.destinations.borrow().clone();
        if destinations != self.destinations {
            log::info!("alerts now go to {}", alerts::describe(&destinations));
            self.alerter.update(&destinations);
            self.destinations = destinations;
        }
        // The call promises its own bound (crate::support::liveness).
        let result = self.api.describe_agent(&self.arn).await;
        let (now, wall) = (Instant::now(), SystemTime::now());
        let settling = self.machine.settling(now);
        match &result {
            Ok(info) => {
                if let Some(name) = &info.name {
                    self.who.agent_name.clone_from(name);
                }
                observe_info(ctx, settings, info, wall);
            }
            // Expected while DataSync catches up with our own CreateAgent: not an error.
            Err(AwsError::NotFound { .. }) if settling => {}
            Err(e) => ctx
                .status
                .diagnose(e.kind(), e.to_string(), Some(e.hint()), true),
        }
        let t = Thresholds {
            offline_after: settings.monitor.offline_after,
            realert_every: settings.monitor.realert_every,
        };
        let events = self.machine.observe(result.as_ref(), t, now, wall);
        let since = self.machine.offline_since();
        let snap = ctx.status.update(|s| {
            s.offline = since.is_some();
            s.offline_since = since.map(|t| humantime::format_rfc3339_seconds(t).to_string());
            s.clone()
        });
        let observed = snap
            .agent_status
            .clone()
            .unwrap_or_else(|| "UNKNOWN".into());
        for e in &events {
            self.alerter.emit(alerts::alert(e, &self.who, &observed));
        }
        self.record_firing(settings).await;
        ctx.phase(
            Phase::Monitoring,
            monitoring_text(&self.arn, &snap, &result, settling),
        );
    }
}

impl Watch {
    /// Keeps `alerts.json` in step with what fires, after the alerts are queued (a crash in
    /// between pages once more rather than resolve what was never paged).
    async fn record_firing(&mut self, settings: &Settings) {
        let now = self.machine.firing();
        if now == self.recorded {
            return;
        }
        let (dir, arn, f) = (
            settings.state.dir.clone(),
            self.arn.to_string(),
            now.clone(),
        );
        match on_blocking(move || firing::save(&dir, &arn, &f)).await {
            Some(Ok(())) => self.recorded = now,
            Some(Err(e)) => log::warn!("{e}: a restart may not resolve what fires now"),
            None => log::warn!(
                "writing the firing alerts took over {FIRING_IO_BOUND:?}: a restart may not resolve what fires now"
            ),
        }
    }
}

/// The agent lives in its ARN's Region: an agent adopted in the Region an interrupted run
/// recorded stays there even if endpoint.region changed since.
fn monitoring_api(ctx: &Ctx, settings: &Settings, arn: &AgentArn) -> ControlPlane {
    match crate::ids::arn_region(arn.as_str()) {
        Some(r) if r != settings.endpoint.region.as_str() => {
            log::warn!(
                "{arn} is in {r}, not endpoint.region {}: monitoring it there",
                settings.endpoint.region
            );
            ctx.api.for_region(r)
        }
        _ => ctx.api.clone(),
    }
}

fn observe_info(ctx: &Ctx, settings: &Settings, info: &AgentInfo, wall: SystemTime) {
    let drift = drift(settings, info);
    let previous = ctx.status.update(|s| {
        s.agent_status = Some(info.status.clone());
        s.last_poll_timestamp = Some(epoch_seconds(wall));
        s.last_connection_time = info
            .last_connection_time
            .map(|t| humantime::format_rfc3339_seconds(t).to_string());
        s.last_connection_timestamp = info.last_connection_time.map(epoch_seconds);
        if let Some(name) = &info.name {
            s.agent_name.clone_from(name);
        }
        s.endpoint_type.clone_from(&info.endpoint_type);
        s.last_diagnosis = None;
        std::mem::replace(&mut s.drift, drift.clone())
    });
    if previous != drift {
        for d in &drift {
            log::warn!("the agent no longer matches the configuration: {d}");
        }
    }
}

/// Ways DescribeAgent contradicts the configuration (checked only for keys that are set).
fn drift(settings: &Settings, info: &AgentInfo) -> Vec<String> {
    let mut out = Vec::new();
    let e = &settings.endpoint;
    if settings.agent.arn.is_none()
        && info
            .endpoint_type
            .as_deref()
            .is_some_and(|t| t != "PRIVATE_LINK")
    {
        out.push(format!(
            "endpoint type is {}, not PRIVATE_LINK",
            info.endpoint_type.as_deref().unwrap_or_default()
        ));
    }
    let mut differs = |what: &str, want: Option<&str>, got: Option<&str>| {
        if let (Some(w), Some(g)) = (want, got)
            && w != g
        {
            out.push(format!("{what} is {g}, configuration says {w}"));
        }
    };
    differs(
        "VPC endpoint",
        e.vpc_endpoint_id.as_ref().map(|v| v.as_str()),
        info.vpc_endpoint_id.as_deref(),
    );
    let ip = e.ip.map(|ip| ip.to_string());
    differs(
        "endpoint IP",
        ip.as_deref(),
        info.private_link_endpoint.as_deref(),
    );
    differs(
        "subnet",
        e.subnet_arn.as_ref().map(|v| v.as_str()),
        info.subnet_arns.first().map(String::as_str),
    );
    differs(
        "security group",
        e.security_group_arn.as_ref().map(|v| v.as_str()),
        info.security_group_arns.first().map(String::as_str),
    );
    out
}

fn monitoring_text(
    arn: &AgentArn,
    s: &crate::daemon::status::Snapshot,
    r: &Result<AgentInfo, AwsError>,
    settling: bool,
) -> String {
    let id = arn.as_str().rsplit('/').next().unwrap_or(arn.as_str());
    match r {
        Err(AwsError::NotFound { .. }) if settling => {
            format!("monitoring {id}: just activated, not visible in DataSync yet")
        }
        Ok(info) if settling && info.status == "OFFLINE" => format!(
            "monitoring {id}: OFFLINE, expected right after activation (AWS updates the agent)"
        ),
        Err(e) => format!("monitoring {id}: DescribeAgent failed [{}]: {e}", e.kind()),
        Ok(_) if s.offline => format!(
            "monitoring {id}: OFFLINE since {}",
            s.offline_since.as_deref().unwrap_or("?")
        ),
        Ok(info) => format!("monitoring {id}: {}", info.status),
    }
}
