//! `/_sim/…` admin API on the control-plane port, so a simulator running as a
//! subprocess (demo, subprocess tests) can be driven like the in-process one.
//! Documented in sim/README.md.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control_plane::epoch_seconds;
use crate::http::{self, Body};
use crate::state::State;
use crate::types::{
    AgentFault, AgentRequest, AgentSnapshot, AgentStatus, ApiFault, CreateAgentError, ResponseMode,
};

/// Body of `POST /_sim/fault`, tagged by `kind`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FaultSpec {
    Throttle {
        op: Option<String>,
        times: u32,
    },
    Internal {
        op: Option<String>,
        times: u32,
    },
    Latency {
        op: Option<String>,
        ms: u64,
    },
    Reset {
        op: Option<String>,
        times: u32,
    },
    CreateThenHang,
    CreateError {
        error: CreateAgentError,
        times: Option<u32>,
    },
    AgentFault {
        mode: ResponseMode,
        fault: Option<String>,
        ms: Option<u64>,
        bytes: Option<usize>,
    },
    ErrorType {
        code: String,
        times: Option<u32>,
    },
    Clear,
}

#[derive(Debug, Deserialize)]
struct StatusBody {
    arn: String,
    status: AgentStatus,
}

#[derive(Debug, Deserialize)]
struct ArnBody {
    arn: String,
}

#[derive(Debug, Deserialize)]
struct SeedBody {
    n: usize,
}

fn bad(msg: impl std::fmt::Display) -> Response<Body> {
    http::json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": msg.to_string() }),
    )
}

fn done() -> Response<Body> {
    http::json(StatusCode::OK, &json!({ "ok": true }))
}

/// Parses the (capped) JSON body into `T`, or explains why not.
async fn body<T: for<'de> Deserialize<'de>>(req: Request<Incoming>) -> Result<T, Response<Body>> {
    let bytes = http::read_body(req.into_body())
        .await
        .map_err(|e| bad(format!("unreadable body: {e:?}")))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("bad JSON: {e}")))
}

/// Routes one admin request.
pub(crate) async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let result = match (req.method().clone(), path.as_str()) {
        (Method::GET, "/_sim/agents") => {
            let list: Vec<Value> = state.snapshots().iter().map(snapshot_json).collect();
            Ok(http::json(StatusCode::OK, &Value::Array(list)))
        }
        (Method::POST, "/_sim/agents/status") => match body::<StatusBody>(req).await {
            Ok(b) if state.set_status(&b.arn, b.status) => Ok(done()),
            Ok(b) => Err(not_found(&b.arn)),
            Err(r) => Err(r),
        },
        (Method::POST, "/_sim/agents/delete") => match body::<ArnBody>(req).await {
            Ok(b) if state.remove_agent(&b.arn) => Ok(done()),
            Ok(b) => Err(not_found(&b.arn)),
            Err(r) => Err(r),
        },
        (Method::POST, "/_sim/seed") => body::<SeedBody>(req).await.map(|b| {
            state.seed(b.n);
            done()
        }),
        (Method::GET, "/_sim/calls") => {
            let calls: serde_json::Map<String, Value> = state
                .calls()
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
            Ok(http::json(StatusCode::OK, &Value::Object(calls)))
        }
        (Method::GET, "/_sim/agent/requests") => {
            let list: Vec<Value> = state.requests().iter().map(request_json).collect();
            Ok(http::json(StatusCode::OK, &Value::Array(list)))
        }
        (Method::GET, "/_sim/agent/port") => Ok(http::json(
            StatusCode::OK,
            &json!({ "open": state.port_open() }),
        )),
        (Method::GET, "/_sim/alerts") => {
            Ok(http::json(StatusCode::OK, &Value::Array(state.alerts())))
        }
        (Method::POST, p) if p.starts_with("/_sim/alerts/") => Ok(record_alert(state, req).await),
        (Method::POST, "/_sim/fault") => match body::<FaultSpec>(req).await {
            Ok(spec) => apply(state, spec).map(|()| done()).map_err(bad),
            Err(r) => Err(r),
        },
        _ => Err(http::json(
            StatusCode::NOT_FOUND,
            &json!({ "error": "no such admin route" }),
        )),
    };
    result.unwrap_or_else(|r| r)
}

/// A webhook receiver for the daemon's alerts: keeps the path, the `Authorization` header and
/// the JSON body, answers 202 as PagerDuty and Teams do.
async fn record_alert(state: &State, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match body::<Value>(req).await {
        Ok(b) => {
            state.record_alert(json!({ "path": path, "authorization": auth, "body": b }));
            http::json(StatusCode::ACCEPTED, &json!({ "status": "success" }))
        }
        Err(r) => r,
    }
}

fn not_found(arn: &str) -> Response<Body> {
    http::json(
        StatusCode::NOT_FOUND,
        &json!({ "error": format!("no agent {arn}") }),
    )
}

fn apply(state: &State, spec: FaultSpec) -> Result<(), String> {
    match spec {
        FaultSpec::Throttle { op, times } => {
            state.inject_fault(op.as_deref(), ApiFault::Throttle { times })
        }
        FaultSpec::Internal { op, times } => {
            state.inject_fault(op.as_deref(), ApiFault::Internal { times })
        }
        FaultSpec::Latency { op, ms } => {
            state.inject_fault(op.as_deref(), ApiFault::Latency(Duration::from_millis(ms)))
        }
        FaultSpec::Reset { op, times } => {
            state.inject_fault(op.as_deref(), ApiFault::ResetConnection { times })
        }
        FaultSpec::CreateThenHang => {
            state.inject_fault(Some("CreateAgent"), ApiFault::CreateThenHang)
        }
        FaultSpec::CreateError { error, times } => state.inject_create_error(error, times),
        FaultSpec::ErrorType { code, times } => state.set_error_type(&code, times),
        FaultSpec::Clear => state.clear_faults(),
        FaultSpec::AgentFault {
            mode,
            fault,
            ms,
            bytes,
        } => {
            let fault = match fault.as_deref() {
                None => None,
                Some("eof") => Some(AgentFault::Eof),
                Some("hang") => Some(AgentFault::Hang),
                Some("garbage") => Some(AgentFault::Garbage),
                Some("trickle") => Some(AgentFault::Trickle),
                Some("slow") => Some(AgentFault::Slow(Duration::from_millis(
                    ms.ok_or("slow needs ms")?,
                ))),
                Some("oversized") => {
                    Some(AgentFault::Oversized(bytes.ok_or("oversized needs bytes")?))
                }
                Some(other) => return Err(format!("unknown agent fault {other:?}")),
            };
            state.set_agent_fault(mode, fault);
        }
    }
    Ok(())
}

/// The admin JSON form of a snapshot (snake_case; tags as `{Key, Value}` like the API).
pub(crate) fn snapshot_json(a: &AgentSnapshot) -> Value {
    json!({
        "arn": a.arn,
        "name": a.name,
        "status": a.status,
        "endpoint_type": a.endpoint_type,
        "tags": a.tags.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect::<Vec<_>>(),
        "vpc_endpoint_id": a.vpc_endpoint_id,
        "subnet_arns": a.subnet_arns,
        "security_group_arns": a.security_group_arns,
        "private_link_endpoint": a.private_link_endpoint,
        "activation_key": a.activation_key,
        "created_at": epoch_seconds(a.created_at),
    })
}

fn request_json(r: &AgentRequest) -> Value {
    json!({
        "query": r.query,
        "mode": r.mode,
        "at": epoch_seconds(r.at),
        "peer": r.peer.to_string(),
        "issued_key": r.issued_key,
    })
}
