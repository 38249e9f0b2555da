//! Liveness by promise: before each awaited step, the code promises how long the step may take
//! (its own bound plus [`SLACK`]) and runs it under that bound, so a stuck step is cancelled
//! and diagnosed instead of hanging. The daemon's watchdog pings and `/healthz` answers 200
//! only while the latest promise holds ([`Promise::kept`]): a sequence of slow but bounded
//! steps keeps the daemon alive however long it lasts, and a step that overruns its promise
//! (a hang the bounds failed to catch) stops the pings, so systemd restarts the process.
//!
//! The promise travels as a task-local around the daemon's main loop: library code that runs
//! outside it (the one-shot commands) makes the same bounded calls and promises to nobody.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Grace added to every promise: scheduling jitter on a loaded 2-core host, and the step's
/// own bookkeeping around the bounded call.
pub(crate) const SLACK: Duration = Duration::from_secs(30);

tokio::task_local! {
    static CURRENT: Arc<Promise>;
}

/// When the next sign of progress is due.
#[derive(Debug)]
pub struct Promise {
    due: Mutex<Instant>,
    slack: Duration,
}

impl Promise {
    /// A promise with [`SLACK`], due [`SLACK`] from now (start-up).
    pub fn new() -> Arc<Self> {
        Self::with_slack(SLACK)
    }

    /// A promise that grants `slack` over every declared bound.
    pub fn with_slack(slack: Duration) -> Arc<Self> {
        Arc::new(Self {
            due: Mutex::new(Instant::now() + slack),
            slack,
        })
    }

    /// The next step may legitimately take up to `d`.
    pub fn expect_within(&self, d: Duration) {
        *self.due.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now() + d + self.slack;
    }

    /// Whether the latest promise still holds.
    pub fn kept(&self) -> bool {
        Instant::now() <= *self.due.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `fut` with this promise as the current one (see [`step`]).
    pub async fn scope<F: Future>(self: &Arc<Self>, fut: F) -> F::Output {
        CURRENT.scope(self.clone(), fut).await
    }
}

/// Promises `bound` to the current scope, if any.
pub(crate) fn expect_within(bound: Duration) {
    let _ = CURRENT.try_with(|p| p.expect_within(bound));
}

/// One awaited step: promised to take at most `bound`, cancelled (`None`) when it does not.
pub(crate) async fn step<F: Future>(bound: Duration, fut: F) -> Option<F::Output> {
    expect_within(bound);
    tokio::time::timeout(bound, fut).await.ok()
}

/// A wait between retries, promised as such.
pub(crate) async fn sleep(d: Duration) {
    expect_within(d);
    tokio::time::sleep(d).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test promises: short bounds, and a slack far above scheduling noise on 2 shared cores
    /// (every assertion below holds unless the slack is exceeded by seconds).
    const TEST_SLACK: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn bounded_steps_keep_the_promise_however_many() {
        let p = Promise::with_slack(TEST_SLACK);
        p.scope(async {
            // Forty steps of 50 ms, each within its own 100 ms bound: together far beyond
            // any one bound.
            for _ in 0..40 {
                let r = step(
                    Duration::from_millis(100),
                    tokio::time::sleep(Duration::from_millis(50)),
                )
                .await;
                assert!(r.is_some());
                assert!(p.kept());
            }
        })
        .await;
    }

    #[tokio::test]
    async fn a_step_that_overruns_its_bound_is_cancelled() {
        let p = Promise::with_slack(TEST_SLACK);
        let r = p
            .scope(step(
                Duration::from_millis(100),
                std::future::pending::<()>(),
            ))
            .await;
        assert!(r.is_none(), "a hung step must be cancelled at its bound");
        assert!(p.kept(), "cancelled well within the promise");
    }

    #[tokio::test]
    async fn a_stalled_step_breaks_the_promise() {
        let p = Promise::with_slack(Duration::from_millis(200));
        let stalled = p.scope(async {
            expect_within(Duration::from_millis(100));
            // A hang no bound catches (what the watchdog is for).
            std::future::pending::<()>().await;
        });
        let watch = async {
            assert!(p.kept());
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert!(!p.kept(), "past the promise: no WATCHDOG=1, /healthz 503");
        };
        tokio::select! {
            () = stalled => unreachable!("pending"),
            () = watch => {}
        }
    }
}
