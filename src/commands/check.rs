//! `check`: the port probes and, with `checks.aws`, the AWS-side checks; a table or JSON.

use std::process::ExitCode;

use anyhow::Result;

use super::{EXIT_FAILED, activated_agent, emit};
use crate::agent::probe;
use crate::aws;
use crate::aws::datasync::ControlPlane;
use crate::aws::ec2::Ec2;
use crate::cli::Format;
use crate::config::Settings;
use crate::preflight::aws_checks;
use crate::preflight::check::Check;
use crate::preflight::report::CheckReport;

pub(super) async fn check(settings: &Settings, format: Format) -> Result<ExitCode> {
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
    let targets = crate::preflight::targets::targets(settings, activated.is_some(), ip);
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
