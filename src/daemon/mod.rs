//! `datasync-warden run`: the long-lived service. The run loop and its signals (`run`), the
//! lifecycle of activation then monitoring (`lifecycle`), the monitoring loop (`watch`); the in-memory status every reader shares
//! (`status`); the health endpoint (`health`) and its Prometheus exposition (`metrics`);
//! the monitoring state machine (`monitor`); alert delivery (`alerts`); sd_notify
//! (`systemd`).
//!
//! May use every layer below: `activation`, `preflight`, `aws`, `agent`, the parsers crate and
//! `support`. The daemon is the only writer of its `status::Status`; a scrape reads a
//! snapshot and never calls AWS.

pub(crate) mod alerts;
mod firing;
pub mod health;
mod lifecycle;
pub(crate) mod metrics;
pub(crate) mod monitor;
mod run;
pub(crate) mod status;
pub(crate) mod systemd;
mod watch;

pub use run::{Environment, run};
