//! The DataSync operations: input decoding and validation (per the model), then
//! the state change and the output shape, member names exactly as in service-2.json.

use serde_json::{Map, Value, json};

use crate::control_plane::{ApiError, epoch_seconds};
use crate::model::{self, Violations};
use crate::state::{Agent, NewAgent, PLATFORM_VERSION, State};

/// Page size when the caller gives no (or a zero) `MaxResults`; also the model's maximum.
const DEFAULT_PAGE: usize = 100;
/// AWS's per-resource tag limit.
const MAX_TAGS_PER_RESOURCE: usize = 50;

type Obj = Map<String, Value>;

/// Runs one operation on a JSON object input.
pub(crate) async fn dispatch(state: &State, op: &str, input: &Obj) -> Result<Value, ApiError> {
    match op {
        "CreateAgent" => create_agent(state, input).await,
        "DescribeAgent" => describe_agent(state, input),
        "ListAgents" => list_agents(state, input),
        "DeleteAgent" => delete_agent(state, input),
        "UpdateAgent" => update_agent(state, input),
        "TagResource" => tag_resource(state, input),
        "UntagResource" => untag_resource(state, input),
        "ListTagsForResource" => list_tags(state, input),
        _ => Err(ApiError::invalid(format!("Unsupported operation {op}"))),
    }
}

/// AWS names members in validation messages in lowerCamelCase.
fn camel(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn wrong_type(name: &str, what: &str) -> ApiError {
    ApiError::serialization(format!("{name} must be {what}"))
}

/// A member as a string; JSON `null` counts as absent.
fn opt_str<'a>(input: &'a Obj, name: &str) -> Result<Option<&'a str>, ApiError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

fn opt_int(input: &Obj, name: &str) -> Result<Option<i64>, ApiError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| wrong_type(name, "an integer")),
    }
}

fn opt_str_list<'a>(input: &'a Obj, name: &str) -> Result<Option<Vec<&'a str>>, ApiError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| wrong_type(name, "a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong_type(name, "a list")),
    }
}

/// An `InputTagList` member, validated into `v`.
fn opt_tags(
    input: &Obj,
    name: &str,
    v: &mut Violations,
) -> Result<Option<Vec<(String, String)>>, ApiError> {
    let items = match input.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(wrong_type(name, "a list")),
    };
    let at = camel(name);
    v.count(&at, "[...]", items.len(), model::INPUT_TAG_LIST_LIMITS);
    let mut tags = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            return Err(wrong_type(name, "a list of {Key, Value} objects"));
        };
        let member = format!("{at}.{}.member", i + 1);
        let key = opt_str(entry, "Key")?;
        let value = opt_str(entry, "Value")?.unwrap_or_default();
        match key {
            Some(k) => v.string(
                &format!("{member}.key"),
                k,
                model::TAG_KEY,
                model::TAG_KEY_LIMITS,
            ),
            None => v.missing(&format!("{member}.key")),
        }
        let vat = format!("{member}.value");
        v.string(&vat, value, model::TAG_VALUE, model::TAG_VALUE_LIMITS);
        tags.push((key.unwrap_or_default().to_owned(), value.to_owned()));
    }
    Ok(Some(tags))
}

/// A required string member checked against its pattern and limits.
fn required<'a>(
    input: &'a Obj,
    name: &str,
    pattern: &'static str,
    limits: model::Limits,
    v: &mut Violations,
) -> Result<&'a str, ApiError> {
    let s = opt_str(input, name)?;
    match s {
        Some(s) => v.string(&camel(name), s, pattern, limits),
        None => v.missing(&camel(name)),
    }
    Ok(s.unwrap_or_default())
}

/// An optional string member checked against its pattern and limits.
fn optional<'a>(
    input: &'a Obj,
    name: &str,
    pattern: &'static str,
    limits: model::Limits,
    v: &mut Violations,
) -> Result<Option<&'a str>, ApiError> {
    let s = opt_str(input, name)?;
    if let Some(s) = s {
        v.string(&camel(name), s, pattern, limits);
    }
    Ok(s)
}

/// An optional list of ARNs with list-count and per-item checks.
fn arn_list(
    input: &Obj,
    name: &str,
    list_limits: model::Limits,
    pattern: &'static str,
    limits: model::Limits,
    v: &mut Violations,
) -> Result<Vec<String>, ApiError> {
    let Some(items) = opt_str_list(input, name)? else {
        return Ok(Vec::new());
    };
    let at = camel(name);
    v.count(&at, &format!("{items:?}"), items.len(), list_limits);
    for (i, s) in items.iter().enumerate() {
        v.string(&format!("{at}.{}.member", i + 1), s, pattern, limits);
    }
    Ok(items.into_iter().map(str::to_owned).collect())
}

