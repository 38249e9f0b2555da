//! Activation, end to end: state → port checks → key → CreateAgent → state → DescribeAgent.
//!
//! Never twice, never lost: before CreateAgent an `activating` record with a random token is
//! persisted, and the token travels as a tag. A run that finds such a record looks for the
//! agent carrying the token and adopts it instead of activating again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backoff::backoff::Backoff;

use crate::support::liveness;

use crate::activation::state::{self, Loaded, Record, StateStore};
use crate::agent::activation_key::{ActivationKey, KeyClient, KeyError, KeyRequest};
use crate::agent::probe::{self, Probe};
use crate::aws::datasync::{AgentInfo, AwsError, ControlPlane};
use crate::aws::ec2::Ec2;
use crate::config::{ActivationTarget, Settings, TOKEN_TAG_KEY};
use crate::ids::AgentArn;
use crate::preflight::aws_checks;
use crate::preflight::check::Check;
use crate::preflight::discovery::{self, Discovery};

use super::ActivationError;

/// How activation ended.
#[derive(Debug)]
pub(crate) enum Activation {
    /// The state file (or `agent.arn`) already named an agent; nothing was activated.
    AlreadyActivated {
        /// The agent.
        arn: AgentArn,
        /// DescribeAgent's answer, if it succeeded.
        info: Option<AgentInfo>,
        /// When the state file says this host activated it (None for `agent.arn`).
        activated_at: Option<std::time::SystemTime>,
    },
    /// An interrupted earlier run had activated the agent; it was found by its token.
    Adopted {
        /// The agent.
        arn: AgentArn,
    },
    /// This run activated the agent.
    Created {
        /// The agent.
        arn: AgentArn,
        /// DescribeAgent's answer, if it succeeded.
        info: Option<AgentInfo>,
    },
}

impl Activation {
    /// The agent's ARN.
    pub(crate) fn arn(&self) -> &AgentArn {
        match self {
            Activation::AlreadyActivated { arn, .. }
            | Activation::Adopted { arn }
            | Activation::Created { arn, .. } => arn,
        }
    }
}

/// The stages of an activation, in order. The daemon maps them to its phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Port checks, discovery and the AWS-side checks.
    Preflight,
    /// Asking the agent for its activation key.
    FetchingKey,
    /// CreateAgent and the state writes around it.
    Activating,
}

