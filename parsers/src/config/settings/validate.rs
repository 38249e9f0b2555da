//! [`Settings::validate`]: one function per section.
//!
//! The order of the checks decides which error a configuration with several of them gets, and
//! is kept as it was (`tests.rs` pins it): first the Region and the ARNs that must lie in it,
//! the tags and the counts; then the sections in the order of [`Settings`]' fields. Each
//! section function takes its keys out of the [`Merged`] it is given.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::super::values::{
    count, default_agent_name, duration, exactly_one, host, http_url, invalid, opt,
};
use super::super::{ConfigError, Instance, Merged, OneOrMany, Sourced};
use super::*;
use crate::cidr::Cidr;
use crate::ids::{
    AgentArn, AgentName, ExternalId, Region, RoleArn, SecurityGroupArn, SubnetArn, TagKey,
    TagValue, VpcEndpointId, arn_region,
};

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `activation.deadline`: at least a second; at most what leaves CreateAgent room inside the
/// key's 30-minute life (`MAX_ACTIVATION_DEADLINE`).
const ACTIVATION_DEADLINE_RANGE: (Duration, Duration) = (secs(1), MAX_ACTIVATION_DEADLINE);
/// `activation.request_timeout`, one HTTP exchange with the agent: under 100 ms even a LAN
/// agent under load would time out; over 2 minutes one hung attempt eats most of the deadline.
const REQUEST_TIMEOUT_RANGE: (Duration, Duration) = (millis(100), secs(120));
/// `checks.timeout`, one TCP connect: 10 ms still tells loopback and LAN apart from filtered;
/// a minute is longer than any route's handshake (the probes run concurrently).
const CHECK_TIMEOUT_RANGE: (Duration, Duration) = (millis(10), secs(60));
/// `monitor.interval`: polling faster than once a second only spends DataSync API quota (the
/// agent's status changes on DataSync's minutes-long heartbeat); slower than hourly leaves an
/// OFFLINE agent unpaged for too long.
const MONITOR_INTERVAL_RANGE: (Duration, Duration) = (secs(1), secs(3600));
/// `monitor.realert_every`: from a second (tests, noisy pagers) to a week.
const REALERT_RANGE: (Duration, Duration) = (secs(1), secs(7 * 24 * 3600));
/// `monitor.activation_grace`: none at all, up to a day after this host's own CreateAgent.
const ACTIVATION_GRACE_RANGE: (Duration, Duration) = (Duration::ZERO, secs(24 * 3600));

impl Settings {
    /// Validates merged keys; `files` names the files read, for "missing key" errors.
    pub fn validate(m: Merged, files: String) -> Result<Settings, ConfigError> {
        Self::validate_for(m, files, None)
    }

    /// [`Settings::validate`] for `--instance NAME`, whose defaults differ: its own state
    /// directory, its own agent name, and no default health port (two instances would collide).
    pub fn validate_for(
        mut m: Merged,
        files: String,
        instance: Option<&Instance>,
    ) -> Result<Settings, ConfigError> {
        let region = region(m.endpoint_region.take(), &files)?;
        let subnet_arn = arn_in_region(
            m.endpoint_subnet_arn.take(),
            "endpoint.subnet_arn",
            &region,
            SubnetArn::parse,
        )?;
        let security_group_arn = arn_in_region(
            m.endpoint_security_group_arn.take(),
            "endpoint.security_group_arn",
            &region,
            SecurityGroupArn::parse,
        )?;
        let tags = tags(&m.activation_tags)?;
        let planned_tasks = count(m.checks_planned_tasks.take(), "checks.planned_tasks")?;
        let offline_after = count(m.monitor_offline_after.take(), "monitor.offline_after")?;
        Ok(Settings {
            agent: agent(&mut m, instance)?,
            endpoint: endpoint(&mut m, region, subnet_arn, security_group_arn)?,
            aws: aws(&mut m)?,
            activation: activation(&mut m, tags)?,
            checks: checks(&mut m, planned_tasks)?,
            monitor: monitor(&mut m, offline_after)?,
            alerts: AlertsSettings {
                destinations: super::super::alerts::destinations(
                    m.alerts_webhook.take(),
                    std::mem::take(&mut m.alerts_destinations),
                )?,
            },
            health: health(m.health_listen.take(), instance, &files)?,
            state: state(m.state_dir.take(), instance)?,
            files,
            instance: instance.cloned(),
        })
    }
}

