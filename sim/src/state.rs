//! The state both servers share: issued keys, agents, fault switches, call records.
//!
//! One `std::sync::Mutex` guards it all; it is never held across an `.await`, and
//! every multi-step change (e.g. CreateAgent's check-key-then-create) happens
//! under one lock so concurrent calls cannot both use a key.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{oneshot, watch};

use crate::faults::{FaultPlan, Faults};
use crate::ids::{random_hex, random_index, random_key};

use crate::types::{
    AgentFault, AgentRequest, AgentSnapshot, AgentStatus, ApiFault, CreateAgentError, EndpointType,
    ResponseMode,
};

/// What `Platform.Version` says; any value matching the AgentVersion pattern would do.
pub(crate) const PLATFORM_VERSION: &str = "2.0.1715817600.0";

/// An activation key the agent endpoint handed out.
#[derive(Debug, Clone)]
pub(crate) struct IssuedKey {
    issued: Instant,
    endpoint_type: EndpointType,
    private_link_endpoint: Option<String>,
    used: bool,
}

/// An agent as the control plane stores it.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) arn: String,
    pub(crate) name: Option<String>,
    pub(crate) status: AgentStatus,
    /// `None` while ONLINE (the agent is talking to us "now"); frozen when it went OFFLINE.
    pub(crate) last_seen: Option<SystemTime>,
    pub(crate) created_at: SystemTime,
    pub(crate) endpoint_type: EndpointType,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) vpc_endpoint_id: Option<String>,
    pub(crate) subnet_arns: Vec<String>,
    pub(crate) security_group_arns: Vec<String>,
    pub(crate) private_link_endpoint: Option<String>,
    pub(crate) activation_key: Option<String>,
}

impl Agent {
    pub(crate) fn snapshot(&self) -> AgentSnapshot {
        AgentSnapshot {
            arn: self.arn.clone(),
            name: self.name.clone(),
            status: self.status,
            endpoint_type: self.endpoint_type,
            tags: self.tags.clone(),
            vpc_endpoint_id: self.vpc_endpoint_id.clone(),
            subnet_arns: self.subnet_arns.clone(),
            security_group_arns: self.security_group_arns.clone(),
            private_link_endpoint: self.private_link_endpoint.clone(),
            activation_key: self.activation_key.clone(),
            created_at: self.created_at,
        }
    }

    /// `LastConnectionTime`: "now" while online, the moment it went offline otherwise.
    pub(crate) fn last_connection(&self) -> SystemTime {
        self.last_seen.unwrap_or_else(SystemTime::now)
    }
}

/// A validated CreateAgent request.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewAgent {
    pub(crate) key: String,
    pub(crate) name: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) vpc_endpoint_id: Option<String>,
    pub(crate) subnet_arns: Vec<String>,
    pub(crate) security_group_arns: Vec<String>,
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<String, IssuedKey>,
    agents: BTreeMap<String, Agent>,
    requests: Vec<AgentRequest>,
    faults: Faults,
    calls: HashMap<String, usize>,
    /// Alerts posted to `/_sim/alerts/…` (the simulator doubles as a webhook receiver).
    alerts: Vec<serde_json::Value>,
}

/// Shared by both servers and the `Simulator` handle.
pub(crate) struct State {
    pub(crate) region: String,
    pub(crate) account_id: String,
    key_lifetime: Duration,
    inner: Mutex<Inner>,
    port_open: AtomicBool,
    /// Taken by the first successful CreateAgent; the agent server acks once its listener is gone.
    port_close: Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>,
    shutdown: watch::Receiver<bool>,
}

