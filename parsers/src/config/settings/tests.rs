//! Pins what `Settings::validate` answers, message by message and in order, so that
//! restructuring it cannot change which error a configuration with several gets.

use std::fmt::Write;
use std::path::Path;

use crate::config::{ConfigError, from_str};

/// Not set: the key is left out of the file.
const UNSET: &str = "";
/// Stands for 50 valid tags, one more than allowed.
const MANY_TAGS: &str = "<50 tags>";

/// Every key (section, name) and the TOML values it takes in turn, bad ones first (several
/// where a key has several checks): each rejected value is replaced by the next one, and the
/// last one of every key is valid or [`UNSET`].
const KEYS: &[(&str, &str, &[&str])] = &[
    (
        "agent",
        "address",
        &["\"http://10.0.0.5:80\"", "\"10.0.0.5\""],
    ),
    ("agent", "name", &["\"a!b\"", "\"warden-1\""]),
    ("agent", "activation_port", &["0", "70000", "8080"]),
    (
        "agent",
        "arn",
        &[
            "\"arn:nope\"",
            "\"arn:aws:datasync:eu-west-1:111122223333:agent/agent-0123456789abcdef0\"",
        ],
    ),
    ("endpoint", "region", &[UNSET, "\"EU\"", "\"eu-west-1\""]),
    (
        "endpoint",
        "vpc_endpoint_id",
        &["\"vpce-x\"", "\"vpce-0123456789abcdef0\""],
    ),
    ("endpoint", "ip", &["\"::1\"", "\"172.16.1.10\""]),
    (
        "endpoint",
        "subnet_arn",
        &[
            "[\"a\", \"b\"]",
            "\"nope\"",
            "\"arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0\"",
            "[\"arn:aws:ec2:eu-west-1:111122223333:subnet/subnet-0123456789abcdef0\"]",
        ],
    ),
    (
        "endpoint",
        "security_group_arn",
        &[
            "[\"a\", \"b\"]",
            "\"nope\"",
            "\"arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0\"",
            "\"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0123456789abcdef0\"",
        ],
    ),
    ("aws", "profile", &["\"\"", "\"p\""]),
    (
        "aws",
        "role_arn",
        &["\"x\"", "\"arn:aws:iam::111122223333:role/r\""],
    ),
    ("aws", "external_id", &["\"!\"", "\"ext-1\""]),
    (
        "aws",
        "endpoint_url",
        &[
            "\"ftp://x\"",
            "\"http://u:SECRET@127.0.0.1:1\"",
            "\"http://127.0.0.1:1\"",
        ],
    ),
    (
        "activation",
        "deadline",
        &["\"soon\"", "\"0s\"", "\"26m\"", "\"5m\""],
    ),
    (
        "activation",
        "request_timeout",
        &["\"50ms\"", "\"3m\"", "\"20s\""],
    ),
    (
        "activation",
        "tags",
        &[
            "{ \"aws:x\" = \"y\" }",
            "{ \"datasync-warden:activation-token\" = \"y\" }",
            "{ \"a!b\" = \"y\" }",
            "{ k = \"a!b\" }",
            MANY_TAGS,
            "{ a = \"1\", b = \"2\" }",
        ],
    ),
    ("checks", "timeout", &["\"1ms\"", "\"2m\"", "\"3s\""]),
    ("checks", "control_ports", &["true"]),
    ("checks", "support_port", &["true"]),
    ("checks", "aws", &["false"]),
    ("checks", "planned_tasks", &["0", "1001", "3"]),
    (
        "checks",
        "source_cidrs",
        &["[\"10.0.0.0/8\", \"bad\"]", "[\"10.0.0.0/8\"]"],
    ),
    ("monitor", "interval", &["\"0s\"", "\"2h\"", "\"30s\""]),
    ("monitor", "offline_after", &["-1", "5"]),
    ("monitor", "realert_every", &["\"8d\"", "\"1h\""]),
    ("monitor", "activation_grace", &["\"25h\"", "\"0s\""]),
    (
        "alerts",
        "webhook",
        &["\"ftp://h/SECRET\"", "\"https://h/SECRET\""],
    ),
    ("health", "listen", &["\"localhost\"", "\"127.0.0.1:9999\""]),
    ("state", "dir", &["\"rel\"", "\"/var/tmp/w\""]),
];

/// The TOML text of one value of [`KEYS`].
fn toml_value(v: &str) -> String {
    if v != MANY_TAGS {
        return v.to_string();
    }
    let tags = (0..50)
        .map(|i| format!("t{i:02} = \"v\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{{ {tags} }}")
}

/// The configuration text for each key's current value, one table per section.
fn text(at: &[usize]) -> String {
    let mut out = String::new();
    let mut current = "";
    for (&(section, name, values), &i) in KEYS.iter().zip(at) {
        if values[i] == UNSET {
            continue;
        }
        if section != current {
            current = section;
            writeln!(out, "[{section}]").unwrap();
        }
        writeln!(out, "{name} = {}", toml_value(values[i])).unwrap();
    }
    out
}

fn error_key(e: &ConfigError) -> &'static str {
    match e {
        ConfigError::Invalid { key, .. } | ConfigError::Missing { key, .. } => key,
        other => panic!("not a validation error: {other}"),
    }
}

/// Validates, and on each error moves the key it names to its next value, until the
/// configuration is accepted: the errors in the order they came, then the settings.
fn walk() -> String {
    let mut at = vec![0; KEYS.len()];
    let mut out = String::new();
    loop {
        match from_str(Path::new("/c.toml"), &text(&at)) {
            Ok(s) => {
                writeln!(out, "{s:#?}").unwrap();
                return out;
            }
            Err(e) => {
                writeln!(out, "{e}").unwrap();
                let key = error_key(&e);
                let i = KEYS
                    .iter()
                    .position(|(section, name, _)| key == format!("{section}.{name}"))
                    .unwrap_or_else(|| panic!("unknown key {key}"));
                at[i] += 1;
                assert!(at[i] < KEYS[i].2.len(), "{key}'s last value rejected: {e}");
            }
        }
    }
}

/// Compares `got` with the golden file `name` beside this one; `BLESS=1` rewrites it instead
/// (for a deliberate change of wording or order: review the diff).
fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/config/settings")
        .join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert!(got == want, "{} differs; got:\n{got}", path.display());
}

#[test]
fn errors_come_in_todays_order_with_todays_words() {
    golden("validate_errors.golden", &walk());
}

#[test]
fn defaults_are_todays() {
    let s = from_str(
        Path::new("/c.toml"),
        "[agent]\nname = \"n\"\n[endpoint]\nregion = \"eu-west-1\"\n",
    )
    .unwrap();
    golden("defaults.golden", &format!("{s:#?}\n"));
}

#[test]
fn user_info_in_the_endpoint_url_is_refused_unquoted() {
    for url in [
        "http://u:SECRET@127.0.0.1:1",
        "ftp://u:SECRET@h",
        "u:SECRET@h",
        "https://SECRET@h/p",
        "http://u:SECRET@[::1",
        "http://u:SEC/RET@h:1",
        "http://u:1/SECRET@h",
        "http://u:1?SECRET#@h",
    ] {
        let text = format!(
            "[agent]\nname = \"n\"\n[endpoint]\nregion = \"eu-west-1\"\n[aws]\nendpoint_url = \"{url}\"\n"
        );
        let msg = from_str(Path::new("/c.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("aws.endpoint_url"), "{msg}");
        assert!(!msg.contains("SECRET"), "{url}: {msg}");
    }
}
