//! Which ports to probe for a configuration: the agent's activation port until it is
//! activated, and the endpoint's HTTPS, control and (optionally) support ports. The DataSync
//! network requirements live here; `agent::probe` only connects and classifies.

use crate::agent::probe::{ACTIVATION_PORT_CHECK, Target};
use crate::config::Settings;

/// TCP ports the agent must reach on the endpoint for its control channel. The article says
/// 1024–1062; current AWS documentation says 1064, so the wider range is checked.
pub(crate) const CONTROL_PORTS: std::ops::RangeInclusive<u16> = 1024..=1064;
/// HTTPS to the endpoint: activation and data-plane control.
pub(crate) const HTTPS_PORT: u16 = 443;
/// Only for an AWS Support channel; optional.
pub(crate) const SUPPORT_PORT: u16 = 22;

/// The probes `check` and activation run, from the configuration. Once the agent is
/// `activated`, its activation port is closed by design and is not probed. `endpoint_ip` is
/// the configured or discovered endpoint address.
pub(crate) fn targets(
    settings: &Settings,
    activated: bool,
    endpoint_ip: Option<std::net::Ipv4Addr>,
) -> Vec<Target> {
    let mut out = Vec::new();
    if !activated
        && settings.agent.arn.is_none()
        && let Some(addr) = &settings.agent.address
    {
        out.push(Target {
            check: ACTIVATION_PORT_CHECK,
            host: addr.clone(),
            port: settings.agent.activation_port,
            required: true,
            need: "DataSync activation needs TCP 80 from this host to the agent".into(),
        });
    }
    if let (true, Some(ip)) = (settings.checks.control_ports, endpoint_ip) {
        let host = ip.to_string();
        let t = |check, port, required, need: &str| Target {
            check,
            host: host.clone(),
            port,
            required,
            need: need.to_string(),
        };
        out.push(t(
            "endpoint.https",
            HTTPS_PORT,
            true,
            "the agent needs TCP 443 to the endpoint to activate",
        ));
        let control = format!(
            "DataSync needs {}–{} from the agent to the endpoint",
            CONTROL_PORTS.start(),
            CONTROL_PORTS.end()
        );
        out.extend(CONTROL_PORTS.map(|p| t("endpoint.control_ports", p, true, &control)));
        if settings.checks.support_port {
            out.push(t(
                "endpoint.support_port",
                SUPPORT_PORT,
                false,
                "TCP 22 is only needed for an AWS Support channel",
            ));
        }
    }
    out
}
