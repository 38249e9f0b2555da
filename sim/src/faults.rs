//! The fault switches: agent misbehaviours, `errorType` answers, CreateAgent
//! permission errors and generic control-plane faults. Pure bookkeeping; the
//! servers decide how to act on what these return.

use std::collections::HashMap;
use std::time::Duration;

use crate::types::{AgentFault, ApiFault, CreateAgentError, ResponseMode};

/// What a control-plane call must suffer before (or instead of) being answered.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    pub(crate) latency: Duration,
    pub(crate) answer_latency: Duration,
    pub(crate) terminal: Option<Terminal>,
    pub(crate) hang_after_create: bool,
}

/// Faults that replace the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Terminal {
    Throttle,
    Internal,
    Reset,
    Error(&'static str, u16),
    NotFound,
}

#[derive(Debug)]
struct FaultEntry {
    op: Option<String>,
    fault: ApiFault,
    /// `None` = until `clear`.
    remaining: Option<u32>,
}

/// Every armed fault.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    agent: HashMap<ResponseMode, AgentFault>,
    error_type: Option<(String, Option<u32>)>,
    create_error: Option<(CreateAgentError, Option<u32>)>,
    api: Vec<FaultEntry>,
}

/// Returns the armed value and spends one of its uses (`None` uses = forever).
fn take_counted<T: Clone>(slot: &mut Option<(T, Option<u32>)>) -> Option<T> {
    let (value, left) = slot.as_mut()?;
    let value = value.clone();
    if let Some(n) = left {
        *n = n.saturating_sub(1);
        if *n == 0 {
            *slot = None;
        }
    }
    Some(value)
}

impl Faults {
    pub(crate) fn set_agent_fault(&mut self, mode: ResponseMode, fault: Option<AgentFault>) {
        match fault {
            Some(f) => self.agent.insert(mode, f),
            None => self.agent.remove(&mode),
        };
    }

    pub(crate) fn agent_fault(&self, mode: ResponseMode) -> Option<AgentFault> {
        self.agent.get(&mode).copied()
    }

    pub(crate) fn set_error_type(&mut self, code: &str, times: Option<u32>) {
        self.error_type = (times != Some(0)).then(|| (code.to_owned(), times));
    }

    /// The errorType to answer with, consuming one of its uses.
    pub(crate) fn take_error_type(&mut self) -> Option<String> {
        take_counted(&mut self.error_type)
    }

    pub(crate) fn inject_create_error(&mut self, e: CreateAgentError, times: Option<u32>) {
        self.create_error = (times != Some(0)).then_some((e, times));
    }

    /// The CreateAgent error to fail with, consuming one of its uses.
    pub(crate) fn take_create_error(&mut self) -> Option<CreateAgentError> {
        take_counted(&mut self.create_error)
    }

    pub(crate) fn inject(&mut self, op: Option<&str>, fault: ApiFault) {
        let remaining = match fault {
            ApiFault::Throttle { times }
            | ApiFault::Internal { times }
            | ApiFault::ResetConnection { times }
            | ApiFault::NotFound { times } => Some(times),
            ApiFault::Error { times, .. } => times,
            ApiFault::Latency(_) | ApiFault::AnswerLatency(_) | ApiFault::CreateThenHang => None,
        };
        if remaining == Some(0) {
            return;
        }
        let op = op.map(str::to_owned);
        self.api.push(FaultEntry {
            op,
            fault,
            remaining,
        });
    }

    /// Disarms everything.
    pub(crate) fn clear(&mut self) {
        *self = Faults::default();
    }

    /// Decides (and consumes) the faults for one call of `op`. Latencies add up;
    /// the oldest armed counted fault wins.
    pub(crate) fn take_plan(&mut self, op: &str) -> FaultPlan {
        let mut plan = FaultPlan::default();
        for f in self.api.iter_mut() {
            if f.op.as_deref().is_some_and(|o| o != op) {
                continue;
            }
            let terminal = match f.fault {
                ApiFault::Latency(d) => {
                    plan.latency += d;
                    continue;
                }
                ApiFault::AnswerLatency(d) => {
                    plan.answer_latency += d;
                    continue;
                }
                ApiFault::CreateThenHang => {
                    plan.hang_after_create |= op == "CreateAgent";
                    continue;
                }
                ApiFault::Throttle { .. } => Terminal::Throttle,
                ApiFault::Internal { .. } => Terminal::Internal,
                ApiFault::ResetConnection { .. } => Terminal::Reset,
                ApiFault::Error { code, status, .. } => Terminal::Error(code, status),
                ApiFault::NotFound { .. } => Terminal::NotFound,
            };
            if plan.terminal.is_none() {
                plan.terminal = Some(terminal);
                if let Some(n) = f.remaining.as_mut() {
                    *n = n.saturating_sub(1);
                }
            }
        }
        self.api.retain(|f| f.remaining != Some(0));
        plan
    }
}