/// `MaxResults` and `NextToken`, decoded; the token must carry `kind`.
fn paging(
    input: &Obj,
    kind: &str,
    v: &mut Violations,
) -> Result<(usize, Option<String>), ApiError> {
    let max = opt_int(input, "MaxResults")?;
    if let Some(m) = max {
        v.int("maxResults", m, model::MAX_RESULTS_LIMITS);
    }
    let token = optional(
        input,
        "NextToken",
        model::NEXT_TOKEN,
        model::NEXT_TOKEN_LIMITS,
        v,
    )?;
    let page = match max {
        Some(m) if m > 0 => usize::try_from(m).unwrap_or(DEFAULT_PAGE).min(DEFAULT_PAGE),
        _ => DEFAULT_PAGE,
    };
    let after = match token {
        None => None,
        Some(t) => {
            Some(decode_token(t, kind).ok_or_else(|| ApiError::invalid("Invalid NextToken"))?)
        }
    };
    Ok((page, after))
}

/// Tokens are opaque to clients: hex of `<kind>:<position>`, which fits the NextToken pattern.
fn encode_token(kind: &str, position: &str) -> String {
    format!("{kind}:{position}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(token: &str, kind: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(kind)?
        .strip_prefix(':')
        .map(str::to_owned)
}

fn no_agent(arn: &str) -> ApiError {
    ApiError::invalid(format!("Unable to find agent with ARN: {arn}"))
}

fn tag_list(tags: &[(String, String)]) -> Value {
    tags.iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect()
}

async fn create_agent(state: &State, input: &Obj) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    let key = required(
        input,
        "ActivationKey",
        model::ACTIVATION_KEY,
        model::ACTIVATION_KEY_LIMITS,
        &mut v,
    )?;
    let name = optional(
        input,
        "AgentName",
        model::TAG_VALUE,
        model::TAG_VALUE_LIMITS,
        &mut v,
    )?;
    let tags = opt_tags(input, "Tags", &mut v)?.unwrap_or_default();
    let vpce = optional(
        input,
        "VpcEndpointId",
        model::VPC_ENDPOINT_ID,
        model::VPC_ENDPOINT_ID_LIMITS,
        &mut v,
    )?;
    let subnet_arns = arn_list(
        input,
        "SubnetArns",
        model::PL_SUBNET_ARN_LIST_LIMITS,
        model::EC2_SUBNET_ARN,
        model::EC2_SUBNET_ARN_LIMITS,
        &mut v,
    )?;
    let security_group_arns = arn_list(
        input,
        "SecurityGroupArns",
        model::PL_SECURITY_GROUP_ARN_LIST_LIMITS,
        model::EC2_SECURITY_GROUP_ARN,
        model::EC2_SECURITY_GROUP_ARN_LIMITS,
        &mut v,
    )?;
    v.finish().map_err(ApiError::invalid)?;
    let arn = state
        .create_agent(NewAgent {
            key: key.to_owned(),
            name: name.map(str::to_owned),
            tags,
            vpc_endpoint_id: vpce.map(str::to_owned),
            subnet_arns,
            security_group_arns,
        })
        .map_err(ApiError::invalid)?;
    log::info!("created agent {arn}");
    // Answer only once the agent's port refuses connections, as the real agent has by then.
    state.close_agent_port().await;
    Ok(json!({ "AgentArn": arn }))
}

fn agent_arn(input: &Obj) -> Result<&str, ApiError> {
    let mut v = Violations::default();
    let arn = required(
        input,
        "AgentArn",
        model::AGENT_ARN,
        model::AGENT_ARN_LIMITS,
        &mut v,
    )?;
    v.finish().map_err(ApiError::invalid)?;
    Ok(arn)
}

fn describe(a: &Agent) -> Value {
    let mut out = json!({
        "AgentArn": a.arn,
        "Status": a.status.as_str(),
        "LastConnectionTime": epoch_seconds(a.last_connection()),
        "CreationTime": epoch_seconds(a.created_at),
        "EndpointType": a.endpoint_type.as_str(),
        "Platform": { "Version": PLATFORM_VERSION },
    });
    if let Some(name) = &a.name {
        out["Name"] = json!(name);
    }
    if a.vpc_endpoint_id.is_some() || a.private_link_endpoint.is_some() {
        let mut pl = Map::new();
        if let Some(id) = &a.vpc_endpoint_id {
            pl.insert("VpcEndpointId".into(), json!(id));
        }
        if let Some(ip) = &a.private_link_endpoint {
            pl.insert("PrivateLinkEndpoint".into(), json!(ip));
        }
        if !a.subnet_arns.is_empty() {
            pl.insert("SubnetArns".into(), json!(a.subnet_arns));
        }
        if !a.security_group_arns.is_empty() {
            pl.insert("SecurityGroupArns".into(), json!(a.security_group_arns));
        }
        out["PrivateLinkConfig"] = Value::Object(pl);
    }
    out
}

