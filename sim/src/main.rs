//! `datasync-sim`: runs the simulator as a process for the demo and subprocess tests.
//!
//! Prints one JSON line with the bound addresses on stdout (so callers can use
//! port 0), logs to stderr, and runs until SIGTERM or SIGINT.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use datasync_sim::{SimConfig, Simulator};
use serde::Serialize;

/// Simulated DataSync agent activation endpoint and control plane (test peer only).
#[derive(Debug, Parser)]
#[command(name = "datasync-sim", version)]
struct Args {
    /// Address of the agent activation endpoint (a real agent serves TCP 80).
    #[arg(long, default_value = "127.0.0.1:0")]
    agent_listen: SocketAddr,
    /// Address of the DataSync JSON 1.1 API and the /_sim admin API.
    #[arg(long, default_value = "127.0.0.1:0")]
    api_listen: SocketAddr,
    /// Region the simulator pretends to be.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// AWS account id used in agent ARNs.
    #[arg(long, default_value = "111122223333")]
    account_id: String,
    /// Log every request (debug level) instead of the info-level summary.
    #[arg(long, short)]
    verbose: bool,
}

/// The startup line; field order is the documented one.
#[derive(Serialize)]
struct Ready<'a> {
    agent: String,
    api: String,
    region: &'a str,
}

/// Minimal stderr logger: the simulator needs no filtering beyond a level.
struct StderrLogger(log::LevelFilter);

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.0
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("datasync-sim {:5} {}", r.level(), r.args());
        }
    }

    fn flush(&self) {}
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let level = if args.verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let logger = Box::leak(Box::new(StderrLogger(level)));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("datasync-sim: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("datasync-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let cfg = SimConfig {
        region: args.region,
        account_id: args.account_id,
        agent_listen: args.agent_listen,
        api_listen: args.api_listen,
        ..SimConfig::default()
    };
    let sim = Simulator::start(cfg).await?;
    let ready = Ready {
        agent: sim.agent_addr().to_string(),
        api: sim.api_url(),
        region: sim.region(),
    };
    let line = serde_json::to_string(&ready).map_err(std::io::Error::other)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM, stopping"),
        _ = tokio::signal::ctrl_c() => log::info!("SIGINT, stopping"),
    }
    sim.shutdown().await;
    Ok(())
}
