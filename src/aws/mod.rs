//! Everything that talks to AWS: the one SDK configuration (`sdk`), the error type of every
//! service's failures (`error`) and their classification by cause (`classify`), the bound of
//! one call (`call`), the DataSync API (`datasync`) and the EC2 and STS calls that discovery and
//! the AWS-side checks need (`ec2`).
//!
//! May use: the parsers crate (`config`, `ids`, `cidr`) and `support`. Nothing here decides
//! what to check or when to activate: callers in `preflight`, `activation` and `daemon` do.
//! Retries are the SDK's own; no second retry layer is stacked on an AWS call.

mod call;
mod classify;
pub(crate) mod datasync;
pub(crate) mod ec2;
pub(crate) mod error;
mod sdk;

pub(crate) use call::{Classified, next_item};

pub(crate) use sdk::OPERATION_TIMEOUT;
pub use sdk::sdk_config;
