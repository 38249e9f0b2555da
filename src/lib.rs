//! datasync-warden: activates an AWS DataSync agent through a private VPC endpoint, then keeps
//! watch over it. `main.rs` only parses the command line; everything else lives here so that
//! integration tests can drive it.
#![deny(missing_docs)]

pub mod config;
pub mod ids;
pub mod activation_key;
pub mod probe;
pub mod aws;
pub mod control_plane;
pub mod state;
