//! `status`: the running daemon's `/status`, else the state file plus one DescribeAgent.

use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;

use super::{activated_agent, emit};
use crate::aws;
use crate::aws::datasync::ControlPlane;
use crate::cli::Format;
use crate::config::Settings;

/// `status`: the running daemon's view, else the state file plus one DescribeAgent.
pub(super) async fn status(settings: &Settings, format: Format) -> Result<ExitCode> {
    let mut report = match fetch_status(settings.health.listen).await {
        Ok(mut v) => {
            v["source"] = "daemon".into();
            v
        }
        Err(why) => {
            log::debug!("no daemon answering on {}: {why}", settings.health.listen);
            offline_status(settings).await?
        }
    };
    if report
        .get("agent_arn")
        .is_none_or(serde_json::Value::is_null)
    {
        report["agent_arn"] = serde_json::Value::Null;
    }
    // Which of the host's daemons this is about (`--instance`), and where its state lives.
    report["instance"] = settings.instance.as_ref().map(|i| i.as_str()).into();
    report["state_dir"] = settings.state.dir.display().to_string().into();
    match format {
        Format::Json => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("json")
        ))?,
        Format::Text => emit(&status_text(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn offline_status(settings: &Settings) -> Result<serde_json::Value> {
    let mut v = serde_json::json!({ "source": "state", "phase": null, "region": settings.endpoint.region.as_str() });
    let Some(arn) = activated_agent(settings)? else {
        v["status_text"] = "not activated (no daemon running, no activated state)".into();
        return Ok(v);
    };
    v["agent_arn"] = arn.as_str().into();
    let sdk = aws::sdk_config(&settings.endpoint.region, &settings.aws).await;
    match ControlPlane::new(&sdk).describe_agent(&arn).await {
        Ok(info) => {
            v["agent_status"] = info.status.clone().into();
            v["status_text"] =
                format!("no daemon running; DescribeAgent says {}", info.status).into();
            v["agent"] = serde_json::to_value(&info).expect("json");
        }
        Err(e) => {
            v["status_text"] = "no daemon running; DescribeAgent failed".into();
            v["last_diagnosis"] =
                serde_json::json!({ "kind": e.kind(), "message": e.to_string(), "hint": e.hint() });
        }
    }
    Ok(v)
}

/// `status --format text`, from the JSON of `/status` or of the offline fallback.
pub(super) fn status_text(v: &serde_json::Value) -> String {
    let field = |k: &str| match &v[k] {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let mut out = String::new();
    let source = if field("source").as_deref() == Some("daemon") {
        "running daemon"
    } else {
        "state file + DescribeAgent"
    };
    let _ = writeln!(out, "source:        {source}");
    for (label, key) in [
        ("instance", "instance"),
        ("state dir", "state_dir"),
        ("phase", "phase"),
        ("status", "status_text"),
        ("agent", "agent_arn"),
        ("agent status", "agent_status"),
        ("offline since", "offline_since"),
        ("last contact", "last_connection_time"),
    ] {
        if let Some(val) = field(key) {
            let _ = writeln!(out, "{:<14} {val}", format!("{label}:"));
        }
    }
    if let Some(d) = v.get("last_diagnosis").filter(|d| !d.is_null()) {
        let _ = writeln!(
            out,
            "last problem:  [{}] {}",
            d["kind"].as_str().unwrap_or("?"),
            d["message"].as_str().unwrap_or("")
        );
        if let Some(h) = d["hint"].as_str() {
            let _ = writeln!(out, "hint:          {h}");
        }
    }
    if let Some(map) = v["deliveries"].as_object() {
        for (name, d) in map {
            let n = |k: &str| d[k].as_u64().unwrap_or(0);
            let _ = writeln!(
                out,
                "alerts to:     {name} ({}): {} delivered, {} failed, {} dropped, {} queued",
                d["format"].as_str().unwrap_or("?"),
                n("delivered"),
                n("failed"),
                n("dropped"),
                n("queued")
            );
        }
    }
    out
}

/// A `/status` answer: only a JSON object is one (the caller adds fields to it); whatever else
/// answers on the port is another program.
fn status_object(body: &[u8]) -> Result<serde_json::Value, String> {
    match serde_json::from_slice(body) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err("not a datasync-warden status: not a JSON object".into()),
        Err(e) => Err(format!("not a datasync-warden status: {e}")),
    }
}

/// Time to wait for a running daemon's `/status` before falling back to the state file.
pub(super) const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads a running daemon's `/status` (for `datasync-warden status`).
pub(super) async fn fetch_status(addr: std::net::SocketAddr) -> Result<serde_json::Value, String> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let (mut tx, conn) =
            hyper::client::conn::http1::handshake::<_, http_body_util::Empty<Bytes>>(TokioIo::new(
                stream,
            ))
            .await
            .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(conn);
        let req = Request::get("/status")
            .header(hyper::header::HOST, addr.to_string())
            .body(http_body_util::Empty::new())
            .expect("static request parts are valid");
        let resp = tx.send_request(req).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        use http_body_util::BodyExt;
        let body = http_body_util::Limited::new(resp.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        driver.abort();
        status_object(&body.to_bytes())
    };
    tokio::time::timeout(CLIENT_TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_object_is_a_status() {
        for body in ["[]", "\"x\"", "42", "null", "true", "{", ""] {
            let err = status_object(body.as_bytes()).unwrap_err();
            assert!(
                err.starts_with("not a datasync-warden status"),
                "{body}: {err}"
            );
        }
        assert!(status_object(br#"{"phase":"monitoring"}"#).is_ok());
    }

    #[test]
    fn the_text_says_how_each_destination_fares() {
        let v = serde_json::json!({
            "source": "daemon",
            "phase": "monitoring",
            "deliveries": {
                "pager": {"format": "pagerduty", "delivered": 3, "failed": 1, "dropped": 0, "queued": 2}
            }
        });
        let text = status_text(&v);
        assert!(
            text.contains(
                "alerts to:     pager (pagerduty): 3 delivered, 1 failed, 0 dropped, 2 queued\n"
            ),
            "{text}"
        );
    }
}
