//! Everything checked before an activation, and the `check` report: the `check::Check` type
//! and its verdicts, which ports to probe for a configuration (`targets`), the AWS-side
//! checks (identity, endpoint, subnet, security groups, permissions: `aws_checks`), the
//! discovery of the endpoint's network facts (`discovery`), the evaluation of
//! security-group rules (`sg_rules`) and the rendering of all of it (`report`).
//!
//! May use: `aws`, `agent`, the parsers crate and `support`. Used by `activation` (the
//! preflight phase) and `commands` (`check`).

pub(crate) mod aws_checks;
pub(crate) mod check;
pub(crate) mod discovery;
pub(crate) mod report;
pub mod sg_rules;
pub(crate) mod targets;
