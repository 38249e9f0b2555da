//! Input constraints of the DataSync API, copied verbatim from AWS's own model
//! (`botocore/data/datasync/2018-11-09/service-2.json`).
//!
//! Every pattern and limit is a named constant so `tests/model.rs` can compare
//! them with the model file: the simulator must reject exactly what AWS rejects,
//! or the daemon's tests prove nothing.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex_lite::Regex;

/// `shapes.ActivationKey.pattern` (the model does not anchor it; AWS matches the whole value).
pub const ACTIVATION_KEY: &str = "[A-Z0-9]{5}(-[A-Z0-9]{5}){4}";
/// `shapes.TagKey.pattern`.
pub const TAG_KEY: &str = r"^[a-zA-Z0-9\s+=._:/-]+$";
/// `shapes.TagValue.pattern` (also the shape of `AgentName`).
pub const TAG_VALUE: &str = r"^[a-zA-Z0-9\s+=._:@/-]+$";
/// `shapes.AgentArn.pattern`.
pub const AGENT_ARN: &str = r"^arn:(aws|aws-cn|aws-us-gov|aws-eusc|aws-iso|aws-iso-b):datasync:[a-z\-0-9]+:[0-9]{12}:agent/agent-[0-9a-z]{17}$";
/// `shapes.VpcEndpointId.pattern`.
pub const VPC_ENDPOINT_ID: &str = "^vpce-[0-9a-f]{17}$";
/// `shapes.Ec2SubnetArn.pattern`.
pub const EC2_SUBNET_ARN: &str = r"^arn:(aws|aws-cn|aws-us-gov|aws-eusc|aws-iso|aws-iso-b):ec2:[a-z\-0-9]*:[0-9]{12}:subnet/subnet-[a-f0-9]+$";
/// `shapes.Ec2SecurityGroupArn.pattern`.
pub const EC2_SECURITY_GROUP_ARN: &str = r"^arn:(aws|aws-cn|aws-us-gov|aws-eusc|aws-iso|aws-iso-b):ec2:[a-z\-0-9]*:[0-9]{12}:security-group/sg-[a-f0-9]+$";
/// `shapes.TaggableResourceArn.pattern`.
pub const TAGGABLE_RESOURCE_ARN: &str = r"^arn:(aws|aws-cn|aws-us-gov|aws-eusc|aws-iso|aws-iso-b):datasync:[a-z\-0-9]+:[0-9]{12}:(((agent|task|location)/(agent|task|loc)-[a-z0-9]{17}(/execution/exec-[a-f0-9]{17})?)|(system/storage-system-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}(/job/discovery-job-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})?))$";
/// `shapes.NextToken.pattern` (unanchored in the model; matched whole).
pub const NEXT_TOKEN: &str = "[a-zA-Z0-9=_-]+";
/// `shapes.Endpoint.pattern`: the IPv4 address in `PrivateLinkConfig.PrivateLinkEndpoint`.
pub const ENDPOINT: &str =
    r"\A(25[0-5]|2[0-4]\d|[0-1]?\d?\d)(\.(25[0-5]|2[0-4]\d|[0-1]?\d?\d)){3}\z";
/// `shapes.AgentVersion.pattern` (what `Platform.Version` must look like).
pub const AGENT_VERSION: &str = r"^[a-zA-Z0-9\s+=._:@/-]+$";

/// Every pattern above, keyed by its shape name in service-2.json.
pub fn model_patterns() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ActivationKey", ACTIVATION_KEY),
        ("TagKey", TAG_KEY),
        ("TagValue", TAG_VALUE),
        ("AgentArn", AGENT_ARN),
        ("VpcEndpointId", VPC_ENDPOINT_ID),
        ("Ec2SubnetArn", EC2_SUBNET_ARN),
        ("Ec2SecurityGroupArn", EC2_SECURITY_GROUP_ARN),
        ("TaggableResourceArn", TAGGABLE_RESOURCE_ARN),
        ("NextToken", NEXT_TOKEN),
        ("Endpoint", ENDPOINT),
        ("AgentVersion", AGENT_VERSION),
    ]
}

