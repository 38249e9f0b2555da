//! Logging through the `log` facade: to journald (structured fields, MESSAGE_ID) when stderr is
//! the journal, plain lines on stderr otherwise. No timestamps on stderr: under systemd,
//! journald adds them; interactively, they are noise.

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Environment variable selecting the log level (error, warn, info, debug, trace).
pub const LOG_ENV: &str = "DATASYNC_WARDEN_LOG";

/// Only our own crate's messages: dependencies' internals are noise to an operator.
fn ours(r: &Record<'_>) -> bool {
    r.target().starts_with("datasync_warden")
}

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) && ours(r) {
            let level = match r.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            // Not eprintln!: it panics when stderr is a closed pipe (`check 2>&1 | head -1`).
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{level}: {}", r.args());
        }
    }
    fn flush(&self) {}
}

/// journald, with the same filter as stderr.
struct Journal(systemd_journal_logger::JournalLog);

impl Log for Journal {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) && ours(r) {
            self.0.log(r);
        }
    }
    fn flush(&self) {}
}

/// Installs the logger; `verbose` counts `-v` flags.
pub fn init(verbose: u8) {
    let from_env = std::env::var(LOG_ENV)
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok());
    let level = match verbose {
        0 => from_env.unwrap_or(LevelFilter::Info),
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let installed = systemd_journal_logger::connected_to_journal()
        && systemd_journal_logger::JournalLog::new()
            .map(|j| {
                let j = j.with_syslog_identifier("datasync-warden".into());
                log::set_boxed_logger(Box::new(Journal(j))).is_ok()
            })
            .unwrap_or(false);
    if installed || log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}
