//! The one backoff builder: exponential, doubling, ±50% jitter (the `backoff` crate's default
//! randomization), never giving up by itself — callers bound the whole by their own deadline.

use std::time::Duration;

/// Waits from `initial`, doubling up to `max`. (The builder, unlike a struct literal, also
/// starts the *current* interval at the initial one.)
pub(crate) fn exponential(initial: Duration, max: Duration) -> backoff::ExponentialBackoff {
    backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(initial)
        .with_multiplier(2.0)
        .with_max_interval(max)
        .with_max_elapsed_time(None)
        .build()
}