/// A shape's inclusive `min`/`max` traits: lengths for strings (in characters)
/// and lists, values for integers. `None` = the model states no bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The model's `min`, if any.
    pub min: Option<u64>,
    /// The model's `max`, if any.
    pub max: Option<u64>,
}

const fn lim(min: Option<u64>, max: Option<u64>) -> Limits {
    Limits { min, max }
}

/// `shapes.ActivationKey` length.
pub const ACTIVATION_KEY_LIMITS: Limits = lim(None, Some(29));
/// `shapes.TagKey` length.
pub const TAG_KEY_LIMITS: Limits = lim(Some(1), Some(256));
/// `shapes.TagValue` length (also `AgentName`).
pub const TAG_VALUE_LIMITS: Limits = lim(Some(0), Some(256));
/// `shapes.AgentArn` length.
pub const AGENT_ARN_LIMITS: Limits = lim(None, Some(128));
/// `shapes.VpcEndpointId` length (none; the pattern fixes it).
pub const VPC_ENDPOINT_ID_LIMITS: Limits = lim(None, None);
/// `shapes.Ec2SubnetArn` length.
pub const EC2_SUBNET_ARN_LIMITS: Limits = lim(None, Some(128));
/// `shapes.Ec2SecurityGroupArn` length.
pub const EC2_SECURITY_GROUP_ARN_LIMITS: Limits = lim(None, Some(128));
/// `shapes.TaggableResourceArn` length.
pub const TAGGABLE_RESOURCE_ARN_LIMITS: Limits = lim(None, Some(128));
/// `shapes.NextToken` length.
pub const NEXT_TOKEN_LIMITS: Limits = lim(None, Some(65535));
/// `shapes.Endpoint` length.
pub const ENDPOINT_LIMITS: Limits = lim(Some(7), Some(15));
/// `shapes.AgentVersion` length.
pub const AGENT_VERSION_LIMITS: Limits = lim(Some(1), Some(256));
/// `shapes.InputTagList` item count.
pub const INPUT_TAG_LIST_LIMITS: Limits = lim(Some(0), Some(50));
/// `shapes.OutputTagList` item count.
pub const OUTPUT_TAG_LIST_LIMITS: Limits = lim(Some(0), Some(55));
/// `shapes.TagKeyList` item count.
pub const TAG_KEY_LIST_LIMITS: Limits = lim(Some(1), Some(50));
/// `shapes.PLSubnetArnList` item count: CreateAgent takes exactly one subnet.
pub const PL_SUBNET_ARN_LIST_LIMITS: Limits = lim(Some(1), Some(1));
/// `shapes.PLSecurityGroupArnList` item count: exactly one security group.
pub const PL_SECURITY_GROUP_ARN_LIST_LIMITS: Limits = lim(Some(1), Some(1));
/// `shapes.MaxResults` value.
pub const MAX_RESULTS_LIMITS: Limits = lim(Some(0), Some(100));

/// Every limit above, keyed by its shape name in service-2.json.
pub fn model_limits() -> Vec<(&'static str, Limits)> {
    vec![
        ("ActivationKey", ACTIVATION_KEY_LIMITS),
        ("TagKey", TAG_KEY_LIMITS),
        ("TagValue", TAG_VALUE_LIMITS),
        ("AgentArn", AGENT_ARN_LIMITS),
        ("VpcEndpointId", VPC_ENDPOINT_ID_LIMITS),
        ("Ec2SubnetArn", EC2_SUBNET_ARN_LIMITS),
        ("Ec2SecurityGroupArn", EC2_SECURITY_GROUP_ARN_LIMITS),
        ("TaggableResourceArn", TAGGABLE_RESOURCE_ARN_LIMITS),
        ("NextToken", NEXT_TOKEN_LIMITS),
        ("Endpoint", ENDPOINT_LIMITS),
        ("AgentVersion", AGENT_VERSION_LIMITS),
        ("InputTagList", INPUT_TAG_LIST_LIMITS),
        ("OutputTagList", OUTPUT_TAG_LIST_LIMITS),
        ("TagKeyList", TAG_KEY_LIST_LIMITS),
        ("PLSubnetArnList", PL_SUBNET_ARN_LIST_LIMITS),
        ("PLSecurityGroupArnList", PL_SECURITY_GROUP_ARN_LIST_LIMITS),
        ("MaxResults", MAX_RESULTS_LIMITS),
    ]
}

