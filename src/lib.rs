//! datasync-warden: activates an AWS DataSync agent through a private VPC endpoint, then keeps
//! watch over it. `main.rs` only parses the command line; everything else lives here so that
//! integration tests can drive it. `ARCHITECTURE.md` at the repository root is the map.
//!
//! Layers, each a folder; a layer uses only the layers before it in this list:
//!
//! 1. the parsers crate, re-exported here: `config` (TOML fragments → validated settings),
//!    `ids` (AWS identifiers and ARN rules), `cidr`, `redact`, `cli`; and `support`
//!    (error chains, liveness promises, the backoff builder, process hardening);
//! 2. `aws` (SDK configuration, error classification, DataSync, EC2/STS) and `agent` (TCP
//!    probes, the activation-key client);
//! 3. `preflight` (checks, discovery, security-group rules, the check report);
//! 4. `activation` (the activation, adoption, the state file);
//! 5. `daemon` (run loop, status, health endpoint, metrics, monitor, alerts, systemd);
//! 6. `commands` (one file per subcommand, exit codes) and `logging`.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub use datasync_warden_parsers::{cidr, cli, config, host, ids, redact};

pub(crate) mod activation;
pub mod agent;
pub(crate) mod aws;
pub mod commands;
pub mod daemon;
pub mod logging;
pub mod preflight;
pub mod support;

/// The daemon's SDK configuration, for the benchmark's bare-SDK floor (`bench/floor`), which
/// must poll with exactly the daemon's client; not an API.
#[doc(hidden)]
pub use aws::sdk_config;
