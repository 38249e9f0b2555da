//! Endpoint discovery: from `endpoint.vpc_endpoint_id`, find the endpoint's VPC, subnets,
//! security groups and network interfaces, and choose what activation needs — the endpoint IP
//! (the ENI in the chosen subnet), one subnet ARN and one security-group ARN. Explicitly
//! configured values win; a contradiction with what AWS says is reported as a warning.

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::aws::datasync::AwsError;
use crate::aws::ec2::{Ec2, Endpoint, Eni, SecurityGroup, Subnet};
use crate::config::{EndpointSettings, Settings};
use crate::ids::{SecurityGroupArn, SubnetArn, arn_resource_id, partition};
use crate::preflight::check::{Check, Group, Verdict};

/// What discovery found and chose.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Discovery {
    /// The endpoint as EC2 describes it.
    pub endpoint: Endpoint,
    pub enis: Vec<Eni>,
    /// The endpoint IP to send as `privateLinkEndpoint`.
    pub ip: Option<Ipv4Addr>,
    /// The subnet for CreateAgent.
    pub subnet_arn: Option<String>,
    /// That subnet, as EC2 describes it.
    pub subnet: Option<Subnet>,
    /// The security group for CreateAgent.
    pub security_group_arn: Option<String>,
    /// The endpoint VPC's IPv4 CIDR blocks.
    pub vpc_cidrs: Vec<crate::cidr::Cidr>,
    /// The endpoint's security groups (they guard its ENIs).
    #[serde(skip)]
    pub endpoint_groups: Vec<SecurityGroup>,
    /// Contradictions between the configuration and AWS.
    #[serde(skip)]
    pub notes: Vec<Check>,
}

fn note(check: &str, target: &str, detail: String, hint: &str) -> Check {
    Check::new(Group::Aws, check, Verdict::Warn, target, detail, hint)
}

/// Discovers the endpoint; `Ok(None)` when EC2 does not know it.
pub(crate) async fn discover(
    ec2: &Ec2,
    settings: &Settings,
) -> Result<Option<Discovery>, AwsError> {
    let e = &settings.endpoint;
    let Some(id) = &e.vpc_endpoint_id else {
        return Ok(None);
    };
    let Some(endpoint) = ec2.endpoint(id.as_str()).await? else {
        return Ok(None);
    };
    let mut enis = ec2.enis(&endpoint.eni_ids).await?;
    enis.sort_by(|a, b| a.subnet_id.cmp(&b.subnet_id));
    let mut notes = Vec::new();
    let subnet_id = choose_subnet(e, &endpoint, &enis, &mut notes);
    let ip = choose_ip(e, subnet_id.as_deref(), &enis, &mut notes);
    let subnet = match &subnet_id {
        Some(s) => ec2
            .subnets(std::slice::from_ref(s))
            .await?
            .into_iter()
            .next(),
        None => None,
    };
    let subnet_arn = e.subnet_arn.as_ref().map(SubnetArn::to_string).or_else(|| {
        subnet
            .as_ref()
            .map(|s| s.arn.clone())
            .filter(|a| !a.is_empty())
    });
    let endpoint_groups = ec2.security_groups(&endpoint.group_ids).await?;
    let security_group_arn = choose_security_group(e, &endpoint, &endpoint_groups, &mut notes);
    let vpc_cidrs = ec2.vpc_cidrs(&endpoint.vpc_id).await?;
    Ok(Some(Discovery {
        endpoint,
        enis,
        ip,
        subnet_arn,
        subnet,
        security_group_arn,
        vpc_cidrs,
        endpoint_groups,
        notes,
    }))
}

/// The subnet for CreateAgent: the configured one (a note when it is not the endpoint's),
/// else the first endpoint subnet whose interface has an address.
fn choose_subnet(
    e: &EndpointSettings,
    endpoint: &Endpoint,
    enis: &[Eni],
    notes: &mut Vec<Check>,
) -> Option<String> {
    let pinned = e
        .subnet_arn
        .as_ref()
        .map(|a| arn_resource_id(a.as_str()).to_string());
    if let Some(pinned) = &pinned
        && !endpoint.subnet_ids.contains(pinned)
    {
        notes.push(note(
            "aws.subnet",
            pinned,
            format!("endpoint.subnet_arn names {pinned}, not one of the endpoint's subnets ({})", endpoint.subnet_ids.join(", ")),
            "allowed (DataSync puts only task interfaces there) if routing reaches it; otherwise use an endpoint subnet",
        ));
    }
    pinned.or_else(|| {
        enis.iter()
            .find(|n| n.ip.is_some())
            .map(|n| n.subnet_id.clone())
    })
}

