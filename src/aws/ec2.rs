//! EC2 and STS reads for discovery and the AWS-side checks. Every call is a `Describe*` (or
//! `GetCallerIdentity`); permission probes use EC2's `DryRun`. Errors are classified like the
//! DataSync ones, with the IAM action named.

use std::net::Ipv4Addr;

use aws_sdk_ec2::Client;
use serde::Serialize;

use crate::aws::Classified;
use crate::aws::datasync::AwsError;
use crate::cidr::Cidr;

/// One ingress rule, reduced to what matters here.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `tcp`, `6`, `-1`, `udp`, …
    pub protocol: String,
    /// First port (None for `-1`).
    pub from: Option<i32>,
    /// Last port (None for `-1`).
    pub to: Option<i32>,
    /// IPv4 source ranges.
    pub cidrs: Vec<Cidr>,
    /// Source security groups (`sg-…`).
    pub groups: Vec<String>,
    /// Source prefix lists (`pl-…`).
    pub prefix_lists: Vec<String>,
}

/// An interface VPC endpoint.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub(crate) struct Endpoint {
    pub id: String,
    pub vpc_id: String,
    pub service_name: String,
    /// `Interface`, `Gateway`, …
    pub endpoint_type: String,
    /// `available`, `pending`, …
    pub state: String,
    pub owner_id: String,
    pub subnet_ids: Vec<String>,
    pub group_ids: Vec<String>,
    pub eni_ids: Vec<String>,
}

/// One of the endpoint's network interfaces.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub(crate) struct Eni {
    pub id: String,
    pub subnet_id: String,
    pub ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub(crate) struct Subnet {
    pub id: String,
    pub arn: String,
    pub vpc_id: String,
    pub cidr: Option<Cidr>,
    pub free_ips: Option<i32>,
}

/// A security group's ingress rules.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub(crate) struct SecurityGroup {
    pub id: String,
    pub owner_id: String,
    pub rules: Vec<Rule>,
}

/// Who the credentials are (STS GetCallerIdentity).
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub(crate) struct Identity {
    pub account: String,
    pub arn: String,
}

/// EC2 `Describe*` calls a permission probe makes with `DryRun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub(crate) enum DryRun {
    VpcEndpoints,
    NetworkInterfaces,
    Subnets,
    SecurityGroups,
    Vpcs,
}

impl DryRun {
    /// Every probe, in the order the check report lists them.
    pub(crate) const ALL: [DryRun; 5] = [
        DryRun::VpcEndpoints,
        DryRun::NetworkInterfaces,
        DryRun::Subnets,
        DryRun::SecurityGroups,
        DryRun::Vpcs,
    ];

    /// The IAM action.
    pub(crate) fn name(self) -> &'static str {
        match self {
            DryRun::VpcEndpoints => "ec2:DescribeVpcEndpoints",
            DryRun::NetworkInterfaces => "ec2:DescribeNetworkInterfaces",
            DryRun::Subnets => "ec2:DescribeSubnets",
            DryRun::SecurityGroups => "ec2:DescribeSecurityGroups",
            DryRun::Vpcs => "ec2:DescribeVpcs",
        }
    }
}

/// EC2 and STS clients for one Region and identity.
#[derive(Debug, Clone)]
pub(crate) struct Ec2 {
    ec2: Client,
    sts: aws_sdk_sts::Client,
}

