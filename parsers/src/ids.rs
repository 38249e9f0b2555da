//! Validated AWS identifiers. Each type can only hold a value that matches AWS's published
//! pattern (botocore `datasync/2018-11-09/service-2.json` and the EC2/IAM docs), so that a typo
//! is caught before any network call instead of surfacing as an opaque API error.

use std::fmt;
use std::sync::LazyLock;

use regex_lite::Regex;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $expect:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The pattern a valid value matches.
            pub const PATTERN: &'static str = $pattern;
            /// What a valid value looks like, for error messages.
            pub const EXPECTED: &'static str = $expect;

            /// Validates `s`; the error says what would be valid.
            pub fn parse(s: &str) -> Result<Self, String> {
                static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new($pattern).expect("valid pattern"));
                if RE.is_match(s) {
                    Ok(Self(s.to_string()))
                } else {
                    Err(format!("expected {}", $expect))
                }
            }

            /// The value as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An AWS Region code such as `us-east-1` or `us-gov-west-1`.
    Region,
    r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$",
    "a Region code such as \"us-east-1\""
);

id_type!(
    /// A VPC endpoint id (`VpcEndpointId` in the DataSync model).
    VpcEndpointId,
    r"^vpce-[0-9a-f]{17}$",
    "\"vpce-\" followed by 17 lowercase hex digits, e.g. \"vpce-0123456789abcdef0\""
);

id_type!(
    /// A subnet ARN (`Ec2SubnetArn`, narrowed to a real subnet id).
    SubnetArn,
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):ec2:[a-z\-0-9]+:[0-9]{12}:subnet/subnet-[0-9a-f]+$",
    "a subnet ARN like \"arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0\""
);

id_type!(
    /// A security-group ARN (`Ec2SecurityGroupArn`).
    SecurityGroupArn,
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):ec2:[a-z\-0-9]+:[0-9]{12}:security-group/sg-[a-f0-9]+$",
    "a security-group ARN like \"arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0\""
);

id_type!(
    /// A DataSync agent ARN (`AgentArn`).
    AgentArn,
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):datasync:[a-z\-0-9]+:[0-9]{12}:agent/agent-[0-9a-z]{17}$",
    "an agent ARN like \"arn:aws:datasync:us-east-1:111122223333:agent/agent-0123456789abcdef0\""
);

id_type!(
    /// An IAM role ARN to assume.
    RoleArn,
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$",
    "an IAM role ARN like \"arn:aws:iam::111122223333:role/datasync-activation\""
);

id_type!(
    /// An agent name (`TagValue`-like `AgentName` pattern, 1–256 characters).
    AgentName,
    r"^[a-zA-Z0-9\s+=._:@/-]{1,256}$",
    "1-256 characters of letters, digits, spaces and + = . _ : @ / -"
);

id_type!(
    /// A tag key (`TagKey`: 1–256 characters).
    TagKey,
    r"^[a-zA-Z0-9\s+=._:/-]{1,256}$",
    "1-256 characters of letters, digits, spaces and + = . _ : / -"
);

id_type!(
    /// A tag value (`TagValue`: 0–256 characters).
    TagValue,
    r"^[a-zA-Z0-9\s+=._:@/-]{0,256}$",
    "0-256 characters of letters, digits, spaces and + = . _ : @ / -"
);

id_type!(
    /// An STS external id (2–1224 characters, IAM's documented set).
    ExternalId,
    r"^[\w+=,.@:/-]{2,1224}$",
    "2-1224 characters of letters, digits and + = , . @ : / - _"
);

/// The Region field (4th) of an ARN.
pub fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3)
}

/// The account field (5th) of an ARN.
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}

/// The resource id at the end of an ARN (`subnet-…` of `…:subnet/subnet-…`).
pub fn arn_resource_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `s` fit for an identifier: every character but ASCII letters, digits and those of
/// `allowed` becomes `-`, and at most `max` characters are kept (AWS's length limit).
pub fn sanitized(s: &str, allowed: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || allowed.contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect()
}

/// The ARN partition of a Region: `aws` for commercial Regions, `aws-cn`, `aws-us-gov` for the
/// others.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_replaces_and_truncates() {
        assert_eq!(sanitized("a b\u{e9}c_d", "_", 64), "a-b-c_d");
        assert_eq!(sanitized("abcdef", "", 3), "abc");
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }

    #[test]
    fn accepts_and_rejects_by_aws_patterns() {
        assert!(VpcEndpointId::parse("vpce-0123456789abcdef0").is_ok());
        assert!(VpcEndpointId::parse("vpce-123").is_err());
        assert!(VpcEndpointId::parse("vpce-0123456789ABCDEF0").is_err());
        assert!(Region::parse("us-gov-west-1").is_ok());
        assert!(Region::parse("US-EAST-1").is_err());
        assert!(SubnetArn::parse("arn:aws:ec2:eu-west-1:111122223333:subnet/subnet-0abc").is_ok());
        assert!(SubnetArn::parse("arn:aws:ec2:eu-west-1:1111:subnet/subnet-0abc").is_err());
        assert!(
            SecurityGroupArn::parse("arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a")
                .is_ok()
        );
        assert!(
            AgentArn::parse(
                "arn:aws:datasync:eu-west-1:111122223333:agent/agent-0123456789abcdef0"
            )
            .is_ok()
        );
        assert!(AgentName::parse("host 1@site").is_ok());
        assert!(AgentName::parse("bad;name").is_err());
        assert!(AgentName::parse(&"a".repeat(257)).is_err());
        assert!(TagValue::parse("").is_ok());
        assert!(TagKey::parse("").is_err());
        assert_eq!(
            arn_region("arn:aws:ec2:eu-west-1:111122223333:subnet/subnet-1"),
            Some("eu-west-1")
        );
    }
}
