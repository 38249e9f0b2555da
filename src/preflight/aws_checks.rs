//! The AWS-side checks of the article's checklist: the endpoint, the subnet's free addresses,
//! the endpoint security group's rules, overlapping networks, and the caller's permissions.

use std::net::{IpAddr, Ipv4Addr};

use crate::aws::datasync::{AwsError, ControlPlane};
use crate::aws::ec2::{DryRun, Ec2, Identity};
use crate::cidr::Cidr;
use crate::config::Settings;
use crate::preflight::check::{Check, Group, Verdict};
use crate::preflight::discovery::Discovery;
use crate::preflight::sg_rules::{Admission, Rule, admits, ranges};
use crate::preflight::targets::{CONTROL_PORTS, HTTPS_PORT, SUPPORT_PORT};

/// Addresses each DataSync task takes in the subnet (the article: four per task).
pub(crate) const IPS_PER_TASK: i32 = 4;

fn aws(check: &str, status: Verdict, target: &str, detail: String, hint: String) -> Check {
    Check::new(Group::Aws, check, status, target, detail, hint)
}

/// The endpoint's type, service and state.
pub(crate) fn endpoint_check(settings: &Settings, d: Option<&Discovery>) -> Check {
    let id = settings
        .endpoint
        .vpc_endpoint_id
        .as_ref()
        .map_or("", |v| v.as_str());
    let region = settings.endpoint.region.as_str();
    let Some(d) = d else {
        return aws("aws.endpoint", Verdict::Fail, id, format!("{id} does not exist in {region} for this account"),
            "check endpoint.vpc_endpoint_id and endpoint.region; for another account set aws.role_arn".into());
    };
    let e = &d.endpoint;
    let want = format!("com.amazonaws.{region}.datasync");
    let problem = if !e.endpoint_type.eq_ignore_ascii_case("interface") {
        Some((
            format!("{id} is a {} endpoint", e.endpoint_type),
            "DataSync needs an Interface endpoint (PrivateLink)".to_string(),
        ))
    } else if e.service_name != want && e.service_name != format!("{want}-fips") {
        Some((
            format!("{id} is for {}, not {want}", e.service_name),
            format!("create an Interface endpoint for {want} in the VPC"),
        ))
    } else if !e.state.eq_ignore_ascii_case("available") {
        Some((
            format!("{id} is {}, not available", e.state),
            "wait until the endpoint is available (or fix its failure)".to_string(),
        ))
    } else if d.enis.iter().all(|n| n.ip.is_none()) {
        Some((
            format!("{id} has no network interface with an IPv4 address (subnets: {})", if e.subnet_ids.is_empty() { "none".to_string() } else { e.subnet_ids.join(", ") }),
            "add the endpoint to a subnet the agent can reach (one interface per subnet); a new endpoint's interfaces appear within minutes".to_string(),
        ))
    } else {
        None
    };
    match problem {
        Some((detail, hint)) => aws("aws.endpoint", Verdict::Fail, id, detail, hint),
        None => aws(
            "aws.endpoint",
            Verdict::Pass,
            id,
            format!(
                "Interface endpoint for {} in {}, available",
                e.service_name, e.vpc_id
            ),
            String::new(),
        ),
    }
}

/// At least four free addresses per planned task in the chosen subnet.
pub(crate) fn subnet_check(settings: &Settings, d: &Discovery) -> Check {
    let Some(s) = &d.subnet else {
        return aws(
            "aws.subnet_free_ips",
            Verdict::Skipped,
            "",
            "no subnet chosen".into(),
            "set endpoint.subnet_arn".into(),
        );
    };
    let tasks = settings.checks.planned_tasks as i32;
    let free = s.free_ips.unwrap_or(0);
    let (status, hint) = if free < IPS_PER_TASK {
        (
            Verdict::Fail,
            format!(
                "DataSync needs {IPS_PER_TASK} free addresses per task: free addresses in {} or pick another subnet (endpoint.subnet_arn)",
                s.id
            ),
        )
    } else if free < IPS_PER_TASK * tasks {
        (
            Verdict::Warn,
            format!(
                "{tasks} planned task(s) need {} addresses (checks.planned_tasks)",
                IPS_PER_TASK * tasks
            ),
        )
    } else {
        (Verdict::Pass, String::new())
    };
    aws(
        "aws.subnet_free_ips",
        status,
        &s.id,
        format!("{free} free IPv4 address(es) in {}", s.id),
        hint,
    )
}