/// `endpoint.region`: required, since every DataSync call needs it.
fn region(src: Option<Sourced<String>>, files: &str) -> Result<Region, ConfigError> {
    opt(src, "endpoint.region", Region::parse)?.ok_or_else(|| ConfigError::Missing {
        key: "endpoint.region",
        files: files.to_string(),
        why: "every DataSync call needs the Region",
    })
}

/// One ARN (`parse`) of a resource that must be in `region`, as CreateAgent needs.
fn arn_in_region<T>(
    src: Option<Sourced<OneOrMany>>,
    key: &'static str,
    region: &Region,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    exactly_one(src, key, |v| {
        let arn = parse(v)?;
        match arn_region(v) {
            Some(r) if r != region.as_str() => Err(format!(
                "the ARN is in Region {r} but endpoint.region is {region}; the endpoint, subnet \
                 and security group must be in one Region"
            )),
            _ => Ok(arn),
        }
    })
}

/// `activation.tags`: each key and value valid, none reserved, at most [`MAX_USER_TAGS`].
fn tags(
    src: &std::collections::BTreeMap<String, Sourced<String>>,
) -> Result<Vec<(TagKey, TagValue)>, ConfigError> {
    let tags = src
        .iter()
        .map(|(k, v)| {
            let key = TagKey::parse(k)
                .and_then(|key| {
                    if k.starts_with("aws:") || k == TOKEN_TAG_KEY {
                        Err(
                            "tag keys starting with \"aws:\" and the activation-token key are \
                             reserved"
                                .into(),
                        )
                    } else {
                        Ok(key)
                    }
                })
                .map_err(|p| invalid(v, "activation.tags", format!("{{ {k:?} = ... }}"), p))?;
            let value = TagValue::parse(&v.value).map_err(|p| {
                invalid(
                    v,
                    "activation.tags",
                    format!("{{ {k:?} = {:?} }}", v.value),
                    p,
                )
            })?;
            Ok((key, value))
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    if tags.len() > MAX_USER_TAGS {
        let (_, first) = src.iter().next().expect("non-empty");
        return Err(invalid(
            first,
            "activation.tags",
            format!("{} tags", tags.len()),
            format!(
                "at most {MAX_USER_TAGS} tags (DataSync allows 50, one is the activation token)"
            ),
        ));
    }
    Ok(tags)
}

/// `[agent]`
fn agent(m: &mut Merged, instance: Option<&Instance>) -> Result<AgentSettings, ConfigError> {
    Ok(AgentSettings {
        address: opt(m.agent_address.take(), "agent.address", host)?,
        name: opt(m.agent_name.take(), "agent.name", AgentName::parse)?
            .unwrap_or_else(|| default_agent_name(instance)),
        activation_port: activation_port(m.agent_activation_port.take())?,
        arn: opt(m.agent_arn.take(), "agent.arn", AgentArn::parse)?,
    })
}

/// `agent.activation_port`: a TCP port, 1-65535.
fn activation_port(src: Option<Sourced<i64>>) -> Result<u16, ConfigError> {
    let Some(s) = src else {
        return Ok(DEFAULT_ACTIVATION_PORT);
    };
    u16::try_from(s.value)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            invalid(
                &s,
                "agent.activation_port",
                s.value.to_string(),
                "expected a TCP port 1-65535".into(),
            )
        })
}