fn describe_agent(state: &State, input: &Obj) -> Result<Value, ApiError> {
    let arn = agent_arn(input)?;
    state
        .agent(arn)
        .map(|a| describe(&a))
        .ok_or_else(|| no_agent(arn))
}

fn list_agents(state: &State, input: &Obj) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    let (page, after) = paging(input, "agents", &mut v)?;
    v.finish().map_err(ApiError::invalid)?;
    let (agents, more) = state.agents_page(after.as_deref(), page);
    let entries: Vec<Value> = agents
        .iter()
        .map(|a| {
            let mut e = json!({
                "AgentArn": a.arn,
                "Status": a.status.as_str(),
                "Platform": { "Version": PLATFORM_VERSION },
            });
            if let Some(name) = &a.name {
                e["Name"] = json!(name);
            }
            e
        })
        .collect();
    let mut out = json!({ "Agents": entries });
    if let (true, Some(last)) = (more, agents.last()) {
        out["NextToken"] = json!(encode_token("agents", &last.arn));
    }
    Ok(out)
}

fn delete_agent(state: &State, input: &Obj) -> Result<Value, ApiError> {
    let arn = agent_arn(input)?;
    if state.remove_agent(arn) {
        Ok(json!({}))
    } else {
        Err(no_agent(arn))
    }
}

fn update_agent(state: &State, input: &Obj) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    let arn = required(
        input,
        "AgentArn",
        model::AGENT_ARN,
        model::AGENT_ARN_LIMITS,
        &mut v,
    )?;
    let name = optional(
        input,
        "Name",
        model::TAG_VALUE,
        model::TAG_VALUE_LIMITS,
        &mut v,
    )?;
    v.finish().map_err(ApiError::invalid)?;
    state
        .with_agent(arn, |a| {
            if let Some(n) = name {
                a.name = Some(n.to_owned());
            }
        })
        .map(|()| json!({}))
        .ok_or_else(|| no_agent(arn))
}

fn resource_arn<'a>(input: &'a Obj, v: &mut Violations) -> Result<&'a str, ApiError> {
    required(
        input,
        "ResourceArn",
        model::TAGGABLE_RESOURCE_ARN,
        model::TAGGABLE_RESOURCE_ARN_LIMITS,
        v,
    )
}

fn tag_resource(state: &State, input: &Obj) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    let arn = resource_arn(input, &mut v)?;
    let tags = opt_tags(input, "Tags", &mut v)?;
    if tags.is_none() {
        v.missing("tags");
    }
    v.finish().map_err(ApiError::invalid)?;
    let merged = state.with_agent(arn, |a| {
        let mut next = a.tags.clone();
        for (k, val) in tags.unwrap_or_default() {
            match next.iter_mut().find(|(nk, _)| *nk == k) {
                Some(slot) => slot.1 = val,
                None => next.push((k, val)),
            }
        }
        if next.len() > MAX_TAGS_PER_RESOURCE {
            return Err(ApiError::invalid(format!(
                "Tag limit exceeded: a resource can have at most {MAX_TAGS_PER_RESOURCE} tags"
            )));
        }
        a.tags = next;
        Ok(json!({}))
    });
    merged.unwrap_or_else(|| Err(no_agent(arn)))
}

fn untag_resource(state: &State, input: &Obj) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    let arn = resource_arn(input, &mut v)?;
    let keys = opt_str_list(input, "Keys")?;
    match &keys {
        None => v.missing("keys"),
        Some(keys) => {
            v.count(
                "keys",
                &format!("{keys:?}"),
                keys.len(),
                model::TAG_KEY_LIST_LIMITS,
            );
            for (i, k) in keys.iter().enumerate() {
                let at = format!("keys.{}.member", i + 1);
                v.string(&at, k, model::TAG_KEY, model::TAG_KEY_LIMITS);
            }
        }
    }
    v.finish().map_err(ApiError::invalid)?;
    let keys = keys.unwrap_or_default();
    state
        .with_agent(arn, |a| a.tags.retain(|(k, _)| !keys.contains(&k.as_str())))
        .map(|()| json!({}))
        .ok_or_else(|| no_agent(arn))
}

fn list_tags(state: &State, input: &Obj) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    let arn = resource_arn(input, &mut v)?;
    let (page, after) = paging(input, "tags", &mut v)?;
    v.finish().map_err(ApiError::invalid)?;
    let start = match after {
        None => 0,
        Some(pos) => pos
            .parse::<usize>()
            .map_err(|_| ApiError::invalid("Invalid NextToken"))?,
    };
    let tags = state.agent(arn).ok_or_else(|| no_agent(arn))?.tags;
    let end = start.saturating_add(page).min(tags.len());
    let slice = tags.get(start..end).unwrap_or_default();
    let mut out = json!({ "Tags": tag_list(slice) });
    if end < tags.len() {
        out["NextToken"] = json!(encode_token("tags", &end.to_string()));
    }
    Ok(out)
}
