//! `datasync-warden run`: one long-lived process that activates once, then monitors.
//!
//! Phases: configuration → preflight → fetching key → activating → monitoring (straight to
//! monitoring when the state file or `agent.arn` names the agent). A failed phase is retried
//! with backoff and its diagnosis kept for `/status` and `systemctl status`; only invalid
//! configuration ends the process. The main loop owns the watchdog: it pings only while the
//! lifecycle keeps its progress promises (see [`Status::alive`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use backoff::backoff::Backoff;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::activation::state::{self, StateStore};
use crate::activation::{Activation, ActivationError, Activator, Known, Progress};
use crate::aws;
use crate::aws::datasync::{AgentInfo, AwsError, ControlPlane};
use crate::aws::ec2::Ec2;
use crate::config::{self, Settings};
use crate::daemon::alerts::{self, Alerter, Subject};
use crate::daemon::health;
use crate::daemon::monitor::{Monitor, Thresholds};
use crate::daemon::status::{Phase, Status, epoch_seconds};
use crate::daemon::systemd::Notifier;
use crate::ids::AgentArn;

/// First wait after a failed phase: long enough not to hammer a booting agent or AWS.
const PHASE_RETRY_INITIAL: Duration = Duration::from_secs(5);
/// Longest wait between phase retries: a fixed problem is picked up within 5 minutes.
const PHASE_RETRY_MAX: Duration = Duration::from_secs(5 * 60);
/// Watchdog check period when systemd set no `WatchdogSec=` (the loop still tracks liveness
/// for `/healthz`).
const LIVENESS_TICK: Duration = Duration::from_secs(10);
/// Health-server drain time on shutdown: the whole stop must fit in a second.
const DRAIN: Duration = Duration::from_millis(300);

/// Everything the lifecycle needs, injected.
struct Ctx {
    settings: watch::Receiver<Settings>,
    status: Arc<Status>,
    notifier: Notifier,
    store: StateStore,
    api: ControlPlane,
    ec2: Ec2,
}

impl Ctx {
    fn settings(&self) -> Settings {
        self.settings.borrow().clone()
    }

    /// Sets the phase and the STATUS= line (see [`announce`]).
    fn phase(&self, phase: Phase, text: String) {
        announce(&self.status, &self.notifier, Some(phase), text);
    }
}

/// The one place the STATUS= line changes: sets the phase (when given) and the text, and logs
/// and notifies systemd only when the text changed, so a retry loop repeating itself does not
/// flood the journal.
fn announce(status: &Status, notifier: &Notifier, phase: Option<Phase>, text: String) {
    let changed = status.update(|s| {
        if let Some(phase) = phase {
            s.phase = phase;
        }
        (s.status_text != text).then(|| s.status_text.clone_from(&text))
    });
    if changed.is_some() {
        log::info!("{text}");
        notifier.status(&text);
    }
}

