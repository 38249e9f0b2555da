//! [`AwsError`]: every AWS SDK failure (DataSync, EC2, STS) by cause, with a stable kind (a
//! metric label), the service and IAM action it concerns, AWS's request id and a hint. The
//! classification itself is in `classify`; the bound of one call in `call`.

use std::time::Duration;

/// IAM actions activation needs on EC2 resources, named in permission diagnoses.
pub(crate) const EC2_ACTIONS_HINT: &str = "ec2:DescribeVpcEndpoints, ec2:DescribeNetworkInterfaces, \
    ec2:DescribeSubnets and ec2:DescribeSecurityGroups (see the shipped IAM policy)";

/// A classified AWS failure. `op` is always the IAM action (`ec2:DescribeSubnets`), which
/// names the service too; messages carry AWS's request id when there was one.
#[derive(Debug, Clone, thiserror::Error)]
#[allow(missing_docs)]
pub(crate) enum AwsError {
    /// The key was fetched for a public endpoint but a VPC endpoint was given.
    #[error("CreateAgent refused a public activation key for a private endpoint: {message}")]
    PublicKey { message: String },
    /// The caller may not use the subnet (EC2 answered 403 to DataSync).
    #[error("CreateAgent could not use the subnet: {message}")]
    SubnetForbidden { message: String },
    /// The caller may not use the security group.
    #[error("CreateAgent could not use the security group: {message}")]
    SecurityGroupForbidden { message: String },
    /// The VPC endpoint is unknown to the caller (rights, id or Region).
    #[error("CreateAgent could not use the VPC endpoint: {message}")]
    VpcEndpointInvalid { message: String },
    /// AWS said the resource does not exist (an agent deleted out of band, a wrong id, or
    /// not yet visible: both DataSync and EC2 are eventually consistent).
    #[error("{op}: {} says it does not exist: {message}", service(op))]
    NotFound { op: &'static str, message: String },
    /// Any other InvalidRequestException.
    #[error("{op} was rejected: {message}")]
    InvalidRequest { op: &'static str, message: String },
    /// The caller's identity lacks a permission.
    #[error("{op} was denied: {message}")]
    AccessDenied { op: &'static str, message: String },
    /// No credentials anywhere in the SDK's chain (environment, profile, instance role).
    #[error("{op}: no AWS credentials found: {chain}")]
    NoCredentials { op: &'static str, chain: String },
    /// The profile's SSO session has expired.
    #[error("{op}: the AWS SSO session has expired: {chain}")]
    SsoExpired { op: &'static str, chain: String },
    /// STS refused to let the credentials assume `aws.role_arn`.
    #[error("{op}: sts:AssumeRole was denied: {chain}")]
    AssumeRoleDenied { op: &'static str, chain: String },
    /// Loading credentials failed on the way to their provider (STS for `aws.role_arn`, SSO,
    /// instance metadata): network trouble, a timeout or throttling — not the credentials.
    #[error(
        "{op}: cannot reach the credential provider (STS, SSO or instance metadata) while loading credentials ({cause}): {chain}"
    )]
    CredentialsUnreachable {
        op: &'static str,
        /// As for [`AwsError::Unreachable`], or `throttled`.
        cause: &'static str,
        chain: String,
    },
    /// Credentials were found but AWS refused them (expired, revoked, malformed).
    #[error("{op}: AWS refused the credentials: {chain}")]
    Credentials { op: &'static str, chain: String },
    /// Throttled even after the SDK's retries.
    #[error(
        "{op} was throttled by {} (after the SDK's retries): {message}",
        service(op)
    )]
    Throttled { op: &'static str, message: String },
    /// The service failed internally even after the SDK's retries.
    #[error(
        "{op} failed inside {} (after the SDK's retries): {message}",
        service(op)
    )]
    Internal { op: &'static str, message: String },
    /// Connection, DNS, TLS or timeout trouble reaching the API.
    #[error("{op}: cannot reach the {} API ({cause}): {chain}", service(op))]
    Unreachable {
        op: &'static str,
        /// `dns`, `tls`, `connection refused`, `timeout`, `connection reset` or `network`.
        cause: &'static str,
        chain: String,
    },
    /// The call overran its own bound (SDK retries included) and was cancelled.
    #[error("{op}: no answer from {} within {} (cancelled)", service(op), humantime::format_duration(*after))]
    Timeout { op: &'static str, after: Duration },
    /// EC2's answer to a permitted `DryRun` call (not a failure for a permission check).
    #[error("the request would have succeeded (DryRun)")]
    DryRunOk,
    /// Anything else, with its whole cause chain.
    #[error("{op} failed: {chain}")]
    Other { op: &'static str, chain: String },
}

/// The service an IAM action belongs to, as people name it.
pub(crate) fn service(op: &str) -> &'static str {
    match op.split(':').next().unwrap_or_default() {
        "datasync" => "DataSync",
        "ec2" => "EC2",
        "sts" => "STS",
        _ => "AWS",
    }
}

/// Every [`AwsError::kind`] a failed call can have: `datasync_warden_aws_errors_total{kind}` has
/// one series per kind from the start, so `rate()` and `increase()` see a counter start at 0.
/// `dry_run_ok` is not a failure and never counted. Kept in step with `kind()` by a test.
pub(crate) const KINDS: &[&str] = &[
    "public_key_for_private_endpoint",
    "subnet_forbidden",
    "security_group_forbidden",
    "vpc_endpoint_invalid",
    "not_found",
    "invalid_request",
    "access_denied",
    "no_credentials",
    "sso_expired",
    "assume_role_denied",
    "credentials",
    "credentials_unreachable",
    "throttled",
    "internal",
    "unreachable",
    "timeout",
    "other",
];

impl AwsError {
    /// Stable label for metrics (`datasync_warden_aws_errors_total{kind}`).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            AwsError::PublicKey { .. } => "public_key_for_private_endpoint",
            AwsError::SubnetForbidden { .. } => "subnet_forbidden",
            AwsError::SecurityGroupForbidden { .. } => "security_group_forbidden",
            AwsError::VpcEndpointInvalid { .. } => "vpc_endpoint_invalid",
            AwsError::NotFound { .. } => "not_found",
            AwsError::InvalidRequest { .. } => "invalid_request",
            AwsError::AccessDenied { .. } => "access_denied",
            AwsError::NoCredentials { .. } => "no_credentials",
            AwsError::SsoExpired { .. } => "sso_expired",
            AwsError::AssumeRoleDenied { .. } => "assume_role_denied",
            AwsError::Credentials { .. } => "credentials",
            AwsError::CredentialsUnreachable { .. } => "credentials_unreachable",
            AwsError::Throttled { .. } => "throttled",
            AwsError::Internal { .. } => "internal",
            AwsError::Unreachable { .. } => "unreachable",
            AwsError::Timeout { .. } => "timeout",
            AwsError::Other { .. } => "other",
            AwsError::DryRunOk => "dry_run_ok",
        }
    }

    /// What the operator should do.
    pub(crate) fn hint(&self) -> String {
        match self {
            AwsError::PublicKey { .. } => "the key was fetched without endpointType=PRIVATE_LINK (datasync-warden never does this; a \
                 key supplied by hand may): fetch a private key with `datasync-warden fetch-key`".into(),
            AwsError::SubnetForbidden { .. } => format!("the caller lacks EC2 subnet rights: grant {EC2_ACTIONS_HINT}"),
            AwsError::SecurityGroupForbidden { .. } => format!("the caller lacks EC2 security-group rights: grant {EC2_ACTIONS_HINT}"),
            AwsError::VpcEndpointInvalid { .. } => format!(
                "check endpoint.vpc_endpoint_id and endpoint.region (the endpoint must be in that Region and \
                 account), and grant {EC2_ACTIONS_HINT}"
            ),
            AwsError::NotFound { op, .. } if op.starts_with("ec2:") => {
                "a resource created moments ago may not be visible yet (EC2 is eventually consistent): if this \
                 persists, check the id, endpoint.region and the credentials' account (aws.role_arn for cross-account)"
                    .into()
            }
            AwsError::NotFound { .. } => "the agent was deleted, or belongs to another account or Region; check agent.arn / the \
                 state file, endpoint.region and the credentials' account"
                .into(),
            AwsError::InvalidRequest { .. } => "read AWS's message above; the request was well-formed for this tool but AWS refused it".into(),
            AwsError::AccessDenied { op, .. } => format!("grant {op} to the caller (see the shipped IAM policy)"),
            AwsError::NoCredentials { .. } => "give the host credentials: an instance profile, AWS_* variables in \
                 /etc/datasync-warden/environment, or aws.profile"
                .into(),
            AwsError::SsoExpired { .. } => "log in again (`aws sso login` for the profile in aws.profile), or use \
                 credentials that do not expire for a daemon (an instance profile or aws.role_arn)"
                .into(),
            AwsError::AssumeRoleDenied { .. } => "the role's trust policy must allow this host's identity to call \
                 sts:AssumeRole (and match aws.external_id if set); check aws.role_arn"
                .into(),
            AwsError::CredentialsUnreachable { cause, .. } => format!(
                "the credentials themselves may be fine: {} (for aws.role_arn in a private VPC, an STS \
                 interface endpoint or a route to sts.<region>.amazonaws.com is needed)",
                unreachable_hint(cause, "STS / credential provider")
            ),
            AwsError::Credentials { .. } => "the credentials are expired, revoked or wrong: replace them (or fix the \
                 clock: signatures are time-bound)"
                .into(),
            AwsError::Throttled { .. } => "AWS is throttling this account; the next attempt will back off further".into(),
            AwsError::Internal { .. } => "an AWS-side failure; retry later, and contact AWS Support if it persists".into(),
            AwsError::Unreachable { cause, op, .. } => unreachable_hint(cause, service(op)),
            AwsError::Timeout { op, .. } => format!(
                "the {} API answers too slowly: check the route, proxy (HTTPS_PROXY/NO_PROXY) and the VPC \
                 endpoint's health", service(op)
            ),
            AwsError::Other { .. } => "see the cause chain above".into(),
            AwsError::DryRunOk => String::new(),
        }
    }
}

fn unreachable_hint(cause: &str, service: &str) -> String {
    let what = match cause {
        "dns" => {
            "the API's host name does not resolve: check DNS (for a VPC endpoint, its private DNS name)"
        }
        "tls" => {
            "the TLS handshake failed: a proxy or middlebox may intercept TLS, or the CA bundle is missing"
        }
        "connection refused" => {
            "nothing listens at the API's address: check aws.endpoint_url / AWS_ENDPOINT_URL and the proxy"
        }
        "timeout" => {
            "no answer in time: check routes, firewalls and the proxy (HTTPS_PROXY/NO_PROXY)"
        }
        _ => "check the route, proxy and DNS",
    };
    format!("{what} (the {service} API; aws.endpoint_url / AWS_ENDPOINT_URL if set)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_is_named_by_the_action() {
        assert_eq!(service("ec2:DescribeVpcEndpoints"), "EC2");
        assert_eq!(service("datasync:DescribeAgent"), "DataSync");
        assert_eq!(service("sts:AssumeRole"), "STS");
        let e = AwsError::Unreachable {
            op: "ec2:DescribeVpcEndpoints",
            cause: "connection refused",
            chain: "x".into(),
        };
        assert!(
            e.to_string()
                .contains("cannot reach the EC2 API (connection refused)"),
            "{e}"
        );
        assert!(!e.to_string().contains("not found"));
    }
}
