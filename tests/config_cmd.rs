//! `config show` and `config check` through the real binary: what they print, where each value
//! came from, that no secret gets out, exit statuses, and that neither touches the network.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_datasync-warden");

/// Every kind of secret the configuration holds, each with a marker no output may contain.
const SECRETS: &[&str] = &[
    "WEBHOOKSECRET",
    "SLACKSECRET",
    "HEADERSECRET",
    "ROUTINGSECRET",
    "FILESECRET",
    "ENDPOINTSECRET",
];

const MAIN: &str = r#"
[agent]
address = "127.0.0.1"
name = "from-main"
[endpoint]
region = "us-east-1"
vpc_endpoint_id = "vpce-0123456789abcdef0"
ip = "172.16.1.10"
subnet_arn = "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0"
security_group_arn = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0"
[checks]
aws = false
[monitor]
interval = "5s"
"#;

/// A configuration rooted at `dir/config.toml`, with fragments `(name, text)`.
struct Config {
    dir: tempfile::TempDir,
}

impl Config {
    fn new(main: &str, fragments: &[(&str, &str)]) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), main).unwrap();
        std::fs::create_dir(dir.path().join("config.d")).unwrap();
        for (name, text) in fragments {
            std::fs::write(dir.path().join("config.d").join(name), text).unwrap();
        }
        Config { dir }
    }

    fn main(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn fragment(&self, name: &str) -> String {
        self.dir
            .path()
            .join("config.d")
            .join(name)
            .display()
            .to_string()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(BIN)
            .env_remove("CREDENTIALS_DIRECTORY")
            .envs(env.iter().copied())
            .arg("--config")
            .arg(self.main())
            .args(args)
            .output()
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn ok(o: Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    stdout(&o)
}

/// The output without its header comment (which names the files read).
fn body(toml: &str) -> String {
    toml.lines()
        .skip_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `key -> origin` for every `key = value  # origin` line of `[section]` (first occurrence).
fn origin_of(shown: &str, section: &str, key: &str) -> String {
    let start = shown
        .find(&format!("\n[{section}]\n"))
        .unwrap_or_else(|| panic!("no [{section}] in:\n{shown}"));
    let rest = &shown[start + section.len() + 4..];
    let line = rest
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} ")))
        .unwrap_or_else(|| panic!("no {section}.{key} in:\n{shown}"));
    line.rsplit_once("  # ").unwrap().1.to_string()
}

#[test]
fn show_origin_names_the_file_and_line_that_won_or_default() {
    let c = Config::new(
        MAIN,
        &[(
            "50-instance.toml",
            "[agent]\nname = \"from-fragment\"\n[monitor]\nrealert_every = \"1h\"\n",
        )],
    );
    let shown = ok(c.run(&["config", "show", "--show-origin"]));
    let main = c.main().display().to_string();
    let fragment = c.fragment("50-instance.toml");
    assert!(
        shown.contains(&format!("#   {main}\n#   {fragment}\n")),
        "{shown}"
    );
    // A later fragment wins, and the origin follows it.
    assert!(shown.contains("name = \"from-fragment\""), "{shown}");
    assert_eq!(origin_of(&shown, "agent", "name"), format!("{fragment}:2"));
    assert_eq!(origin_of(&shown, "agent", "address"), format!("{main}:3"));
    assert_eq!(
        origin_of(&shown, "monitor", "interval"),
        format!("{main}:14")
    );
    assert_eq!(
        origin_of(&shown, "monitor", "realert_every"),
        format!("{fragment}:4")
    );
    // Defaults are filled in, as the daemon uses them.
    assert!(shown.contains("offline_after = 2 "), "{shown}");
    assert_eq!(origin_of(&shown, "monitor", "offline_after"), "default");
    assert_eq!(origin_of(&shown, "health", "listen"), "default");
    assert!(shown.contains("listen = \"127.0.0.1:9417\""), "{shown}");
    assert_eq!(origin_of(&shown, "agent", "arn"), "not set");

    let json: serde_json::Value = serde_json::from_str(&ok(c.run(&[
        "config",
        "show",
        "--show-origin",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["settings"]["agent"]["name"], "from-fragment");
    assert_eq!(json["settings"]["monitor"]["offline_after"], 2);
    assert_eq!(json["origins"]["agent.name"], format!("{fragment}:2"));
    assert_eq!(json["origins"]["monitor.offline_after"], "default");
    assert_eq!(json["files"], serde_json::json!([main, fragment]));
    // Without --show-origin: the same settings, no origins, no comments after values.
    let plain: serde_json::Value =
        serde_json::from_str(&ok(c.run(&["config", "show", "--format", "json"]))).unwrap();
    assert_eq!(plain["settings"], json["settings"]);
    assert!(plain.get("origins").is_none());
    let plain = ok(c.run(&["config", "show"]));
    assert!(body(&plain).lines().all(|l| !l.contains('#')), "{plain}");
}

/// Every key set, tag keys that need quoting, destinations by file and by default URL.
fn full_config(secret_dir: &Path) -> String {
    let hook = secret_dir.join("hook");
    std::fs::write(&hook, "https://hooks.example.com/FILESECRET\n").unwrap();
    format!(
        r#"
[agent]
address = "127.0.0.1"
name = "full"
activation_port = 8080
arn = "arn:aws:datasync:us-east-1:111122223333:agent/agent-0123456789abcdef0"
[endpoint]
region = "us-east-1"
vpc_endpoint_id = "vpce-0123456789abcdef0"
ip = "172.16.1.10"
subnet_arn = "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0"
security_group_arn = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0"
[aws]
profile = "ops"
role_arn = "arn:aws:iam::111122223333:role/warden"
external_id = "ext-1"
endpoint_url = "http://127.0.0.1:1"
[activation]
deadline = "12m 30s"
request_timeout = "20s"
[activation.tags]
"cost center" = "42"
"team:owner" = "storage"
[checks]
aws = false
timeout = "2s"
control_ports = true
support_port = true
planned_tasks = 3
source_cidrs = ["10.0.0.0/16", "192.168.1.0/24"]
[monitor]
interval = "5s"
offline_after = 4
realert_every = "2h"
activation_grace = "0s"
[[alerts.destinations]]
name = "ops-json"
format = "json"
url_file = "{}"
header_files = {{ Authorization = "auth" }}
events = ["offline", "recovered"]
[[alerts.destinations]]
format = "pagerduty"
routing_key_file = "pd"
[health]
listen = "127.0.0.1:9555"
[state]
dir = "/var/lib/dsw-test"
"#,
        hook.display()
    )
}

#[test]
fn show_prints_toml_the_daemon_reads_back_to_the_same_settings() {
    let secrets = tempfile::tempdir().unwrap();
    let c = Config::new(&full_config(secrets.path()), &[]);
    ok(c.run(&["config", "check"]));
    let first = ok(c.run(&["config", "show"]));
    for needle in [
        "\"cost center\" = \"42\"",
        "\"team:owner\" = \"storage\"",
        "deadline = \"12m 30s\"",
        "source_cidrs = [\"10.0.0.0/16\", \"192.168.1.0/24\"]",
        "header_files = { Authorization = \"auth\" }",
        "[[alerts.destinations]]\nname = \"pagerduty\"\nformat = \"pagerduty\"\nurl = \"https://events.pagerduty.com/v2/enqueue\"",
    ] {
        assert!(first.contains(needle), "missing {needle:?} in:\n{first}");
    }
    // What it printed is a configuration that shows the same, value for value.
    let again = Config::new(&first, &[]);
    let second = ok(again.run(&["config", "show"]));
    assert_eq!(body(&second), body(&first));
    let json = |c: &Config| -> serde_json::Value {
        serde_json::from_str(&ok(c.run(&["config", "show", "--format", "json"]))).unwrap()
    };
    assert_eq!(json(&again)["settings"], json(&c)["settings"]);
}

#[test]
fn tag_keys_of_any_shape_read_back() {
    let c = Config::new(
        MAIN,
        &[(
            "50-tags.toml",
            "[activation.tags]\n\"two\\nlines\" = \"a\\nb\"\n\"sp ace:=+\" = \"y\"\n",
        )],
    );
    let first = ok(c.run(&["config", "show"]));
    let again = Config::new(&first, &[]);
    let second = ok(again.run(&["config", "show"]));
    assert_eq!(body(&second), body(&first));
    let json: serde_json::Value =
        serde_json::from_str(&ok(again.run(&["config", "show", "--format", "json"]))).unwrap();
    assert_eq!(json["settings"]["activation"]["tags"]["two\nlines"], "a\nb");
    assert_eq!(json["settings"]["activation"]["tags"]["sp ace:=+"], "y");
}

#[test]
fn no_secret_in_any_output() {
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("key");
    std::fs::write(&file, "ROUTINGSECRET-FILESECRET\n").unwrap();
    let alerts = format!(
        r#"
[alerts]
webhook = "https://hooks.example.com/T0/B0/WEBHOOKSECRET"
[[alerts.destinations]]
format = "slack"
url = "https://hooks.slack.com/services/T1/B1/SLACKSECRET"
headers = {{ "X-Token" = "HEADERSECRET" }}
[[alerts.destinations]]
format = "pagerduty"
routing_key = "ROUTINGSECRET"
[[alerts.destinations]]
name = "pd-file"
format = "pagerduty"
routing_key_file = "{}"
"#,
        file.display()
    );
    let c = Config::new(MAIN, &[("60-alerts.toml", &alerts)]);
    for args in [
        &["config", "show"][..],
        &["config", "show", "--show-origin"],
        &["config", "show", "--format", "json"],
        &["config", "show", "--show-origin", "--format", "json"],
        &["config", "check"],
    ] {
        let out = c.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let all = stdout(&out) + &stderr(&out);
        for s in SECRETS {
            assert!(!all.contains(s), "{args:?} shows {s}:\n{all}");
        }
        if args[1] == "show" {
            assert!(all.contains("(redacted)"), "{args:?}:\n{all}");
        }
    }
    // User info in aws.endpoint_url is refused, and the error does not quote it.
    let endpoint = "[aws]\nendpoint_url = \"http://user:ENDPOINTSECRET@127.0.0.1:1\"\n";
    let c2 = Config::new(MAIN, &[("60-aws.toml", endpoint)]);
    for args in [&["config", "show"][..], &["config", "check"]] {
        let out = c2.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let all = stdout(&out) + &stderr(&out);
        assert!(all.contains("aws.endpoint_url"), "{args:?}:\n{all}");
        assert!(!all.contains("ENDPOINTSECRET"), "{args:?}:\n{all}");
    }
    // A redacted value does not pass for a configuration: it fails at that key.
    let shown = ok(c.run(&["config", "show"]));
    let copy = Config::new(&shown, &[]);
    let out = copy.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("(redacted) is what `config show` prints for a secret"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_exits_0_or_2_and_names_what_is_wrong() {
    let c = Config::new(MAIN, &[("50-instance.toml", "[agent]\nname = \"x\"\n")]);
    let out = ok(c.run(&["config", "check"]));
    assert_eq!(
        out,
        format!(
            "configuration OK: {}, {}\n",
            c.main().display(),
            c.fragment("50-instance.toml")
        )
    );
    for (fragment, needles) in [
        (
            "[monitor]\ninterval = \"soon\"\n",
            &["50-bad.toml:2:", "monitor.interval", "90s"][..],
        ),
        (
            "[agent]\nadress = \"x\"\n",
            &["50-bad.toml:2:1", "unknown field `adress`"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl_file = \"/nonexistent/hook\"\n",
            &[
                "50-bad.toml:3:",
                "alerts.destinations.url_file",
                "/nonexistent/hook",
            ],
        ),
    ] {
        let bad = Config::new(MAIN, &[("50-bad.toml", fragment)]);
        // `show` names secret files without reading them.
        let commands: &[&[&str]] = if fragment.contains("url_file") {
            &[&["config", "check"]]
        } else {
            &[&["config", "check"], &["config", "show"]]
        };
        for args in commands {
            let out = bad.run(args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} {fragment}: {}",
                stderr(&out)
            );
            assert!(stdout(&out).is_empty(), "{}", stdout(&out));
            for n in needles {
                assert!(stderr(&out).contains(n), "missing {n:?}: {}", stderr(&out));
            }
            assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        }
    }
}

#[test]
fn check_reads_credentials_when_systemd_provides_them() {
    let c = Config::new(
        MAIN,
        &[(
            "60-alerts.toml",
            "[[alerts.destinations]]\nformat = \"json\"\nurl_file = \"hook\"\n",
        )],
    );
    // Outside the unit (Packer, a shell): said, not an error.
    let out = ok(c.run(&["config", "check"]));
    assert!(
        out.contains("note: alerts.destinations.url_file = \"hook\" is a systemd credential"),
        "{out}"
    );
    // Under the unit (ExecStartPre=): read like the daemon reads it.
    let creds = tempfile::tempdir().unwrap();
    let dir = creds.path().to_str().unwrap();
    let out = c.run_env(&["config", "check"], &[("CREDENTIALS_DIRECTORY", dir)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("LoadCredential=hook"),
        "{}",
        stderr(&out)
    );
    std::fs::write(creds.path().join("hook"), "not a url\n").unwrap();
    let out = c.run_env(&["config", "check"], &[("CREDENTIALS_DIRECTORY", dir)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    std::fs::write(creds.path().join("hook"), "https://hooks.example.com/x\n").unwrap();
    let out = ok(c.run_env(&["config", "check"], &[("CREDENTIALS_DIRECTORY", dir)]));
    assert!(!out.contains("note:"), "{out}");
}

#[test]
fn check_notes_a_secret_file_the_dynamic_user_cannot_read() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    // Outside /tmp (the units' PrivateTmp=) when the build directory allows it.
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let secrets = tempfile::tempdir_in(base).unwrap();
    mode(secrets.path(), 0o755).unwrap();
    let hook = secrets.path().join("hook");
    std::fs::write(&hook, "https://hooks.example.com/FILESECRET\n").unwrap();
    let fragment = |p: &Path| {
        format!(
            "[[alerts.destinations]]\nformat = \"json\"\nurl_file = \"{}\"\n",
            p.display()
        )
    };
    let c = Config::new(MAIN, &[("60-alerts.toml", &fragment(&hook))]);
    let check = |c: &Config| {
        let out = ok(c.run(&["config", "check"]));
        assert!(!out.contains("FILESECRET"), "{out}");
        out
    };
    let note = format!(
        "note: alerts.destinations.url_file = \"{}\" is not readable by others (mode 0600)",
        hook.display()
    );
    mode(&hook, 0o600).unwrap();
    let out = check(&c);
    let load = format!("LoadCredential=NAME:{} ", hook.display());
    assert!(out.contains(&note) && out.contains(&load), "{out}");
    mode(&hook, 0o644).unwrap();
    mode(secrets.path(), 0o700).unwrap();
    let out = check(&c);
    let closed = format!(
        "is in {}, which others cannot enter",
        secrets.path().display()
    );
    assert!(out.contains(&closed), "{out}");
    mode(secrets.path(), 0o755).unwrap();
    // A checkout in a home directory or /tmp gets the sandbox note instead (tested below).
    let sandboxed = ["/home", "/root", "/tmp", "/var/tmp"]
        .iter()
        .any(|d| base.starts_with(d));
    let all_open = hook
        .ancestors()
        .skip(1)
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if !sandboxed && all_open {
        let out = check(&c);
        assert!(!out.contains("note:"), "{out}");
    }
    // In /tmp: readable by all, but not the file the unit sees there.
    let tmp = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let in_tmp = tmp.path().join("hook");
    std::fs::write(&in_tmp, "https://hooks.example.com/x\n").unwrap();
    mode(tmp.path(), 0o755).unwrap();
    mode(&in_tmp, 0o644).unwrap();
    let c = Config::new(MAIN, &[("60-alerts.toml", &fragment(&in_tmp))]);
    assert!(check(&c).contains("(PrivateTmp=yes)"));
}

#[test]
fn neither_command_touches_the_network() {
    // The agent and the AWS endpoint are listeners that would see any connection.
    let agent = TcpListener::bind("127.0.0.1:0").unwrap();
    let aws = TcpListener::bind("127.0.0.1:0").unwrap();
    let fragment = format!(
        "[agent]\nactivation_port = {}\n[aws]\nendpoint_url = \"http://{}\"\n[checks]\naws = true\n",
        agent.local_addr().unwrap().port(),
        aws.local_addr().unwrap()
    );
    let c = Config::new(MAIN, &[("50-net.toml", &fragment)]);
    ok(c.run(&["config", "check"]));
    ok(c.run(&["config", "show", "--show-origin"]));
    for l in [&agent, &aws] {
        l.set_nonblocking(true).unwrap();
        let e = l.accept().map(|_| ()).unwrap_err();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "a connection arrived"
        );
    }
}

#[test]
fn instance_defaults_and_requirements_are_shown_and_checked() {
    let c = Config::new(MAIN, &[]);
    let out = c.run(&["--instance", "a", "config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("health.listen"), "{}", stderr(&out));
    let c = Config::new(
        &MAIN.replace("name = \"from-main\"\n", ""),
        &[("50-a.toml", "[health]\nlisten = \"127.0.0.1:9501\"\n")],
    );
    let out = ok(c.run(&["--instance", "a", "config", "check"]));
    assert!(out.starts_with("configuration OK (instance a): "), "{out}");
    let shown = ok(c.run(&["--instance", "a", "config", "show", "--show-origin"]));
    assert!(shown.contains("# instance: a\n"), "{shown}");
    assert!(
        shown.contains("dir = \"/var/lib/datasync-warden-a\""),
        "{shown}"
    );
    assert_eq!(origin_of(&shown, "state", "dir"), "default");
    let name = shown.lines().find(|l| l.starts_with("name = ")).unwrap();
    assert!(name.contains("-a\""), "agent name not <hostname>-a: {name}");
}
