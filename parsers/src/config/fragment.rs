//! Raw configuration fragments as they appear in TOML, and their merge.
//!
//! Every field is optional so that any fragment may set any subset of keys; unknown keys are
//! rejected. Values keep their source span so that validation errors can point at the file,
//! line and column that set them, even after several fragments were merged.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, parse_error};

/// Where a configuration value came from: file, line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The fragment file that set the value.
    pub file: Arc<PathBuf>,
    /// 1-based line of the value.
    pub line: usize,
    /// 1-based column of the value.
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A merged value together with the place that set it.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    /// The raw value.
    pub value: T,
    /// Where it was set.
    pub origin: Origin,
}

/// A TOML value that may be written as one string or as a list of strings; DataSync takes
/// exactly one subnet and one security group, and a list gets a precise error rather than a
/// type error.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "one ARN string (or a list holding exactly one)")]
pub enum OneOrMany {
    /// `key = "value"`
    One(String),
    /// `key = ["a", "b"]`
    Many(Vec<String>),
}

type S<T> = Option<Spanned<T>>;

/// One configuration file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Fragment {
    pub agent: Option<AgentFragment>,
    pub endpoint: Option<EndpointFragment>,
    pub aws: Option<AwsFragment>,
    pub activation: Option<ActivationFragment>,
    pub checks: Option<ChecksFragment>,
    pub monitor: Option<MonitorFragment>,
    pub alerts: Option<AlertsFragment>,
    pub health: Option<HealthFragment>,
    pub state: Option<StateFragment>,
}

/// `[agent]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct AgentFragment {
    pub address: S<String>,
    pub name: S<String>,
    pub activation_port: S<i64>,
    pub arn: S<String>,
}

/// `[endpoint]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct EndpointFragment {
    pub region: S<String>,
    pub vpc_endpoint_id: S<String>,
    pub ip: S<String>,
    pub subnet_arn: S<OneOrMany>,
    pub security_group_arn: S<OneOrMany>,
}

/// `[aws]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct AwsFragment {
    pub profile: S<String>,
    pub role_arn: S<String>,
    pub external_id: S<String>,
    pub endpoint_url: S<String>,
}

/// `[activation]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ActivationFragment {
    pub deadline: S<String>,
    pub request_timeout: S<String>,
    pub tags: Option<BTreeMap<String, Spanned<String>>>,
}

/// `[checks]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ChecksFragment {
    pub timeout: S<String>,
    pub control_ports: S<bool>,
    pub support_port: S<bool>,
    pub aws: S<bool>,
    pub planned_tasks: S<i64>,
    pub source_cidrs: S<Vec<String>>,
}

/// `[monitor]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct MonitorFragment {
    pub interval: S<String>,
    pub offline_after: S<i64>,
    pub realert_every: S<String>,
    pub activation_grace: S<String>,
}

/// `[alerts]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct AlertsFragment {
    pub webhook: S<String>,
    pub destinations: Option<Vec<Spanned<DestinationFragment>>>,
}

/// One `[[alerts.destinations]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct DestinationFragment {
    pub name: S<String>,
    pub format: S<String>,
    pub url: S<String>,
    pub url_file: S<String>,
    pub routing_key: S<String>,
    pub routing_key_file: S<String>,
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    pub header_files: Option<BTreeMap<String, Spanned<String>>>,
    pub events: S<Vec<String>>,
}

/// One destination's keys, merged: a whole table, never mixed with another fragment's.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct MergedDestination {
    /// Where its `[[alerts.destinations]]` table starts.
    pub origin: Origin,
    pub name: Option<Sourced<String>>,
    pub format: Option<Sourced<String>>,
    pub url: Option<Sourced<String>>,
    pub url_file: Option<Sourced<String>>,
    pub routing_key: Option<Sourced<String>>,
    pub routing_key_file: Option<Sourced<String>>,
    pub headers: BTreeMap<String, Sourced<String>>,
    pub header_files: BTreeMap<String, Sourced<String>>,
    pub events: Option<Sourced<Vec<String>>>,
}

