//! Property tests of the parsers that read untrusted text (the agent's answer, the
//! configuration) and of the network arithmetic the checks rely on (CIDR blocks, security-group
//! rules). Case counts stay modest (256) so that the file runs in seconds.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use proptest::prelude::*;

use datasync_warden::agent::activation_key::{
    ActivationKey, ParseFailure, parse_body, parse_location,
};
use datasync_warden::cidr::Cidr;
use datasync_warden::config::{self, ConfigError};
use datasync_warden::preflight::sg_rules::{Admission, Rule, admits};

// The fuzz targets' assertions.
use datasync_warden_parsers::oracle;

const IP: Ipv4Addr = oracle::ENDPOINT_IP;
const KEY_PATTERN: &str = "[A-Z0-9]{5}(-[A-Z0-9]{5}){4}";
const PATH: &str = "/etc/datasync-warden/config.d/50-prop.toml";

/// 256 cases per property; `PROPTEST_CASES=N` digs deeper.
fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        // Failures print their shrunk input; nothing is written next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The agent's answer

/// Text made of the pieces the Location parser splits on, a real key, and noise.
fn answer_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("?".to_string()),
        Just("&".to_string()),
        Just("=".to_string()),
        Just("#".to_string()),
        Just("activationKey".to_string()),
        Just("errorType".to_string()),
        Just("activationKey=".to_string()),
        Just("errorType=".to_string()),
        KEY_PATTERN.prop_map(|k| k),
        "[ \t\r\n]{1,3}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// A query parameter that is neither `activationKey` nor `errorType`: `name=value` or a bare flag.
fn other_param() -> impl Strategy<Value = String> {
    let name = "[a-zA-Z0-9_.%+-]{0,14}".prop_filter("not a parameter the parser looks for", |n| {
        n != "activationKey" && n != "errorType"
    });
    // Values may hold `=` and `?` (and anything else but the separators `&` and `#`).
    let value = "[^&#]{0,24}";
    prop_oneof![
        (name.clone(), value).prop_map(|(n, v)| format!("{n}={v}")),
        name,
    ]
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn answer_parsers_never_panic_and_keep_the_oracle(s in prop_oneof![any::<String>(), answer_like()]) {
        let _ = parse_location(&s, IP);
        let _ = parse_body(&s, IP);
        oracle::check_activation_response(s.as_bytes());
    }

    #[test]
    fn answer_parsers_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        oracle::check_activation_response(&bytes);
    }

    #[test]
    fn location_yields_exactly_its_one_key(
        key in KEY_PATTERN,
        prefix in "(https?://[a-z0-9.-]{1,24}(:[0-9]{1,5})?)?/[a-zA-Z0-9/._-]{0,16}",
        mut params in prop::collection::vec(other_param(), 0..6),
        at in any::<prop::sample::Index>(),
        fragment in prop::option::of("[^\u{0}]{0,30}"),
    ) {
        let i = at.index(params.len() + 1);
        params.insert(i, format!("activationKey={key}"));
        let mut location = format!("{prefix}?{}", params.join("&"));
        if let Some(f) = fragment {
            // Whatever follows `#` is not the query, even another activationKey.
            location.push('#');
            location.push_str(&f);
        }
        let got = parse_location(&location, IP);
        prop_assert_eq!(got.as_ref().map(ActivationKey::expose), Ok(key.as_str()), "{}", location);
    }

    #[test]
    fn a_second_key_parameter_is_always_refused(
        a in KEY_PATTERN,
        b in KEY_PATTERN,
        params in prop::collection::vec(other_param(), 0..4),
    ) {
        let location = format!("/?activationKey={a}&{}&activationKey={b}", params.join("&"));
        match parse_location(&location, IP) {
            Err(ParseFailure::Garbage(what)) => prop_assert!(what.contains("ambiguous"), "{}", what),
            other => prop_assert!(false, "{location}: {other:?}"),
        }
    }

    #[test]
    fn error_type_wins_over_a_key(key in KEY_PATTERN, code in "[A-Z_]{1,40}") {
        let location = format!("/?activationKey={key}&errorType={code}");
        match parse_location(&location, IP) {
            Err(ParseFailure::Agent(a)) => {
                prop_assert_eq!(a.code, code);
                prop_assert_eq!(a.endpoint_ip, IP);
            }
            other => prop_assert!(false, "{location}: {other:?}"),
        }
    }

    #[test]
    fn body_is_the_key_give_or_take_whitespace(
        key in KEY_PATTERN,
        before in "[ \t\r\n]{0,4}",
        after in "[ \t\r\n]{0,4}",
    ) {
        let body = format!("{before}{key}{after}");
        // The client trims the body, exactly as here.
        let got = parse_body(body.trim(), IP);
        prop_assert_eq!(got.as_ref().map(ActivationKey::expose), Ok(key.as_str()));
        // The parser itself is strict: anything around the key is not a key.
        if body != key {
            prop_assert!(parse_body(&body, IP).is_err());
        }
    }

    #[test]
    fn a_key_with_one_wrong_character_is_refused(
        key in KEY_PATTERN,
        at in 0usize..29,
        c in any::<char>(),
    ) {
        let mut chars: Vec<char> = key.chars().collect();
        // A character the key's shape does not allow at `at`.
        let c = match (at % 6 == 5, c) {
            (true, '-') => '_',
            (false, c) if c.is_ascii_uppercase() || c.is_ascii_digit() => 'a',
            (_, c) => c,
        };
        chars[at] = c;
        let bad: String = chars.into_iter().collect();
        prop_assert!(ActivationKey::parse(&bad).is_none(), "{:?}", bad);
        prop_assert!(parse_body(&bad, IP).is_err());
        let location = format!("/?activationKey={bad}");
        prop_assert!(parse_location(&location, IP).is_err());
    }
}