/// Where the agent's traffic comes from: the agent's address, or the configured networks.
pub(crate) async fn agent_sources(settings: &Settings) -> Vec<Cidr> {
    if let Some(addr) = &settings.agent.address {
        if let Ok(ip) = addr.parse::<Ipv4Addr>() {
            return vec![Cidr::host(ip)];
        }
        // Bounded like a probe: a resolver that hangs must not stall activation.
        let lookup = tokio::net::lookup_host((addr.as_str(), 0));
        if let Some(Ok(mut addrs)) =
            crate::support::liveness::step(settings.checks.timeout, lookup).await
            && let Some(IpAddr::V4(ip)) = addrs.find_map(|a| a.ip().is_ipv4().then(|| a.ip()))
        {
            return vec![Cidr::host(ip)];
        }
    }
    settings.checks.source_cidrs.clone()
}

/// Whether the endpoint's security groups admit 443 and 1024-1064 (and 22) from the agent.
pub(crate) fn security_group_checks(
    settings: &Settings,
    d: &Discovery,
    sources: &[Cidr],
) -> Vec<Check> {
    let groups: Vec<&str> = d.endpoint_groups.iter().map(|g| g.id.as_str()).collect();
    let target = groups.join(",");
    if sources.is_empty() {
        return vec![aws(
            "aws.security_group",
            Verdict::Skipped,
            &target,
            "the agent's address is unknown".into(),
            "set agent.address to its IPv4 address, or checks.source_cidrs to its networks".into(),
        )];
    }
    let scope = Ingress {
        rules: d
            .endpoint_groups
            .iter()
            .flat_map(|g| g.rules.iter().cloned())
            .collect(),
        sources,
        first_group: groups.first().copied().unwrap_or("the endpoint's group"),
        from: sources
            .iter()
            .map(Cidr::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        target,
    };
    let mut checks = vec![
        scope.check("aws.security_group.https", &[HTTPS_PORT], true),
        scope.check(
            "aws.security_group.control_ports",
            &CONTROL_PORTS.collect::<Vec<_>>(),
            true,
        ),
    ];
    if settings.checks.support_port {
        checks.push(scope.check("aws.security_group.support_port", &[SUPPORT_PORT], false));
    }
    checks
}

/// The endpoint's ingress rules and the agent's sources, for one check per set of ports.
struct Ingress<'a> {
    rules: Vec<Rule>,
    sources: &'a [Cidr],
    /// The group a missing rule should be added to.
    first_group: &'a str,
    /// The sources, for messages.
    from: String,
    /// The groups, for the check's target.
    target: String,
}

