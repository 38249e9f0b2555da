//! Alerts reach journald as structured entries: the daemon runs under a private systemd-journald
//! (tests/journald-run.sh, in a private mount namespace) with stderr on the journal's stream
//! socket and JOURNAL_STREAM set, as under systemd; the test reads the journal back as JSON.
//!
//! Needs root, `unshare` and systemd-journald; skipped (with a notice) without them, unless
//! REQUIRE_JOURNALD=1, which turns a skip into a failure.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::daemon::*;
use common::*;
use datasync_sim::AgentStatus;
use serde_json::Value;

const JOURNALD: &str = "/lib/systemd/systemd-journald";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/journald-run.sh");
const OFFLINE_ID: &str = "c461c33282a842d7ade9471a05c9bd24";
const RECOVERED_ID: &str = "c47865908b1b4e6994bc19945525338c";
const LIMIT: Duration = Duration::from_secs(20);
/// The script stops the daemon by itself after this long, should the test never say so.
const SCRIPT_LIMIT_SECS: u32 = 60;

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Why this test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    for cmd in ["unshare", "mount", "systemd-cat", "journalctl", "stat"] {
        if !on_path(cmd) {
            return Some(format!("{cmd} not on PATH"));
        }
    }
    if !Path::new(JOURNALD).exists() {
        return Some(format!("{JOURNALD} missing"));
    }
    if !Path::new("/etc/machine-id").exists() {
        return Some("/etc/machine-id missing".into());
    }
    None
}

/// Kills the script's whole process group (script, journald, daemon) unless it finished.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
        }
    }
}

fn field<'a>(e: &'a Value, k: &str) -> Option<&'a str> {
    e.get(k).and_then(Value::as_str)
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_reach_journald_as_structured_entries() {
    if let Some(why) = missing_prerequisite() {
        assert!(
            std::env::var("REQUIRE_JOURNALD").as_deref() != Ok("1"),
            "REQUIRE_JOURNALD=1 but the journald test cannot run: {why}"
        );
        eprintln!("skipping the journald test: {why}");
        return;
    }
    let started = Instant::now();
    let port = free_port();
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\noffline_after = 1\n[health]\nlisten = \"127.0.0.1:{port}\"\n"
    ))
    .await;
    let health: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let store = h.dir.path().join("journal");
    std::fs::create_dir(&store).unwrap();
    let stop_file = h.dir.path().join("stop");

    // The harness's command (sealed environment, arguments) run through the script.
    let daemon = h.command(&["run"]);
    let daemon = daemon.as_std();
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(SCRIPT)
        .arg(&store)
        .arg(&stop_file)
        .arg(SCRIPT_LIMIT_SECS.to_string())
        .arg("--")
        .arg(daemon.get_program())
        .args(daemon.get_args())
        .env_clear();
    for (k, v) in daemon.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn().expect("journald-run.sh starts");
    let mut guard = GroupGuard(child.id());

    let status = async || -> Value {
        get(health, "/status")
            .await
            .and_then(|(_, b)| serde_json::from_str(&b).ok())
            .unwrap_or(Value::Null)
    };
    eventually(LIMIT, "activation and a first DescribeAgent", async || {
        !h.sim.agents().is_empty()
            && h.sim.call_count("DescribeAgent") >= 1
            && status().await["agent_status"] == "ONLINE"
    })
    .await;
    let arn = h.sim.agents()[0].arn.clone();
    h.sim.set_agent_status(&arn, AgentStatus::Offline);
    eventually(LIMIT, "the offline alert", async || {
        status().await["alerts_total"]["offline"] == 1
    })
    .await;
    h.sim.set_agent_status(&arn, AgentStatus::Online);
    eventually(LIMIT, "the recovered alert", async || {
        status().await["alerts_total"]["recovered"] == 1
    })
    .await;
    std::fs::write(&stop_file, "").unwrap();

    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("journald-run.sh finishes")
        .unwrap();
    guard.0 = None;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // The daemon's own entries (native or from its stderr stream), not journald's or the kernel's.
    let ours: Vec<&Value> = entries
        .iter()
        .filter(|e| field(e, "_EXE").is_some_and(|x| x.ends_with("/datasync-warden")))
        .collect();
    let dump = ours
        .iter()
        .map(|e| {
            format!(
                "[{} {} {}] {}",
                field(e, "_TRANSPORT").unwrap_or("?"),
                field(e, "PRIORITY").unwrap_or("?"),
                field(e, "MESSAGE_ID").unwrap_or("-"),
                field(e, "MESSAGE").unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!(
        "journal: {} entries, {} from the daemon:\n{dump}",
        entries.len(),
        ours.len()
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "daemon exit code; script stderr:\n{stderr}"
    );

    let by_id = |id: &str| -> Vec<&Value> {
        ours.iter()
            .copied()
            .filter(|e| field(e, "MESSAGE_ID") == Some(id))
            .collect()
    };
    let offline = by_id(OFFLINE_ID);
    assert_eq!(offline.len(), 1, "one offline entry:\n{dump}");
    let offline = offline[0];
    for (k, v) in [
        ("_TRANSPORT", "journal"),
        ("PRIORITY", "3"),
        ("SYSLOG_IDENTIFIER", "datasync-warden"),
        ("ALERT_EVENT", "offline"),
        ("AGENT_ARN", arn.as_str()),
        ("AGENT_NAME", "test-agent"),
        ("AGENT_STATUS", "OFFLINE"),
    ] {
        assert_eq!(field(offline, k), Some(v), "{k} in {offline:#}");
    }
    assert!(
        field(offline, "OFFLINE_SINCE").is_some_and(|s| !s.is_empty()),
        "OFFLINE_SINCE in {offline:#}"
    );
    assert!(
        field(offline, "MESSAGE").is_some_and(|m| m.contains("is OFFLINE")),
        "{offline:#}"
    );

    let recovered = by_id(RECOVERED_ID);
    assert_eq!(recovered.len(), 1, "one recovered entry:\n{dump}");
    let recovered = recovered[0];
    for (k, v) in [
        ("_TRANSPORT", "journal"),
        ("PRIORITY", "4"),
        ("SYSLOG_IDENTIFIER", "datasync-warden"),
        ("ALERT_EVENT", "recovered"),
        ("AGENT_ARN", arn.as_str()),
        ("AGENT_STATUS", "ONLINE"),
    ] {
        assert_eq!(field(recovered, k), Some(v), "{k} in {recovered:#}");
    }

    for e in &ours {
        assert_eq!(
            field(e, "SYSLOG_IDENTIFIER"),
            Some("datasync-warden"),
            "{e:#}"
        );
    }
    let key = h.sim.agent_requests()[0]
        .issued_key
        .clone()
        .expect("the simulator issued a key");
    for e in &entries {
        assert!(
            !field(e, "MESSAGE").is_some_and(|m| m.contains(&key)),
            "the whole activation key is in the journal: {e:#}"
        );
    }
    eprintln!("journald test took {:?}", started.elapsed());
}
