//! The activation, end to end and exactly once: the [`Activator`] (state → preflight → key →
//! CreateAgent → state → DescribeAgent, and adoption of an agent an interrupted run created),
//! its errors ([`ActivationError`]) and the persisted state file with its lock ([`state`]).
//!
//! May use: `preflight`, `aws`, `agent`, the parsers crate and `support`. It reports progress
//! as its own [`Stage`]s; the daemon maps them to its phases, so nothing here depends on the
//! daemon.

mod activate;
mod adopt;
mod error;
mod preflight;
mod record;
pub(crate) mod state;

pub(crate) use activate::*;
pub(crate) use error::ActivationError;
