//! Classification of every AWS SDK failure (DataSync, EC2, STS) into an [`AwsError`]: by cause,
//! naming the service and the IAM action, keeping AWS's request id.
//!
//! The SDK reports a failure to resolve credentials (none found, an expired SSO session, a
//! denied `sts:AssumeRole`) as a *dispatch failure*, the same variant as a refused connection:
//! the source chain is walked for a [`CredentialsError`] before anything is called
//! "unreachable". "Not found" is said only when AWS said it.

use std::error::Error as StdError;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_datasync::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_datasync::operation::RequestId;

use crate::support::error_chain;

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

/// The network cause in a cause chain, in words for the message and the hint.
pub(crate) fn network_cause(chain: &str) -> &'static str {
    let c = chain.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| c.contains(w));
    if any(&[
        "dns error",
        "failed to lookup",
        "name or service not known",
        "no such host",
        "resolve",
    ]) {
        "dns"
    } else if any(&["connection refused"]) {
        "connection refused"
    } else if any(&["tls", "certificate", "invalidcertificate", "handshake"]) {
        "tls"
    } else if any(&["timed out", "timeout"]) {
        "timeout"
    } else if any(&["connection reset", "broken pipe"]) {
        "connection reset"
    } else {
        "network"
    }
}

/// Classifies a failure to resolve credentials found in the chain.
fn credentials_failure(op: &'static str, err: &CredentialsError, chain: String) -> AwsError {
    let c = chain.to_ascii_lowercase();
    if let CredentialsError::CredentialsNotLoaded(_) = err {
        return AwsError::NoCredentials { op, chain };
    }
    if c.contains("assumerole") && (c.contains("accessdenied") || c.contains("not authorized")) {
        return AwsError::AssumeRoleDenied { op, chain };
    }
    if c.contains("sso") && (c.contains("expired") || c.contains("refresh")) {
        return AwsError::SsoExpired { op, chain };
    }
    if let CredentialsError::ProviderTimedOut(_) = err {
        return AwsError::CredentialsUnreachable {
            op,
            cause: "timeout",
            chain,
        };
    }
    // The provider's own call failed on the way (AssumeRole to an unreachable or throttling
    // STS): the chain says so; refused credentials carry a service error code instead.
    if c.contains("throttl") || c.contains("rate exceeded") {
        return AwsError::CredentialsUnreachable {
            op,
            cause: "throttled",
            chain,
        };
    }
    if c.contains("dispatch failure") || c.contains("timed out") || c.contains("timeout") {
        let cause = network_cause(&chain);
        return AwsError::CredentialsUnreachable { op, cause, chain };
    }
    AwsError::Credentials { op, chain }
}

fn find_credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        cur = e.source();
    }
    None
}

/// Classifies an SDK error of the call `op` (an IAM action name such as `ec2:DescribeSubnets`).
pub(crate) fn classify<E>(op: &'static str, err: SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let rid = err
        .request_id()
        .map(|r| format!(" [request id {r}]"))
        .unwrap_or_default();
    let chain = format!("{}{rid}", error_chain::chain(&err));
    if let Some(c) = find_credentials_error(&err) {
        return credentials_failure(op, c, chain);
    }
    // The SDK's identity cache gives up after its load timeout with a private error type.
    if chain.contains("identity resolver timed out") {
        return AwsError::CredentialsUnreachable {
            op,
            cause: "timeout",
            chain,
        };
    }
    match &err {
        SdkError::ServiceError(_) => {}
        SdkError::TimeoutError(_) => {
            return AwsError::Unreachable {
                op,
                cause: "timeout",
                chain,
            };
        }
        SdkError::DispatchFailure(_) => {
            let cause = network_cause(&chain);
            return AwsError::Unreachable { op, cause, chain };
        }
        _ => return AwsError::Other { op, chain },
    }
    let message = format!("{}{rid}", err.message().unwrap_or_default());
    classify_service(op, err.code().unwrap_or_default(), message, chain)
}

/// Classifies an error AWS answered with (code and message).
fn classify_service(op: &'static str, code: &str, message: String, chain: String) -> AwsError {
    let lower = message.to_ascii_lowercase();
    let invalid = code == "InvalidRequestException";
    match code {
        _ if invalid && message.contains("should remain unspecified for public-endpoint") => {
            AwsError::PublicKey { message }
        }
        _ if invalid && message.starts_with("Invalid EC2 subnet") => {
            AwsError::SubnetForbidden { message }
        }
        _ if invalid && message.starts_with("Invalid EC2 security group") => {
            AwsError::SecurityGroupForbidden { message }
        }
        _ if invalid && message.contains("VPC endpoint") && message.contains("is not valid") => {
            AwsError::VpcEndpointInvalid { message }
        }
        _ if invalid
            && ["not found", "does not exist", "unable to find"]
                .iter()
                .any(|p| lower.contains(p)) =>
        {
            AwsError::NotFound { op, message }
        }
        "InvalidRequestException" => AwsError::InvalidRequest { op, message },
        "DryRunOperation" => AwsError::DryRunOk,
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
            AwsError::AccessDenied { op, message }
        }
        code if code.ends_with(".NotFound") => AwsError::NotFound { op, message },
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "AuthFailure"
        | "ExpiredTokenException"
        | "ExpiredToken"
        | "RequestExpired" => AwsError::Credentials { op, chain },
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => AwsError::Throttled { op, message },
        "InternalException" | "InternalFailure" | "InternalError" | "ServiceUnavailable"
        | "Unavailable" => AwsError::Internal { op, message },
        _ => AwsError::Other { op, chain },
    }
}

