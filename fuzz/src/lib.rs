//! The untrusted-input parsers of datasync-warden, compiled from the daemon's own sources.
//!
//! Module names mirror the main crate so that `crate::ids`, `crate::cidr` and `super::…` paths
//! inside those files resolve here unchanged. Only pure modules are included: no hyper, no tokio,
//! no AWS SDK.

#[path = "../../src/ids.rs"]
pub mod ids;

#[path = "../../src/cidr.rs"]
pub mod cidr;

/// URL redaction, which the configuration's error messages use.
#[path = "../../src/redact.rs"]
pub mod redact;

#[path = "../../src/config/mod.rs"]
pub mod config;

/// `datasync_warden::activation_key`'s pure half (the key type and the answer parsers).
#[path = "../../src/activation_key/parse.rs"]
pub mod activation_key;

pub mod oracle;
