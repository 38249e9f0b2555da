use std::path::{Path, PathBuf};

use super::*;
use crate::config::secret::MAX_SECRET_FILE;
use crate::config::{from_str, load};

const BASE: &str = "[endpoint]\nregion = \"eu-west-1\"\n";

fn parse(extra: &str) -> Result<Vec<Destination>, String> {
    from_str(Path::new("/c.toml"), &format!("{BASE}{extra}"))
        .map(|s| s.alerts.destinations)
        .map_err(|e| e.to_string())
}

fn err(extra: &str) -> String {
    parse(extra).expect_err("invalid")
}

#[test]
fn a_bad_webhook_is_named_without_its_secret() {
    for bad in [
        "ftp://h/SECRET",
        "SECRET",
        "https:///SECRET?x",
        "//h/SECRET",
    ] {
        let e = err(&format!("[alerts]\nwebhook = \"{bad}\"\n"));
        assert!(e.contains("alerts.webhook"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
    }
    let e = err("[alerts]\nwebhook = \"ftp://h/SECRET\"\n");
    assert!(e.contains("\"ftp://h/…\""), "{e}");
    let ok = parse("[alerts]\nwebhook = \"https://h/SECRET\"\n").unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(
        (ok[0].name.as_str(), ok[0].format),
        ("webhook", Format::Json)
    );
    assert_eq!(ok[0].url.read(None).unwrap().expose(), "https://h/SECRET");
    assert_eq!(ok[0].events, EVENTS.to_vec());
}

#[test]
fn destinations_get_names_defaults_and_their_own_keys() {
    let d = parse(
        "[[alerts.destinations]]\nformat = \"slack\"\nurl_file = \"slack-url\"\n\
         [[alerts.destinations]]\nformat = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/X\"\n\
         events = [\"recovered\", \"offline\"]\n\
         [[alerts.destinations]]\nformat = \"pagerduty\"\nrouting_key_file = \"/run/keys/pd\"\n\
         [[alerts.destinations]]\nname = \"am\"\nformat = \"alertmanager\"\nurl = \"http://127.0.0.1:9/x\"\n\
         headers = { \"X-Team\" = \"storage\" }\nheader_files = { Authorization = \"am-auth\" }\n",
    )
    .unwrap();
    let names: Vec<_> = d.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["slack", "slack-2", "pagerduty", "am"]);
    let with_webhook = parse(
        "[alerts]\nwebhook = \"https://h/w\"\n[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/j\"\n",
    )
    .unwrap();
    let names: Vec<_> = with_webhook.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["webhook", "json"],
        "alerts.webhook takes no format's name"
    );
    assert_eq!(
        d[0].url.source,
        SecretSource::File(SecretFile::Credential("slack-url".into()))
    );
    assert_eq!(d[1].events, ["offline", "recovered"], "in EVENTS order");
    assert_eq!(
        d[2].url.read(None).unwrap().expose(),
        PAGERDUTY_EVENTS_URL,
        "pagerduty's default URL"
    );
    assert_eq!(
        d[2].routing_key.as_ref().unwrap().source,
        SecretSource::File(SecretFile::Path(PathBuf::from("/run/keys/pd")))
    );
    let headers: Vec<_> = d[3].headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(headers, ["x-team", "authorization"]);
    assert!(
        !format!("{d:?}").contains("hooks.slack.com/services"),
        "Debug hides inline secrets"
    );
}

