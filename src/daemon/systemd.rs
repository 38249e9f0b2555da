//! systemd integration: sd_notify messages (READY, STATUS, WATCHDOG, RELOADING, STOPPING).
//!
//! Notification is semantic and never fatal: a failed send is logged and forgotten, and
//! without `NOTIFY_SOCKET` (not started by systemd) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;

/// Shortest watchdog honoured. tokio's timers have 1 ms resolution: below it the half-period
/// pings would spin the runtime (and systemd would kill a loop that slow anyway).
pub(crate) const MIN_WATCHDOG: Duration = Duration::from_millis(1);
/// Longest watchdog honoured as given; longer ones are shortened to it, which is always safe
/// (pinging more often than asked is allowed). A day is far beyond any real `WatchdogSec=` and
/// well inside what timers and `Instant` arithmetic represent.
pub(crate) const MAX_WATCHDOG: Duration = Duration::from_secs(24 * 3600);

/// Talks to the service manager.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notifier {
    watchdog: Option<Duration>,
    /// `instance NAME: ` before every STATUS= line of an instance, so that `systemctl status
    /// datasync-warden@NAME` (and `systemctl list-units`) says which of the host's agents it is.
    status_prefix: String,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC` (and `WATCHDOG_PID`) as set by systemd.
    pub(crate) fn from_env() -> Self {
        let var = |name| std::env::var(name).ok();
        Self::from_env_value(
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
        )
    }

    /// A notifier with this watchdog timeout (`None`: no watchdog), validated like
    /// [`Notifier::from_env`] validates `WATCHDOG_USEC`.
    pub(crate) fn with_watchdog(watchdog: Option<Duration>) -> Self {
        Self {
            watchdog: watchdog.and_then(checked_watchdog),
            status_prefix: String::new(),
        }
    }

    /// The same notifier, its STATUS= lines naming `instance`.
    pub(crate) fn for_instance(self, instance: Option<&crate::config::Instance>) -> Self {
        Self {
            status_prefix: instance
                .map(|i| format!("instance {i}: "))
                .unwrap_or_default(),
            ..self
        }
    }

    /// `WATCHDOG_USEC` and `WATCHDOG_PID` as given: the watchdog is ours only when the PID is
    /// unset or this process's (sd_watchdog_enabled(3)). Nonsense is a warning, never a crash.
    pub(crate) fn from_env_value(usec: Option<&str>, pid: Option<&str>) -> Self {
        let Some(usec) = usec else {
            return Self::default();
        };
        if let Some(pid) = pid
            && pid.trim().parse::<u32>().ok() != Some(std::process::id())
        {
            log::debug!("WATCHDOG_PID={pid:?} is not this process: no watchdog");
            return Self::default();
        }
        match usec.trim().parse::<u64>() {
            Ok(n) => Self::with_watchdog(Some(Duration::from_micros(n))),
            Err(_) => {
                log::warn!(
                    "ignoring WATCHDOG_USEC={usec:?}: expected microseconds (a positive integer);                      running without a watchdog"
                );
                Self::default()
            }
        }
    }

    /// How often to send WATCHDOG=1: half of `WatchdogSec=`, as sd_watchdog_enabled(3) advises.
    pub(crate) fn watchdog_period(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(states) {
            log::warn!("sd_notify failed: {e}");
        }
    }

    /// READY=1: configuration is valid and the health endpoint is bound.
    pub(crate) fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// STATUS=…: one line for `systemctl status`. Control characters become spaces: a newline
    /// in an AWS message would otherwise start a field of its own (`READY=1`, `MAINPID=`).
    pub(crate) fn status(&self, text: &str) {
        let line = format!("{}{}", self.status_prefix, one_line(text));
        self.send(&[NotifyState::Status(&line)]);
    }

    /// WATCHDOG=1.
    pub(crate) fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// RELOADING=1 with the timestamp systemd ≥ 253 requires.
    pub(crate) fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(e) => log::warn!("cannot read the monotonic clock for RELOADING=1: {e}"),
        }
    }

    /// STOPPING=1.
    pub(crate) fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }
}

/// `d` if it is a watchdog timeout this daemon can keep, shortened to [`MAX_WATCHDOG`].
fn checked_watchdog(d: Duration) -> Option<Duration> {
    if d < MIN_WATCHDOG {
        log::warn!(
            "ignoring WATCHDOG_USEC={}: a watchdog needs at least {MIN_WATCHDOG:?}; running \
             without a watchdog",
            d.as_micros()
        );
        return None;
    }
    if d > MAX_WATCHDOG {
        log::warn!(
            "WATCHDOG_USEC={} exceeds {MAX_WATCHDOG:?}: pinging as if it were {MAX_WATCHDOG:?}",
            d.as_micros()
        );
        return Some(MAX_WATCHDOG);
    }
    Some(d)
}

/// `text` with every control character (newline included) replaced by a space.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_or_nonsense_watchdog_means_none() {
        for usec in ["0", "", "-5", "abc", "99999999999999999999999"] {
            let n = Notifier::from_env_value(Some(usec), None);
            assert_eq!(n.watchdog_period(), None, "WATCHDOG_USEC={usec:?}");
        }
        assert_eq!(
            Notifier::with_watchdog(Some(Duration::ZERO)).watchdog_period(),
            None
        );
        assert_eq!(Notifier::from_env_value(None, None).watchdog_period(), None);
    }

    #[test]
    fn every_watchdog_period_is_a_valid_interval() {
        for usec in ["1000", "1000000", &u64::MAX.to_string()] {
            let period = Notifier::from_env_value(Some(usec), None)
                .watchdog_period()
                .expect("a watchdog");
            assert!(
                period > Duration::ZERO && period <= MAX_WATCHDOG / 2,
                "{usec}"
            );
        }
        let n = Notifier::from_env_value(Some("1000000"), None);
        assert_eq!(n.watchdog_period(), Some(Duration::from_millis(500)));
    }

    #[test]
    fn watchdog_pid_of_another_process_is_not_ours() {
        let me = std::process::id().to_string();
        assert!(
            Notifier::from_env_value(Some("1000000"), Some(&me))
                .watchdog_period()
                .is_some()
        );
        let other = (std::process::id() + 1).to_string();
        assert!(
            Notifier::from_env_value(Some("1000000"), Some(&other))
                .watchdog_period()
                .is_none()
        );
        assert!(
            Notifier::from_env_value(Some("1000000"), Some("x"))
                .watchdog_period()
                .is_none()
        );
    }

    #[test]
    fn status_text_cannot_inject_a_field() {
        assert_eq!(
            one_line("denied\nREADY=1\r\nMAINPID=1\t\u{7f}x"),
            "denied READY=1  MAINPID=1  x"
        );
    }
}