impl Ec2 {
    /// Clients built from the shared SDK configuration.
    pub(crate) fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            ec2: Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
        }
    }

    /// The effective identity.
    pub(crate) async fn identity(&self) -> Result<Identity, AwsError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .classified("sts:GetCallerIdentity")
            .await?;
        Ok(Identity {
            account: out.account().unwrap_or_default().into(),
            arn: out.arn().unwrap_or_default().into(),
        })
    }

    /// The endpoint, or None if EC2 does not know it.
    pub(crate) async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, AwsError> {
        let out = match self
            .ec2
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .classified("ec2:DescribeVpcEndpoints")
            .await
        {
            Ok(out) => out,
            // AWS said so (InvalidVpcEndpointId.NotFound): the caller decides what it means.
            Err(AwsError::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other),
        };
        Ok(out.vpc_endpoints().first().map(|e| Endpoint {
            id: e.vpc_endpoint_id().unwrap_or_default().into(),
            vpc_id: e.vpc_id().unwrap_or_default().into(),
            service_name: e.service_name().unwrap_or_default().into(),
            endpoint_type: e
                .vpc_endpoint_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            state: e
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            owner_id: e.owner_id().unwrap_or_default().into(),
            subnet_ids: e.subnet_ids().to_vec(),
            group_ids: e
                .groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect(),
            eni_ids: e.network_interface_ids().to_vec(),
        }))
    }

    /// Network interfaces by id.
    pub(crate) async fn enis(&self, ids: &[String]) -> Result<Vec<Eni>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .ec2
            .describe_network_interfaces()
            .set_network_interface_ids(Some(ids.to_vec()))
            .send()
            .classified("ec2:DescribeNetworkInterfaces")
            .await?;
        Ok(out
            .network_interfaces()
            .iter()
            .map(|n| Eni {
                id: n.network_interface_id().unwrap_or_default().into(),
                subnet_id: n.subnet_id().unwrap_or_default().into(),
                ip: n.private_ip_address().and_then(|ip| ip.parse().ok()),
            })
            .collect())
    }

    pub(crate) async fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .ec2
            .describe_subnets()
            .set_subnet_ids(Some(ids.to_vec()))
            .send()
            .classified("ec2:DescribeSubnets")
            .await?;
        Ok(out
            .subnets()
            .iter()
            .map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().into(),
                arn: s.subnet_arn().unwrap_or_default().into(),
                vpc_id: s.vpc_id().unwrap_or_default().into(),
                cidr: s.cidr_block().and_then(|c| c.parse().ok()),
                free_ips: s.available_ip_address_count(),
            })
            .collect())
    }

    /// Security groups by id, with their ingress rules.
    pub(crate) async fn security_groups(
        &self,
        ids: &[String],
    ) -> Result<Vec<SecurityGroup>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .ec2
            .describe_security_groups()
            .set_group_ids(Some(ids.to_vec()))
            .send()
            .classified("ec2:DescribeSecurityGroups")
            .await?;
        Ok(out
            .security_groups()
            .iter()
            .map(|g| SecurityGroup {
                id: g.group_id().unwrap_or_default().into(),
                owner_id: g.owner_id().unwrap_or_default().into(),
                rules: g
                    .ip_permissions()
                    .iter()
                    .map(|p| Rule {
                        protocol: p.ip_protocol().unwrap_or_default().into(),
                        from: p.from_port(),
                        to: p.to_port(),
                        cidrs: p
                            .ip_ranges()
                            .iter()
                            .filter_map(|r| r.cidr_ip()?.parse().ok())
                            .collect(),
                        groups: p
                            .user_id_group_pairs()
                            .iter()
                            .filter_map(|u| u.group_id().map(str::to_string))
                            .collect(),
                        prefix_lists: p
                            .prefix_list_ids()
                            .iter()
                            .filter_map(|l| l.prefix_list_id().map(str::to_string))
                            .collect(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// The IPv4 CIDR blocks of a VPC.
    pub(crate) async fn vpc_cidrs(&self, vpc_id: &str) -> Result<Vec<Cidr>, AwsError> {
        let out = self
            .ec2
            .describe_vpcs()
            .vpc_ids(vpc_id)
            .send()
            .classified("ec2:DescribeVpcs")
            .await?;
        let mut cidrs: Vec<Cidr> = out
            .vpcs()
            .iter()
            .flat_map(|v| {
                v.cidr_block().into_iter().chain(
                    v.cidr_block_association_set()
                        .iter()
                        .filter_map(|a| a.cidr_block()),
                )
            })
            .filter_map(|c| c.parse().ok())
            .collect();
        cidrs.sort();
        cidrs.dedup();
        Ok(cidrs)
    }

    /// Whether the caller may call `action`: Ok(()) when EC2
    /// answers `DryRunOperation`, the classified error otherwise.
    pub(crate) async fn dry_run(&self, action: DryRun) -> Result<(), AwsError> {
        // The same call shape for each action; only the operation differs.
        macro_rules! dry_run {
            ($call:ident) => {
                self.ec2
                    .$call()
                    .dry_run(true)
                    .send()
                    .classified(action.name())
                    .await
                    .map(drop)
            };
        }
        let r = match action {
            DryRun::VpcEndpoints => dry_run!(describe_vpc_endpoints),
            DryRun::NetworkInterfaces => dry_run!(describe_network_interfaces),
            DryRun::Subnets => dry_run!(describe_subnets),
            DryRun::SecurityGroups => dry_run!(describe_security_groups),
            DryRun::Vpcs => dry_run!(describe_vpcs),
        };
        match r {
            // A service that ignores DryRun and answers for real has also proven the permission.
            Ok(()) | Err(AwsError::DryRunOk) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