/// Runs the daemon until SIGTERM/SIGINT (Ok) or invalid configuration (Err).
pub async fn run(config_path: PathBuf, settings: Settings) -> Result<()> {
    let status = Arc::new(Status::new(settings.endpoint.region.as_str()));
    let notifier = Notifier::from_env();
    let listener = TcpListener::bind(settings.health.listen)
        .await
        .with_context(|| {
            format!(
                "failed to bind the health endpoint on {} (health.listen)",
                settings.health.listen
            )
        })?;
    log::info!("health endpoint on http://{}", listener.local_addr()?);
    let cancel = CancellationToken::new();
    let server = tokio::spawn(health::serve(listener, status.clone(), cancel.clone()));
    let store = StateStore::new(&settings.state.dir, state::machine_id()?);
    let sdk = aws::sdk_config(&settings.endpoint.region, &settings.aws).await;
    // Before READY=1: once systemd considers the unit started it may send SIGHUP (reload) or
    // SIGTERM at any moment, and the default action of either would kill the process.
    let mut term =
        signal(SignalKind::terminate()).context("failed to install the SIGTERM handler")?;
    let mut int =
        signal(SignalKind::interrupt()).context("failed to install the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("failed to install the SIGHUP handler")?;
    // Configuration is valid and the endpoint is bound: activation may take minutes, so
    // systemd is told now rather than left to time out.
    notifier.ready();
    let (settings_tx, settings_rx) = watch::channel(settings);
    let ctx = Ctx {
        settings: settings_rx,
        status: status.clone(),
        notifier: notifier.clone(),
        store,
        api: ControlPlane::new(&sdk),
        ec2: Ec2::new(&sdk),
    };

    let mut tick = tokio::time::interval(notifier.watchdog_period().unwrap_or(LIVENESS_TICK));
    let promise = status.promise();
    let work = promise.scope(lifecycle(&ctx));
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            _ = term.recv() => break Ok(()),
            _ = int.recv() => break Ok(()),
            _ = hup.recv() => reload(&config_path, &settings_tx, &notifier, &status),
            _ = tick.tick() => watchdog(&notifier, &status),
            r = &mut work => break r,
        }
    };
    // Dropping `work` below cancels any in-flight call; state writes are atomic renames done
    // on blocking threads that finish on their own, so the state file stays consistent.
    notifier.stopping();
    ctx.phase(Phase::Stopping, "stopping".into());
    cancel.cancel();
    let _ = tokio::time::timeout(DRAIN, server).await;
    result
}

fn watchdog(notifier: &Notifier, status: &Status) {
    if status.alive() {
        if notifier.watchdog_period().is_some() {
            notifier.watchdog();
        }
    } else {
        log::error!("the main loop made no progress when it promised to: withholding WATCHDOG=1");
    }
}

fn reload(path: &Path, tx: &watch::Sender<Settings>, notifier: &Notifier, status: &Status) {
    notifier.reloading();
    match config::load(path) {
        Ok(new) => {
            let activated = status.snapshot().agent_arn.is_some();
            let caveats = reload_caveats(&tx.borrow(), &new, activated);
            if caveats.is_empty() {
                log::info!("configuration reloaded");
            } else {
                log::warn!("configuration reloaded; {}", caveats.join("; "));
            }
            tx.send_replace(new);
            status.update(|s| s.reload_error = None);
        }
        Err(e) => {
            log::error!("configuration reload failed, keeping the running configuration: {e}");
            // Its own field: the next poll's diagnosis must not hide it until a good reload.
            status.update(|s| {
                s.reload_error = Some(crate::daemon::status::Diagnosis {
                    kind: e.kind().to_string(),
                    message: format!("reload failed, the previous configuration still runs: {e}"),
                    hint: Some("fix the file and send SIGHUP again".into()),
                    at: crate::activation::state::now_rfc3339(),
                })
            });
        }
    }
    notifier.ready();
}

/// What a reload does not apply at once, in words for the log (empty: everything applies).
/// `[monitor]`, `[alerts]` and `[checks]` always apply at once. Until the agent is activated,
/// `[agent]`, `[endpoint]` and `[activation]` apply from the next attempt (each attempt reads the
/// current settings); once it is, they no longer matter: the state file names the agent.
/// `[aws]` (the SDK client), `[health]` (the bound socket) and `[state]` need a restart.
fn reload_caveats(old: &Settings, new: &Settings, activated: bool) -> Vec<String> {
    let names = |sections: &[(&str, bool)]| -> String {
        let changed: Vec<String> = sections
            .iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| format!("[{name}]"))
            .collect();
        changed.join(", ")
    };
    let mut caveats = Vec::new();
    let restart = names(&[
        ("aws", old.aws != new.aws),
        ("health", old.health != new.health),
        ("state", old.state != new.state),
    ]);
    if !restart.is_empty() {
        caveats.push(format!(
            "changes to {restart} take effect at the next restart"
        ));
    }
    let activation = names(&[
        ("agent", old.agent != new.agent),
        ("endpoint", old.endpoint != new.endpoint),
        ("activation", old.activation != new.activation),
    ]);
    if activated && !activation.is_empty() {
        caveats.push(format!(
            "changes to {activation} do not affect the activated agent (the state file names it)"
        ));
    }
    caveats
}