impl Ingress<'_> {
    /// The ports some source is denied on, and those only unevaluable rules could admit.
    fn evaluate(&self, ports: &[u16]) -> (Vec<u16>, Vec<(u16, Vec<String>)>) {
        let mut denied = Vec::new();
        let mut unknown = Vec::new();
        for &port in ports {
            for src in self.sources {
                match admits(&self.rules, port, src) {
                    Admission::Allowed => {}
                    Admission::Denied => denied.push(port),
                    Admission::Unknown(why) => unknown.push((port, why)),
                }
            }
        }
        denied.dedup();
        (denied, unknown)
    }

    /// Pass when a CIDR rule admits every port from every source; fail (warn when not
    /// `required`) when some port is denied; warn when only unevaluable rules could admit it.
    fn check(&self, name: &str, ports: &[u16], required: bool) -> Check {
        let (target, from) = (&self.target, &self.from);
        let (denied, unknown) = self.evaluate(ports);
        if !denied.is_empty() {
            let status = if required {
                Verdict::Fail
            } else {
                Verdict::Warn
            };
            return aws(
                name,
                status,
                target,
                format!(
                    "{target} do(es) not admit TCP {} from {from}",
                    ranges(&denied)
                ),
                format!(
                    "add an inbound rule to {} for TCP {} from {from}",
                    self.first_group,
                    ranges(&denied)
                ),
            );
        }
        if let Some((_, why)) = unknown.first() {
            let mut ports: Vec<u16> = unknown.iter().map(|(p, _)| *p).collect();
            ports.dedup();
            return aws(
                name,
                Verdict::Warn,
                target,
                format!(
                    "TCP {} is admitted only by rules naming {} — not evaluated",
                    ranges(&ports),
                    why.join(", ")
                ),
                format!(
                    "confirm the agent ({from}) is covered by {}, or add a CIDR rule",
                    why.join(", ")
                ),
            );
        }
        let what = match ports {
            [one] => format!("TCP {one}"),
            _ => format!("TCP {}-{}", ports[0], ports[ports.len() - 1]),
        };
        aws(
            name,
            Verdict::Pass,
            target,
            format!("{what} admitted from {from}"),
            String::new(),
        )
    }
}