/// Runs one AWS call under its own bound (the SDK's operation timeout, which covers its
/// retries, plus [`CALL_SLACK`]): a call that overruns is cancelled and reported as
/// [`AwsError::Timeout`], never left to hang the caller.
pub(crate) async fn bounded<T>(
    op: &'static str,
    call: impl std::future::Future<Output = Result<T, AwsError>>,
) -> Result<T, AwsError> {
    let after = CALL_BOUND;
    crate::support::liveness::step(after, call)
        .await
        .unwrap_or(Err(AwsError::Timeout { op, after }))
}

/// An SDK call, classified and bounded: `.send().classified("ec2:DescribeSubnets").await`.
pub(crate) trait Classified<O, E>:
    std::future::Future<Output = Result<O, SdkError<E>>> + Sized
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    /// Awaits the call under [`CALL_BOUND`], classifying its failure as the IAM action `op`.
    async fn classified(self, op: &'static str) -> Result<O, AwsError> {
        bounded(op, async { self.await.map_err(|e| classify(op, e)) }).await
    }
}

impl<F, O, E> Classified<O, E> for F
where
    F: std::future::Future<Output = Result<O, SdkError<E>>>,
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
}

/// The next item of a paginated SDK stream, classified and bounded like one call.
pub(crate) async fn next_item<T, E>(
    op: &'static str,
    next: impl std::future::Future<Output = Option<Result<T, SdkError<E>>>>,
) -> Result<Option<T>, AwsError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    bounded(op, async {
        next.await.transpose().map_err(|e| classify(op, e))
    })
    .await
}

/// Slack over the SDK's own operation timeout: identity resolution (IMDS, AssumeRole) and
/// the response body, which the SDK may not count.
pub(crate) const CALL_SLACK: Duration = Duration::from_secs(10);
/// The bound of one AWS call, SDK retries and credential resolution included.
pub(crate) const CALL_BOUND: Duration =
    Duration::from_secs(crate::aws::OPERATION_TIMEOUT.as_secs() + CALL_SLACK.as_secs());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_causes_are_told_apart() {
        assert_eq!(
            network_cause(
                "dispatch failure: io error: dns error: failed to lookup address information"
            ),
            "dns"
        );
        assert_eq!(
            network_cause("io error: Connection refused (os error 111)"),
            "connection refused"
        );
        assert_eq!(
            network_cause("io error: invalid peer certificate: UnknownIssuer"),
            "tls"
        );
        assert_eq!(network_cause("timeout: operation timed out"), "timeout");
        assert_eq!(
            network_cause("Connection reset by peer"),
            "connection reset"
        );
        assert_eq!(network_cause("something else"), "network");
    }

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

    #[test]
    fn credential_failures_are_told_apart() {
        let c = |e: CredentialsError| {
            let chain = crate::support::error_chain::chain(&e);
            credentials_failure("datasync:DescribeAgent", &e, chain).kind()
        };
        assert_eq!(
            c(CredentialsError::not_loaded(
                "no providers in chain provided credentials"
            )),
            "no_credentials"
        );
        assert_eq!(
            c(CredentialsError::provider_error(
                "SSO token refresh failed: the SSO session has expired"
            )),
            "sso_expired"
        );
        assert_eq!(
            c(CredentialsError::provider_error(
                "service error: AccessDenied: not authorized to perform: sts:AssumeRole"
            )),
            "assume_role_denied"
        );
        assert_eq!(
            c(CredentialsError::provider_timed_out(Duration::from_secs(5))),
            "credentials_unreachable"
        );
        // AssumeRole to an STS that cannot be reached is not a credentials problem.
        let e = CredentialsError::provider_error(
            "dispatch failure: io error: client error (Connect): tcp connect error: Connection refused",
        );
        let chain = crate::support::error_chain::chain(&e);
        let got = credentials_failure("datasync:DescribeAgent", &e, chain);
        assert_eq!(got.kind(), "credentials_unreachable");
        assert!(got.to_string().contains("(connection refused)"), "{got}");
        assert_eq!(
            c(CredentialsError::provider_error(
                "service error: Throttling: Rate exceeded"
            )),
            "credentials_unreachable"
        );
        assert_eq!(
            c(CredentialsError::unhandled("something odd")),
            "credentials"
        );
    }

    #[test]
    fn service_codes_map_to_causes() {
        let c = |code: &str, msg: &str| {
            classify_service("ec2:DescribeSubnets", code, msg.into(), "chain".into()).kind()
        };
        assert_eq!(
            c(
                "InvalidVpcEndpointId.NotFound",
                "The Vpc Endpoint Id 'vpce-1' does not exist"
            ),
            "not_found"
        );
        assert_eq!(
            c("UnauthorizedOperation", "You are not authorized"),
            "access_denied"
        );
        assert_eq!(
            c("RequestLimitExceeded", "Request limit exceeded."),
            "throttled"
        );
        assert_eq!(
            c(
                "AuthFailure",
                "AWS was not able to validate the provided access credentials"
            ),
            "credentials"
        );
        assert_eq!(
            c(
                "InvalidRequestException",
                "host-0c61c0944a13c5fda does not exist or has been deleted."
            ),
            "not_found"
        );
        assert_eq!(c("Weird", "x"), "other");
    }
}