/// Activates (if needed), then monitors forever. Returns only on invalid configuration.
async fn lifecycle(ctx: &Ctx) -> Result<()> {
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

fn secs(d: Duration) -> String {
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
                status.update(|s| s.checks.extend(fresh));
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

async fn monitor(ctx: &Ctx, known: Known) -> Result<()> {
    let settings = ctx.settings();
    let mut watch = Watch::new(ctx, &settings, known);
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

/// What the monitoring loop keeps between polls.
struct Watch {
    arn: AgentArn,
    api: ControlPlane,
    machine: Monitor,
    who: Subject,
    /// The webhook the alerter was started with, to restart it when a reload changes it.
    webhook: Option<String>,
    alerter: Alerter,
}

impl Watch {
    fn new(ctx: &Ctx, settings: &Settings, known: Known) -> Watch {
        let Known { arn, activated_at } = known;
        let left = grace_left(settings.monitor.activation_grace, activated_at);
        if !left.is_zero() {
            log::info!(
                "{arn} was activated moments ago: \"does not exist\" and OFFLINE are expected for {} more",
                secs(left)
            );
        }
        ctx.status.update(|s| s.agent_arn = Some(arn.to_string()));
        Watch {
            api: monitoring_api(ctx, settings, &arn),
            machine: Monitor::default().settling_until(Instant::now() + left),
            who: Subject {
                agent_arn: arn.to_string(),
                agent_name: settings.agent.name.to_string(),
                region: settings.endpoint.region.to_string(),
            },
            webhook: settings.alerts.webhook.clone(),
            alerter: Alerter::spawn(settings.alerts.webhook.clone(), ctx.status.clone()),
            arn,
        }
    }

    /// One DescribeAgent, its observation, the alerts it raises and the STATUS= line.
    async fn poll(&mut self, ctx: &Ctx, settings: &Settings) {
        if self.webhook != settings.alerts.webhook {
            self.webhook.clone_from(&settings.alerts.webhook);
            self.alerter = Alerter::spawn(self.webhook.clone(), ctx.status.clone());
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
        ctx.phase(
            Phase::Monitoring,
            monitoring_text(&self.arn, &snap, &result, settling),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(address: &str, extra: &str) -> Settings {
        let text = format!(
            "[agent]\naddress = \"{address}\"\n[endpoint]\nregion = \"us-east-1\"\n\
             vpc_endpoint_id = \"vpce-0123456789abcdef0\"\n{extra}"
        );
        config::from_str(Path::new("test.toml"), &text).unwrap()
    }

    #[test]
    fn reload_caveats_name_what_does_not_apply_at_once() {
        let base = settings("10.0.1.25", "");
        // Monitoring, alerting and checks apply at once: no caveat.
        let live = settings(
            "10.0.1.25",
            "[monitor]\ninterval = \"2m\"\n[checks]\ntimeout = \"2s\"\n",
        );
        assert!(reload_caveats(&base, &live, true).is_empty());
        // The SDK client, the bound socket and the state directory need a restart.
        let restart = settings(
            "10.0.1.25",
            "[health]\nlisten = \"127.0.0.1:9999\"\n[state]\ndir = \"/srv/x\"\n",
        );
        assert_eq!(
            reload_caveats(&base, &restart, false),
            ["changes to [health], [state] take effect at the next restart"]
        );
        // Activation settings apply from the next attempt before activation, never after it.
        let moved = settings("10.0.1.26", "[activation]\ndeadline = \"5m\"\n");
        assert!(reload_caveats(&base, &moved, false).is_empty());
        assert_eq!(
            reload_caveats(&base, &moved, true),
            [
                "changes to [agent], [activation] do not affect the activated agent \
                 (the state file names it)"
            ]
        );
    }
}
