//! A test peer for `datasync-warden`: a simulated DataSync agent activation
//! endpoint (what the agent VM serves on TCP 80) and a simulated DataSync control
//! plane (AWS JSON 1.1, callable by aws-sdk-datasync and the AWS CLI through
//! `endpoint_url`). Both share one state, so a key fetched from the agent can be
//! redeemed with CreateAgent, after which the agent's port closes like a real one.
//!
//! Every behaviour the daemon must survive can be switched on at runtime: agent
//! misbehaviours per response mode, `errorType` answers, the documented
//! CreateAgent permission errors, throttling, 500s, latency, dropped connections.

mod admin;
mod agent;
mod control_plane;
mod faults;
mod http;
mod ids;
pub mod model;
mod operations;
mod state;
mod types;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use model::{Limits, model_limits, model_patterns};
pub use types::{
    AgentFault, AgentRequest, AgentSnapshot, AgentStatus, ApiFault, CreateAgentError, EndpointType,
    ResponseMode, SimConfig,
};

use state::State;

/// A running simulator. Cheap to clone; dropping the last clone stops both servers.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<State>,
    agent_addr: SocketAddr,
    api_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Connection tasks watch this channel; the accept loops are aborted outright.
        let _ = self.shutdown.send(true);
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

impl Simulator {
    /// Binds both listeners and spawns the servers on the current tokio runtime.
    pub async fn start(cfg: SimConfig) -> std::io::Result<Simulator> {
        let agent_listener = TcpListener::bind(cfg.agent_listen).await?;
        let api_listener = TcpListener::bind(cfg.api_listen).await?;
        let agent_addr = agent_listener.local_addr()?;
        let api_addr = api_listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (close_tx, close_rx) = oneshot::channel();
        let state = Arc::new(State::new(
            cfg.region,
            cfg.account_id,
            cfg.key_lifetime,
            close_tx,
            shutdown_rx,
        ));
        let tasks = vec![
            tokio::spawn(agent::run(agent_listener, state.clone(), close_rx)),
            tokio::spawn(http::serve(
                api_listener,
                state.clone(),
                control_plane::handle,
            )),
        ];
        log::info!("simulator up: agent {agent_addr}, api http://{api_addr}");
        Ok(Simulator {
            inner: Arc::new(Inner {
                state,
                agent_addr,
                api_addr,
                shutdown,
                tasks: Mutex::new(tasks),
            }),
        })
    }

    fn state(&self) -> &State {
        &self.inner.state
    }

    /// Address of the agent activation endpoint.
    pub fn agent_addr(&self) -> SocketAddr {
        self.inner.agent_addr
    }

    /// Base URL of the control plane, for `endpoint_url` (e.g. `http://127.0.0.1:41234`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.inner.api_addr)
    }

    /// The simulated Region.
    pub fn region(&self) -> &str {
        &self.state().region
    }

    /// The account id in agent ARNs.
    pub fn account_id(&self) -> &str {
        &self.state().account_id
    }

    /// Makes the agent endpoint misbehave for requests in `mode` (`None` = behave).
    pub fn set_agent_fault(&self, mode: ResponseMode, fault: Option<AgentFault>) {
        self.state().set_agent_fault(mode, fault);
    }

    /// Answers the next `times` well-formed activation requests (`None` = all) with
    /// `errorType=<code>` instead of a key.
    pub fn set_error_type(&self, code: &str, times: Option<u32>) {
        self.state().set_error_type(code, times);
    }

    /// Every request the agent endpoint received, oldest first.
    pub fn agent_requests(&self) -> Vec<AgentRequest> {
        self.state().requests()
    }

    /// False once a CreateAgent has activated the agent (its listener is then gone).
    pub fn agent_port_open(&self) -> bool {
        self.state().port_open()
    }

    /// Fails the next `times` otherwise-valid CreateAgent calls (`None` = all) with `e`.
    /// Replaces any previous injection.
    pub fn inject_create_error(&self, e: CreateAgentError, times: Option<u32>) {
        self.state().inject_create_error(e, times);
    }

    /// Arms a control-plane fault for operation `op` (model name, e.g. `"DescribeAgent"`)
    /// or for every operation (`None`). Faults accumulate until spent or cleared.
    pub fn inject_fault(&self, op: Option<&str>, f: ApiFault) {
        self.state().inject_fault(op, f);
    }

    /// Disarms everything: API faults, CreateAgent errors, agent faults and errorType.
    pub fn clear_faults(&self) {
        self.state().clear_faults();
    }

    /// Sets an agent's status; unknown ARNs are ignored (logged).
    pub fn set_agent_status(&self, arn: &str, s: AgentStatus) {
        if !self.state().set_status(arn, s) {
            log::warn!("set_agent_status: no agent {arn}");
        }
    }

    /// All agents, ordered by ARN (as ListAgents orders them).
    pub fn agents(&self) -> Vec<AgentSnapshot> {
        self.state().snapshots()
    }

    /// How many requests named `op` the control plane received (faulted ones included).
    pub fn call_count(&self, op: &str) -> usize {
        self.state().calls().get(op).copied().unwrap_or(0)
    }

    /// Every operation's call count.
    pub fn call_counts(&self) -> HashMap<String, usize> {
        self.state().calls()
    }

    /// Adds `n` unrelated ONLINE agents with random tags (for pagination tests).
    pub fn seed_agents(&self, n: usize) {
        self.state().seed(n);
    }

    /// Removes an agent (as if deleted in the console); unknown ARNs are ignored.
    pub fn delete_agent(&self, arn: &str) {
        self.state().remove_agent(arn);
    }

    /// Stops both servers and every open connection, and waits for the accept loops.
    pub async fn shutdown(self) {
        let _ = self.inner.shutdown.send(true);
        let tasks: Vec<_> = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}
