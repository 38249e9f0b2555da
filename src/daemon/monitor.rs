//! The monitoring state machine: DescribeAgent observations in, alert events out.
//!
//! Pure logic with the clock passed in, so every transition is tested without waiting. An agent
//! is declared OFFLINE only after `offline_after` consecutive OFFLINE observations (DataSync
//! itself only reports OFFLINE after 5 minutes without contact; one more poll rules out a
//! transient). API errors are not OFFLINE: they are counted, and alerted on only when they
//! persist.

use std::time::{Duration, Instant, SystemTime};

use crate::aws::datasync::{AgentInfo, AwsError};

/// Consecutive failed polls before an `api_errors` alert: three polls (3 min at the default
/// interval) rule out a blip while still catching expired credentials within minutes.
pub(crate) const API_ERRORS_ALERT_AFTER: u32 = 3;

/// What happened, worth telling a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// The agent went OFFLINE.
    Offline,
    /// The agent is still OFFLINE (every `realert_every`).
    StillOffline,
    /// The agent is back ONLINE.
    Recovered,
    /// DescribeAgent keeps failing.
    ApiErrors,
    /// DescribeAgent works again.
    ApiRecovered,
    /// DataSync says the agent does not exist.
    AgentMissing,
}

impl EventKind {
    /// Every kind, for metrics that list them all.
    pub(crate) const ALL: [EventKind; 6] = [
        EventKind::Offline,
        EventKind::StillOffline,
        EventKind::Recovered,
        EventKind::ApiErrors,
        EventKind::ApiRecovered,
        EventKind::AgentMissing,
    ];

    /// Stable name: webhook `event` field and metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventKind::Offline => "offline",
            EventKind::StillOffline => "still_offline",
            EventKind::Recovered => "recovered",
            EventKind::ApiErrors => "api_errors",
            EventKind::ApiRecovered => "api_recovered",
            EventKind::AgentMissing => "agent_missing",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub kind: EventKind,
    /// Since when the agent is OFFLINE (offline events).
    pub since: Option<SystemTime>,
    /// How long the outage lasted (recovered).
    pub outage: Option<Duration>,
    /// Human detail (error text for API events).
    pub detail: String,
    /// For a recovery: the alerts it ends (`offline`; `api_errors` and/or `agent_missing`).
    pub resolves: Vec<EventKind>,
}

impl Event {
    fn new(kind: EventKind) -> Self {
        Event {
            kind,
            since: None,
            outage: None,
            detail: String::new(),
            resolves: Vec::new(),
        }
    }
}

/// The alerts firing at one moment, to carry across a restart (`daemon::firing`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Firing {
    /// Declared OFFLINE since.
    pub offline_since: Option<SystemTime>,
    /// The failures alerted in the current run of failed polls, in the order they fired.
    pub failing: Vec<EventKind>,
}