/// `[health]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct HealthFragment {
    pub listen: S<String>,
}

/// `[state]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StateFragment {
    pub dir: S<String>,
}

/// All fragments merged: each key holds the value of the last fragment that set it.
#[derive(Debug, Default, Clone)]
#[allow(missing_docs)]
pub struct Merged {
    pub agent_address: Option<Sourced<String>>,
    pub agent_name: Option<Sourced<String>>,
    pub agent_activation_port: Option<Sourced<i64>>,
    pub agent_arn: Option<Sourced<String>>,
    pub endpoint_region: Option<Sourced<String>>,
    pub endpoint_vpc_endpoint_id: Option<Sourced<String>>,
    pub endpoint_ip: Option<Sourced<String>>,
    pub endpoint_subnet_arn: Option<Sourced<OneOrMany>>,
    pub endpoint_security_group_arn: Option<Sourced<OneOrMany>>,
    pub aws_profile: Option<Sourced<String>>,
    pub aws_role_arn: Option<Sourced<String>>,
    pub aws_external_id: Option<Sourced<String>>,
    pub aws_endpoint_url: Option<Sourced<String>>,
    pub activation_deadline: Option<Sourced<String>>,
    pub activation_request_timeout: Option<Sourced<String>>,
    /// Tags merge key by key: a later fragment adds or overrides single tags.
    pub activation_tags: BTreeMap<String, Sourced<String>>,
    pub checks_timeout: Option<Sourced<String>>,
    pub checks_control_ports: Option<Sourced<bool>>,
    pub checks_support_port: Option<Sourced<bool>>,
    pub checks_aws: Option<Sourced<bool>>,
    pub checks_planned_tasks: Option<Sourced<i64>>,
    pub checks_source_cidrs: Option<Sourced<Vec<String>>>,
    pub monitor_interval: Option<Sourced<String>>,
    pub monitor_offline_after: Option<Sourced<i64>>,
    pub monitor_realert_every: Option<Sourced<String>>,
    pub monitor_activation_grace: Option<Sourced<String>>,
    pub alerts_webhook: Option<Sourced<String>>,
    /// Destinations add up across fragments; one with the `name` of an earlier one replaces it.
    pub alerts_destinations: Vec<MergedDestination>,
    pub health_listen: Option<Sourced<String>>,
    pub state_dir: Option<Sourced<String>>,
}

/// The text of one fragment file, used to turn byte spans into lines and columns.
struct FileText<'a> {
    path: Arc<PathBuf>,
    text: &'a str,
}

impl FileText<'_> {
    fn origin(&self, offset: usize) -> Origin {
        let (line, column) = line_column(self.text, offset);
        Origin {
            file: self.path.clone(),
            line,
            column,
        }
    }

    fn take<T>(&self, dst: &mut Option<Sourced<T>>, src: Option<Spanned<T>>) {
        if let Some(v) = src {
            *dst = Some(self.sourced(v));
        }
    }

    fn sourced<T>(&self, v: Spanned<T>) -> Sourced<T> {
        let origin = self.origin(v.span().start);
        Sourced {
            value: v.into_inner(),
            origin,
        }
    }

    fn map(
        &self,
        src: Option<BTreeMap<String, Spanned<String>>>,
    ) -> BTreeMap<String, Sourced<String>> {
        src.unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, self.sourced(v)))
            .collect()
    }

    fn destination(&self, d: Spanned<DestinationFragment>) -> MergedDestination {
        let origin = self.origin(d.span().start);
        let d = d.into_inner();
        let mut m = MergedDestination {
            origin,
            name: None,
            format: None,
            url: None,
            url_file: None,
            routing_key: None,
            routing_key_file: None,
            headers: self.map(d.headers),
            header_files: self.map(d.header_files),
            events: None,
        };
        self.take(&mut m.name, d.name);
        self.take(&mut m.format, d.format);
        self.take(&mut m.url, d.url);
        self.take(&mut m.url_file, d.url_file);
        self.take(&mut m.routing_key, d.routing_key);
        self.take(&mut m.routing_key_file, d.routing_key_file);
        self.take(&mut m.events, d.events);
        m
    }
}

