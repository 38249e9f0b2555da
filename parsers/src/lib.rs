//! What datasync-warden reads from outside, and nothing else: the configuration
//! ([`config`]: TOML fragments → merged keys → validated settings), the AWS identifiers and ARN
//! rules ([`ids`]), IPv4 CIDR blocks ([`cidr`]), the agent's answer to the activation-key
//! request ([`activation_response`]), URL redaction for messages ([`redact`]), with the `cli`
//! feature the command line (`cli`), and with the `oracle` feature what must hold for every
//! input (`oracle`, for the fuzz targets and the corpus replay).
//!
//! Why a crate of its own: these parsers take untrusted text (a hand-edited file, a hostile
//! agent's HTTP answer), so the fuzz targets (`fuzz/`) build them with sanitizers. Here they
//! depend on no async runtime, no HTTP stack and no AWS SDK, so a fuzz build stays small and
//! nothing here touches the network; the only I/O is reading small local files
//! (`config::load`, `host::hostname`: at start and on reload). The daemon re-exports `config`, `ids`, `cidr`, `redact`, `host` and `cli` at its crate root.
#![deny(missing_docs)]

pub mod activation_response;
pub mod cidr;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod host;
pub mod ids;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod redact;