/// Thresholds, from `[monitor]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    /// `monitor.offline_after`.
    pub offline_after: u32,
    /// `monitor.realert_every`.
    pub realert_every: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Outage {
    since: SystemTime,
    last_alert: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Monitor {
    offline_polls: u32,
    outage: Option<Outage>,
    failed_polls: u32,
    missing_polls: u32,
    /// The failure alerted for the current run of failed polls (api_errors or agent_missing):
    /// a run that turns from one to the other alerts again.
    alerted: Option<EventKind>,
    /// Every failure alerted in the current run: the recovery resolves each of them.
    fired: Vec<EventKind>,
    /// Until then the agent was just activated: see [`Monitor::settling_until`].
    grace_until: Option<Instant>,
}

impl Monitor {
    /// Whether the agent is declared OFFLINE, and since when.
    pub(crate) fn offline_since(&self) -> Option<SystemTime> {
        self.outage.map(|o| o.since)
    }

    /// The agent was activated moments ago: until `until`, "does not exist" means "not yet
    /// visible" (DataSync is eventually consistent) and OFFLINE means "updating" (AWS updates a
    /// new agent's software); neither raises an alert. An outage that outlasts the grace is
    /// alerted at the first poll after it, with its real start.
    pub(crate) fn settling_until(mut self, until: Instant) -> Self {
        self.grace_until = Some(until);
        self
    }

    /// What fires now (an outage, alerted failures).
    pub(crate) fn firing(&self) -> Firing {
        Firing {
            offline_since: self.offline_since(),
            failing: self.fired.clone(),
        }
    }

    /// Picks up what a previous process left firing: the next ONLINE answer (or working
    /// DescribeAgent) resolves it, a continuing outage is not paged again as new, and its
    /// re-alerts count from `now`.
    pub(crate) fn resuming(mut self, f: Firing, now: Instant) -> Self {
        self.outage = f.offline_since.map(|since| Outage {
            since,
            last_alert: now,
        });
        self.alerted = f.failing.last().copied();
        self.fired = f.failing;
        self
    }

    /// Whether `now` is inside the post-activation grace.
    pub(crate) fn settling(&self, now: Instant) -> bool {
        self.grace_until.is_some_and(|g| now < g)
    }

    /// Feeds one DescribeAgent result; `now` is monotonic, `wall` is the wall clock.
    pub(crate) fn observe(
        &mut self,
        result: Result<&AgentInfo, &AwsError>,
        t: Thresholds,
        now: Instant,
        wall: SystemTime,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let info = match result {
            Ok(info) => info,
            Err(e) => return self.failed(e, t, now),
        };
        self.missing_polls = 0;
        if self.alerted.take().is_some() {
            events.push(Event {
                detail: format!(
                    "DescribeAgent works again after {} failed poll(s)",
                    self.failed_polls
                ),
                resolves: std::mem::take(&mut self.fired),
                ..Event::new(EventKind::ApiRecovered)
            });
        }
        self.failed_polls = 0;
        match info.status.as_str() {
            "OFFLINE" => events.extend(self.offline(info, t, now, wall)),
            "ONLINE" => {
                self.offline_polls = 0;
                if let Some(o) = self.outage.take() {
                    let outage = wall.duration_since(o.since).unwrap_or_default();
                    events.push(Event {
                        since: Some(o.since),
                        outage: Some(outage),
                        resolves: vec![EventKind::Offline],
                        ..Event::new(EventKind::Recovered)
                    });
                }
            }
            // An unknown status is neither evidence of an outage nor of recovery.
            _ => {}
        }
        events
    }

    /// An OFFLINE observation: the outage begins after `offline_after` of them (not while
    /// settling), and is re-alerted every `realert_every` while it lasts.
    fn offline(
        &mut self,
        info: &AgentInfo,
        t: Thresholds,
        now: Instant,
        wall: SystemTime,
    ) -> Option<Event> {
        self.offline_polls += 1;
        let settling = self.settling(now);
        match &mut self.outage {
            None if self.offline_polls >= t.offline_after && !settling => {
                let since = info.last_connection_time.unwrap_or(wall);
                self.outage = Some(Outage {
                    since,
                    last_alert: now,
                });
                Some(Event {
                    since: Some(since),
                    ..Event::new(EventKind::Offline)
                })
            }
            Some(o) if now.duration_since(o.last_alert) >= t.realert_every => {
                o.last_alert = now;
                let outage = wall.duration_since(o.since).ok();
                Some(Event {
                    since: Some(o.since),
                    outage,
                    ..Event::new(EventKind::StillOffline)
                })
            }
            _ => None,
        }
    }

    /// A failed poll: "does not exist" is debounced like OFFLINE (and expected while settling);
    /// other errors alert once they persist.
    fn failed(&mut self, e: &AwsError, t: Thresholds, now: Instant) -> Vec<Event> {
        let missing = matches!(e, AwsError::NotFound { .. });
        if missing && self.settling(now) {
            return Vec::new();
        }
        self.failed_polls += 1;
        self.missing_polls = if missing { self.missing_polls + 1 } else { 0 };
        let due = if missing {
            self.missing_polls >= t.offline_after
        } else {
            self.failed_polls >= API_ERRORS_ALERT_AFTER
        };
        let kind = if missing {
            EventKind::AgentMissing
        } else {
            EventKind::ApiErrors
        };
        // Once agent_missing is raised, later other errors add nothing; after api_errors, a
        // deleted agent is still news.
        if !due || self.alerted == Some(kind) || self.alerted == Some(EventKind::AgentMissing) {
            return Vec::new();
        }
        self.alerted = Some(kind);
        self.fired.push(kind);
        vec![Event {
            detail: format!("{e} ({} failed poll(s) in a row)", self.failed_polls),
            ..Event::new(kind)
        }]
    }
}

#[cfg(test)]
mod tests;
