//! The DataSync control plane over the AWS JSON 1.1 protocol: `POST /` with
//! `X-Amz-Target: FmrsService.<Operation>`. This module routes, applies the
//! injected faults, and renders answers/errors; `operations` does the work.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use crate::admin;
use crate::faults::Terminal;
use crate::http::{self, Body, BodyError, DropConnection};
use crate::ids::random_hex;
use crate::operations;
use crate::state::State;

/// `metadata.targetPrefix` of the model.
const TARGET_PREFIX: &str = "FmrsService.";
/// `metadata.jsonVersion` 1.1.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The operations the simulator implements (model names).
pub(crate) const OPERATIONS: &[&str] = &[
    "CreateAgent",
    "DescribeAgent",
    "ListAgents",
    "DeleteAgent",
    "UpdateAgent",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

/// An error answer in the JSON 1.1 shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    /// `InvalidRequestException`: DataSync's answer to anything wrong with the input.
    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "InvalidRequestException",
            message: message.into(),
        }
    }

    /// `SerializationException`: the body is not the JSON the model describes.
    pub(crate) fn serialization(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "SerializationException",
            message: message.into(),
        }
    }

    fn throttling() -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "ThrottlingException",
            message: "Rate exceeded".to_owned(),
        }
    }

    fn internal() -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "InternalException",
            message: "An internal error occurred. Please try again.".to_owned(),
        }
    }

    fn unknown_operation(target: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "UnknownOperationException",
            message: format!("Unknown operation {target}"),
        }
    }
}

/// A fresh request id, shaped like AWS's (a UUID).
fn request_id() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn ok(value: &Value) -> Response<Body> {
    let id = request_id();
    let headers = [
        ("content-type", CONTENT_TYPE),
        ("x-amzn-requestid", id.as_str()),
    ];
    http::response(StatusCode::OK, &headers, value.to_string())
}

fn error(e: &ApiError) -> Response<Body> {
    let id = request_id();
    let headers = [
        ("content-type", CONTENT_TYPE),
        ("x-amzn-requestid", id.as_str()),
        ("x-amzn-errortype", e.kind),
    ];
    let body = serde_json::json!({ "__type": e.kind, "message": e.message });
    http::response(e.status, &headers, body.to_string())
}

/// Entry point for every request on the API port (admin routes included).
pub(crate) async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    if req.uri().path().starts_with("/_sim") {
        return Ok(admin::handle(&state, req).await);
    }
    if req.method() != Method::POST || req.uri().path() != "/" {
        let body = serde_json::json!({ "message": "not found" });
        return Ok(http::json(StatusCode::NOT_FOUND, &body));
    }
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let op = target
        .strip_prefix(TARGET_PREFIX)
        .unwrap_or(&target)
        .to_owned();
    state.count_call(&op);
    if !req.headers().contains_key("authorization") {
        // Signatures are not checked; a missing one is only worth a note.
        log::debug!("api {op}: request is not signed");
    }
    let body = match http::read_body(req.into_body()).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let e = ApiError::serialization("Request body too large");
            return Ok(error(&ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                ..e
            }));
        }
        Err(BodyError::Broken) => return Err(DropConnection),
    };
    if !target.starts_with(TARGET_PREFIX) || !OPERATIONS.contains(&op.as_str()) {
        log::info!("api: unknown target {target:?}");
        return Ok(error(&ApiError::unknown_operation(&target)));
    }

    let plan = state.take_fault_plan(&op);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if let Some(t) = plan.terminal {
        return terminal(&op, t);
    }
    let input = match parse_input(&body) {
        Ok(input) => input,
        Err(e) => return Ok(error(&e)),
    };
    let result = operations::dispatch(&state, &op, &input).await;
    match result {
        Ok(out) => {
            log::info!("api {op}: ok");
            if !plan.answer_latency.is_zero() {
                tokio::time::sleep(plan.answer_latency).await;
            }
            if plan.hang_after_create && op == "CreateAgent" {
                log::info!("api {op}: fault: created, now never answering");
                state.shutdown_signal().await;
                return Err(DropConnection);
            }
            Ok(ok(&out))
        }
        Err(e) => {
            log::info!("api {op}: {} {}", e.kind, e.message);
            Ok(error(&e))
        }
    }
}

/// What an injected terminal fault answers instead of the operation.
fn terminal(op: &str, t: Terminal) -> Result<Response<Body>, DropConnection> {
    match t {
        Terminal::Reset => {
            log::info!("api {op}: fault: dropping the connection");
            Err(DropConnection)
        }
        Terminal::Throttle => {
            log::info!("api {op}: fault: throttled");
            Ok(error(&ApiError::throttling()))
        }
        Terminal::Internal => {
            log::info!("api {op}: fault: internal error");
            Ok(error(&ApiError::internal()))
        }
        Terminal::Error(kind, status) => {
            log::info!("api {op}: fault: {kind}");
            Ok(error(&ApiError {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                kind,
                message: format!("injected {kind}"),
            }))
        }
        Terminal::NotFound => {
            log::info!("api {op}: fault: does not exist (yet)");
            Ok(error(&ApiError {
                status: StatusCode::BAD_REQUEST,
                kind: "InvalidRequestException",
                message: "host-0c61c0944a13c5fda does not exist or has been deleted.".into(),
            }))
        }
    }
}

/// The request's JSON object (an empty body is `{}`, as AWS accepts it).
fn parse_input(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(input)) => Ok(input),
        Ok(_) => Err(ApiError::serialization("Expected a JSON object")),
        Err(e) => Err(ApiError::serialization(format!("Malformed JSON: {e}"))),
    }
}

/// Seconds since the epoch as JSON 1.1 serialises timestamps (fractional, millisecond precision).
pub(crate) fn epoch_seconds(t: std::time::SystemTime) -> f64 {
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    // Milliseconds since 1970 fit an f64 exactly for millennia.
    ms as f64 / 1000.0
}
