//! Classification of every AWS SDK failure into an [`AwsError`]: by cause, naming the service
//! and the IAM action, keeping AWS's request id.
//!
//! The SDK reports a failure to resolve credentials (none found, an expired SSO session, a
//! denied `sts:AssumeRole`) as a *dispatch failure*, the same variant as a refused connection:
//! the source chain is walked for a [`CredentialsError`] before anything is called
//! "unreachable". "Not found" is said only when AWS said it.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_datasync::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_datasync::operation::RequestId;

use super::error::AwsError;
use crate::support::error_chain;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
