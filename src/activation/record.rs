//! The activation's state-file I/O: the lock held from the first read to the last write, each
//! read or write on a blocking thread under a bound, and the records it writes.

use std::sync::Arc;
use std::time::Duration;

use super::ActivationError;
use super::activate::{Activator, STEP_SLACK};
use crate::activation::state::{self, Loaded, Record};
use crate::config::ActivationTarget;
use crate::ids::AgentArn;
use crate::support::liveness;

/// How long a command waits for another holder of the state directory's lock before saying
/// who holds it. An activation holds it for seconds when AWS and the agent answer; a longer
/// holder is waiting on the agent or AWS, and its progress shows in `datasync-warden status`.
pub(crate) const STATE_LOCK_WAIT: Duration = Duration::from_secs(30);
/// Bound of one state-file read or write (fsync included): a local disk answers in
/// milliseconds; 30 s covers a saturated or network-backed disk.
pub(crate) const STATE_IO_BOUND: Duration = Duration::from_secs(30);
impl Activator {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn record_activated(
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
    pub(super) async fn locked(&self) -> Result<Arc<state::StateLock>, ActivationError> {
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

    pub(super) async fn load(&self) -> Result<Loaded, ActivationError> {
        let store = self.store.clone();
        self.state_io("reading the state file", move || store.load())
            .await
    }

    pub(super) async fn save(&self, record: Record) -> Result<(), ActivationError> {
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
    pub(super) async fn state_io<T: Send + 'static>(
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
pub(super) struct Held<'a>(&'a Activator);

impl<'a> Held<'a> {
    pub(super) fn new(a: &'a Activator, lock: Arc<state::StateLock>) -> Self {
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
pub(super) struct Place {
    pub(super) vpc_endpoint_id: String,
    pub(super) endpoint_ip: String,
    pub(super) subnet_arn: String,
    pub(super) security_group_arn: String,
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

/// 128 random bits, hex: unique per activation attempt.
pub(crate) fn new_token() -> Result<String, ActivationError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| ActivationError::Random(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