/// `[endpoint]`, given the keys checked first.
fn endpoint(
    m: &mut Merged,
    region: Region,
    subnet_arn: Option<SubnetArn>,
    security_group_arn: Option<SecurityGroupArn>,
) -> Result<EndpointSettings, ConfigError> {
    Ok(EndpointSettings {
        region,
        vpc_endpoint_id: opt(
            m.endpoint_vpc_endpoint_id.take(),
            "endpoint.vpc_endpoint_id",
            VpcEndpointId::parse,
        )?,
        ip: opt(m.endpoint_ip.take(), "endpoint.ip", |v| {
            v.parse::<Ipv4Addr>().map_err(|_| {
                "expected an IPv4 address such as \"172.16.1.10\" (PrivateLink endpoints are IPv4)"
                    .into()
            })
        })?,
        subnet_arn,
        security_group_arn,
    })
}

/// `aws.endpoint_url`. User info (`user:password@`, any `@`) is refused, and the value then
/// never quoted: the SDK would not use it, but it is a credential all the same.
fn endpoint_url(src: Option<Sourced<String>>) -> Result<Option<String>, ConfigError> {
    match src {
        Some(s) if crate::redact::has_user_info(&s.value) => Err(invalid(
            &s,
            "aws.endpoint_url",
            crate::config::secret::REDACTED.to_string(),
            "an '@' is user info (user:password@), which the AWS SDK does not use and which \
             would be a credential in the configuration: remove it (credentials come from the \
             instance role or [aws] profile)"
                .into(),
        )),
        src => opt(src, "aws.endpoint_url", http_url),
    }
}

/// `[aws]`
fn aws(m: &mut Merged) -> Result<AwsSettings, ConfigError> {
    Ok(AwsSettings {
        profile: opt(m.aws_profile.take(), "aws.profile", |v| {
            if v.is_empty() {
                Err("expected a profile name".into())
            } else {
                Ok(v.to_string())
            }
        })?,
        role_arn: opt(m.aws_role_arn.take(), "aws.role_arn", RoleArn::parse)?,
        external_id: opt(
            m.aws_external_id.take(),
            "aws.external_id",
            ExternalId::parse,
        )?,
        endpoint_url: endpoint_url(m.aws_endpoint_url.take())?,
    })
}

/// A duration key as a table row: its value, its name, its default and its accepted range.
type DurationRow = (
    Option<Sourced<String>>,
    &'static str,
    Duration,
    (Duration, Duration),
);

/// Validates a section's duration keys, row by row (the first error is returned).
fn durations<const N: usize>(rows: [DurationRow; N]) -> Result<[Duration; N], ConfigError> {
    let mut out = [Duration::ZERO; N];
    for (slot, (src, key, default, range)) in out.iter_mut().zip(rows) {
        *slot = duration(src, key, default, range)?;
    }
    Ok(out)
}

/// `[activation]`, given the tags checked first.
fn activation(
    m: &mut Merged,
    tags: Vec<(TagKey, TagValue)>,
) -> Result<ActivationSettings, ConfigError> {
    let [deadline, request_timeout] = durations([
        (
            m.activation_deadline.take(),
            "activation.deadline",
            DEFAULT_ACTIVATION_DEADLINE,
            ACTIVATION_DEADLINE_RANGE,
        ),
        (
            m.activation_request_timeout.take(),
            "activation.request_timeout",
            DEFAULT_REQUEST_TIMEOUT,
            REQUEST_TIMEOUT_RANGE,
        ),
    ])?;
    Ok(ActivationSettings {
        deadline,
        request_timeout,
        tags,
    })
}

