//! The application edge: one file per subcommand, the mapping of failures to exit codes
//! (`exit`) and the `--activation-key` argument (`key_arg`). Everything below this layer
//! returns typed errors; here they become `anyhow` context, output and an exit status.

mod activate;
mod check;
mod config;
mod exit;
mod fetch_key;
mod key_arg;
mod status;

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::activation::state::{self, Loaded, Record, StateStore};
use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::ids::AgentArn;

pub use exit::{EXIT_FAILED, EXIT_USAGE, describe_failure};
pub use key_arg::BadKey;

/// The async runtime every subcommand runs on (and the benchmark's floor, `bench/floor`).
///
/// One thread: the daemon waits on the network nearly all the time and its CPU-bound steps
/// are short; a multi-thread runtime split each AWS call between the main thread and a
/// worker, and those hand-offs (futex wake-ups, context switches) cost more than the call's
/// own work (bench/report.sh). Blocking steps (state-file writes, the lock, DNS) still run
/// on tokio's blocking pool.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs one subcommand; the error, if any, is for [`describe_failure`].
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let source = cli.source();
    match cli.command {
        // From the files alone (no state file, no network): it loads them itself, with origins.
        Command::Config { action } => config::config(&source, action),
        Command::Check { format } => check::check(&source.load()?, format).await,
        Command::FetchKey => fetch_key::fetch_key(&source.load()?).await,
        Command::Activate { activation_key } => {
            activate::activate(source.load()?, activation_key).await
        }
        Command::Run => {
            let settings = source.load()?;
            crate::daemon::run(source, settings, crate::daemon::Environment::from_process())
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Status { format } => status::status(&source.load()?, format).await,
    }
}

/// The agent this host activated (trusted state file) or monitors (`agent.arn`).
pub(super) fn activated_agent(settings: &Settings) -> Result<Option<AgentArn>> {
    if let Some(arn) = &settings.agent.arn {
        return Ok(Some(arn.clone()));
    }
    let store = StateStore::new(&settings.state.dir, state::machine_id()?);
    Ok(match store.load()? {
        Loaded::Mine(file) => match file.record {
            Record::Activated { agent_arn, .. } => Some(agent_arn),
            Record::Activating { .. } => None,
        },
        Loaded::Absent | Loaded::Foreign { .. } => None,
    })
}

/// Writes command output to stdout; a closed pipe (`check | head`) ends the output quietly.
pub(super) fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("failed to write to stdout"),
    }
}
