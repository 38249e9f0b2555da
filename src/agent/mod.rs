//! The DataSync agent VM as seen over the network: TCP reachability of a host and port
//! (`probe`) and the activation-key request to the agent's HTTP endpoint
//! (`activation_key`; its answer is parsed by the parsers crate's `activation_response`).
//!
//! May use: the parsers crate and `support`. Nothing here knows the configuration's layout or
//! which ports to probe: `preflight` decides that. Never through a proxy: the agent and the
//! endpoint are on the private network.

pub mod activation_key;
pub(crate) mod probe;
