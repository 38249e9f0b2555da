//! Activation, end to end: state → port checks → key → CreateAgent → state → DescribeAgent.
//!
//! Never twice, never lost: before CreateAgent an `activating` record with a random token is
//! persisted, and the token travels as a tag. A run that finds such a record looks for the
//! agent carrying the token and adopts it instead of activating again.

use std::sync::Arc;
use std::time::Duration;

use crate::support::liveness;

use crate::activation::state::{self, Loaded, Record, StateStore};
use crate::agent::activation_key::{ActivationKey, KeyClient, KeyError, KeyRequest};
use crate::agent::probe::{self};
use crate::aws::datasync::{AgentInfo, ControlPlane};
use crate::aws::ec2::Ec2;
use crate::config::{ActivationTarget, Settings, TOKEN_TAG_KEY};
use crate::ids::AgentArn;
use crate::preflight::check::Check;

use super::ActivationError;
use super::adopt::may_have_created;
use super::record::{Held, Place, new_token};

/// How activation ended.
#[derive(Debug)]
pub(crate) enum Activation {
    /// The state file (or `agent.arn`) already named an agent; nothing was activated.
    AlreadyActivated {
        arn: AgentArn,
        /// DescribeAgent's answer, if it succeeded.
        info: Option<AgentInfo>,
        /// When the state file says this host activated it (None for `agent.arn`).
        activated_at: Option<std::time::SystemTime>,
    },
    /// An interrupted earlier run had activated the agent; it was found by its token.
    Adopted { arn: AgentArn },
    /// This run activated the agent.
    Created {
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
    pub(super) settings: Settings,
    pub(super) store: StateStore,
    pub(super) keys: KeyClient,
    pub(super) api: ControlPlane,
    pub(super) ec2: Ec2,
    pub(super) progress: ProgressFn,
    /// The state lock while `activate` runs; every write carries a clone to its blocking
    /// thread, so a write that outlives its bound keeps the lock until it lands.
    pub(super) held: std::sync::Mutex<Option<Arc<state::StateLock>>>,
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
        let (token, interrupted) = match self.resume().await? {
            Resume::Done(activation) => return Ok(*activation),
            Resume::Start { token, interrupted } => (token, interrupted),
        };
        let target = self.preflight(interrupted, supplied.is_none()).await?;
        self.save(Record::Activating {
            activation_token: token.clone(),
            agent_name: target.agent_name.to_string(),
            region: target.region.to_string(),
            started_at: state::now_rfc3339(),
        })
        .await?;
        let key = match supplied {
            Some(key) => key,
            None => self.fetch_key(&target).await?,
        };
        let arn = self.create(&target, &key, &token).await?;
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

    /// What the state file says to do: nothing more (activated, or adopted now), or start an
    /// activation with a fresh token or the interrupted run's token.
    async fn resume(&self) -> Result<Resume, ActivationError> {
        Ok(match self.load().await? {
            Loaded::Mine(file) => match file.record {
                Record::Activated {
                    agent_arn,
                    activated_at,
                    ..
                } => {
                    let at = humantime::parse_rfc3339(&activated_at).ok();
                    Resume::Done(Box::new(self.confirm(agent_arn, at).await?))
                }
                Record::Activating {
                    activation_token,
                    agent_name,
                    region,
                    ..
                } => match self.adopt(&agent_name, &region, &activation_token).await? {
                    Some(arn) => Resume::Done(Box::new(Activation::Adopted { arn })),
                    None => Resume::Start {
                        token: activation_token,
                        interrupted: true,
                    },
                },
            },
            Loaded::Foreign { theirs, ours } => {
                log::warn!(
                    "state file {} was written on machine {theirs}, this is {ours} (an image cloned after \
                     activation?): not trusted; treating this host as not yet activated",
                    self.store.path().display()
                );
                Resume::fresh()?
            }
            Loaded::Absent => Resume::fresh()?,
        })
    }

    /// The key from the agent, retried within `activation.deadline`.
    async fn fetch_key(&self, target: &ActivationTarget) -> Result<ActivationKey, ActivationError> {
        let req = KeyRequest {
            agent: target.agent_address.clone(),
            port: target.agent_port,
            region: target.region.clone(),
            endpoint_ip: target.endpoint_ip,
        };
        let addr = probe::host_port(&req.agent, req.port);
        (self.progress)(Progress::Stage(
            Stage::FetchingKey,
            format!("fetching the activation key from {addr}"),
        ));
        let on_retry = |e: &KeyError, wait: Duration| (self.progress)(Progress::KeyRetry(e, wait));
        // The key's own deadline starts now: time spent on AWS or on the ports before is not
        // the agent's. The fetch ends at the deadline by itself; the step bound only catches a
        // hang past it.
        let deadline = self.settings.activation.deadline;
        let fetch = self.keys.fetch_reporting(&req, deadline, &on_retry);
        Ok(liveness::step(deadline + STEP_SLACK, fetch).await.ok_or(
            ActivationError::Stalled {
                step: "fetching the activation key",
                after: deadline + STEP_SLACK,
            },
        )??)
    }

    /// CreateAgent with the token tag. When the answer may have been lost after the agent was
    /// created, the agent carrying the token is looked for before the error is reported.
    async fn create(
        &self,
        target: &ActivationTarget,
        key: &ActivationKey,
        token: &str,
    ) -> Result<AgentArn, ActivationError> {
        (self.progress)(Progress::Stage(
            Stage::Activating,
            format!(
                "calling CreateAgent in {} through {} with key {key}",
                target.region, target.vpc_endpoint_id
            ),
        ));
        let tags = &self.settings.activation.tags;
        let e = match self
            .api
            .create_agent(target, key, tags, (TOKEN_TAG_KEY, token))
            .await
        {
            Ok(arn) => return Ok(arn),
            Err(e) => e,
        };
        if !may_have_created(&e) {
            return Err(e.into());
        }
        // A lost answer or an SDK retry after a created agent: look before reporting.
        let names = [target.agent_name.as_str()];
        match self.api.find_tagged(&names, TOKEN_TAG_KEY, token).await {
            Ok(Some(arn)) => {
                log::warn!(
                    "CreateAgent reported {e}, but the agent carrying our token exists: {arn}"
                );
                Ok(arn)
            }
            _ => Err(e.into()),
        }
    }
}

/// Where [`Activator::resume`] leaves an activation.
enum Resume {
    /// Nothing more to do.
    Done(Box<Activation>),
    /// Activate, tagging the agent with `token`; `interrupted` when an earlier run left it.
    Start { token: String, interrupted: bool },
}

impl Resume {
    fn fresh() -> Result<Resume, ActivationError> {
        Ok(Resume::Start {
            token: new_token()?,
            interrupted: false,
        })
    }
}

/// Margin over a step's own end (the key fetch's deadline, a probe's timeout): the step ends
/// by itself, the bound only catches a hang past it.
pub(super) const STEP_SLACK: Duration = Duration::from_secs(10);
/// The agent known without activating: from `agent.arn` or the state file.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub arn: AgentArn,
    /// When this host activated it (None for `agent.arn`).
    pub activated_at: Option<std::time::SystemTime>,
}
