//! Rendering of `check` results: a table for people, JSON for pipelines.

use std::fmt::Write;

use serde::Serialize;

use crate::probe::{Outcome, Probe};

/// Version of the JSON schema of `check --format json`.
pub const CHECK_SCHEMA: u32 = 1;

#[derive(Serialize)]
struct CheckReport<'a> {
    schema: u32,
    ok: bool,
    /// The activated agent, when the state file or `agent.arn` names one.
    agent_arn: Option<&'a str>,
    checks: &'a [Probe],
}

/// Whether every required check passed.
pub fn all_ok(probes: &[Probe]) -> bool {
    !probes.iter().any(Probe::failed_required)
}

/// `check --format json`.
pub fn checks_json(probes: &[Probe], agent_arn: Option<&str>) -> String {
    serde_json::to_string_pretty(&CheckReport {
        schema: CHECK_SCHEMA,
        ok: all_ok(probes),
        agent_arn,
        checks: probes,
    })
    .expect("report serializes")
}

/// `check --format text`: consecutive ports of one check with the same outcome share a row.
pub fn checks_text(probes: &[Probe], agent_arn: Option<&str>) -> String {
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut i = 0;
    while i < probes.len() {
        let p = &probes[i];
        let mut j = i + 1;
        while j < probes.len()
            && probes[j].target.check == p.target.check
            && probes[j].outcome == p.outcome
            && probes[j].target.port == probes[j - 1].target.port + 1
        {
            j += 1;
        }
        let last = &probes[j - 1];
        let ports = if j - i > 1 {
            format!("{}-{}", p.target.port, last.target.port)
        } else {
            p.target.port.to_string()
        };
        let max_ms = probes[i..j]
            .iter()
            .map(|p| p.elapsed_ms)
            .fold(0.0, f64::max);
        let status = match (p.outcome, p.target.required) {
            (Outcome::Open, _) => "ok",
            (_, true) => "FAIL",
            (_, false) => "warn",
        };
        let outcome = serde_json::to_value(p.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let hint = if j - i > 1 && p.outcome != Outcome::Open {
            p.hint
                .replace(&format!("TCP {}", p.target.port), &format!("TCP {ports}"))
        } else {
            p.hint.clone()
        };
        rows.push([
            format!("{status:<4} {}", p.target.check),
            format!("{}:{ports}", p.target.host),
            outcome,
            format!("{max_ms:.1}ms"),
            hint,
        ]);
        i = j;
    }
    let w = |k: usize| rows.iter().map(|r| r[k].len()).max().unwrap_or(0);
    let (w0, w1, w2, w3) = (w(0).max(10), w(1).max(6), w(2).max(7), w(3).max(4));
    let mut out = match agent_arn {
        Some(arn) => format!(
            "agent {arn} is activated: its activation port is closed by design, not checked\n\n"
        ),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  HINT",
        "CHECK", "TARGET", "RESULT", "TIME"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {}",
            r[0], r[1], r[2], r[3], r[4]
        );
    }
    let failed = probes.iter().filter(|p| p.failed_required()).count();
    let _ = writeln!(
        out,
        "\n{}",
        if failed == 0 {
            "all required checks passed".to_string()
        } else {
            format!("{failed} required check(s) failed")
        }
    );
    out
}

/// `status --format text`, from the JSON of `/status` or of the offline fallback.
pub fn status_text(v: &serde_json::Value) -> String {
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
    out
}
