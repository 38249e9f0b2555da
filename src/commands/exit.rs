//! Exit codes: the first typed error in a failure's chain decides the status, the error kind
//! printed beside the message and the hint.

use super::BadKey;
use crate::activation::ActivationError;
use crate::activation::state::StateError;
use crate::agent::activation_key::KeyError;
use crate::aws::datasync::AwsError;
use crate::config::ConfigError;

/// Exit status: a check or an operation failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: bad usage or invalid configuration.
pub const EXIT_USAGE: u8 = 2;

/// The exit code, error kind and hint for a failure, from the first typed error in its chain.
pub fn describe_failure(err: &anyhow::Error) -> (u8, &'static str, Option<String>) {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ConfigError>() {
            return (EXIT_USAGE, e.kind(), None);
        }
        if let Some(e) = cause.downcast_ref::<ActivationError>() {
            let code = if matches!(e, ActivationError::Config(_)) {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            };
            return (code, e.kind(), Some(e.hint()));
        }
        if let Some(e) = cause.downcast_ref::<KeyError>() {
            return (EXIT_FAILED, e.kind(), Some(e.hint()));
        }
        if let Some(e) = cause.downcast_ref::<AwsError>() {
            return (EXIT_FAILED, e.kind(), Some(e.hint()));
        }
        if let Some(e) = cause.downcast_ref::<StateError>() {
            return (EXIT_FAILED, e.kind(), Some(e.hint()));
        }
        if cause.downcast_ref::<BadKey>().is_some() {
            return (EXIT_USAGE, "bad_key", None);
        }
    }
    (EXIT_FAILED, "other", None)
}
