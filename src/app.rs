//! The application edge: one function per subcommand, and the mapping of failures to exit
//! codes and hints.

use std::process::ExitCode;

use anyhow::{Context, Result};

use std::sync::Arc;

use crate::activate::{Activation, ActivationError, Activator, Progress};
use crate::activation_key::{ActivationKey, KeyClient, KeyError, KeyRequest};
use crate::checks::Check;
use crate::cli::{Cli, Command, Format};
use crate::config::{self, ConfigError, Settings};
use crate::control_plane::{AwsError, ControlPlane};
use crate::ec2::Ec2;
use crate::ids::AgentArn;
use crate::report::CheckReport;
use crate::state::{self, Loaded, Record, StateError, StateStore};
use crate::{aws, aws_checks, probe, report};

/// Exit status: a check or an operation failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: bad usage or invalid configuration.
pub const EXIT_USAGE: u8 = 2;

/// Runs one subcommand; the error, if any, is for [`describe_failure`].
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = config::load(&cli.config)?;
    match cli.command {
        Command::Check { format } => check(&settings, format).await,
        Command::FetchKey => fetch_key(&settings).await,
        Command::Activate { activation_key } => activate(settings, activation_key).await,
        Command::Run => crate::daemon::run(cli.config, settings)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Status { format } => status(&settings, format).await,
    }
}

/// `--activation-key` yields no key (see [`crate::key_arg`]).
pub use crate::key_arg::BadKey;