/// The endpoint IP: the configured one (a note when no interface has it), else the address
/// of the interface in the chosen subnet, else the first address.
fn choose_ip(
    e: &EndpointSettings,
    subnet_id: Option<&str>,
    enis: &[Eni],
    notes: &mut Vec<Check>,
) -> Option<Ipv4Addr> {
    let eni_ips: Vec<Ipv4Addr> = enis.iter().filter_map(|n| n.ip).collect();
    let Some(pinned) = e.ip else {
        return subnet_id
            .and_then(|s| enis.iter().find(|n| n.subnet_id == s).and_then(|n| n.ip))
            .or_else(|| eni_ips.first().copied());
    };
    if !eni_ips.is_empty() && !eni_ips.contains(&pinned) {
        let found = eni_ips
            .iter()
            .map(Ipv4Addr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        notes.push(note(
            "aws.endpoint_ip",
            &pinned.to_string(),
            format!("endpoint.ip is {pinned}, but the endpoint's interfaces have {found}"),
            "remove endpoint.ip to use the discovered address, or check that this IP really reaches the endpoint",
        ));
    }
    Some(pinned)
}

/// The security group for CreateAgent: the configured one (a note when it is not the
/// endpoint's), else the endpoint's first group.
fn choose_security_group(
    e: &EndpointSettings,
    endpoint: &Endpoint,
    endpoint_groups: &[SecurityGroup],
    notes: &mut Vec<Check>,
) -> Option<String> {
    if let Some(pinned) = &e.security_group_arn {
        let pinned_id = arn_resource_id(pinned.as_str());
        if !endpoint.group_ids.iter().any(|g| g == pinned_id) {
            notes.push(note(
                "aws.security_group",
                pinned_id,
                format!("endpoint.security_group_arn names {pinned_id}, not one of the endpoint's groups ({})", endpoint.group_ids.join(", ")),
                "allowed: it guards the task interfaces; the endpoint's own groups must still admit 443 and 1024-1064 from the agent",
            ));
        }
        return Some(pinned.to_string());
    }
    endpoint_groups.first().map(|g| {
        let region = e.region.as_str();
        format!(
            "arn:{}:ec2:{region}:{}:security-group/{}",
            partition(region),
            g.owner_id,
            g.id
        )
    })
}

/// What discovery still lacks for activation, in words naming the endpoint; None when it is
/// complete. Each gap is one EC2 shows for a while after an endpoint is created (eventual
/// consistency; `pending` until its interfaces exist) — never a reason to edit the
/// configuration on its own, so the caller retries.
pub(crate) fn gap(settings: &Settings, d: Option<&Discovery>) -> Option<String> {
    let e = &settings.endpoint;
    let id = e.vpc_endpoint_id.as_ref().map_or("", |v| v.as_str());
    let Some(d) = d else {
        return Some(format!(
            "VPC endpoint {id} is not visible in {} yet (EC2 says it does not exist)",
            e.region
        ));
    };
    if !d.endpoint.state.eq_ignore_ascii_case("available") {
        let state = if d.endpoint.state.is_empty() {
            "in an unknown state"
        } else {
            &d.endpoint.state
        };
        return Some(format!("VPC endpoint {id} is {state}, not available yet"));
    }
    if e.ip.is_none() && d.ip.is_none() {
        return Some(format!(
            "VPC endpoint {id} has no network interface with an IPv4 address yet{}",
            if d.endpoint.subnet_ids.is_empty() {
                " (it is in no subnet)"
            } else {
                ""
            }
        ));
    }
    let discovered = d.discovered();
    if e.subnet_arn.is_none() && discovered.subnet_arn.is_none() {
        return Some(format!(
            "VPC endpoint {id}: EC2 does not describe its subnet yet"
        ));
    }
    if e.security_group_arn.is_none() && discovered.security_group_arn.is_none() {
        return Some(format!("VPC endpoint {id} has no security group yet"));
    }
    None
}

impl Discovery {
    /// The values activation takes from discovery (those that parse as AWS ids).
    pub(crate) fn discovered(&self) -> crate::config::Discovered {
        crate::config::Discovered {
            ip: self.ip,
            subnet_arn: self
                .subnet_arn
                .as_deref()
                .and_then(|a| SubnetArn::parse(a).ok()),
            security_group_arn: self
                .security_group_arn
                .as_deref()
                .and_then(|a| SecurityGroupArn::parse(a).ok()),
        }
    }
}