/// This host's IPv4 networks (not loopback or link-local), from its interfaces.
pub(crate) fn host_networks() -> Vec<Cidr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out: Vec<Cidr> = addrs
        .filter_map(|a| {
            let ip = a.address?.as_sockaddr_in()?.ip();
            let mask = a.netmask?.as_sockaddr_in()?.ip();
            let len = u32::from(mask).count_ones() as u8;
            (!ip.is_loopback() && !ip.is_link_local())
                .then(|| Cidr::new(ip, len))
                .flatten()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The endpoint VPC's CIDRs must not overlap the agent's networks.
pub(crate) fn overlap_check(settings: &Settings, d: &Discovery) -> Check {
    let (mine, whose) = if settings.checks.source_cidrs.is_empty() {
        (host_networks(), "this host's interfaces")
    } else {
        (settings.checks.source_cidrs.clone(), "checks.source_cidrs")
    };
    let vpc = d
        .vpc_cidrs
        .iter()
        .map(Cidr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let clashes: Vec<String> = d
        .vpc_cidrs
        .iter()
        .flat_map(|v| {
            mine.iter()
                .filter(move |m| m.overlaps(v))
                .map(move |m| format!("{v} (VPC) and {m} ({whose})"))
        })
        .collect();
    if clashes.is_empty() {
        let nets = mine
            .iter()
            .map(Cidr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        aws(
            "aws.cidr_overlap",
            Verdict::Pass,
            &d.endpoint.vpc_id,
            format!("VPC {vpc} does not overlap {nets} ({whose})"),
            String::new(),
        )
    } else {
        aws("aws.cidr_overlap", Verdict::Fail, &d.endpoint.vpc_id, format!("overlapping networks: {}", clashes.join("; ")),
            "DataSync needs non-overlapping source and destination networks: re-address one side (routes cannot tell them apart)".into())
    }
}

fn permission(action: &str, r: Result<(), AwsError>) -> Check {
    match r {
        Ok(()) => Check::new(
            Group::Permissions,
            format!("permissions.{action}"),
            Verdict::Pass,
            action,
            "allowed",
            "",
        ),
        Err(AwsError::AccessDenied { message, .. }) => Check::new(
            Group::Permissions,
            format!("permissions.{action}"),
            Verdict::Fail,
            action,
            format!("denied: {message}"),
            format!("grant {action} (see the shipped IAM policy)"),
        ),
        Err(e) => Check::new(
            Group::Permissions,
            format!("permissions.{action}"),
            Verdict::Warn,
            action,
            format!("could not verify: {e}"),
            e.hint(),
        ),
    }
}

/// Calls what activation and monitoring need, harmlessly, and names any missing IAM action.
pub(crate) async fn permission_checks(
    ec2: &Ec2,
    api: &ControlPlane,
    settings: &Settings,
    identity: Option<&Identity>,
) -> Vec<Check> {
    let mut out = Vec::new();
    for action in DryRun::ALL {
        out.push(permission(action.name(), ec2.dry_run(action).await));
    }
    out.push(permission("datasync:ListAgents", api.list_one().await));
    // A well-formed ARN that cannot exist: "not found" proves the permission without side effects.
    if let Some(id) = identity {
        let region = settings.endpoint.region.as_str();
        let probe = format!(
            "arn:{}:datasync:{region}:{}:agent/agent-00000000000000000",
            crate::ids::partition(region),
            id.account
        );
        let r = match crate::ids::AgentArn::parse(&probe) {
            Ok(arn) => match api.describe_agent(&arn).await {
                Ok(_) | Err(AwsError::NotFound { .. } | AwsError::InvalidRequest { .. }) => Ok(()),
                Err(e) => Err(e),
            },
            Err(_) => Ok(()),
        };
        out.push(permission("datasync:DescribeAgent", r));
    }
    for action in ["datasync:CreateAgent", "datasync:TagResource"] {
        out.push(Check::new(
            Group::Permissions,
            format!("permissions.{action}"),
            Verdict::Skipped,
            action,
            "cannot be verified without creating an agent",
            format!("make sure the policy grants {action}"),
        ));
    }
    out
}

/// Every AWS-side check; also returns the discovery for the network probes and activation
/// (`Ok(None)`: no endpoint configured, or EC2 says it does not exist; `Err`: EC2 could not be
/// asked, which is not the same thing).
pub(crate) async fn run(
    ec2: &Ec2,
    api: &ControlPlane,
    settings: &Settings,
) -> (
    Vec<Check>,
    Option<Identity>,
    Result<Option<Discovery>, AwsError>,
) {
    let mut out = Vec::new();
    let identity = identity_check(ec2, &mut out).await;
    let discovery = if settings.endpoint.vpc_endpoint_id.is_none() {
        Ok(None)
    } else {
        discovery_check(ec2, settings, &mut out).await
    };
    if let Ok(Some(d)) = &discovery {
        out.extend(d.notes.iter().cloned());
        out.push(subnet_check(settings, d));
        let sources = agent_sources(settings).await;
        out.extend(security_group_checks(settings, d, &sources));
        out.push(overlap_check(settings, d));
    }
    out.extend(permission_checks(ec2, api, settings, identity.as_ref()).await);
    (out, identity, discovery)
}

/// `aws.identity`: who the credentials are (STS GetCallerIdentity).
async fn identity_check(ec2: &Ec2, out: &mut Vec<Check>) -> Option<Identity> {
    match ec2.identity().await {
        Ok(id) => {
            out.push(aws(
                "aws.identity",
                Verdict::Pass,
                &id.arn,
                format!("account {} as {}", id.account, id.arn),
                String::new(),
            ));
            Some(id)
        }
        Err(e) => {
            out.push(aws(
                "aws.identity",
                Verdict::Fail,
                "sts:GetCallerIdentity",
                e.to_string(),
                e.hint(),
            ));
            None
        }
    }
}

/// `aws.endpoint`: the endpoint's discovery, and its state when found.
async fn discovery_check(
    ec2: &Ec2,
    settings: &Settings,
    out: &mut Vec<Check>,
) -> Result<Option<Discovery>, AwsError> {
    match crate::preflight::discovery::discover(ec2, settings).await {
        Ok(d) => {
            out.push(endpoint_check(settings, d.as_ref()));
            Ok(d)
        }
        Err(e) => {
            let id = settings.endpoint.vpc_endpoint_id.as_ref();
            let target = id.map_or("", |v| v.as_str());
            out.push(aws(
                "aws.endpoint",
                Verdict::Fail,
                target,
                e.to_string(),
                e.hint(),
            ));
            Err(e)
        }
    }
}