/// `[checks]`, given the count checked first.
fn checks(m: &mut Merged, planned_tasks: Option<u32>) -> Result<ChecksSettings, ConfigError> {
    Ok(ChecksSettings {
        timeout: duration(
            m.checks_timeout.take(),
            "checks.timeout",
            DEFAULT_CHECK_TIMEOUT,
            CHECK_TIMEOUT_RANGE,
        )?,
        control_ports: m.checks_control_ports.take().is_some_and(|s| s.value),
        support_port: m.checks_support_port.take().is_some_and(|s| s.value),
        aws: m.checks_aws.take().is_none_or(|s| s.value),
        planned_tasks: planned_tasks.unwrap_or(1),
        source_cidrs: source_cidrs(m.checks_source_cidrs.take())?,
    })
}

/// `checks.source_cidrs`: IPv4 CIDR blocks; the error names the first bad one.
fn source_cidrs(src: Option<Sourced<Vec<String>>>) -> Result<Vec<Cidr>, ConfigError> {
    let Some(s) = src else {
        return Ok(Vec::new());
    };
    s.value
        .iter()
        .map(|c| {
            c.parse::<Cidr>()
                .map_err(|p| invalid(&s, "checks.source_cidrs", format!("{c:?}"), p))
        })
        .collect()
}

/// `[monitor]`, given the count checked first.
fn monitor(m: &mut Merged, offline_after: Option<u32>) -> Result<MonitorSettings, ConfigError> {
    let [interval, realert_every, activation_grace] = durations([
        (
            m.monitor_interval.take(),
            "monitor.interval",
            DEFAULT_MONITOR_INTERVAL,
            MONITOR_INTERVAL_RANGE,
        ),
        (
            m.monitor_realert_every.take(),
            "monitor.realert_every",
            DEFAULT_REALERT_EVERY,
            REALERT_RANGE,
        ),
        (
            m.monitor_activation_grace.take(),
            "monitor.activation_grace",
            DEFAULT_ACTIVATION_GRACE,
            ACTIVATION_GRACE_RANGE,
        ),
    ])?;
    Ok(MonitorSettings {
        interval,
        offline_after: offline_after.unwrap_or(DEFAULT_OFFLINE_AFTER),
        realert_every,
        activation_grace,
    })
}

/// `[health]`
fn health(
    src: Option<Sourced<String>>,
    instance: Option<&Instance>,
    files: &str,
) -> Result<HealthSettings, ConfigError> {
    let listen = opt(src, "health.listen", |v| {
        v.parse::<SocketAddr>()
            .map_err(|_| "expected IP:PORT such as \"127.0.0.1:9417\"".into())
    })?;
    let listen = match (listen, instance) {
        (Some(listen), _) => listen,
        (None, None) => DEFAULT_HEALTH_LISTEN.parse().expect("valid default"),
        (None, Some(_)) => {
            return Err(ConfigError::Missing {
                key: "health.listen",
                files: files.to_string(),
                why: "each instance needs its own health port (the default 127.0.0.1:9417 is \
                      the main unit's), e.g. listen = \"127.0.0.1:9418\"",
            });
        }
    };
    Ok(HealthSettings { listen })
}

/// `[state]`
fn state(
    src: Option<Sourced<String>>,
    instance: Option<&Instance>,
) -> Result<StateSettings, ConfigError> {
    let dir = opt(src, "state.dir", |v| match instance {
        _ if !v.starts_with('/') => Err("expected an absolute path".into()),
        // `..` would hide where the state really is, from the checks below and from a reader.
        _ if std::path::Path::new(v)
            .components()
            .any(|c| c == std::path::Component::ParentDir) =>
        {
            Err("expected an absolute path without '..'".into())
        }
        Some(i) if i.is_others_state(std::path::Path::new(v)) => Err(format!(
            "instance {i} keeps its own state in {} (the default: remove the key); this one \
             is the main unit's or another instance's",
            i.state_dir().display()
        )),
        _ => Ok(PathBuf::from(v)),
    })?;
    Ok(StateSettings {
        dir: dir.unwrap_or_else(|| match instance {
            Some(i) => i.state_dir(),
            None => PathBuf::from(DEFAULT_STATE_DIR),
        }),
    })
}