/// Every text an answer's failure puts in an error message.
fn failure_text(r: Result<ActivationKey, ParseFailure>) -> Option<String> {
    match r {
        Ok(_) => None,
        Err(ParseFailure::Garbage(what)) => Some(what),
        Err(ParseFailure::Agent(a)) => Some(a.code),
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn no_error_quotes_a_whole_key(
        before in answer_like(),
        key in KEY_PATTERN,
        after in answer_like(),
    ) {
        let run = regex_lite::Regex::new(KEY_PATTERN).unwrap();
        let answer = format!("{before}{key}{after}");
        for text in [
            failure_text(parse_body(&answer, IP)),
            failure_text(parse_location(&answer, IP)),
            failure_text(parse_location(&format!("/?x={answer}"), IP)),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(!run.is_match(&text), "{:?} quoted in {:?}", key, text);
        }
    }

    #[test]
    fn a_redacted_url_never_shows_what_follows_the_host(
        start in prop_oneof![
            // scheme://[user[:password]@]host[:port], as real webhooks are written
            "[a-zA-Z][a-zA-Z0-9+.-]{0,6}://([a-z0-9]{1,5}(:[a-z0-9]{1,5})?@)?[a-z0-9.-]{1,12}(:[0-9]{1,5})?",
            "[a-zA-Z0-9:/.@+\\[\\]-]{0,24}",
        ],
        sep in prop::sample::select(vec!["/", "?", "#"]),
        end in any::<String>(),
    ) {
        prop_assume!(!start.contains("SECRET"));
        let url = format!("{start}{sep}SECRET{end}");
        let shown = datasync_warden::redact::redact_url(&url);
        prop_assert!(!shown.contains("SECRET"), "{:?} -> {:?}", url, shown);
        // User info is a secret too.
        if let Some((scheme, rest)) = start.split_once("://") {
            let url = format!("{scheme}://u:SECRET@{}{sep}{end}", rest.rsplit('@').next().unwrap());
            let shown = datasync_warden::redact::redact_url(&url);
            prop_assert!(!shown.contains("SECRET"), "{:?} -> {:?}", url, shown);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The configuration

/// The TOML type a key takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Int,
    Bool,
    /// One string, or a list of strings (subnet and security-group ARNs).
    StrOrList,
    /// A list of strings.
    List,
    /// A table of strings.
    Tags,
}

/// Every key of the configuration, by table, with its TOML type (parsers/src/config/fragment.rs).
const KEYS: &[(&str, &str, Kind)] = &[
    ("agent", "address", Kind::Str),
    ("agent", "name", Kind::Str),
    ("agent", "activation_port", Kind::Int),
    ("agent", "arn", Kind::Str),
    ("endpoint", "region", Kind::Str),
    ("endpoint", "vpc_endpoint_id", Kind::Str),
    ("endpoint", "ip", Kind::Str),
    ("endpoint", "subnet_arn", Kind::StrOrList),
    ("endpoint", "security_group_arn", Kind::StrOrList),
    ("aws", "profile", Kind::Str),
    ("aws", "role_arn", Kind::Str),
    ("aws", "external_id", Kind::Str),
    ("aws", "endpoint_url", Kind::Str),
    ("activation", "deadline", Kind::Str),
    ("activation", "request_timeout", Kind::Str),
    ("activation", "tags", Kind::Tags),
    ("checks", "timeout", Kind::Str),
    ("checks", "control_ports", Kind::Bool),
    ("checks", "support_port", Kind::Bool),
    ("checks", "aws", Kind::Bool),
    ("checks", "planned_tasks", Kind::Int),
    ("checks", "source_cidrs", Kind::List),
    ("monitor", "interval", Kind::Str),
    ("monitor", "offline_after", Kind::Int),
    ("monitor", "realert_every", Kind::Str),
    ("monitor", "activation_grace", Kind::Str),
    ("alerts", "webhook", Kind::Str),
    ("alerts.destinations", "name", Kind::Str),
    ("alerts.destinations", "format", Kind::Str),
    ("alerts.destinations", "url", Kind::Str),
    ("alerts.destinations", "url_file", Kind::Str),
    ("alerts.destinations", "routing_key", Kind::Str),
    ("alerts.destinations", "routing_key_file", Kind::Str),
    ("alerts.destinations", "headers", Kind::Tags),
    ("alerts.destinations", "header_files", Kind::Tags),
    ("alerts.destinations", "events", Kind::List),
    ("health", "listen", Kind::Str),
    ("state", "dir", Kind::Str),
];

/// The README's configuration reference has a row for every key, and the shipped example
/// mentions every key under its table (commented out or not).
#[test]
fn every_key_is_documented_in_the_readme_and_the_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("config/config.toml")).unwrap();
    for (table, key, _) in KEYS {
        assert!(
            readme.contains(&format!("| `{table}.{key}` |")),
            "README.md has no row for {table}.{key}"
        );
        let header = if *table == "alerts.destinations" {
            format!("[[{table}]]")
        } else {
            format!("[{table}]\n")
        };
        let start = example
            .find(&header)
            .unwrap_or_else(|| panic!("config/config.toml has no {header}"));
        // Up to the next table that is not commented out.
        let rest = &example[start + header.len()..];
        let section = rest.find("\n[").map_or(rest, |end| &rest[..end]);
        assert!(
            section.contains(&format!("# {key} = "))
                || section.contains(&format!("\n{key} = "))
                || section.contains(&format!("# [{table}.{key}]")),
            "config/config.toml does not show {key} under {header}"
        );
    }
}

/// `config show` has a line for every key of the reference: set, default or "not set".
#[test]
fn config_show_covers_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(
        &main,
        r#"
[endpoint]
region = "us-east-1"
[alerts]
webhook = "https://hooks.example.com/x"
[[alerts.destinations]]
name = "inline"
format = "pagerduty"
url = "https://events.pagerduty.com/v2/enqueue"
routing_key = "R0"
headers = { X-A = "b" }
events = ["offline"]
[[alerts.destinations]]
format = "pagerduty"
url_file = "/etc/url"
routing_key_file = "key"
header_files = { X-A = "a" }
"#,
    )
    .unwrap();
    let (_, shown) = config::Source::new(Some(main), None).show().unwrap();
    let text = shown.to_toml(true);
    for (table, key, _) in KEYS {
        let found = shown.sections.iter().any(|s| {
            (s.name == *table && s.entries.iter().any(|e| e.key == *key))
                || s.name == format!("{table}.{key}")
        });
        assert!(found, "config show has no {table}.{key}:\n{text}");
    }
}

