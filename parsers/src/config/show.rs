//! `config show`: the configuration as the daemon uses it — every key with its effective value
//! (defaults filled in) and where that value came from — with every secret redacted.
//!
//! Values come from the validated [`Settings`] (so they are what the daemon runs with, in the
//! form it normalised them to), origins from the [`Merged`] keys before validation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use toml::Value;

use super::alerts::{Destination, PAGERDUTY_EVENTS_URL};
pub use super::secret::REDACTED;
use super::{Instance, Merged, MergedDestination, Origin, Settings, Sourced};

/// The configuration, section by section, in the order of the configuration reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// The files read, in the order they apply (a later one wins).
    pub files: Vec<PathBuf>,
    /// `--instance NAME`.
    pub instance: Option<Instance>,
    /// `[agent]`, `[endpoint]`, …; `[[alerts.destinations]]` once per destination.
    pub sections: Vec<Section>,
}

/// One `[table]` or one `[[array.of.tables]]` element.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Dotted table name, e.g. `activation.tags`.
    pub name: &'static str,
    /// An element of an array of tables (`[[alerts.destinations]]`).
    pub array: bool,
    /// Its keys.
    pub entries: Vec<Entry>,
}

/// One key.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key within its section.
    pub key: String,
    /// The effective value; `None` when the key is not set and has no default.
    pub value: Option<Value>,
    /// The file and line that set it; `None` for a default (or an unset key).
    pub origin: Option<Origin>,
}

fn str(s: impl ToString) -> Value {
    Value::String(s.to_string())
}

fn duration(d: Duration) -> Value {
    str(humantime::format_duration(d))
}

fn origin<T>(s: &Option<Sourced<T>>) -> Option<Origin> {
    s.as_ref().map(|s| s.origin.clone())
}

/// Collects one section's entries.
struct Keys(Vec<Entry>);

impl Keys {
    fn set(&mut self, key: &str, value: Option<Value>, origin: Option<Origin>) -> &mut Self {
        self.0.push(Entry {
            key: key.to_string(),
            value,
            origin,
        });
        self
    }

    /// A key whose value is the merged one's, or its default, with the merged one's origin.
    fn key<T>(&mut self, key: &str, value: Option<Value>, from: &Option<Sourced<T>>) -> &mut Self {
        self.set(key, value, origin(from))
    }

    fn section(self, name: &'static str) -> Section {
        Section {
            name,
            array: false,
            entries: self.0,
        }
    }
}

impl Shown {
    /// `settings` as validated from `merged` (a copy taken before validation).
    pub fn new(files: Vec<PathBuf>, settings: &Settings, merged: &Merged) -> Shown {
        let (s, m) = (settings, merged);
        let mut sections = vec![agent(s, m), endpoint(s, m), aws(s, m), activation(s, m)];
        let mut tags = Keys(Vec::new());
        for (k, v) in &s.activation.tags {
            let from = m.activation_tags.get(k.as_str()).map(|t| t.origin.clone());
            tags.set(k.as_str(), Some(str(v.as_str())), from);
        }
        sections.push(tags.section("activation.tags"));
        sections.extend([checks(s, m), monitor(s, m)]);
        let webhook = m.alerts_webhook.as_ref().map(|w| w.origin.clone());
        let mut alerts = Keys(Vec::new());
        if webhook.is_some() {
            alerts.set("webhook", Some(str(REDACTED)), webhook.clone());
        }
        sections.push(alerts.section("alerts"));
        for d in &s.alerts.destinations {
            // `alerts.webhook` became a destination named after it, declared where the key is:
            // shown above as the key it was written as, not as a table it never was.
            if Some(&d.origin) == webhook.as_ref() && d.name == "webhook" {
                continue;
            }
            let table = m.alerts_destinations.iter().find(|t| t.origin == d.origin);
            sections.push(destination(d, table));
        }
        let mut health = Keys(Vec::new());
        health.key("listen", Some(str(s.health.listen)), &m.health_listen);
        let mut state = Keys(Vec::new());
        state.key("dir", Some(str(s.state.dir.display())), &m.state_dir);
        sections.extend([health.section("health"), state.section("state")]);
        Shown {
            files,
            instance: s.instance.clone(),
            sections,
        }
    }
}

fn agent(s: &Settings, m: &Merged) -> Section {
    let a = &s.agent;
    let mut k = Keys(Vec::new());
    k.key("address", a.address.as_ref().map(str), &m.agent_address)
        .key("name", Some(str(a.name.as_str())), &m.agent_name)
        .key(
            "activation_port",
            Some(Value::Integer(a.activation_port.into())),
            &m.agent_activation_port,
        )
        .key("arn", a.arn.as_ref().map(|v| str(v.as_str())), &m.agent_arn);
    k.section("agent")
}