impl State {
    pub(crate) fn new(
        region: String,
        account_id: String,
        key_lifetime: Duration,
        port_close: oneshot::Sender<oneshot::Sender<()>>,
        shutdown: watch::Receiver<bool>,
    ) -> State {
        State {
            region,
            account_id,
            key_lifetime,
            inner: Mutex::new(Inner::default()),
            port_open: AtomicBool::new(true),
            port_close: Mutex::new(Some(port_close)),
            shutdown,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not take the whole simulator down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves once the simulator shuts down (or its handle is dropped).
    pub(crate) async fn shutdown_signal(&self) {
        let mut rx = self.shutdown.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    // ---- agent activation endpoint ----

    pub(crate) fn record_request(&self, r: AgentRequest) -> usize {
        let mut g = self.lock();
        g.requests.push(r);
        g.requests.len() - 1
    }

    pub(crate) fn note_issued_key(&self, idx: usize, key: &str) {
        if let Some(r) = self.lock().requests.get_mut(idx) {
            r.issued_key = Some(key.to_owned());
        }
    }

    pub(crate) fn requests(&self) -> Vec<AgentRequest> {
        self.lock().requests.clone()
    }

    pub(crate) fn record_alert(&self, alert: serde_json::Value) {
        self.lock().alerts.push(alert);
    }

    pub(crate) fn alerts(&self) -> Vec<serde_json::Value> {
        self.lock().alerts.clone()
    }

    pub(crate) fn set_agent_fault(&self, mode: ResponseMode, fault: Option<AgentFault>) {
        self.lock().faults.set_agent_fault(mode, fault);
    }

    pub(crate) fn agent_fault(&self, mode: ResponseMode) -> Option<AgentFault> {
        self.lock().faults.agent_fault(mode)
    }

    pub(crate) fn set_error_type(&self, code: &str, times: Option<u32>) {
        self.lock().faults.set_error_type(code, times);
    }

    /// The errorType to answer with, consuming one of its uses.
    pub(crate) fn take_error_type(&self) -> Option<String> {
        self.lock().faults.take_error_type()
    }

    pub(crate) fn issue_key(&self, endpoint_type: EndpointType, ple: Option<String>) -> String {
        let key = random_key();
        let entry = IssuedKey {
            issued: Instant::now(),
            endpoint_type,
            private_link_endpoint: ple,
            used: false,
        };
        self.lock().keys.insert(key.clone(), entry);
        key
    }

    pub(crate) fn port_open(&self) -> bool {
        self.port_open.load(Ordering::SeqCst)
    }

    /// Closes the agent listener like a real agent does after activation, and
    /// waits until the port refuses connections so callers see it closed at once.
    pub(crate) async fn close_agent_port(&self) {
        let tx = self
            .port_close
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(tx) = tx {
            let (ack_tx, ack_rx) = oneshot::channel();
            if tx.send(ack_tx).is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(2), ack_rx).await;
            }
            self.port_open.store(false, Ordering::SeqCst);
            log::info!("agent activation port closed");
        }
    }

    // ---- control plane ----

    pub(crate) fn count_call(&self, op: &str) {
        *self.lock().calls.entry(op.to_owned()).or_default() += 1;
    }

    pub(crate) fn calls(&self) -> HashMap<String, usize> {
        self.lock().calls.clone()
    }

    pub(crate) fn inject_create_error(&self, e: CreateAgentError, times: Option<u32>) {
        self.lock().faults.inject_create_error(e, times);
    }

    pub(crate) fn inject_fault(&self, op: Option<&str>, fault: ApiFault) {
        self.lock().faults.inject(op, fault);
    }

    /// Clears every fault switch: API faults, CreateAgent errors, agent faults, errorType.
    pub(crate) fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Decides (and consumes) the faults for one call of `op`.
    pub(crate) fn take_fault_plan(&self, op: &str) -> FaultPlan {
        self.lock().faults.take_plan(op)
    }

    /// Everything CreateAgent does to the state, atomically. `Err` is the
    /// InvalidRequestException message.
    pub(crate) fn create_agent(&self, req: NewAgent) -> Result<String, String> {
        let mut g = self.lock();
        let key = match g.keys.get(&req.key) {
            Some(k) if !k.used && k.issued.elapsed() < self.key_lifetime => k.clone(),
            _ => return Err("Activation key is invalid or has expired".to_owned()),
        };
        let private = matches!(
            key.endpoint_type,
            EndpointType::PrivateLink | EndpointType::FipsPrivateLink
        );
        if !private && req.vpc_endpoint_id.is_some() {
            return Err(
                "Private link configuration is invalid: VPC Endpoint Id should remain \
                        unspecified for public-endpoint activation keys."
                    .to_owned(),
            );
        }
        if !private && (!req.subnet_arns.is_empty() || !req.security_group_arns.is_empty()) {
            return Err(
                "Private link configuration is invalid: Subnet and security group ARNs \
                        should remain unspecified for public-endpoint activation keys."
                    .to_owned(),
            );
        }
        if private
            && (req.vpc_endpoint_id.is_none()
                || req.subnet_arns.is_empty()
                || req.security_group_arns.is_empty())
        {
            return Err(
                "Private link configuration is invalid: VpcEndpointId, SubnetArns and \
                        SecurityGroupArns are required for private-link activation keys."
                    .to_owned(),
            );
        }
        if let Some(e) = g.faults.take_create_error() {
            let first = |v: &[String]| v.first().cloned().unwrap_or_default();
            return Err(match e {
                CreateAgentError::SubnetForbidden => format!(
                    "Invalid EC2 subnet, ARN: {}, reason: invalid subnet, StatusCode: 403",
                    first(&req.subnet_arns)
                ),
                CreateAgentError::SecurityGroupForbidden => format!(
                    "Invalid EC2 security group, ARN: {}, reason: invalid security group, StatusCode: 403",
                    first(&req.security_group_arns)
                ),
                CreateAgentError::VpcEndpointInvalid => format!(
                    "Private link configuration is invalid: VPC endpoint {} is not valid",
                    req.vpc_endpoint_id.clone().unwrap_or_default()
                ),
            });
        }
        let arn = self.new_arn();
        // One VM, one activation: every other key this agent handed out dies with it.
        for k in g.keys.values_mut() {
            k.used = true;
        }
        let agent = Agent {
            arn: arn.clone(),
            name: req.name,
            status: AgentStatus::Online,
            last_seen: None,
            created_at: SystemTime::now(),
            endpoint_type: key.endpoint_type,
            tags: req.tags,
            vpc_endpoint_id: req.vpc_endpoint_id,
            subnet_arns: req.subnet_arns,
            security_group_arns: req.security_group_arns,
            private_link_endpoint: key.private_link_endpoint.filter(|_| private),
            activation_key: Some(req.key),
        };
        g.agents.insert(arn.clone(), agent);
        Ok(arn)
    }

    fn new_arn(&self) -> String {
        format!(
            "arn:aws:datasync:{}:{}:agent/agent-{}",
            self.region,
            self.account_id,
            random_hex(17)
        )
    }

    pub(crate) fn agent(&self, arn: &str) -> Option<Agent> {
        self.lock().agents.get(arn).cloned()
    }

    /// Up to `limit` agents whose ARN sorts after `after`, and whether more follow.
    pub(crate) fn agents_page(&self, after: Option<&str>, limit: usize) -> (Vec<Agent>, bool) {
        let g = self.lock();
        let mut it = g
            .agents
            .values()
            .filter(|a| after.is_none_or(|after| a.arn.as_str() > after));
        let page: Vec<Agent> = it.by_ref().take(limit).cloned().collect();
        (page, it.next().is_some())
    }

    pub(crate) fn snapshots(&self) -> Vec<AgentSnapshot> {
        self.lock().agents.values().map(Agent::snapshot).collect()
    }

    /// Applies `f` to the agent, or returns `None` if there is no such agent.
    pub(crate) fn with_agent<T>(&self, arn: &str, f: impl FnOnce(&mut Agent) -> T) -> Option<T> {
        self.lock().agents.get_mut(arn).map(f)
    }

    pub(crate) fn remove_agent(&self, arn: &str) -> bool {
        self.lock().agents.remove(arn).is_some()
    }

    pub(crate) fn set_status(&self, arn: &str, s: AgentStatus) -> bool {
        self.with_agent(arn, |a| {
            if a.status != s {
                // Going offline freezes the last contact; coming back means contact is "now".
                a.last_seen = match s {
                    AgentStatus::Online => None,
                    AgentStatus::Offline => Some(SystemTime::now()),
                };
                a.status = s;
            }
        })
        .is_some()
    }

    /// Adds `n` unrelated agents (for pagination tests).
    pub(crate) fn seed(&self, n: usize) {
        const TEAMS: [&str; 4] = ["red", "blue", "green", "ops"];
        let mut g = self.lock();
        for i in 0..n {
            let arn = self.new_arn();
            let suffix = random_hex(6);
            let private = i % 2 == 0;
            let agent = Agent {
                arn: arn.clone(),
                name: Some(format!("seed-agent-{suffix}")),
                status: AgentStatus::Online,
                last_seen: None,
                created_at: SystemTime::now(),
                endpoint_type: if private {
                    EndpointType::PrivateLink
                } else {
                    EndpointType::Public
                },
                tags: vec![
                    ("seed".to_owned(), i.to_string()),
                    (
                        "team".to_owned(),
                        TEAMS[random_index(TEAMS.len())].to_owned(),
                    ),
                ],
                vpc_endpoint_id: private.then(|| format!("vpce-{}", random_hex(17))),
                subnet_arns: Vec::new(),
                security_group_arns: Vec::new(),
                private_link_endpoint: private.then(|| "10.0.0.10".to_owned()),
                activation_key: None,
            };
            g.agents.insert(arn, agent);
        }
    }
}