/// A TOML basic string holding exactly `s`.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML value of the given kind, on one line.
#[derive(Debug, Clone)]
enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Value>),
    Table(Vec<(String, Value)>),
}

impl Value {
    fn toml(&self) -> String {
        match self {
            Value::Str(s) => toml_str(s),
            Value::Int(i) => i.to_string(),
            Value::Float(f) if f.is_nan() => "nan".into(),
            Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
            Value::Float(f) => format!("{f:?}"),
            Value::Bool(b) => b.to_string(),
            Value::Datetime(d) => d.clone(),
            Value::Array(v) => format!(
                "[{}]",
                v.iter().map(Value::toml).collect::<Vec<_>>().join(", ")
            ),
            Value::Table(kv) => format!(
                "{{ {} }}",
                kv.iter()
                    .map(|(k, v)| format!("{} = {}", toml_str(k), v.toml()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn kind_ok(&self, kind: Kind) -> bool {
        let strings = |v: &[Value]| v.iter().all(|x| matches!(x, Value::Str(_)));
        match (kind, self) {
            (Kind::Str, Value::Str(_))
            | (Kind::Int, Value::Int(_))
            | (Kind::Bool, Value::Bool(_)) => true,
            (Kind::StrOrList, Value::Str(_)) => true,
            (Kind::StrOrList | Kind::List, Value::Array(v)) => strings(v),
            (Kind::Tags, Value::Table(kv)) => kv.iter().all(|(_, v)| matches!(v, Value::Str(_))),
            _ => false,
        }
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::Str),
        "[a-z0-9:/. -]{0,20}".prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        (-2i64..70000).prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just("1979-05-27T07:32:00Z"),
            Just("1979-05-27"),
            Just("07:32:00"),
            Just("1979-05-27T00:32:00.999999-07:00"),
        ]
        .prop_map(|d| Value::Datetime(d.to_string())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            // Distinct keys: a duplicate key is a TOML syntax error, not a wrong value.
            prop::collection::btree_map("[a-zA-Z0-9:_ .-]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

/// A number no line, column or limit in an error message would be.
const SECRET_NUMBER: i64 = 987_654_321_987;

/// `v` with `SECRET` in every string it holds, as a webhook URL or a header value would be, and
/// [`SECRET_NUMBER`] as every number (a header value or a routing key may be all digits).
fn planted(v: &Value) -> Value {
    match v {
        Value::Str(s) => Value::Str(format!("https://h/{s}SECRET?a=1")),
        Value::Int(_) => Value::Int(SECRET_NUMBER),
        Value::Float(_) => Value::Float(SECRET_NUMBER as f64 + 0.5),
        Value::Array(items) => Value::Array(items.iter().map(planted).collect()),
        Value::Table(kv) => Value::Table(kv.iter().map(|(k, v)| (k.clone(), planted(v))).collect()),
        other => other.clone(),
    }
}

/// A value that has the key's type, with arbitrary content.
fn right_type(kind: Kind) -> BoxedStrategy<Value> {
    let strings = prop::collection::vec(any::<String>().prop_map(Value::Str), 0..4);
    match kind {
        Kind::Str => any::<String>().prop_map(Value::Str).boxed(),
        Kind::Int => any::<i64>().prop_map(Value::Int).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::StrOrList => prop_oneof![
            any::<String>().prop_map(Value::Str),
            strings.prop_map(Value::Array)
        ]
        .boxed(),
        Kind::List => strings.prop_map(Value::Array).boxed(),
        Kind::Tags => {
            prop::collection::btree_map(any::<String>(), any::<String>().prop_map(Value::Str), 0..4)
                .prop_map(|m| Value::Table(m.into_iter().collect()))
                .boxed()
        }
    }
}

/// A valid configuration with `key = value` spliced into `table`. Returns the text and the line
/// (1-based) of the spliced key.
fn splice(table: &str, key: &str, value: &Value) -> (String, usize) {
    let mut text = String::new();
    let mut line = 0;
    let mut tables = vec!["agent", "endpoint"];
    if !tables.contains(&table) {
        tables.push(table);
    }
    for t in tables {
        // Destinations are an array of tables.
        if t == "alerts.destinations" {
            text.push_str(&format!("[[{t}]]\n"));
        } else {
            text.push_str(&format!("[{t}]\n"));
        }
        let required: &[(&str, &str)] = match t {
            "agent" => &[("address", "\"10.0.1.25\"")],
            "endpoint" => &[("region", "\"us-east-1\"")],
            "alerts.destinations" => &[("format", "\"json\""), ("url", "\"https://h/x\"")],
            _ => &[],
        };
        for (k, v) in required {
            if !(t == table && *k == key) {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        if t == table {
            line = text.matches('\n').count() + 1;
            text.push_str(&format!("{key} = {}\n", value.toml()));
        }
    }
    (text, line)
}

fn assert_names_key(
    text: &str,
    line: usize,
    dotted: &str,
    e: &ConfigError,
) -> Result<(), TestCaseError> {
    let msg = e.to_string();
    prop_assert!(msg.contains(PATH), "file not named: {msg}\n{text}");
    prop_assert!(
        msg.contains(dotted),
        "key {dotted} not named: {msg}\n{text}"
    );
    match e {
        ConfigError::Parse { line: l, .. } => prop_assert_eq!(*l, line, "{}\n{}", msg, text),
        ConfigError::Invalid { origin, key, .. } => {
            prop_assert_eq!(*key, dotted);
            prop_assert_eq!(origin.line, line, "{}\n{}", msg, text);
        }
        other => prop_assert!(false, "{dotted}: unexpected {other:?}\n{text}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn config_parser_never_panics(text in prop_oneof![
        any::<String>(),
        // TOML-ish text: tables, keys of the configuration, values and noise.
        prop::collection::vec(prop_oneof![
            prop::sample::select(KEYS).prop_map(|(t, k, _)| format!("[{t}]\n{k} = ")),
            value().prop_map(|v| v.toml()),
            Just("\n".to_string()),
            Just("[activation.tags]\n".to_string()),
            any::<String>(),
        ], 0..10).prop_map(|v| v.concat()),
    ]) {
        oracle::check_config(text.as_bytes());
    }

    #[test]
    fn a_wrong_type_for_any_key_is_an_error_naming_it(
        (table, key, kind) in prop::sample::select(KEYS),
        v in value(),
    ) {
        prop_assume!(!v.kind_ok(kind));
        let (text, line) = splice(table, key, &v);
        let dotted = format!("{table}.{key}");
        match config::from_str(Path::new(PATH), &text) {
            Ok(_) => prop_assert!(false, "accepted {dotted} = {}\n{text}", v.toml()),
            Err(e) => assert_names_key(&text, line, &dotted, &e)?,
        }
    }

    #[test]
    fn no_error_under_alerts_quotes_a_value(
        (table, key, kind) in prop::sample::select(KEYS)
            .prop_filter("under [alerts]", |(t, _, _)| t.starts_with("alerts")),
        // Often a string first, so that a wrong element is on a continuation line.
        v in prop_oneof![
            value(),
            value().prop_map(|v| Value::Array(vec![Value::Str("json".into()), v])),
        ],
        header_comment in any::<bool>(),
        multi_line in any::<bool>(),
    ) {
        prop_assume!(!v.kind_ok(kind));
        let (text, _) = splice(table, key, &planted(&v));
        // A comment after each table header, each array or table element on a line of its own:
        // no line's text before '=' may pass for the key.
        let text = if header_comment {
            text.lines()
                .map(|l| if l.starts_with('[') { format!("{l} # paging\n") } else { format!("{l}\n") })
                .collect()
        } else {
            text
        };
        let text = if multi_line { text.replace(", ", ",\n  ") } else { text };
        if let Err(e) = config::from_str(Path::new(PATH), &text) {
            let msg = e.to_string();
            prop_assert!(!msg.contains("SECRET"), "{msg}\n{text}");
            prop_assert!(!msg.contains(&SECRET_NUMBER.to_string()), "{msg}\n{text}");
        }
    }

    #[test]
    fn any_value_of_the_right_type_is_accepted_or_an_error_naming_the_key(
        (table, key, v) in prop::sample::select(KEYS)
            .prop_flat_map(|(t, k, kind)| (Just(t), Just(k), right_type(kind))),
    ) {
        let (text, line) = splice(table, key, &v);
        if let Err(e) = config::from_str(Path::new(PATH), &text) {
            assert_names_key(&text, line, &format!("{table}.{key}"), &e)?;
        }
        oracle::check_config(text.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// CIDR blocks and security-group rules

/// The first and last address of `ip/len`, computed independently of `Cidr`.
fn range(ip: u32, len: u8) -> (u64, u64) {
    let size = 1u64 << (32 - u32::from(len));
    let lo = u64::from(ip) / size * size;
    (lo, lo + size - 1)
}

fn cidr_parts() -> impl Strategy<Value = (u32, u8)> {
    // Short prefixes and shared high bits make containment and overlap common enough.
    prop_oneof![
        (any::<u32>(), 0u8..=32),
        ((0u32..4).prop_map(|h| (10 << 24) | (h << 16)), 8u8..=24),
    ]
}

fn cidr(ip: u32, len: u8) -> Cidr {
    Cidr::new(Ipv4Addr::from(ip), len).expect("len <= 32")
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn cidr_display_and_parse_round_trip((ip, len) in cidr_parts()) {
        let c = cidr(ip, len);
        let shown = c.to_string();
        prop_assert_eq!(shown.parse::<Cidr>(), Ok(c));
        prop_assert_eq!(format!("{}/{len}", Ipv4Addr::from(ip)).parse::<Cidr>(), Ok(c));
        // Host bits are cleared: what is shown is the network's first address.
        let (lo, _) = range(ip, len);
        prop_assert_eq!(shown, format!("{}/{len}", Ipv4Addr::from(lo as u32)));
    }

    #[test]
    fn cidr_parse_never_panics(s in prop_oneof![
        any::<String>(),
        "[0-9./]{0,20}",
        (any::<u32>(), any::<u16>()).prop_map(|(ip, l)| format!("{}/{l}", Ipv4Addr::from(ip))),
    ]) {
        if let Ok(c) = s.parse::<Cidr>() {
            prop_assert_eq!(c.to_string().parse::<Cidr>(), Ok(c));
        }
    }

    #[test]
    fn cidr_prefix_longer_than_32_is_refused(ip in any::<u32>(), len in 33u16..1000) {
        let s = format!("{}/{len}", Ipv4Addr::from(ip));
        prop_assert!(s.parse::<Cidr>().is_err());
    }

    #[test]
    fn cidr_containment_laws(
        (a_ip, a_len) in cidr_parts(),
        (b_ip, b_len) in cidr_parts(),
        (c_ip, c_len) in cidr_parts(),
        x in any::<u32>(),
    ) {
        let (a, b, c) = (cidr(a_ip, a_len), cidr(b_ip, b_len), cidr(c_ip, c_len));
        let (ra, rb) = (range(a_ip, a_len), range(b_ip, b_len));
        let host = Ipv4Addr::from(x);
        // Against the independent model.
        prop_assert_eq!(a.contains(host), ra.0 <= u64::from(x) && u64::from(x) <= ra.1);
        prop_assert_eq!(a.covers(&b), ra.0 <= rb.0 && rb.1 <= ra.1);
        prop_assert_eq!(a.overlaps(&b), ra.0 <= rb.1 && rb.0 <= ra.1);
        // Laws.
        prop_assert!(a.contains(Ipv4Addr::from(a_ip)));
        prop_assert_eq!(Cidr::host(host), cidr(x, 32));
        prop_assert!(Cidr::host(host).overlaps(&Cidr::host(host)));
        prop_assert_eq!(a.contains(host), a.covers(&Cidr::host(host)));
        prop_assert!(a.covers(&a));
        if a.covers(&b) {
            prop_assert!(a.overlaps(&b) && b.overlaps(&a));
            if b.covers(&c) {
                prop_assert!(a.covers(&c));
            }
            if b.contains(host) {
                prop_assert!(a.contains(host));
            }
        }
        prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
        if a.covers(&b) && b.covers(&a) {
            prop_assert_eq!(a, b);
        }
    }
}

fn rule() -> impl Strategy<Value = Rule> {
    let port = prop_oneof![Just(22), Just(443), Just(1024), Just(1064), -1i32..70000];
    (
        prop::sample::select(vec!["tcp", "6", "-1", "udp", "17", "icmp", "TCP"]),
        prop::option::of(port.clone()),
        prop::option::of(port),
        prop::collection::vec(cidr_parts().prop_map(|(ip, len)| cidr(ip, len)), 0..3),
        prop::collection::vec("sg-[0-9a-f]{3}", 0..2),
        prop::collection::vec("pl-[0-9a-f]{3}", 0..2),
    )
        .prop_map(|(protocol, from, to, cidrs, groups, prefix_lists)| Rule {
            protocol: protocol.to_string(),
            from,
            to,
            cidrs,
            groups,
            prefix_lists,
        })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn adding_a_rule_never_takes_admission_away(
        rules in prop::collection::vec(rule(), 0..5),
        extra in rule(),
        at in any::<prop::sample::Index>(),
        port in prop_oneof![Just(22u16), Just(443), Just(1024), Just(1064), any::<u16>()],
        (ip, len) in cidr_parts(),
    ) {
        let source = cidr(ip, len);
        let before = admits(&rules, port, &source);
        let mut more = rules.clone();
        more.insert(at.index(rules.len() + 1), extra);
        let after = admits(&more, port, &source);
        match (&before, &after) {
            (Admission::Allowed, a) => prop_assert_eq!(a, &Admission::Allowed),
            (Admission::Unknown(u), Admission::Unknown(v)) => {
                let (u, v): (BTreeSet<_>, BTreeSet<_>) = (u.iter().collect(), v.iter().collect());
                prop_assert!(u.is_subset(&v), "{u:?} ⊄ {v:?}");
            }
            (Admission::Unknown(_), a) => prop_assert_eq!(a, &Admission::Allowed),
            (Admission::Denied, _) => {}
        }
    }

    #[test]
    fn rule_order_does_not_matter(
        rules in prop::collection::vec(rule(), 0..6),
        port in any::<u16>(),
        (ip, len) in cidr_parts(),
    ) {
        let source = cidr(ip, len);
        let mut reversed = rules.clone();
        reversed.reverse();
        prop_assert_eq!(admits(&rules, port, &source), admits(&reversed, port, &source));
    }

    #[test]
    fn a_rule_admits_only_what_it_covers(r in rule(), port in any::<u16>(), (ip, len) in cidr_parts()) {
        let source = cidr(ip, len);
        if admits(std::slice::from_ref(&r), port, &source) == Admission::Allowed {
            prop_assert!(r.cidrs.iter().any(|c| c.covers(&source)));
            let p = i32::from(port);
            prop_assert!(
                r.protocol == "-1"
                    || ((r.protocol == "tcp" || r.protocol == "6")
                        && r.from.is_some_and(|f| f <= p)
                        && r.to.is_some_and(|t| p <= t)),
                "{r:?} admits {port}"
            );
        }
    }
}
