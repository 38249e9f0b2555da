//! Logging to stderr through the `log` facade. No timestamps: under systemd, journald adds them.

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Environment variable selecting the log level (error, warn, info, debug, trace).
pub const LOG_ENV: &str = "DATASYNC_WARDEN_LOG";

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record<'_>) {
        // Only our own crate's messages: the SDK's internals are noise to an operator.
        if self.enabled(r.metadata()) && r.target().starts_with("datasync_warden") {
            let level = match r.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            eprintln!("{level}: {}", r.args());
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
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}
