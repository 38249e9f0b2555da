//! Everything that talks to AWS: the one SDK configuration ([`sdk`]), the classification of
//! every service's errors by cause ([`error`]), the DataSync API ([`datasync`]) and the EC2
//! and STS calls that discovery and the AWS-side checks need ([`ec2`]).
//!
//! May use: the parsers crate (`config`, `ids`, `cidr`) and `support`. Nothing here decides
//! what to check or when to activate: callers in `preflight`, `activation` and `daemon` do.
//! Retries are the SDK's own; no second retry layer is stacked on an AWS call.

pub(crate) mod datasync;
pub(crate) mod ec2;
pub(crate) mod error;
mod sdk;

pub(crate) use sdk::{OPERATION_TIMEOUT, sdk_config};
