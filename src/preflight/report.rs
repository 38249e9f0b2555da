//! Rendering of `check` results: a table grouped by network / AWS / permissions for people,
//! JSON with a stable schema for pipelines.

use std::fmt::Write;

use serde::Serialize;

use crate::agent::probe::Outcome;
use crate::aws::ec2::Identity;
use crate::preflight::check::{Check, Group, Verdict};
use crate::preflight::discovery::Discovery;

/// Version of the JSON schema of `check --format json` (documented in the README).
pub(crate) const CHECK_SCHEMA: u32 = 2;

/// Everything `check` found.
#[derive(Debug, Serialize)]
pub(crate) struct CheckReport {
    pub schema: u32,
    /// No check failed.
    pub ok: bool,
    /// The activated (or monitored) agent, if any.
    pub agent_arn: Option<String>,
    /// The AWS identity the checks ran as.
    pub identity: Option<Identity>,
    /// What endpoint discovery found and chose.
    pub discovered: Option<Discovery>,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl CheckReport {
    /// A report; `ok` is derived from the checks.
    pub(crate) fn new(
        agent_arn: Option<String>,
        identity: Option<Identity>,
        discovered: Option<Discovery>,
        checks: Vec<Check>,
    ) -> Self {
        let ok = !checks.iter().any(Check::failed);
        CheckReport {
            schema: CHECK_SCHEMA,
            ok,
            agent_arn,
            identity,
            discovered,
            checks,
        }
    }

    /// `check --format json`.
    pub(crate) fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// `check --format text`.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        if let Some(arn) = &self.agent_arn {
            let _ = writeln!(
                out,
                "agent {arn} is activated: its activation port is closed by design, not checked\n"
            );
        }
        for (group, title) in [
            (Group::Network, "NETWORK"),
            (Group::Aws, "AWS"),
            (Group::Permissions, "PERMISSIONS"),
        ] {
            let rows = rows(self.checks.iter().filter(|c| c.group == group));
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title}");
            let w = |k: usize| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0);
            let (w0, w1) = (w(0), w(1));
            for r in &rows {
                let _ = writeln!(out, "  {:<w0$}  {:<w1$}  {}", r[0], r[1], r[2]);
                if !r[3].is_empty() {
                    let _ = writeln!(out, "  {:<w0$}  fix: {}", "", r[3]);
                }
            }
            out.push('\n');
        }
        if let Some(d) = &self.discovered {
            let _ = writeln!(
                out,
                "discovered: {} in {} — endpoint IP {}, subnet {}, security group {}",
                d.endpoint.id,
                d.endpoint.vpc_id,
                d.ip.map_or("?".into(), |ip| ip.to_string()),
                d.subnet_arn.as_deref().unwrap_or("?"),
                d.security_group_arn.as_deref().unwrap_or("?"),
            );
        }
        if let Some(id) = &self.identity {
            let _ = writeln!(out, "identity:   account {} as {}", id.account, id.arn);
        }
        let failed = self.checks.iter().filter(|c| c.failed()).count();
        let warned = self
            .checks
            .iter()
            .filter(|c| c.status == Verdict::Warn)
            .count();
        let _ = match failed {
            0 => writeln!(out, "all required checks passed ({warned} warning(s))"),
            n => writeln!(out, "{n} required check(s) failed, {warned} warning(s)"),
        };
        out
    }
}

/// Table rows `[status + check, target, detail, hint]`; consecutive port probes of one check
/// with the same outcome share a row.
fn rows<'a>(checks: impl Iterator<Item = &'a Check>) -> Vec<[String; 4]> {
    let checks: Vec<&Check> = checks.collect();
    let mut rows = Vec::new();
    let mut i = 0;
    while i < checks.len() {
        let c = checks[i];
        let mut j = i + 1;
        while j < checks.len()
            && c.port.is_some()
            && checks[j].check == c.check
            && checks[j].outcome == c.outcome
            && checks[j].port == checks[j - 1].port.and_then(|p| p.checked_add(1))
        {
            j += 1;
        }
        let status = match c.status {
            Verdict::Pass => "ok",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "warn",
            Verdict::Skipped => "skip",
        };
        let (target, detail, hint) = match (c.port, checks[j - 1].port) {
            (Some(first), Some(last)) => {
                let ports = if j - i > 1 {
                    format!("{first}-{last}")
                } else {
                    first.to_string()
                };
                let host = c
                    .target
                    .rsplit_once(':')
                    .map_or(c.target.as_str(), |(h, _)| h);
                let max_ms = checks[i..j]
                    .iter()
                    .filter_map(|p| p.elapsed_ms)
                    .fold(0.0, f64::max);
                let outcome = c.outcome.map(Outcome::as_str).unwrap_or_default();
                let hint = if j - i > 1 {
                    c.hint
                        .replace(&format!("TCP {first}"), &format!("TCP {ports}"))
                } else {
                    c.hint.clone()
                };
                (
                    format!("{host}:{ports}"),
                    format!("{outcome} ({max_ms:.1}ms)"),
                    hint,
                )
            }
            _ => (c.target.clone(), c.detail.clone(), c.hint.clone()),
        };
        rows.push([format!("{status:<4} {}", c.check), target, detail, hint]);
        i = j;
    }
    rows
}