/// Whether `value` matches `pattern` as a whole (AWS validates with full-match
/// semantics, so the model's unanchored patterns are anchored here).
pub fn matches(pattern: &'static str, value: &str) -> bool {
    static COMPILED: OnceLock<HashMap<&'static str, Regex>> = OnceLock::new();
    let table = COMPILED.get_or_init(|| {
        model_patterns()
            .into_iter()
            .filter_map(|(_, p)| Some((p, Regex::new(&format!("^(?:{p})$")).ok()?)))
            .collect()
    });
    match table.get(pattern) {
        Some(re) => re.is_match(value),
        // Not one of ours: compile on the fly rather than panic.
        None => Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(value)),
    }
}

/// Collects constraint violations in AWS's wording, so a client that shows the
/// message to an operator sees what the real service would say.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<String>);

impl Violations {
    fn push(&mut self, value: &str, at: &str, constraint: String) {
        self.0.push(format!(
            "Value '{value}' at '{at}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Checks a string member against its shape's pattern and length limits.
    pub(crate) fn string(&mut self, at: &str, value: &str, pattern: &'static str, limits: Limits) {
        let len = value.chars().count() as u64;
        if limits.max.is_some_and(|max| len > max) {
            let max = limits.max.unwrap_or_default();
            self.push(
                value,
                at,
                format!("Member must have length less than or equal to {max}"),
            );
        } else if limits.min.is_some_and(|min| len < min) {
            let min = limits.min.unwrap_or_default();
            self.push(
                value,
                at,
                format!("Member must have length greater than or equal to {min}"),
            );
        } else if !value.is_empty() && !matches(pattern, value) {
            // Empty values are judged by `min` alone: TagValue has min 0 but a `+` pattern.
            self.push(
                value,
                at,
                format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// Checks a list member's item count.
    pub(crate) fn count(&mut self, at: &str, shown: &str, len: usize, limits: Limits) {
        let len = len as u64;
        if limits.max.is_some_and(|max| len > max) {
            let max = limits.max.unwrap_or_default();
            self.push(
                shown,
                at,
                format!("Member must have length less than or equal to {max}"),
            );
        } else if limits.min.is_some_and(|min| len < min) {
            let min = limits.min.unwrap_or_default();
            self.push(
                shown,
                at,
                format!("Member must have length greater than or equal to {min}"),
            );
        }
    }

    /// Checks an integer member's value.
    pub(crate) fn int(&mut self, at: &str, value: i64, limits: Limits) {
        if limits.max.is_some_and(|max| value > max as i64) {
            let max = limits.max.unwrap_or_default();
            self.push(
                &value.to_string(),
                at,
                format!("Member must have value less than or equal to {max}"),
            );
        } else if limits.min.is_some_and(|min| value < min as i64) {
            let min = limits.min.unwrap_or_default();
            self.push(
                &value.to_string(),
                at,
                format!("Member must have value greater than or equal to {min}"),
            );
        }
    }

    /// Records that a required member is absent.
    pub(crate) fn missing(&mut self, at: &str) {
        self.push("null", at, "Member must not be null".to_owned());
    }

    /// `Ok` if nothing was violated, else the combined AWS-style message.
    pub(crate) fn finish(self) -> Result<(), String> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(format!("1 validation error detected: {}", self.0[0])),
            n => Err(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            )),
        }
    }
}