fn endpoint(s: &Settings, m: &Merged) -> Section {
    let e = &s.endpoint;
    let mut k = Keys(Vec::new());
    k.key("region", Some(str(e.region.as_str())), &m.endpoint_region)
        .key(
            "vpc_endpoint_id",
            e.vpc_endpoint_id.as_ref().map(|v| str(v.as_str())),
            &m.endpoint_vpc_endpoint_id,
        )
        .key("ip", e.ip.map(str), &m.endpoint_ip)
        .key(
            "subnet_arn",
            e.subnet_arn.as_ref().map(|v| str(v.as_str())),
            &m.endpoint_subnet_arn,
        )
        .key(
            "security_group_arn",
            e.security_group_arn.as_ref().map(|v| str(v.as_str())),
            &m.endpoint_security_group_arn,
        );
    k.section("endpoint")
}

fn aws(s: &Settings, m: &Merged) -> Section {
    let a = &s.aws;
    let mut k = Keys(Vec::new());
    k.key("profile", a.profile.as_ref().map(str), &m.aws_profile)
        .key(
            "role_arn",
            a.role_arn.as_ref().map(|v| str(v.as_str())),
            &m.aws_role_arn,
        )
        .key(
            "external_id",
            a.external_id.as_ref().map(|v| str(v.as_str())),
            &m.aws_external_id,
        )
        .key(
            "endpoint_url",
            a.endpoint_url.as_deref().map(endpoint_url),
            &m.aws_endpoint_url,
        );
    k.section("aws")
}

/// `aws.endpoint_url` as it is, unless it carries `user:password@`. Validation refuses any `@`
/// there today, so settings never hold one; the check stays so that relaxing that rule could
/// not make `config show` print a password.
fn endpoint_url(url: &str) -> Value {
    if crate::redact::has_user_info(url) {
        str(REDACTED)
    } else {
        str(url)
    }
}

fn activation(s: &Settings, m: &Merged) -> Section {
    let a = &s.activation;
    let mut k = Keys(Vec::new());
    k.key(
        "deadline",
        Some(duration(a.deadline)),
        &m.activation_deadline,
    )
    .key(
        "request_timeout",
        Some(duration(a.request_timeout)),
        &m.activation_request_timeout,
    );
    k.section("activation")
}

fn checks(s: &Settings, m: &Merged) -> Section {
    let c = &s.checks;
    // Unset, the overlap check uses this host's interfaces: there is no list to show.
    let cidrs = (m.checks_source_cidrs.is_some())
        .then(|| Value::Array(c.source_cidrs.iter().map(str).collect()));
    let mut k = Keys(Vec::new());
    k.key("timeout", Some(duration(c.timeout)), &m.checks_timeout)
        .key(
            "control_ports",
            Some(Value::Boolean(c.control_ports)),
            &m.checks_control_ports,
        )
        .key(
            "support_port",
            Some(Value::Boolean(c.support_port)),
            &m.checks_support_port,
        )
        .key("aws", Some(Value::Boolean(c.aws)), &m.checks_aws)
        .key(
            "planned_tasks",
            Some(Value::Integer(c.planned_tasks.into())),
            &m.checks_planned_tasks,
        )
        .key("source_cidrs", cidrs, &m.checks_source_cidrs);
    k.section("checks")
}

fn monitor(s: &Settings, m: &Merged) -> Section {
    let o = &s.monitor;
    let mut k = Keys(Vec::new());
    k.key("interval", Some(duration(o.interval)), &m.monitor_interval)
        .key(
            "offline_after",
            Some(Value::Integer(o.offline_after.into())),
            &m.monitor_offline_after,
        )
        .key(
            "realert_every",
            Some(duration(o.realert_every)),
            &m.monitor_realert_every,
        )
        .key(
            "activation_grace",
            Some(duration(o.activation_grace)),
            &m.monitor_activation_grace,
        );
    k.section("monitor")
}

