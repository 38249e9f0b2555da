//! `sdk-floor CONFIG AGENT_ARN POLLS`: the benchmark's floor (bench/report.py). The daemon's
//! SDK client, built by the daemon's own `sdk_config` from the same configuration file,
//! on the same runtime flavour, polls DescribeAgent every `monitor.interval`, `POLLS` times,
//! and does nothing else: no status, metrics, logging, alerting, watchdog or jitter. The
//! daemon's per-poll CPU minus this program's is what the daemon adds to the SDK call.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, arn, polls] = args.as_slice() else {
        eprintln!("usage: sdk-floor CONFIG AGENT_ARN POLLS");
        return ExitCode::from(2);
    };
    let Ok(polls) = polls.parse::<u32>() else {
        eprintln!("sdk-floor: POLLS must be a number, got {polls:?}");
        return ExitCode::from(2);
    };
    let settings = match datasync_warden::config::load(Path::new(config)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sdk-floor: {e}");
            return ExitCode::from(2);
        }
    };
    // The daemon's own runtime (src/main.rs builds it the same way).
    let runtime = datasync_warden::commands::runtime().expect("a tokio runtime");
    runtime.block_on(async {
        let sdk = datasync_warden::sdk_config(&settings.endpoint.region, &settings.aws).await;
        let client = aws_sdk_datasync::Client::new(&sdk);
        for _ in 0..polls {
            if let Err(e) = client.describe_agent().agent_arn(arn).send().await {
                eprintln!("sdk-floor: DescribeAgent failed: {e:?}");
                return ExitCode::FAILURE;
            }
            tokio::time::sleep(settings.monitor.interval).await;
        }
        ExitCode::SUCCESS
    })
}
