//! What must hold for every input, whatever its bytes (feature `oracle`): the assertions of
//! the fuzz targets (`fuzz/`), of the stable replay of the committed corpus
//! (`tests/fuzz_corpus.rs`) and of the property tests (`tests/proptest_parsers.rs`).

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use crate::activation_response::{ActivationKey, ParseFailure, parse_body, parse_location};
use crate::config::{self, ConfigError};

/// The file name a fuzzed configuration is parsed under; every error must name it.
pub const CONFIG_PATH: &str = "/fuzz/config.d/50-input.toml";
/// The endpoint IP handed to the answer parsers.
pub const ENDPOINT_IP: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 10);
/// Longest message a parser may build from hostile input: it quotes at most 64 characters,
/// escaped (10 bytes each at worst, doubled by `{:?}`), plus its own words.
pub const MAX_MESSAGE: usize = 2048;

/// A configuration text: `config::from_str` returns, never panics; an error names the file,
/// a position inside the text and, for a bad value, the key.
pub fn check_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // read_to_string refuses it before the parser sees it
    };
    let lines = text.matches('\n').count() + 1;
    match config::from_str(Path::new(CONFIG_PATH), text) {
        Ok(s) => {
            assert_eq!(s.files, CONFIG_PATH);
            // What validation promises to the rest of the daemon.
            assert!(s.agent.activation_port > 0);
            assert!((1..=1000).contains(&s.checks.planned_tasks));
            assert!((1..=1000).contains(&s.monitor.offline_after));
            assert!(s.activation.tags.len() <= config::MAX_USER_TAGS);
            assert!(s.activation.deadline <= config::MAX_ACTIVATION_DEADLINE);
            assert!(s.activation.request_timeout >= Duration::from_millis(100));
            assert!(s.monitor.interval >= Duration::from_secs(1));
            assert!(s.state.dir.is_absolute());
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(CONFIG_PATH), "the file is not named: {msg}");
            match &e {
                ConfigError::Parse { line, column, .. } => {
                    assert!(
                        *line <= lines,
                        "line {line} beyond the text ({lines}): {msg}"
                    );
                    assert_eq!(*line == 0, *column == 0, "{msg}");
                }
                ConfigError::Invalid { origin, key, .. } => {
                    assert!((1..=lines).contains(&origin.line), "{msg}");
                    assert!(origin.column >= 1, "{msg}");
                    assert!(msg.contains(key), "{msg}");
                }
                ConfigError::Missing { key, .. } => assert!(msg.contains(key), "{msg}"),
                ConfigError::Read { .. } => panic!("from_str reads no file, yet: {msg}"),
            }
        }
    }
}

/// An agent answer, as a redirect `Location` and as a `no_redirect` body: the parsers return,
/// never panic; a key they return matches the key pattern and appears verbatim in the input;
/// what they say about the input is short and free of control characters (it is logged).
pub fn check_activation_response(data: &[u8]) {
    // hyper hands the client only visible-ASCII Locations, but the parser takes any &str.
    if let Ok(location) = std::str::from_utf8(data) {
        let r = parse_location(location, ENDPOINT_IP);
        if let Ok(k) = &r {
            let param = format!("activationKey={}", k.expose());
            assert!(location.contains(&param), "{param} not in {location:?}");
        }
        check_answer(location, r);
    }
    // The client decodes a body lossily and trims it; the untrimmed form must be safe too.
    let body = String::from_utf8_lossy(data);
    check_answer(&body, parse_body(body.trim(), ENDPOINT_IP));
    check_answer(&body, parse_body(&body, ENDPOINT_IP));
}

fn check_answer(input: &str, r: Result<ActivationKey, ParseFailure>) {
    match r {
        Ok(key) => {
            let k = key.expose();
            assert!(is_key_shaped(k), "not a key: {k:?}");
            assert!(input.contains(k), "{k:?} not in the input");
            assert_eq!(
                key.to_string(),
                format!("{}-*****-*****-*****-*****", &k[..5]),
                "Display must hide all but the first group"
            );
            assert!(!format!("{key:?}").contains(&k[5..]));
        }
        Err(ParseFailure::Agent(a)) => {
            assert!(input.contains("errorType="), "{a:?} without errorType=");
            assert_eq!(a.endpoint_ip, ENDPOINT_IP);
            assert_log_safe(&a.code);
        }
        Err(ParseFailure::Garbage(what)) => assert_log_safe(&what),
    }
}

/// `^[A-Z0-9]{5}(-[A-Z0-9]{5}){4}$`, checked without the regex the parser uses.
pub fn is_key_shaped(k: &str) -> bool {
    let b = k.as_bytes();
    b.len() == 29
        && b.iter().enumerate().all(|(i, c)| {
            if i % 6 == 5 {
                *c == b'-'
            } else {
                c.is_ascii_uppercase() || c.is_ascii_digit()
            }
        })
}

fn assert_log_safe(s: &str) {
    assert!(s.len() <= MAX_MESSAGE, "{} bytes: {s:?}", s.len());
    assert!(
        !s.chars().any(char::is_control),
        "control character in {s:?}"
    );
}
