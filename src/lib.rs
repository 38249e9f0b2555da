//! datasync-warden: activates an AWS DataSync agent through a private VPC endpoint, then keeps
//! watch over it. `main.rs` only parses the command line; everything else lives here so that
//! integration tests can drive it.
//!
//! Modules, by concern: [`config`] (TOML fragments → validated settings), [`ids`] (AWS
//! identifiers), [`probe`] (TCP port checks), [`activation_key`] (the agent's HTTP endpoint),
//! [`aws`] (SDK configuration), [`control_plane`] (DataSync API), [`state`] (the persisted
//! activation), [`activate`] (the whole activation), [`report`] (check output), [`cli`],
//! [`app`] (subcommands and exit codes), [`logging`].
#![deny(missing_docs)]

pub mod activate;
pub mod activation_key;
pub mod alerts;
pub mod app;
pub mod aws;
pub mod aws_checks;
pub mod aws_error;
pub mod checks;
pub mod cidr;
pub mod cli;
pub mod config;
pub mod control_plane;
pub mod daemon;
pub mod discovery;
pub mod ec2;
pub mod error_chain;
pub mod hardening;
pub mod health;
pub mod ids;
pub mod key_arg;
pub mod liveness;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod probe;
pub mod redact;
pub mod report;
pub mod retry;
pub mod sg_rules;
pub mod state;
pub mod status;
pub mod systemd;
