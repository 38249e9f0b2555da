//! Named checks with a verdict and a one-line fix: the unit of `check`'s report, of the JSON
//! schema, and of `datasync_warden_check_ok{check}`.

use serde::Serialize;

use crate::agent::probe::{Outcome, Probe};

/// Every check's name: `datasync_warden_check_failures_total{check}` has one series per name
/// from the start. Kept in step with the names the checks use by a test (metrics tests).
pub(crate) const NAMES: &[&str] = &[
    crate::agent::probe::ACTIVATION_PORT_CHECK,
    "endpoint.https",
    "endpoint.control_ports",
    "endpoint.support_port",
    "aws.identity",
    "aws.endpoint",
    "aws.endpoint_ip",
    "aws.subnet",
    "aws.subnet_free_ips",
    "aws.security_group",
    "aws.security_group.https",
    "aws.security_group.control_ports",
    "aws.security_group.support_port",
    "aws.cidr_overlap",
];

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    /// Fine.
    Pass,
    /// Blocks activation or transfers.
    Fail,
    /// Worth a look; does not block.
    Warn,
    /// Not run (not applicable, or cannot be verified without side effects).
    Skipped,
}

/// The report's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Group {
    /// TCP reachability from this host.
    Network,
    /// What AWS says about the endpoint, subnet, security group and networks.
    Aws,
    /// Whether the credentials may make the calls activation and monitoring need.
    Permissions,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub group: Group,
    /// Stable name, e.g. `aws.subnet_free_ips`.
    pub check: String,
    pub status: Verdict,
    /// What was checked (host:port, resource id, IAM action).
    pub target: String,
    pub detail: String,
    /// What to do (empty when passed).
    pub hint: String,
    /// Port probes only: the TCP outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Port probes only: the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Port probes only: time to the outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<f64>,
}

impl Check {
    /// A non-probe check.
    pub(crate) fn new(
        group: Group,
        check: impl Into<String>,
        status: Verdict,
        target: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Check {
        Check {
            group,
            check: check.into(),
            status,
            target: target.into(),
            detail: detail.into(),
            hint: hint.into(),
            outcome: None,
            port: None,
            elapsed_ms: None,
        }
    }

    /// A port probe as a check: open passes; anything else fails if required, warns if not.
    pub(crate) fn from_probe(p: &Probe) -> Check {
        let status = match (p.outcome, p.target.required) {
            (Outcome::Open, _) => Verdict::Pass,
            (_, true) => Verdict::Fail,
            (_, false) => Verdict::Warn,
        };
        let outcome = p.outcome.as_str().to_string();
        Check {
            group: Group::Network,
            check: p.target.check.to_string(),
            status,
            target: crate::agent::probe::host_port(&p.target.host, p.target.port),
            detail: p.detail.clone().unwrap_or(outcome),
            hint: p.hint.clone(),
            outcome: Some(p.outcome),
            port: Some(p.target.port),
            elapsed_ms: Some(p.elapsed_ms),
        }
    }

    /// Whether this check blocks.
    pub(crate) fn failed(&self) -> bool {
        self.status == Verdict::Fail
    }
}