#[test]
fn each_mistake_names_the_key_and_what_would_be_valid() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[[alerts.destinations]]\nurl = \"https://h/x\"\n",
            &[
                "alerts.destinations.format",
                "json, slack, pagerduty, teams, alertmanager",
            ],
        ),
        (
            "[[alerts.destinations]]\nformat = \"discord\"\nurl = \"https://h/x\"\n",
            &["/c.toml:4:10", "\"discord\"", "expected one of json, slack"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"slack\"\n",
            &["alerts.destinations.url", "url_file"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"slack\"\nurl = \"https://h/SECRET\"\nurl_file = \"s\"\n",
            &["alerts.destinations.url_file", "set one of them"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"pagerduty\"\n",
            &["alerts.destinations.routing_key", "Events API v2"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"slack\"\nurl = \"https://h/x\"\nrouting_key = \"SECRETKEY\"\n",
            &["only pagerduty"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl_file = \"a/b\"\n",
            &[
                "alerts.destinations.url_file",
                "(not shown)",
                "absolute path",
                "LoadCredential=",
            ],
        ),
        // A secret written in a *_file key: refused as no file name, and not quoted.
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl_file = \"https://hooks.example/T/SECRET\"\n",
            &["alerts.destinations.url_file", "(not shown)"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"pagerduty\"\nrouting_key_file = \"Bearer SECRET\"\n",
            &["alerts.destinations.routing_key_file", "(not shown)"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nheader_files = { A = \"k=SECRET\" }\n",
            &["alerts.destinations.header_files", "(not shown)"],
        ),
        // config show's placeholder is no secret: a copy of its output fails here.
        (
            "[[alerts.destinations]]\nformat = \"pagerduty\"\nrouting_key = \"(redacted)\"\n",
            &["alerts.destinations.routing_key", "config show"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nheaders = { A = \"(redacted)\" }\n",
            &["alerts.destinations.headers", "config show"],
        ),
        // Type errors however [alerts] is spelled.
        (
            "[\"alerts\"]\ndestinations = \"https://hooks.example/T/SECRET\"\n",
            &["a string"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://u:SECRET@h/x\"\n",
            &[
                "alerts.destinations.url",
                "user:password@ in the URL is not sent",
                "header_files",
            ],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nevents = [\"ofline\"]\n",
            &[
                "alerts.destinations.events",
                "\"ofline\" is not an event",
                "still_offline",
            ],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nevents = []\n",
            &["empty list sends nothing"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nheaders = { \"Bad Name\" = \"v\" }\n",
            &["alerts.destinations.headers", "not an HTTP header name"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nheaders = { \"Content-Type\" = \"v\" }\n",
            &["set by the daemon itself"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nheaders = { a = \"SECRET\\nX: y\" }\n",
            &["no line breaks", "not shown"],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nheaders = { a = \"1\" }\nheader_files = { A = \"a\" }\n",
            &["in both headers and header_files"],
        ),
        (
            "[[alerts.destinations]]\nname = \"bad name\"\nformat = \"json\"\nurl = \"https://h/x\"\n",
            &["alerts.destinations.name", "letters, digits"],
        ),
        (
            "[alerts]\nwebhook = \"https://h/x\"\n[[alerts.destinations]]\nname = \"webhook\"\nformat = \"json\"\nurl = \"https://h/y\"\n",
            &[
                "alerts.destinations.name",
                "already has this name",
                "/c.toml:4:11",
            ],
        ),
        (
            "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\nsecret = 1\n",
            &["unknown field `secret`", "expected one of"],
        ),
    ];
    for (toml, needles) in cases {
        let e = err(toml);
        for n in *needles {
            assert!(e.contains(n), "{n:?} not in {e:?} (for {toml:?})");
        }
        assert!(!e.contains("SECRET"), "a secret in {e:?}");
    }
}

#[test]
fn too_many_destinations_are_refused() {
    let one = "[[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/x\"\n";
    assert_eq!(
        parse(&one.repeat(MAX_DESTINATIONS)).unwrap().len(),
        MAX_DESTINATIONS
    );
    let e = err(&format!(
        "[alerts]\nwebhook = \"https://h/x\"\n{}",
        one.repeat(MAX_DESTINATIONS)
    ));
    assert!(e.contains("at most 16 destinations"), "{e}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn fragments_add_destinations_and_a_name_replaces_its_namesake() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config.d")).unwrap();
    let main = write(
        dir.path(),
        "config.toml",
        &format!(
            "{BASE}[[alerts.destinations]]\nname = \"chat\"\nformat = \"slack\"\nurl = \"https://h/a\"\n\
             [[alerts.destinations]]\nformat = \"json\"\nurl = \"https://h/b\"\n"
        ),
    );
    write(
        &dir.path().join("config.d"),
        "60-chat.toml",
        "[[alerts.destinations]]\nname = \"chat\"\nformat = \"teams\"\nurl_file = \"teams-url\"\n\
         [[alerts.destinations]]\nformat = \"pagerduty\"\nrouting_key_file = \"pd\"\n",
    );
    let d = load(&main).unwrap().alerts.destinations;
    let got: Vec<_> = d.iter().map(|d| (d.name.as_str(), d.format)).collect();
    assert_eq!(
        got,
        [
            ("chat", Format::Teams),
            ("json", Format::Json),
            ("pagerduty", Format::Pagerduty)
        ]
    );
    assert!(
        d[0].origin.file.ends_with("60-chat.toml"),
        "{:?}",
        d[0].origin
    );
}

fn file_ref(spec: &str, shape: Shape) -> SecretRef {
    SecretRef {
        source: SecretSource::File(SecretFile::parse(spec).unwrap()),
        shape,
        key: "alerts.destinations.url_file",
        origin: Origin {
            file: std::sync::Arc::new(PathBuf::from("/c.toml")),
            line: 3,
            column: 12,
        },
        written: format!("{spec:?}"),
    }
}

#[test]
fn secret_files_are_read_trimmed_and_checked_without_showing_them() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path();
    write(creds, "url", "https://hooks.example/SECRETPATH\n");
    write(creds, "notaurl", "SECRETCONTENT\n");
    write(creds, "empty", " \n");
    write(creds, "big", &"x".repeat(MAX_SECRET_FILE as usize + 1));

    let url = file_ref("url", Shape::Url);
    assert_eq!(
        url.read(Some(creds)).unwrap().expose(),
        "https://hooks.example/SECRETPATH"
    );
    let abs = file_ref(creds.join("url").to_str().unwrap(), Shape::Url);
    assert_eq!(
        abs.read(None).unwrap().expose(),
        "https://hooks.example/SECRETPATH"
    );

    let cases: &[(&str, Option<&Path>, &[&str])] = &[
        (
            "url",
            None,
            &["$CREDENTIALS_DIRECTORY is not set", "LoadCredential=url:"],
        ),
        (
            "missing",
            Some(creds),
            &["cannot read", "No such file", "LoadCredential=missing:"],
        ),
        (
            "notaurl",
            Some(creds),
            &["not valid", "http:// or https://", "not shown"],
        ),
        ("empty", Some(creds), &["is empty"]),
        ("big", Some(creds), &["larger than 65536 bytes"]),
    ];
    for (spec, dir, needles) in cases {
        let e = file_ref(spec, Shape::Url)
            .read(*dir)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/c.toml:3:12: alerts.destinations.url_file = "),
            "{e}"
        );
        for n in *needles {
            assert!(e.contains(n), "{n:?} not in {e:?}");
        }
        assert!(!e.contains("SECRET"), "{e}");
    }
    let fifo = creds.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let e = file_ref("fifo", Shape::Url)
        .read(Some(creds))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not a regular file"),
        "a FIFO is refused, not waited on: {e}"
    );
    write(creds, "token", "abc def\n");
    let e = file_ref("token", Shape::Token)
        .read(Some(creds))
        .unwrap_err()
        .to_string();
    assert!(e.contains("without spaces") && !e.contains("abc"), "{e}");
}

#[test]
fn secret_debug_output_is_redacted() {
    let s = Secret::new("SECRET");
    assert_eq!(format!("{s:?}"), "Secret(…)");
}
