//! `datasync-warden run`: one long-lived process that activates once, then monitors.
//!
//! Phases: configuration → preflight → fetching key → activating → monitoring (straight to
//! monitoring when the state file or `agent.arn` names the agent). A failed phase is retried
//! with backoff and its diagnosis kept for `/status` and `systemctl status`; only invalid
//! configuration ends the process. The main loop owns the watchdog: it pings only while the
//! lifecycle keeps its progress promises (see [`Status::alive`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::lifecycle::lifecycle;

use crate::activation::state::{self, StateStore};
use crate::aws;
use crate::aws::datasync::ControlPlane;
use crate::aws::ec2::Ec2;
use crate::config::alerts::Resolved;
use crate::config::{self, ConfigError, Settings};
use crate::daemon::alerts::{self, AlertClient, ProxyEnv};
use crate::daemon::health;
use crate::daemon::status::{Phase, Status};
use crate::daemon::systemd::Notifier;

/// Watchdog check period when systemd set no `WatchdogSec=` (the loop still tracks liveness
/// for `/healthz`).
const LIVENESS_TICK: Duration = Duration::from_secs(10);
/// Health-server drain time on shutdown: the whole stop must fit in a second.
const DRAIN: Duration = Duration::from_millis(300);

/// Everything the lifecycle needs, injected.
pub(super) struct Ctx {
    pub(super) settings: watch::Receiver<Settings>,
    pub(super) status: Arc<Status>,
    pub(super) notifier: Notifier,
    pub(super) store: StateStore,
    /// The alert destinations with their secrets read: replaced by every good reload.
    pub(super) destinations: watch::Receiver<Arc<Vec<Resolved>>>,
    pub(super) alert_client: AlertClient,
    pub(super) api: ControlPlane,
    pub(super) ec2: Ec2,
}

impl Ctx {
    pub(super) fn settings(&self) -> Settings {
        self.settings.borrow().clone()
    }

    /// Sets the phase and the STATUS= line (see [`announce`]).
    pub(super) fn phase(&self, phase: Phase, text: String) {
        announce(&self.status, &self.notifier, Some(phase), text);
    }
}

/// The one place the STATUS= line changes: sets the phase (when given) and the text, and logs
/// and notifies systemd only when the text changed, so a retry loop repeating itself does not
/// flood the journal.
pub(super) fn announce(status: &Status, notifier: &Notifier, phase: Option<Phase>, text: String) {
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

/// What the daemon takes from its process environment, read once by the application edge.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`): where bare `*_file` names are.
    pub credentials_dir: Option<PathBuf>,
    /// Proxies for alert deliveries (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`…).
    pub(crate) proxy: ProxyEnv,
}

impl Environment {
    /// This process's environment.
    pub fn from_process() -> Environment {
        Environment {
            credentials_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            proxy: ProxyEnv::from_env(),
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT (Ok) or invalid configuration (Err).
pub async fn run(source: config::Source, settings: Settings, env: Environment) -> Result<()> {
    if let Some(i) = &settings.instance {
        log::info!("instance {i}: configuration {}", settings.files);
    }
    let destinations = destinations(&settings, &env)?;
    let status = Arc::new(Status::new(settings.endpoint.region.as_str()));
    // Until DescribeAgent gives the name DataSync has.
    status.update(|s| s.agent_name = settings.agent.name.to_string());
    alerts::register(&status, &destinations);
    let notifier = Notifier::from_env().for_instance(settings.instance.as_ref());
    let listener = bind(settings.health.listen).await?;
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
    let (destinations_tx, destinations_rx) = watch::channel(Arc::new(destinations));
    let reloads = Reloads {
        source,
        settings: settings_tx,
        destinations: destinations_tx,
        credentials_dir: env.credentials_dir,
    };
    let ctx = Ctx {
        destinations: destinations_rx,
        alert_client: AlertClient::new(&env.proxy),
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
            _ = hup.recv() => reloads.reload(&notifier, &status),
            _ = tick.tick() => watchdog(&notifier, &status),
            r = &mut work => break r,
        }
    };
    // Dropping `work` below cancels any in-flight call; state writes are atomic renames done
    // on blocking threads that finish on their own, so the state file stays consistent.
    notifier.stopping();
    undelivered(&status);
    ctx.phase(Phase::Stopping, "stopping".into());
    cancel.cancel();
    let _ = tokio::time::timeout(DRAIN, server).await;
    result
}

/// The alert destinations with their secrets read. A missing or malformed secret file is a
/// configuration error: the start fails before READY=1.
fn destinations(settings: &Settings, env: &Environment) -> Result<Vec<Resolved>, ConfigError> {
    let destinations = alerts::resolve(&settings.alerts, env.credentials_dir.as_deref())?;
    log::info!("alerts go to {}", alerts::describe(&destinations));
    if env.proxy != ProxyEnv::default() {
        log::info!("alert proxies: {}", env.proxy.describe());
    }
    Ok(destinations)
}

async fn bind(listen: std::net::SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("failed to bind the health endpoint on {listen} (health.listen)")
    })?;
    log::info!("health endpoint on http://{}", listener.local_addr()?);
    Ok(listener)
}

/// Stopping drops the alerts still queued or in flight (a stop must take a second, not a
/// destination's 30 s): say so, per destination.
fn undelivered(status: &Status) {
    for (name, d) in status.snapshot().deliveries {
        if d.queued > 0 {
            log::warn!(
                "stopping: {} alert(s) for destination {name} not delivered",
                d.queued
            );
        }
    }
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

/// What a SIGHUP re-reads, and where the results go.
struct Reloads {
    /// The same file and instance as at start: an instance keeps its own defaults on reload.
    source: config::Source,
    settings: watch::Sender<Settings>,
    destinations: watch::Sender<Arc<Vec<Resolved>>>,
    credentials_dir: Option<PathBuf>,
}

impl Reloads {
    /// The configuration and the secret files it names, both or neither.
    fn load(&self) -> Result<(Settings, Vec<Resolved>), ConfigError> {
        let new = self.source.load()?;
        let destinations = alerts::resolve(&new.alerts, self.credentials_dir.as_deref())?;
        Ok((new, destinations))
    }

    fn reload(&self, notifier: &Notifier, status: &Status) {
        notifier.reloading();
        reload(self.load(), self, status);
        notifier.ready();
    }
}

fn reload(loaded: Result<(Settings, Vec<Resolved>), ConfigError>, to: &Reloads, status: &Status) {
    match loaded {
        Ok((new, destinations)) => {
            let activated = status.snapshot().agent_arn.is_some();
            let caveats = reload_caveats(&to.settings.borrow(), &new, activated);
            if caveats.is_empty() {
                log::info!("configuration reloaded");
            } else {
                log::warn!("configuration reloaded; {}", caveats.join("; "));
            }
            to.settings.send_replace(new);
            alerts::register(status, &destinations);
            to.destinations.send_if_modified(|d| {
                let changed = **d != destinations;
                if changed {
                    *d = Arc::new(destinations);
                }
                changed
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