/// One destination: names and lists as validated, secrets as `*_file` names or redacted.
/// `table` is the merged table it was validated from.
fn destination(d: &Destination, table: Option<&MergedDestination>) -> Section {
    let empty;
    let t = match table {
        Some(t) => t,
        None => {
            empty = MergedDestination::empty(d.origin.clone());
            &empty
        }
    };
    let mut k = Keys(Vec::new());
    k.key("name", Some(str(&d.name)), &t.name)
        .key("format", Some(str(d.format)), &t.format);
    match (&t.url, &t.url_file) {
        (_, Some(f)) => k.key("url_file", Some(str(&f.value)), &t.url_file),
        // PagerDuty's public Events API is no secret (its routing key is), written or not.
        (Some(u), None) if u.value == PAGERDUTY_EVENTS_URL => {
            k.key("url", Some(str(PAGERDUTY_EVENTS_URL)), &t.url)
        }
        (Some(_), None) => k.key("url", Some(str(REDACTED)), &t.url),
        // Only PagerDuty has a default URL.
        (None, None) => k.set("url", Some(str(PAGERDUTY_EVENTS_URL)), None),
    };
    if let Some(f) = &t.routing_key_file {
        k.key("routing_key_file", Some(str(&f.value)), &t.routing_key_file);
    } else if t.routing_key.is_some() {
        k.key("routing_key", Some(str(REDACTED)), &t.routing_key);
    }
    // Inline header values are secrets; header_files values name files. One loop, two views.
    let redacted = |_: &String| str(REDACTED);
    let as_written = |v: &String| str(v);
    for (key, map, value) in [
        (
            "headers",
            &t.headers,
            &redacted as &dyn Fn(&String) -> Value,
        ),
        ("header_files", &t.header_files, &as_written),
    ] {
        if let Some(first) = map.values().next() {
            let table = map.iter().map(|(n, v)| (n.clone(), value(&v.value)));
            let table = Value::Table(table.collect::<toml::map::Map<_, _>>());
            k.set(key, Some(table), Some(first.origin.clone()));
        }
    }
    let events = Value::Array(d.events.iter().map(str).collect());
    k.key("events", Some(events), &t.events);
    Section {
        name: "alerts.destinations",
        array: true,
        entries: k.0,
    }
}

impl MergedDestination {
    /// A table with no keys set, declared at `origin`.
    fn empty(origin: Origin) -> MergedDestination {
        MergedDestination {
            origin,
            name: None,
            format: None,
            url: None,
            url_file: None,
            routing_key: None,
            routing_key_file: None,
            headers: BTreeMap::new(),
            header_files: BTreeMap::new(),
            events: None,
        }
    }
}

/// A TOML key: bare when it can be, else a one-line quoted string (tag keys may hold spaces,
/// `:` or even a line break).
fn toml_key(k: &str) -> String {
    toml_edit::Key::new(k).display_repr().into_owned()
}

/// A path on one line: a file name with a line break must not start a line of the output.
fn path_label(p: &std::path::Path) -> String {
    p.display().to_string().escape_debug().to_string()
}

/// `file:line` of an origin, or `default`.
pub fn origin_label(origin: Option<&Origin>) -> String {
    match origin {
        Some(o) => format!("{}:{}", path_label(&o.file), o.line),
        None => "default".into(),
    }
}

impl Shown {
    /// As TOML that the daemon reads back to the same settings (bar redacted secrets). With
    /// `show_origin`, each key ends with a comment naming its file and line (or `default`),
    /// and keys that are not set appear as comments.
    pub fn to_toml(&self, show_origin: bool) -> String {
        let mut out =
            String::from("# datasync-warden configuration, merged from (a later file wins):\n");
        for f in &self.files {
            out.push_str(&format!("#   {}\n", path_label(f)));
        }
        if let Some(i) = &self.instance {
            out.push_str(&format!("# instance: {}\n", i.as_str()));
        }
        for s in &self.sections {
            let lines: Vec<(String, String)> = s
                .entries
                .iter()
                .filter_map(|e| match &e.value {
                    Some(v) => Some((
                        format!("{} = {v}", toml_key(&e.key)),
                        origin_label(e.origin.as_ref()),
                    )),
                    None if show_origin => {
                        Some((format!("# {}", toml_key(&e.key)), "not set".into()))
                    }
                    None => None,
                })
                .collect();
            if lines.is_empty() && !s.array {
                continue;
            }
            let (open, close) = if s.array { ("[[", "]]") } else { ("[", "]") };
            out.push_str(&format!("\n{open}{}{close}\n", s.name));
            let width = lines
                .iter()
                .map(|(l, _)| l.chars().count())
                .max()
                .unwrap_or(0);
            for (line, from) in lines {
                if show_origin {
                    out.push_str(&format!("{line:width$}  # {from}\n"));
                } else {
                    out.push_str(&format!("{line}\n"));
                }
            }
        }
        out
    }
}
