//! One worker per destination: its own bounded queue, its own retries, its own counters, so
//! that a destination that is down or hangs never delays another one or the monitor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use tokio::sync::mpsc;

use super::Alert;
use super::client::{AlertClient, PostError, Retry};
use super::payload::{self, Target};
use crate::config::alerts::Resolved;
use crate::daemon::status::{Deliveries, Status};
use crate::redact::redact_url;

/// One POST: a destination that takes longer is treated as down. Chat and paging services
/// answer in well under a second; 5 s leaves room for a proxy and a slow TLS handshake.
pub(crate) const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of one alert stop after this long, so a dead destination cannot back its queue up.
pub(crate) const GIVE_UP_AFTER: Duration = Duration::from_secs(30);
/// First retry of a failed POST: 0.5 s doubling gives about six tries in GIVE_UP_AFTER.
const RETRY_INITIAL: Duration = Duration::from_millis(500);
/// Alerts waiting for one destination. Alerts are rare (minutes apart); 64 covers hours of a
/// dead destination at the shortest re-alert period without unbounded memory.
pub(crate) const QUEUE_CAPACITY: usize = 64;

/// The bounds of one destination's deliveries (the constants above; tests shorten or stretch
/// them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) post_timeout: Duration,
    pub(crate) give_up_after: Duration,
    pub(crate) retry_initial: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            post_timeout: POST_TIMEOUT,
            give_up_after: GIVE_UP_AFTER,
            retry_initial: RETRY_INITIAL,
        }
    }
}

/// The sending side of one destination's queue.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    name: String,
    events: Vec<&'static str>,
    tx: mpsc::Sender<Alert>,
}

impl Queue {
    /// Starts the worker of `dest` on the current runtime; it ends once every [`Queue`] of it
    /// is dropped and what was queued is delivered or given up.
    pub(crate) fn spawn(
        dest: Resolved,
        client: AlertClient,
        status: Arc<Status>,
        bounds: Bounds,
    ) -> Queue {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        status.update(|s| {
            s.deliveries
                .entry(dest.name.clone())
                .or_insert_with(Deliveries::default)
                .format = dest.format.as_str();
        });
        let queue = Queue {
            name: dest.name.clone(),
            events: dest.events.clone(),
            tx,
        };
        tokio::spawn(
            Worker {
                dest,
                client,
                status,
                bounds,
            }
            .run(rx),
        );
        queue
    }

    /// Queues `alert` if this destination wants its event; a full queue drops it (counted and
    /// logged) rather than wait.
    pub(crate) fn offer(&self, alert: &Alert, status: &Status) {
        if !self.events.contains(&alert.event) {
            return;
        }
        match self.tx.try_send(alert.clone()) {
            Ok(()) => count(status, &self.name, |d| d.queued += 1),
            Err(e) => {
                log::error!(
                    "alert destination {}: queue full ({QUEUE_CAPACITY} alerts waiting), dropping {}",
                    self.name,
                    e.into_inner().event
                );
                count(status, &self.name, |d| d.dropped += 1);
                status.update(|s| s.webhook_failures_total += 1);
            }
        }
    }
}

/// Updates a destination's counters, unless a reload removed it meanwhile.
fn count(status: &Status, name: &str, f: impl FnOnce(&mut Deliveries)) {
    status.update(|s| s.deliveries.get_mut(name).map(f));
}

struct Worker {
    dest: Resolved,
    client: AlertClient,
    status: Arc<Status>,
    bounds: Bounds,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Alert>) {
        let name = &self.dest.name;
        // The URL is a credential (Slack, Teams): logs name its scheme and host only.
        let shown = redact_url(self.dest.url.expose());
        let headers = self.headers();
        while let Some(alert) = rx.recv().await {
            let body = Bytes::from(payload::render(
                self.dest.format,
                &alert,
                &Target {
                    name,
                    routing_key: self.dest.routing_key.as_ref().map(|k| k.expose()),
                },
            ));
            let result = self.deliver(&shown, &headers, body).await;
            count(&self.status, name, |d| {
                d.queued = d.queued.saturating_sub(1);
                match &result {
                    Ok(()) => d.delivered += 1,
                    Err(_) => d.failed += 1,
                }
            });
            match result {
                Ok(()) => log::debug!(
                    "alert destination {name} ({shown}): {} delivered",
                    alert.event
                ),
                Err(e) => {
                    log::error!(
                        "alert destination {name} ({shown}): giving up on alert {}: {}",
                        alert.event,
                        e.text
                    );
                    self.status.update(|s| s.webhook_failures_total += 1);
                }
            }
        }
    }

    /// The configured headers; validated when the configuration was read, so none is lost.
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        self.dest
            .headers
            .iter()
            .filter_map(|(n, v)| {
                let mut value = HeaderValue::from_str(v.expose()).ok()?;
                // Kept out of HTTP/2 header compression tables and debug output.
                value.set_sensitive(true);
                Some((HeaderName::from_bytes(n.as_bytes()).ok()?, value))
            })
            .collect()
    }

    /// Posts until accepted, refused for good, or `give_up_after` has passed (the `backoff`
    /// crate: the one retry layer on this path).
    async fn deliver(
        &self,
        shown: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<(), PostError> {
        let b = self.bounds;
        let policy = crate::support::retry::exponential(
            b.retry_initial,
            b.give_up_after,
            Some(b.give_up_after),
        );
        let url = self.dest.url.expose();
        let started = Instant::now();
        let post = || async {
            self.client
                .post(url, headers, body.clone(), b.post_timeout)
                .await
                .map_err(|e| match e.retry {
                    Retry::Transient => backoff::Error::transient(e),
                    Retry::Permanent => backoff::Error::permanent(e),
                    // `backoff` honours a server's wait without its own deadline: keep ours.
                    Retry::After(wait) if started.elapsed() + wait > b.give_up_after => {
                        backoff::Error::permanent(e)
                    }
                    Retry::After(wait) => backoff::Error::retry_after(e, wait),
                })
        };
        let name = &self.dest.name;
        let notify = |e: PostError, wait: Duration| {
            log::warn!(
                "alert destination {name} ({shown}): {}; retry in {wait:?}",
                e.text
            )
        };
        backoff::future::retry_notify(policy, post, notify).await
    }
}

#[cfg(test)]
mod tests;