async fn check(settings: &Settings, format: Format) -> Result<ExitCode> {
    let activated = activated_agent(settings)?;
    let (mut checks, identity, discovered) = if settings.checks.aws {
        let sdk = aws::sdk_config(&settings.endpoint.region, &settings.aws).await;
        let (checks, identity, discovered) =
            aws_checks::run(&Ec2::new(&sdk), &ControlPlane::new(&sdk), settings).await;
        // A failed discovery is already reported as the aws.endpoint check.
        (checks, identity, discovered.ok().flatten())
    } else {
        (Vec::new(), None, None)
    };
    let ip = settings
        .endpoint
        .ip
        .or(discovered.as_ref().and_then(|d| d.ip));
    let targets = probe::targets(settings, activated.is_some(), ip);
    let probes = probe::probe_all(targets, settings.checks.timeout).await;
    let mut all: Vec<Check> = probes.iter().map(Check::from_probe).collect();
    all.append(&mut checks);
    let report = CheckReport::new(activated.map(|a| a.to_string()), identity, discovered, all);
    match format {
        Format::Text => emit(&report.text())?,
        Format::Json => emit(&format!("{}\n", report.json()))?,
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// The agent this host activated (trusted state file) or monitors (`agent.arn`).
fn activated_agent(settings: &Settings) -> Result<Option<AgentArn>> {
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

/// `status`: the running daemon's view, else the state file plus one DescribeAgent.
async fn status(settings: &Settings, format: Format) -> Result<ExitCode> {
    let mut report = match crate::health::fetch_status(settings.health.listen).await {
        Ok(mut v) => {
            v["source"] = "daemon".into();
            v
        }
        Err(why) => {
            log::debug!("no daemon answering on {}: {why}", settings.health.listen);
            offline_status(settings).await?
        }
    };
    if report
        .get("agent_arn")
        .is_none_or(serde_json::Value::is_null)
    {
        report["agent_arn"] = serde_json::Value::Null;
    }
    match format {
        Format::Json => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("json")
        ))?,
        Format::Text => emit(&report::status_text(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn offline_status(settings: &Settings) -> Result<serde_json::Value> {
    let mut v = serde_json::json!({ "source": "state", "phase": null, "region": settings.endpoint.region.as_str() });
    let Some(arn) = activated_agent(settings)? else {
        v["status_text"] = "not activated (no daemon running, no activated state)".into();
        return Ok(v);
    };
    v["agent_arn"] = arn.as_str().into();
    let sdk = aws::sdk_config(&settings.endpoint.region, &settings.aws).await;
    match ControlPlane::new(&sdk).describe_agent(&arn).await {
        Ok(info) => {
            v["agent_status"] = info.status.clone().into();
            v["status_text"] =
                format!("no daemon running; DescribeAgent says {}", info.status).into();
            v["agent"] = serde_json::to_value(&info).expect("json");
        }
        Err(e) => {
            v["status_text"] = "no daemon running; DescribeAgent failed".into();
            v["last_diagnosis"] =
                serde_json::json!({ "kind": e.kind(), "message": e.to_string(), "hint": e.hint() });
        }
    }
    Ok(v)
}

async fn fetch_key(settings: &Settings) -> Result<ExitCode> {
    let discovered = match &settings.endpoint.vpc_endpoint_id {
        Some(id) if settings.needs_discovery() => {
            let sdk = aws::sdk_config(&settings.endpoint.region, &settings.aws).await;
            let found = crate::discovery::discover(&Ec2::new(&sdk), settings)
                .await
                .with_context(|| format!("failed to discover VPC endpoint {id}"))?;
            if let Some(what) = crate::discovery::gap(settings, found.as_ref()) {
                return Err(ActivationError::DiscoveryPending { what }.into());
            }
            found.map(|d| d.discovered())
        }
        _ => None,
    };
    let target = settings.activation_target(discovered)?;
    let req = KeyRequest {
        agent: target.agent_address,
        port: target.agent_port,
        region: target.region,
        endpoint_ip: target.endpoint_ip,
    };
    let key = KeyClient::new(settings.activation.request_timeout)
        .fetch(&req, settings.activation.deadline)
        .await
        .context("failed to fetch the activation key")?;
    log::info!("activation key {key} obtained; it expires 30 minutes after issue");
    emit(&format!("{}\n", key.expose()))?;
    Ok(ExitCode::SUCCESS)
}

async fn activate(settings: Settings, key: Option<String>) -> Result<ExitCode> {
    // Blocking reads of stdin or a small file, before anything else runs: harmless here.
    let supplied: Option<ActivationKey> = key
        .map(|k| crate::key_arg::read_key(&k, std::io::stdin().lock()))
        .transpose()?;
    let store = StateStore::new(&settings.state.dir, state::machine_id()?);
    let sdk = aws::sdk_config(&settings.endpoint.region, &settings.aws).await;
    let activator = Activator::new(settings, store, ControlPlane::new(&sdk), Ec2::new(&sdk))
        .with_progress(Arc::new(|p| {
            if let Progress::Phase(_, text) = p {
                log::info!("{text}");
            }
        }));
    let outcome = activator
        .activate(supplied)
        .await
        .context("failed to activate the agent")?;
    match &outcome {
        Activation::AlreadyActivated { arn, info, .. } => {
            let status = info
                .as_ref()
                .map_or("status unknown", |i| i.status.as_str());
            log::info!("{arn} was already activated ({status}); nothing to do");
        }
        Activation::Adopted { arn } => log::info!("adopted {arn}, activated by an interrupted run"),
        Activation::Created { arn, info } => {
            let status = info
                .as_ref()
                .map_or("status unknown", |i| i.status.as_str());
            log::info!("activated {arn} ({status})");
        }
    }
    emit(&format!("{}\n", outcome.arn()))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes command output to stdout; a closed pipe (`check | head`) ends the output quietly.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("failed to write to stdout"),
    }
}

/// The exit code, error kind and hint for a failure, from the first typed error in its chain.
pub fn describe_failure(err: &anyhow::Error) -> (u8, &'static str, Option<String>) {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ConfigError>() {
            return (EXIT_USAGE, e.kind(), None);
        }
        if let Some(e) = cause.downcast_ref::<ActivationError>() {
            let code = if matches!(e, ActivationError::Config(_)) {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            };
            return (code, e.kind(), Some(e.hint()));
        }
        if let Some(e) = cause.downcast_ref::<KeyError>() {
            return (EXIT_FAILED, e.kind(), Some(e.hint()));
        }
        if let Some(e) = cause.downcast_ref::<AwsError>() {
            return (EXIT_FAILED, e.kind(), Some(e.hint()));
        }
        if let Some(e) = cause.downcast_ref::<StateError>() {
            return (EXIT_FAILED, e.kind(), Some(e.hint()));
        }
        if cause.downcast_ref::<BadKey>().is_some() {
            return (EXIT_USAGE, "bad_key", None);
        }
    }
    (EXIT_FAILED, "other", None)
}