/// `offset` moved back to a character boundary of `text` (and into it): the parser's spans are
/// byte offsets, and slicing inside a multi-byte character would panic.
fn boundary(text: &str, offset: usize) -> usize {
    let mut o = offset.min(text.len());
    while !text.is_char_boundary(o) {
        o -= 1;
    }
    o
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Parses one fragment; errors carry the file, line and column.
pub fn parse(path: &Path, text: &str) -> Result<Fragment, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let start = e.span().map_or(0, |s| s.start);
        let (line, column) = e.span().map_or((0, 0), |_| line_column(text, start));
        let mut message = e
            .message()
            .trim()
            .replace("expected i64", "expected an integer");
        let key = e.span().and_then(|_| parse_error::key_at(text, start));
        // Any value under [alerts] may be a secret (a webhook URL, a header): a type error
        // says what was given, not what it was. However the table is spelled (`["alerts"]`,
        // `alerts = { … }`, dotted keys), and when the key cannot be told at all.
        if key.as_deref().is_none_or(parse_error::under_alerts) {
            message = parse_error::unquote_values(&message);
        }
        if let Some(key) = key {
            message = format!("{key}: {message}");
        }
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

impl Merged {
    /// Applies one parsed fragment on top of what was merged so far.
    pub fn apply(&mut self, path: &Path, text: &str, f: Fragment) {
        let ft = FileText {
            path: Arc::new(path.to_path_buf()),
            text,
        };
        if let Some(a) = f.agent {
            ft.take(&mut self.agent_address, a.address);
            ft.take(&mut self.agent_name, a.name);
            ft.take(&mut self.agent_activation_port, a.activation_port);
            ft.take(&mut self.agent_arn, a.arn);
        }
        if let Some(e) = f.endpoint {
            ft.take(&mut self.endpoint_region, e.region);
            ft.take(&mut self.endpoint_vpc_endpoint_id, e.vpc_endpoint_id);
            ft.take(&mut self.endpoint_ip, e.ip);
            ft.take(&mut self.endpoint_subnet_arn, e.subnet_arn);
            ft.take(&mut self.endpoint_security_group_arn, e.security_group_arn);
        }
        if let Some(a) = f.aws {
            ft.take(&mut self.aws_profile, a.profile);
            ft.take(&mut self.aws_role_arn, a.role_arn);
            ft.take(&mut self.aws_external_id, a.external_id);
            ft.take(&mut self.aws_endpoint_url, a.endpoint_url);
        }
        if let Some(a) = f.activation {
            ft.take(&mut self.activation_deadline, a.deadline);
            ft.take(&mut self.activation_request_timeout, a.request_timeout);
            self.activation_tags.extend(ft.map(a.tags));
        }
        if let Some(c) = f.checks {
            ft.take(&mut self.checks_timeout, c.timeout);
            ft.take(&mut self.checks_control_ports, c.control_ports);
            ft.take(&mut self.checks_support_port, c.support_port);
            ft.take(&mut self.checks_aws, c.aws);
            ft.take(&mut self.checks_planned_tasks, c.planned_tasks);
            ft.take(&mut self.checks_source_cidrs, c.source_cidrs);
        }
        if let Some(m) = f.monitor {
            ft.take(&mut self.monitor_interval, m.interval);
            ft.take(&mut self.monitor_offline_after, m.offline_after);
            ft.take(&mut self.monitor_realert_every, m.realert_every);
            ft.take(&mut self.monitor_activation_grace, m.activation_grace);
        }
        if let Some(a) = f.alerts {
            ft.take(&mut self.alerts_webhook, a.webhook);
            for d in a.destinations.unwrap_or_default() {
                self.add_destination(ft.destination(d));
            }
        }
        if let Some(h) = f.health {
            ft.take(&mut self.health_listen, h.listen);
        }
        if let Some(s) = f.state {
            ft.take(&mut self.state_dir, s.dir);
        }
    }
}

impl Merged {
    /// A named destination replaces the earlier one of that name, in its place (so that a
    /// drop-in can change the main file's Slack destination); any other is added at the end.
    fn add_destination(&mut self, d: MergedDestination) {
        let name = d.name.as_ref().map(|n| n.value.clone());
        let same = self
            .alerts_destinations
            .iter_mut()
            .find(|e| name.is_some() && e.name.as_ref().map(|n| &n.value) == name.as_ref());
        match same {
            Some(slot) => *slot = d,
            None => self.alerts_destinations.push(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let t = "a = 1\nbb = \"x\"\n";
        assert_eq!(line_column(t, 0), (1, 1));
        assert_eq!(line_column(t, 6), (2, 1));
        assert_eq!(line_column(t, 11), (2, 6));
    }

    #[test]
    fn offsets_inside_a_character_do_not_panic() {
        let t = "a = \"é\"\nb = 1\n";
        for offset in 0..t.len() + 3 {
            let (line, _) = line_column(t, offset);
            assert!(line <= 3);
        }
        assert_eq!(
            line_column(t, 6),
            (1, 6),
            "inside é: the character's column"
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_position() {
        let err = parse(Path::new("/x.toml"), "[agent]\nadress = \"a\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/x.toml:2:1:"), "{msg}");
        assert!(msg.contains("unknown field `adress`"), "{msg}");
    }

    #[test]
    fn type_errors_name_the_dotted_key() {
        let err = parse(
            Path::new("/x.toml"),
            "[agent]\nname = \"a\"\nactivation_port = \"80\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/x.toml:3:19: agent.activation_port: invalid type: string \"80\", expected an integer"
        );
    }

    #[test]
    fn type_errors_under_alerts_never_quote_the_value() {
        for text in [
            "[alerts]\ndestinations = \"https://hooks.example/T/B/SECRET\"\n",
            "[[alerts.destinations]]\nheaders = \"Bearer SECRET\\\"x\"\n",
            "[[alerts.destinations]]\nevents = \"SECRET\"\n",
            "[\"alerts\"]\ndestinations = \"https://hooks.example/T/B/SECRET\"\n",
            "alerts = { destinations = \"https://hooks.example/T/B/SECRET\" }\n",
            "alerts.destinations = \"https://hooks.example/T/B/SECRET\"\n",
            "[alerts] # paging\ndestinations = \"https://hooks.example/T/B/SECRET\"\n",
            "[\"alerts\"] # x\ndestinations = \"https://hooks.example/T/B/SECRET\"\n",
            "[alerts]\ndestinations = [\n  \"https://hooks.example/T/B/SECRET?a=1\",\n]\n",
        ] {
            let msg = parse(Path::new("/x.toml"), text).unwrap_err().to_string();
            assert!(msg.contains("alerts") && msg.contains("a string"), "{msg}");
            assert!(!msg.contains("SECRET"), "{msg}");
        }
    }

    #[test]
    fn later_fragment_wins_and_tags_merge_per_key() {
        let mut m = Merged::default();
        let a = "[agent]\nname = \"a\"\n[activation.tags]\nteam = \"x\"\nenv = \"dev\"\n";
        let b = "[agent]\nname = \"b\"\n[activation.tags]\nenv = \"prod\"\n";
        m.apply(Path::new("/a"), a, parse(Path::new("/a"), a).unwrap());
        m.apply(Path::new("/b"), b, parse(Path::new("/b"), b).unwrap());
        let name = m.agent_name.unwrap();
        assert_eq!(name.value, "b");
        assert_eq!(name.origin.to_string(), "/b:2:8");
        assert_eq!(m.activation_tags["team"].value, "x");
        assert_eq!(m.activation_tags["env"].value, "prod");
    }
}
