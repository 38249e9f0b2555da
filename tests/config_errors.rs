//! Configuration errors through the real binary: exit status 2, file, position and key named.

mod common;

use std::path::Path;
use std::process::Command;

use common::BIN;

/// Runs `check` on the offline configuration plus one fragment; returns (status, stderr).
fn check_with(fragment: &str) -> (i32, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), common::OFFLINE_CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("config.d")).unwrap();
    std::fs::write(dir.path().join("config.d/50-instance.toml"), fragment).unwrap();
    let out = Command::new(BIN)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .args(["check", "--config"])
        .arg(dir.path().join("config.toml"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        dir,
    )
}

fn assert_rejected(fragment: &str, expect: &[&str]) {
    let (code, stderr, _dir) = check_with(fragment);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("config.d/50-instance.toml:"),
        "file not named: {stderr}"
    );
    for e in expect {
        assert!(stderr.contains(e), "missing {e:?} in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_key() {
    assert_rejected(
        "[agent]\nadress = \"x\"\n",
        &[
            "50-instance.toml:2:1",
            "unknown field `adress`",
            "expected one of",
        ],
    );
}

#[test]
fn wrong_type() {
    assert_rejected(
        "[agent]\nactivation_port = \"80\"\n",
        &["2:19", "agent.activation_port", "expected an integer"],
    );
}

#[test]
fn bad_vpce_id() {
    assert_rejected(
        "[endpoint]\nvpc_endpoint_id = \"vpce-123\"\n",
        &[
            "endpoint.vpc_endpoint_id = \"vpce-123\"",
            "17 lowercase hex digits",
        ],
    );
}

#[test]
fn two_subnets() {
    let frag = "[endpoint]\nsubnet_arn = [\"arn:aws:ec2:us-east-1:111122223333:subnet/subnet-1\", \"arn:aws:ec2:us-east-1:111122223333:subnet/subnet-2\"]\n";
    assert_rejected(frag, &["endpoint.subnet_arn", "exactly one; got 2"]);
}

#[test]
fn subnet_in_another_region() {
    let frag = "[endpoint]\nsubnet_arn = \"arn:aws:ec2:eu-west-1:111122223333:subnet/subnet-1\"\n";
    assert_rejected(
        frag,
        &[
            "endpoint.subnet_arn",
            "Region eu-west-1 but endpoint.region is us-east-1",
        ],
    );
}

#[test]
fn bad_duration() {
    assert_rejected(
        "[monitor]\ninterval = \"5 parsecs\"\n",
        &["monitor.interval", "\"90s\""],
    );
    assert_rejected(
        "[activation]\ndeadline = \"40m\"\n",
        &["activation.deadline", "between 1s and 25m"],
    );
}

#[test]
fn bad_tags_and_addresses() {
    assert_rejected(
        "[activation.tags]\n\"aws:x\" = \"y\"\n",
        &["activation.tags", "reserved"],
    );
    assert_rejected(
        "[agent]\naddress = \"http://10.0.0.1:80\"\n",
        &["agent.address", "no scheme, no port"],
    );
    assert_rejected(
        "[health]\nlisten = \"localhost\"\n",
        &["health.listen", "IP:PORT"],
    );
    assert_rejected(
        "[agent]\nactivation_port = 70000\n",
        &["agent.activation_port", "1-65535"],
    );
}

#[test]
fn unreadable_file_is_named() {
    let (code, stderr, dir) = check_with("");
    assert_ne!(
        code, 2,
        "a valid configuration is not a usage error: {stderr}"
    );
    let missing = dir.path().join("nope/config.toml");
    let out = Command::new(BIN)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .args(["check", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("failed to read {}", missing.display())),
        "{stderr}"
    );
    // A directory where a file should be: reading it fails, and the error names it.
    let as_dir = dir.path().join("config.d/60-dir.toml");
    std::fs::create_dir(&as_dir).unwrap();
    let out = Command::new(BIN)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .args(["check", "--config"])
        .arg(dir.path().join("config.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("60-dir.toml"), "{stderr}");
}

#[test]
fn missing_required_key_for_activation() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[endpoint]\nregion = \"us-east-1\"\n").unwrap();
    let out = Command::new(BIN)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .args(["fetch-key", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("agent.address is not set in"), "{stderr}");
}

#[test]
fn shipped_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/config.toml");
    datasync_warden::config::load(&example).expect("the shipped example parses and validates");
}
