//! systemd integration: sd_notify messages (READY, STATUS, WATCHDOG, RELOADING, STOPPING).
//!
//! Notification is semantic and never fatal: a failed send is logged and forgotten, and
//! without `NOTIFY_SOCKET` (not started by systemd) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;

/// Talks to the service manager.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC` (and `WATCHDOG_PID`) as set by systemd.
    pub fn from_env() -> Self {
        Self {
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    /// How often to send WATCHDOG=1: half of `WatchdogSec=`, as sd_watchdog_enabled(3) advises.
    pub fn watchdog_period(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(states) {
            log::warn!("sd_notify failed: {e}");
        }
    }

    /// READY=1: configuration is valid and the health endpoint is bound.
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// STATUS=…: one line for `systemctl status`.
    pub fn status(&self, text: &str) {
        self.send(&[NotifyState::Status(text)]);
    }

    /// WATCHDOG=1.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// RELOADING=1 with the timestamp systemd ≥ 253 requires.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(e) => log::warn!("cannot read the monotonic clock for RELOADING=1: {e}"),
        }
    }

    /// STOPPING=1.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }
}