/// Progress reports, for the daemon's phase, STATUS= line and check metrics.
#[derive(Debug)]
pub(crate) enum Progress<'a> {
    /// Entering a stage; the text is for `systemctl status`.
    Stage(Stage, String),
    /// Checks finished (port probes, or the AWS-side checks).
    Checks(&'a [Check]),
    /// A key attempt failed; the next one follows after the wait.
    KeyRetry(&'a KeyError, Duration),
}

/// Receives [`Progress`] reports.
pub(crate) type ProgressFn = Arc<dyn Fn(Progress<'_>) + Send + Sync>;

/// Runs activation against injected peers.
pub(crate) struct Activator {
    settings: Settings,
    store: StateStore,
    keys: KeyClient,
    api: ControlPlane,
    ec2: Ec2,
    progress: ProgressFn,
    /// The state lock while `activate` runs; every write carries a clone to its blocking
    /// thread, so a write that outlives its bound keeps the lock until it lands.
    held: std::sync::Mutex<Option<Arc<state::StateLock>>>,
}

impl std::fmt::Debug for Activator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activator")
            .field("state", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl Activator {
    /// An activator for `settings`, persisting to `store`, calling DataSync through `api` and
    /// EC2/STS (discovery, AWS-side checks) through `ec2`.
    pub(crate) fn new(settings: Settings, store: StateStore, api: ControlPlane, ec2: Ec2) -> Self {
        let keys = KeyClient::new(settings.activation.request_timeout);
        Self {
            settings,
            store,
            keys,
            api,
            ec2,
            progress: Arc::new(|_| {}),
            held: std::sync::Mutex::new(None),
        }
    }

    /// Reports progress to `f`.
    pub(crate) fn with_progress(mut self, f: ProgressFn) -> Self {
        self.progress = f;
        self
    }

    /// The agent already known without any AWS call: `agent.arn`, or a trusted activated
    /// state (with when it was activated, for the monitor's post-activation grace).
    pub(crate) async fn known_agent(&self) -> Result<Option<Known>, ActivationError> {
        if let Some(arn) = &self.settings.agent.arn {
            return Ok(Some(Known {
                arn: arn.clone(),
                activated_at: None,
            }));
        }
        Ok(match self.load().await? {
            Loaded::Mine(file) => match file.record {
                Record::Activated {
                    agent_arn,
                    activated_at,
                    ..
                } => Some(Known {
                    arn: agent_arn,
                    activated_at: humantime::parse_rfc3339(&activated_at).ok(),
                }),
                Record::Activating { .. } => None,
            },
            Loaded::Absent | Loaded::Foreign { .. } => None,
        })
    }

    /// Activates once; idempotent across runs and crashes. With `supplied`, a key obtained
    /// elsewhere (the agent's local console) is used and the agent is not contacted.
    pub(crate) async fn activate(
        &self,
        supplied: Option<ActivationKey>,
    ) -> Result<Activation, ActivationError> {
        if let Some(arn) = &self.settings.agent.arn {
            log::info!("agent.arn is set: monitoring {arn}, activated elsewhere");
            let info = self.api.describe_agent(arn).await?;
            return Ok(Activation::AlreadyActivated {
                arn: arn.clone(),
                info: Some(info),
                activated_at: None,
            });
        }
        // One writer at a time, from the load to the final save; the state is read only once
        // the lock is held, so a record another command wrote meanwhile is seen.
        let _lock = Held::new(self, self.locked().await?);
        let (token, interrupted) = match self.load().await? {
            Loaded::Mine(file) => match file.record {
                Record::Activated {
                    agent_arn,
                    activated_at,
                    ..
                } => {
                    let at = humantime::parse_rfc3339(&activated_at).ok();
                    return self.confirm(agent_arn, at).await;
                }
                Record::Activating {
                    activation_token,
                    agent_name,
                    region,
                    ..
                } => {
                    if let Some(arn) = self.adopt(&agent_name, &region, &activation_token).await? {
                        return Ok(Activation::Adopted { arn });
                    }
                    (activation_token, true)
                }
            },
            Loaded::Foreign { theirs, ours } => {
                log::warn!(
                    "state file {} was written on machine {theirs}, this is {ours} (an image cloned after \
                     activation?): not trusted; treating this host as not yet activated",
                    self.store.path().display()
                );
                (new_token()?, false)
            }
            Loaded::Absent => (new_token()?, false),
        };
        let target = self.preflight(interrupted, supplied.is_none()).await?;
        self.save(Record::Activating {
            activation_token: token.clone(),
            agent_name: target.agent_name.to_string(),
            region: target.region.to_string(),
            started_at: state::now_rfc3339(),
        })
        .await?;
        let req = KeyRequest {
            agent: target.agent_address.clone(),
            port: target.agent_port,
            region: target.region.clone(),
            endpoint_ip: target.endpoint_ip,
        };
        let key = match supplied {
            Some(key) => key,
            None => {
                let addr = probe::host_port(&req.agent, req.port);
                (self.progress)(Progress::Stage(
                    Stage::FetchingKey,
                    format!("fetching the activation key from {addr}"),
                ));
                let on_retry =
                    |e: &KeyError, wait: Duration| (self.progress)(Progress::KeyRetry(e, wait));
                // The key's own deadline starts now: time spent on AWS or on the ports before
                // is not the agent's. The fetch ends at the deadline by itself; the step bound
                // only catches a hang past it.
                let deadline = self.settings.activation.deadline;
                let fetch = self.keys.fetch_reporting(&req, deadline, &on_retry);
                liveness::step(deadline + STEP_SLACK, fetch).await.ok_or(
                    ActivationError::Stalled {
                        step: "fetching the activation key",
                        after: deadline + STEP_SLACK,
                    },
                )??
            }
        };
        (self.progress)(Progress::Stage(
            Stage::Activating,
            format!(
                "calling CreateAgent in {} through {} with key {key}",
                target.region, target.vpc_endpoint_id
            ),
        ));
        let tags = &self.settings.activation.tags;
        let arn = match self
            .api
            .create_agent(&target, &key, tags, (TOKEN_TAG_KEY, &token))
            .await
        {
            Ok(arn) => arn,
            // A lost answer or an SDK retry after a created agent: look before reporting.
            Err(e) if may_have_created(&e) => match self
                .api
                .find_tagged(&[target.agent_name.as_str()], TOKEN_TAG_KEY, &token)
                .await
            {
                Ok(Some(arn)) => {
                    log::warn!(
                        "CreateAgent reported {e}, but the agent carrying our token exists: {arn}"
                    );
                    arn
                }
                _ => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        self.record_activated(
            target.agent_name.as_str(),
            target.region.as_str(),
            &arn,
            Place::from(&target),
            &token,
            false,
        )
        .await?;
        let info = self.describe_quietly(&arn).await;
        Ok(Activation::Created { arn, info })
    }

    /// The AWS-side checks (reported, never blocking) and endpoint discovery, then — unless
    /// the key was supplied — the port checks, whose required failures stop activation.
    async fn preflight(
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
    async fn discover(&self) -> Result<Option<Discovery>, ActivationError> {
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
    async fn wait_for_ports(
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
            let outcome = serde_json::to_value(first.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let text = format!(
                "waiting for {} ({}): {outcome}, retry in {}",
                probe::host_port(&first.target.host, first.target.port),
                first.target.check,
                humantime::format_duration(Duration::from_secs(wait.as_secs().max(1)))
            );
            log::warn!("{text}; {}", first.hint);
            (self.progress)(Progress::Stage(Stage::Preflight, text));
            liveness::sleep(wait).await;
        }
    }

    /// Looks for the agent an interrupted run may have created: by its token tag, in the
    /// Region that run recorded, whatever the agent is named now.
    async fn adopt(
        &self,
        recorded_name: &str,
        region: &str,
        token: &str,
    ) -> Result<Option<AgentArn>, ActivationError> {
        log::info!(
            "an earlier run was interrupted while activating; looking for the agent tagged with its token in {region}"
        );
        let api = if region == self.settings.endpoint.region.as_str() {
            self.api.clone()
        } else {
            self.api.for_region(region)
        };
        let names = [recorded_name, self.settings.agent.name.as_str()];
        let Some(arn) = api.find_tagged(&names, TOKEN_TAG_KEY, token).await? else {
            log::info!("no agent carries the token: activating");
            return Ok(None);
        };
        log::warn!("adopting {arn}, activated by the interrupted run");
        // What the agent was activated with, as DataSync records it.
        let (name, place) = match api.describe_agent(&arn).await {
            Ok(info) => (
                info.name
                    .clone()
                    .unwrap_or_else(|| recorded_name.to_string()),
                Place {
                    vpc_endpoint_id: info.vpc_endpoint_id.unwrap_or_default(),
                    endpoint_ip: info.private_link_endpoint.unwrap_or_default(),
                    subnet_arn: info.subnet_arns.into_iter().next().unwrap_or_default(),
                    security_group_arn: info
                        .security_group_arns
                        .into_iter()
                        .next()
                        .unwrap_or_default(),
                },
            ),
            Err(e) => {
                log::warn!(
                    "DescribeAgent failed [{}]: {e}; recording the adopted agent without its endpoint details",
                    e.kind()
                );
                (recorded_name.to_string(), Place::default())
            }
        };
        self.record_activated(&name, region, &arn, place, token, true)
            .await?;
        Ok(Some(arn))
    }

    async fn confirm(
        &self,
        arn: AgentArn,
        activated_at: Option<std::time::SystemTime>,
    ) -> Result<Activation, ActivationError> {
        log::info!(
            "already activated: {arn} (from {})",
            self.store.path().display()
        );
        match self.api.describe_agent(&arn).await {
            Ok(info) => Ok(Activation::AlreadyActivated {
                arn,
                info: Some(info),
                activated_at,
            }),
            Err(e @ AwsError::NotFound { .. }) => Err(e.into()),
            Err(e) => {
                log::warn!(
                    "DescribeAgent failed [{}]: {e}; the state file still names {arn}",
                    e.kind()
                );
                Ok(Activation::AlreadyActivated {
                    arn,
                    info: None,
                    activated_at,
                })
            }
        }
    }

    async fn describe_quietly(&self, arn: &AgentArn) -> Option<AgentInfo> {
        match self.api.describe_agent(arn).await {
            Ok(info) => {
                log::info!("DescribeAgent: {arn} is {}", info.status);
                Some(info)
            }
            Err(e) => {
                log::warn!("activated, but DescribeAgent failed [{}]: {e}", e.kind());
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_activated(
        &self,
        name: &str,
        region: &str,
        arn: &AgentArn,
        place: Place,
        token: &str,
        adopted: bool,
    ) -> Result<(), ActivationError> {
        self.save(Record::Activated {
            agent_arn: arn.clone(),
            agent_name: name.to_string(),
            region: region.to_string(),
            vpc_endpoint_id: place.vpc_endpoint_id,
            endpoint_ip: place.endpoint_ip,
            subnet_arn: place.subnet_arn,
            security_group_arn: place.security_group_arn,
            activated_at: state::now_rfc3339(),
            activation_token: token.to_string(),
            adopted,
        })
        .await
    }

    /// The state directory's lock, waited for within [`STATE_LOCK_WAIT`].
    async fn locked(&self) -> Result<Arc<state::StateLock>, ActivationError> {
        let bound = STATE_LOCK_WAIT + STEP_SLACK;
        liveness::step(bound, self.store.lock(STATE_LOCK_WAIT))
            .await
            .ok_or(ActivationError::Stalled {
                step: "waiting for the state directory's lock",
                after: bound,
            })?
            .map(Arc::new)
            .map_err(ActivationError::from)
    }

    async fn load(&self) -> Result<Loaded, ActivationError> {
        let store = self.store.clone();
        self.state_io("reading the state file", move || store.load())
            .await
    }

    async fn save(&self, record: Record) -> Result<(), ActivationError> {
        let store = self.store.clone();
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.state_io("writing the state file", move || {
            let _held = held;
            store.save(&record)
        })
        .await
    }

    /// A state-file read or write on a blocking thread, under [`STATE_IO_BOUND`]. (A write cut
    /// short here still completes or vanishes atomically on its thread.)
    async fn state_io<T: Send + 'static>(
        &self,
        step: &'static str,
        f: impl FnOnce() -> Result<T, state::StateError> + Send + 'static,
    ) -> Result<T, ActivationError> {
        let stalled = ActivationError::Stalled {
            step,
            after: STATE_IO_BOUND,
        };
        match liveness::step(STATE_IO_BOUND, tokio::task::spawn_blocking(f)).await {
            Some(Ok(r)) => Ok(r?),
            Some(Err(_)) | None => Err(stalled),
        }
    }
}

/// Marks the lock as held by the running `activate` for its duration.
struct Held<'a>(&'a Activator);

impl<'a> Held<'a> {
    fn new(a: &'a Activator, lock: Arc<state::StateLock>) -> Self {
        *a.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(lock);
        Held(a)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.held.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Where an agent was activated: endpoint, IP, subnet and security group.
#[derive(Debug, Default)]
struct Place {
    vpc_endpoint_id: String,
    endpoint_ip: String,
    subnet_arn: String,
    security_group_arn: String,
}

impl From<&ActivationTarget> for Place {
    fn from(t: &ActivationTarget) -> Place {
        Place {
            vpc_endpoint_id: t.vpc_endpoint_id.to_string(),
            endpoint_ip: t.endpoint_ip.to_string(),
            subnet_arn: t.subnet_arn.to_string(),
            security_group_arn: t.security_group_arn.to_string(),
        }
    }
}

/// How long a command waits for another holder of the state directory's lock before saying
/// who holds it. An activation holds it for seconds when AWS and the agent answer; a longer
/// holder is waiting on the agent or AWS, and its progress shows in `datasync-warden status`.
pub(crate) const STATE_LOCK_WAIT: Duration = Duration::from_secs(30);
/// Bound of one state-file read or write (fsync included): a local disk answers in
/// milliseconds; 30 s covers a saturated or network-backed disk.
pub(crate) const STATE_IO_BOUND: Duration = Duration::from_secs(30);
/// Margin over a step's own end (the key fetch's deadline, a probe's timeout): the step ends
/// by itself, the bound only catches a hang past it.
const STEP_SLACK: Duration = Duration::from_secs(10);
/// First wait for a port that is not open yet: the agent may still be booting.
const PORT_RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait between port checks: a rule just added is noticed within 30 s.
const PORT_RETRY_MAX: Duration = Duration::from_secs(30);

/// The agent known without activating: from `agent.arn` or the state file.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    /// The agent.
    pub arn: AgentArn,
    /// When this host activated it (None for `agent.arn`).
    pub activated_at: Option<std::time::SystemTime>,
}

/// Failures after which the agent may exist anyway (the answer, not the request, was lost).
fn may_have_created(e: &AwsError) -> bool {
    matches!(
        e,
        AwsError::Unreachable { .. }
            | AwsError::Timeout { .. }
            | AwsError::Internal { .. }
            | AwsError::Other { .. }
            | AwsError::InvalidRequest { .. }
    )
}

/// 128 random bits, hex: unique per activation attempt.
pub(crate) fn new_token() -> Result<String, ActivationError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| ActivationError::Random(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
