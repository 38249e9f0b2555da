//! `datasync-warden`: parse the command line, set up logging, run, report the error once.

use std::process::ExitCode;

use datasync_warden::support::hardening;
use datasync_warden::{cli::Cli, commands, logging};

fn main() -> ExitCode {
    let cli = Cli::parse_for(env!("CARGO_PKG_VERSION"), env!("CARGO_PKG_DESCRIPTION"));
    logging::init(cli.verbose);
    // Before any key or credential is in memory; without it we still run, but say so.
    if let Err(e) = hardening::forbid_core_dumps() {
        log::warn!("{e}: a crash could write secrets to a core dump");
    }
    let runtime = match commands::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("error: failed to start the async runtime: {e}"));
            return ExitCode::from(commands::EXIT_FAILED);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            let (code, kind, hint) = commands::describe_failure(&err);
            say(&format!("error: {err:#}"));
            if let Some(hint) = hint {
                say(&format!("hint: {}", hint.replace('\n', "\n      ")));
            }
            log::debug!("error kind: {kind}");
            ExitCode::from(code)
        }
    }
}

/// One line on stderr. Not eprintln!, which panics (an abort, in release) when stderr is a
/// closed pipe: the exit code must stay the documented one.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
