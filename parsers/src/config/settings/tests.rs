//! Pins what `Settings::validate` answers, message by message and in order, so that
//! restructuring it cannot change which error a configuration with several gets.

use std::fmt::Write;
use std::path::Path;

use crate::config::{ConfigError, from_str};

/// One key and the values it takes in turn: `None` is "not set"; each rejected value is
/// replaced by the next one, and the last one of every key is valid (or absent).
struct Key {
    section: &'static str,
    name: &'static str,
    values: Vec<Option<String>>,
}

fn key(section: &'static str, name: &'static str, values: &[Option<&str>]) -> Key {
    let values = values.iter().map(|v| v.map(str::to_string)).collect();
    Key {
        section,
        name,
        values,
    }
}

/// Every key, each starting with bad values (several where a key has several checks).
fn keys() -> Vec<Key> {
    let many_tags = (0..50)
        .map(|i| format!("t{i:02} = \"v\""))
        .collect::<Vec<_>>()
        .join(", ");
    let many_tags = format!("{{ {many_tags} }}");
    let other = "arn:aws:ec2:us-east-1:111122223333";
    let here = "arn:aws:ec2:eu-west-1:111122223333";
    let subnet_other = format!("\"{other}:subnet/subnet-0123456789abcdef0\"");
    let subnet_here = format!("\"{here}:subnet/subnet-0123456789abcdef0\"");
    let sg_other = format!("\"{other}:security-group/sg-0123456789abcdef0\"");
    let sg_here = format!("\"{here}:security-group/sg-0123456789abcdef0\"");
    vec![
        key(
            "agent",
            "address",
            &[Some("\"http://10.0.0.5:80\""), Some("\"10.0.0.5\"")],
        ),
        key("agent", "name", &[Some("\"a!b\""), Some("\"warden-1\"")]),
        key(
            "agent",
            "activation_port",
            &[Some("0"), Some("70000"), Some("8080")],
        ),
        key(
            "agent",
            "arn",
            &[
                Some("\"arn:nope\""),
                Some("\"arn:aws:datasync:eu-west-1:111122223333:agent/agent-0123456789abcdef0\""),
            ],
        ),
        key(
            "endpoint",
            "region",
            &[None, Some("\"EU\""), Some("\"eu-west-1\"")],
        ),
        key(
            "endpoint",
            "vpc_endpoint_id",
            &[Some("\"vpce-x\""), Some("\"vpce-0123456789abcdef0\"")],
        ),
        key(
            "endpoint",
            "ip",
            &[Some("\"::1\""), Some("\"172.16.1.10\"")],
        ),
        key(
            "endpoint",
            "subnet_arn",
            &[
                Some("[\"a\", \"b\"]"),
                Some("\"nope\""),
                Some(&subnet_other),
                Some(&format!("[{subnet_here}]")),
            ],
        ),
        key(
            "endpoint",
            "security_group_arn",
            &[
                Some("[\"a\", \"b\"]"),
                Some("\"nope\""),
                Some(&sg_other),
                Some(&sg_here),
            ],
        ),
        key("aws", "profile", &[Some("\"\""), Some("\"p\"")]),
        key(
            "aws",
            "role_arn",
            &[Some("\"x\""), Some("\"arn:aws:iam::111122223333:role/r\"")],
        ),
        key("aws", "external_id", &[Some("\"!\""), Some("\"ext-1\"")]),
        key(
            "aws",
            "endpoint_url",
            &[Some("\"ftp://x\""), Some("\"http://127.0.0.1:1\"")],
        ),
        key(
            "activation",
            "deadline",
            &[
                Some("\"soon\""),
                Some("\"0s\""),
                Some("\"26m\""),
                Some("\"5m\""),
            ],
        ),
        key(
            "activation",
            "request_timeout",
            &[Some("\"50ms\""), Some("\"3m\""), Some("\"20s\"")],
        ),
        key(
            "activation",
            "tags",
            &[
                Some("{ \"aws:x\" = \"y\" }"),
                Some("{ \"datasync-warden:activation-token\" = \"y\" }"),
                Some("{ \"a!b\" = \"y\" }"),
                Some("{ k = \"a!b\" }"),
                Some(&many_tags),
                Some("{ a = \"1\", b = \"2\" }"),
            ],
        ),
        key(
            "checks",
            "timeout",
            &[Some("\"1ms\""), Some("\"2m\""), Some("\"3s\"")],
        ),
        key("checks", "control_ports", &[Some("true")]),
        key("checks", "support_port", &[Some("true")]),
        key("checks", "aws", &[Some("false")]),
        key(
            "checks",
            "planned_tasks",
            &[Some("0"), Some("1001"), Some("3")],
        ),
        key(
            "checks",
            "source_cidrs",
            &[Some("[\"10.0.0.0/8\", \"bad\"]"), Some("[\"10.0.0.0/8\"]")],
        ),
        key(
            "monitor",
            "interval",
            &[Some("\"0s\""), Some("\"2h\""), Some("\"30s\"")],
        ),
        key("monitor", "offline_after", &[Some("-1"), Some("5")]),
        key(
            "monitor",
            "realert_every",
            &[Some("\"8d\""), Some("\"1h\"")],
        ),
        key(
            "monitor",
            "activation_grace",
            &[Some("\"25h\""), Some("\"0s\"")],
        ),
        key(
            "alerts",
            "webhook",
            &[Some("\"ftp://h/SECRET\""), Some("\"https://h/SECRET\"")],
        ),
        key(
            "health",
            "listen",
            &[Some("\"localhost\""), Some("\"127.0.0.1:9999\"")],
        ),
        key("state", "dir", &[Some("\"rel\""), Some("\"/var/tmp/w\"")]),
    ]
}

/// The configuration text for each key's current value, one table per section.
fn text(keys: &[Key], at: &[usize]) -> String {
    let mut out = String::new();
    let mut section = "";
    for (k, &i) in keys.iter().zip(at) {
        let Some(v) = &k.values[i] else { continue };
        if k.section != section {
            section = k.section;
            writeln!(out, "[{section}]").unwrap();
        }
        writeln!(out, "{} = {v}", k.name).unwrap();
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
    let keys = keys();
    let mut at = vec![0; keys.len()];
    let mut out = String::new();
    loop {
        match from_str(Path::new("/c.toml"), &text(&keys, &at)) {
            Ok(s) => {
                writeln!(out, "{s:#?}").unwrap();
                return out;
            }
            Err(e) => {
                writeln!(out, "{e}").unwrap();
                let key = error_key(&e);
                let i = keys
                    .iter()
                    .position(|k| key == format!("{}.{}", k.section, k.name))
                    .unwrap_or_else(|| panic!("unknown key {key}"));
                at[i] += 1;
                assert!(
                    at[i] < keys[i].values.len(),
                    "{key}'s last value rejected: {e}"
                );
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
