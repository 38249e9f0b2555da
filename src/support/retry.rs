//! The one backoff builder: exponential, doubling, ±50% jitter (the `backoff` crate's default
//! randomization). Every path that retries on its own (the agent's HTTP endpoint, the webhook,
//! the daemon's phases, the port checks) builds its policy here; AWS calls retry in the SDK.

use std::time::Duration;

/// Each wait doubles: the usual exponential backoff (AWS's "Exponential Backoff And Jitter").
const MULTIPLIER: f64 = 2.0;

/// Waits from `initial`, doubling up to `max`; `give_up_after` ends the retries (`None`: the
/// caller bounds the whole by its own deadline). The builder, unlike a struct literal, also
/// starts the *current* interval at the initial one.
pub(crate) fn exponential(
    initial: Duration,
    max: Duration,
    give_up_after: Option<Duration>,
) -> backoff::ExponentialBackoff {
    backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(initial)
        .with_multiplier(MULTIPLIER)
        .with_max_interval(max)
        .with_max_elapsed_time(give_up_after)
        .build()
}
