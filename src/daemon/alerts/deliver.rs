//! One worker per destination: its own bounded queue, its own retries, its own counters, so
//! that a destination that is down or hangs never delays another one or the monitor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use tokio::sync::{mpsc, watch};

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

/// The sending side of one destination's queue, and its settings.
#[derive(Debug)]
pub(crate) struct Queue {
    name: String,
    /// The destination's current settings: a reload that keeps its name updates them here, so
    /// its queue and the order of its alerts survive (a resolve never overtakes its trigger).
    config: watch::Sender<Resolved>,
    tx: mpsc::Sender<Alert>,
}

impl Queue {
    /// Starts the worker of `dest` on the current runtime; it ends once its [`Queue`] is
    /// dropped and what was queued is delivered or given up.
    pub(crate) fn spawn(
        dest: Resolved,
        client: AlertClient,
        status: Arc<Status>,
        bounds: Bounds,
    ) -> Queue {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let name = dest.name.clone();
        let (config, settings) = watch::channel(dest);
        let worker = Worker {
            settings,
            client,
            status,
            bounds,
        };
        tokio::spawn(worker.run(rx));
        Queue { name, config, tx }
    }

    /// The destination's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// New settings for the same destination (a rotated secret, other events), applied from
    /// the next alert it delivers, the ones already queued included.
    pub(crate) fn update(&self, dest: Resolved) {
        self.config.send_if_modified(|d| {
            let changed = *d != dest;
            *d = dest;
            changed
        });
    }

    /// Queues `alert` if this destination wants its event; a full queue drops it (counted and
    /// logged) rather than wait.
    pub(crate) fn offer(&self, alert: &Alert, status: &Status) {
        if !self.config.borrow().wants(alert.event) {
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

/// Makes the delivery counters list exactly `destinations`, each from 0 (Prometheus sees a
/// counter start rather than appear); those of removed destinations go.
pub(crate) fn register(status: &Status, destinations: &[Resolved]) {
    status.update(|s| {
        s.deliveries
            .retain(|name, _| destinations.iter().any(|d| d.name == *name));
        for d in destinations {
            s.deliveries.entry(d.name.clone()).or_default().format = d.format.as_str();
        }
    });
}

/// Updates a destination's counters, unless a reload removed it meanwhile.
fn count(status: &Status, name: &str, f: impl FnOnce(&mut Deliveries)) {
    status.update(|s| s.deliveries.get_mut(name).map(f));
}

struct Worker {
    settings: watch::Receiver<Resolved>,
    client: AlertClient,
    status: Arc<Status>,
    bounds: Bounds,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Alert>) {
        while let Some(alert) = rx.recv().await {
            let dest = self.settings.borrow_and_update().clone();
            // The URL is a credential (Slack, Teams): logs name its scheme and host only.
            let shown = redact_url(dest.url.expose());
            let result = self.deliver_all(&dest, &shown, &alert).await;
            count(&self.status, &dest.name, |d| {
                d.queued = d.queued.saturating_sub(1);
                match &result {
                    Ok(()) => d.delivered += 1,
                    Err(_) => d.failed += 1,
                }
            });
            let name = &dest.name;
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

    /// Every body the alert takes in the destination's format (a PagerDuty recovery resolves
    /// each condition it ends with its own event); the first that fails is the result.
    async fn deliver_all(
        &self,
        dest: &Resolved,
        shown: &str,
        alert: &Alert,
    ) -> Result<(), PostError> {
        let target = Target {
            name: &dest.name,
            routing_key: dest.routing_key.as_ref().map(|k| k.expose()),
        };
        let headers = headers(dest);
        for body in payload::bodies(dest.format, alert, &target) {
            self.deliver(dest, shown, &headers, Bytes::from(body))
                .await?;
        }
        Ok(())
    }

    /// Posts until accepted, refused for good, or `give_up_after` has passed: every wait is
    /// cut to the time left, so one alert takes at most `give_up_after` plus one
    /// `post_timeout`. The waits come from `backoff`'s jittered exponential policy (the one
    /// retry layer on this path), or from the server's `Retry-After`, never shorter than
    /// `retry_initial` (a `Retry-After: 0` must not become a busy loop).
    async fn deliver(
        &self,
        dest: &Resolved,
        shown: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<(), PostError> {
        use backoff::backoff::Backoff;
        let b = self.bounds;
        let deadline = Instant::now() + b.give_up_after;
        let mut policy = crate::support::retry::exponential(b.retry_initial, b.give_up_after, None);
        loop {
            let e = match self
                .client
                .post(dest.url.expose(), headers, body.clone(), b.post_timeout)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = match e.retry {
                Retry::Permanent => return Err(e),
                _ if left.is_zero() => return Err(e),
                Retry::After(wait) => wait.max(b.retry_initial),
                Retry::Transient => policy.next_backoff().unwrap_or(left),
            }
            .min(left);
            log::warn!(
                "alert destination {} ({shown}): {}; retry in {wait:?}",
                dest.name,
                e.text
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// The configured headers; validated when the configuration was read, so none is lost.
fn headers(dest: &Resolved) -> Vec<(HeaderName, HeaderValue)> {
    dest.headers
        .iter()
        .filter_map(|(n, v)| {
            let mut value = HeaderValue::from_str(v.expose()).ok()?;
            // Kept out of HTTP/2 header compression tables and debug output.
            value.set_sensitive(true);
            Some((HeaderName::from_bytes(n.as_bytes()).ok()?, value))
        })
        .collect()
}

#[cfg(test)]
mod tests;
