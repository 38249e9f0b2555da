//! The daemon's in-memory view of itself, shared by the main loop (writer) and the health
//! endpoint (reader). Scrapes read a snapshot; they never cause an AWS call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::activation::Stage;
use std::time::SystemTime;

use crate::support::liveness::Promise;

use serde::Serialize;

/// What the daemon is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading and validating configuration.
    #[default]
    Configuration,
    /// Checking ports before activation.
    Preflight,
    /// Asking the agent for an activation key.
    FetchingKey,
    /// Calling CreateAgent and recording the result.
    Activating,
    /// Polling DescribeAgent.
    Monitoring,
    /// Shutting down.
    Stopping,
}

impl From<Stage> for Phase {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Preflight => Phase::Preflight,
            Stage::FetchingKey => Phase::FetchingKey,
            Stage::Activating => Phase::Activating,
        }
    }
}

impl Phase {
    /// Every phase, for metrics that list them all.
    pub const ALL: [Phase; 6] = [
        Phase::Configuration,
        Phase::Preflight,
        Phase::FetchingKey,
        Phase::Activating,
        Phase::Monitoring,
        Phase::Stopping,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Configuration => "configuration",
            Phase::Preflight => "preflight",
            Phase::FetchingKey => "fetching_key",
            Phase::Activating => "activating",
            Phase::Monitoring => "monitoring",
            Phase::Stopping => "stopping",
        }
    }
}

/// The last failure, as the operator sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diagnosis {
    /// Stable kind (metric label).
    pub kind: String,
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// One alert destination's deliveries.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Deliveries {
    /// Its format (`slack`, `pagerduty`…).
    pub format: &'static str,
    /// Alerts it accepted.
    pub delivered: u64,
    /// Alerts it did not accept after retries (or refused for good, e.g. HTTP 400).
    pub failed: u64,
    /// Alerts dropped because its queue was full.
    pub dropped: u64,
    /// Alerts waiting in its queue or being delivered.
    pub queued: u64,
}

/// Everything the health endpoint serves.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub phase: Phase,
    /// The last STATUS= line sent to systemd.
    pub status_text: String,
    /// The agent, once known.
    pub agent_arn: Option<String>,
    /// The agent's name: `agent.name` until DescribeAgent gives the name DataSync has.
    pub agent_name: String,
    /// The agent's endpoint type as DescribeAgent reports it (`PRIVATE_LINK`…), once known.
    pub endpoint_type: Option<String>,
    /// Region of the agent.
    pub region: String,
    /// Last status DescribeAgent reported (ONLINE / OFFLINE).
    pub agent_status: Option<String>,
    /// Declared OFFLINE (after `monitor.offline_after` observations).
    pub offline: bool,
    /// Since when it is OFFLINE (RFC 3339).
    pub offline_since: Option<String>,
    /// The agent's LastConnectionTime (RFC 3339).
    pub last_connection_time: Option<String>,
    /// The same, seconds since the epoch (for `/metrics`).
    #[serde(skip)]
    pub last_connection_timestamp: Option<f64>,
    /// Last successful DescribeAgent, seconds since the epoch.
    pub last_poll_timestamp: Option<f64>,
    /// The last failure, if the last attempt failed.
    pub last_diagnosis: Option<Diagnosis>,
    /// The last failed SIGHUP reload, until a reload succeeds (the old configuration runs).
    pub reload_error: Option<Diagnosis>,
    /// Ways the agent no longer matches the configuration.
    pub drift: Vec<String>,
    /// Result of each named check (true = passed).
    pub checks: BTreeMap<String, bool>,
    /// Failed runs of each named check.
    #[serde(skip)]
    pub check_failures_total: BTreeMap<String, u64>,
    /// Alerts raised, by event.
    pub alerts_total: BTreeMap<String, u64>,
    /// AWS errors, by kind.
    pub aws_errors_total: BTreeMap<String, u64>,
    /// Alert deliveries given up after retries or dropped from a full queue, all destinations.
    pub webhook_failures_total: u64,
    /// Alert deliveries of each configured destination, by its name.
    pub deliveries: BTreeMap<String, Deliveries>,
    /// Process start, seconds since the epoch.
    pub start_time: f64,
    pub version: &'static str,
    /// The commit the binary was built from (`build.rs`), `unknown` outside a git checkout.
    pub revision: &'static str,
}

/// Seconds since the epoch.
pub(crate) fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Shared, lock-protected status. Locks are held only to copy or mutate fields.
#[derive(Debug)]
pub struct Status {
    inner: Mutex<Snapshot>,
    /// The main loop's progress promise; see [`Status::alive`].
    progress: Arc<Promise>,
}

impl Status {
    /// A fresh status for an agent in `region`.
    pub fn new(region: &str) -> Self {
        Self {
            inner: Mutex::new(Snapshot {
                phase: Phase::Configuration,
                status_text: "starting".into(),
                agent_arn: None,
                agent_name: String::new(),
                endpoint_type: None,
                region: region.to_string(),
                agent_status: None,
                offline: false,
                offline_since: None,
                last_connection_time: None,
                last_connection_timestamp: None,
                last_poll_timestamp: None,
                last_diagnosis: None,
                reload_error: None,
                drift: Vec::new(),
                checks: BTreeMap::new(),
                check_failures_total: BTreeMap::new(),
                alerts_total: BTreeMap::new(),
                aws_errors_total: BTreeMap::new(),
                webhook_failures_total: 0,
                deliveries: BTreeMap::new(),
                start_time: epoch_seconds(SystemTime::now()),
                version: env!("CARGO_PKG_VERSION"),
                revision: env!("DATASYNC_WARDEN_REVISION"),
            }),
            progress: Promise::new(),
        }
    }

    pub fn update<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A copy of the status.
    pub fn snapshot(&self) -> Snapshot {
        self.update(|s| s.clone())
    }

    /// The main loop's promise, to scope its work with ([`Promise::scope`]).
    pub fn promise(&self) -> Arc<Promise> {
        self.progress.clone()
    }

    /// Whether the main loop kept its last promise: the basis of `/healthz` and `WATCHDOG=1`.
    pub fn alive(&self) -> bool {
        self.progress.kept()
    }

    /// Records a failure and counts AWS error kinds.
    pub fn diagnose(&self, kind: &str, message: String, hint: Option<String>, aws: bool) {
        self.update(|s| {
            if aws {
                *s.aws_errors_total.entry(kind.to_string()).or_default() += 1;
            }
            s.last_diagnosis = Some(Diagnosis {
                kind: kind.to_string(),
                message,
                hint,
                at: crate::activation::state::now_rfc3339(),
            });
        });
    }
}
