//! Faults: kill -9 at random points of activation (crash consistency), and AWS-side faults
//! during activation and monitoring (throttling storms, 5xx, resets, latency, expired
//! credentials, AccessDenied). Nothing may crash, hang, activate twice, lose the activation
//! or alert falsely.

mod common;

use std::time::{Duration, Instant};

use common::daemon::*;
use common::*;
use datasync_sim::{AgentFault, ApiFault, ResponseMode};

/// Runs of the crash test. Each is a fresh simulator and state directory.
const CRASH_RUNS: usize = 50;

/// A small deterministic PRNG (xorshift), seeded and printed so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_points_never_activates_twice_or_loses_the_agent() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    // Kills that landed between CreateAgent and the state write: the agent exists, the state
    // still says `activating`. Only these test adoption; a kill before the process started or
    // after the write proves nothing about it.
    let mut killed_mid_activation = 0;
    for run in 0..CRASH_RUNS {
        let h = Harness::with_fragment("[monitor]\ninterval = \"1s\"\n").await;
        // Stretch activation to ~300 ms so that kills land inside every step of it, and hold
        // CreateAgent's answer for 150 ms after the agent exists: the window that matters.
        h.sim
            .inject_fault(None, ApiFault::Latency(Duration::from_millis(40)));
        h.sim.inject_fault(
            Some("CreateAgent"),
            ApiFault::AnswerLatency(Duration::from_millis(150)),
        );
        h.sim.set_agent_fault(
            ResponseMode::Redirect,
            Some(AgentFault::Slow(Duration::from_millis(60))),
        );
        let mut child = h.command(&["run"]).spawn().unwrap();
        // Kill at a random point after CreateAgent was sent (or a little before it), so that
        // many kills land in the window between the agent's creation and the state write.
        let mut created = false;
        for _ in 0..400 {
            if h.sim.call_count("CreateAgent") > 0 {
                created = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(created, "run {run}: activation never reached CreateAgent");
        tokio::time::sleep(Duration::from_millis(rng.below(250))).await;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        let activating =
            h.state_file().exists() && h.state().get("status").is_some_and(|s| s == "activating");
        if !h.own_agents().is_empty() && activating {
            killed_mid_activation += 1;
        }
        // Whatever was on disk is a whole state file, never a torn one.
        if h.state_file().exists() {
            let text = std::fs::read_to_string(h.state_file()).unwrap();
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("run {run}: torn state file ({e}): {text:?}"));
        }
        let d = Running::start(&h, false).await;
        d.wait_phase_text("monitoring agent-").await;
        let ours = h.own_agents();
        assert_eq!(ours.len(), 1, "run {run} (seed {seed}): exactly one agent");
        assert_eq!(h.state()["status"], "activated", "run {run}");
        assert_eq!(h.state()["agent_arn"], ours[0].arn.as_str(), "run {run}");
        assert_eq!(
            d.status().await["agent_arn"],
            ours[0].arn.as_str(),
            "run {run}: the monitor runs on that agent"
        );
        d.stop().await;
    }
    eprintln!(
        "{killed_mid_activation} of {CRASH_RUNS} kills landed between CreateAgent and the state write"
    );
    assert!(
        killed_mid_activation >= CRASH_RUNS / 5,
        "the kills must hit the CreateAgent-to-state-write window, not only before or after it"
    );
}

async fn monitoring(extra: &str) -> (Harness, Running) {
    let hook = Webhook::start(0).await;
    let h = Harness::with_fragment(&format!(
        "[monitor]\ninterval = \"1s\"\n[alerts]\nwebhook = \"{}\"\n{extra}",
        hook.url
    ))
    .await;
    let d = Running::start(&h, false).await;
    d.wait_phase_text("monitoring agent-").await;
    HOOKS.lock().unwrap().insert(h.config(), hook);
    (h, d)
}

static HOOKS: std::sync::Mutex<std::collections::BTreeMap<std::path::PathBuf, Webhook>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn hook(h: &Harness) -> Webhook {
    HOOKS.lock().unwrap()[&h.config()].clone()
}

async fn errors_of_kind(d: &Running, kind: &str) -> u64 {
    d.status().await["aws_errors_total"][kind]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_storm_while_monitoring_is_an_api_problem_not_an_outage() {
    let (h, d) = monitoring("").await;
    // Three polls' worth of the SDK's three attempts each.
    h.sim
        .inject_fault(Some("DescribeAgent"), ApiFault::Throttle { times: 9 });
    eventually(Duration::from_secs(60), "api_errors alert", async || {
        hook(&h).events().contains(&"api_errors".into())
    })
    .await;
    assert!(errors_of_kind(&d, "throttled").await >= 3);
    eventually(LIMIT, "api_recovered", async || {
        hook(&h).events().contains(&"api_recovered".into())
    })
    .await;
    assert!(
        !hook(&h).events().iter().any(|e| e == "offline"),
        "no false OFFLINE alert"
    );
    assert_eq!(d.status().await["agent_status"], "ONLINE");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_credentials_and_access_denied_are_diagnosed() {
    for (code, status, kind, hint) in [
        (
            "ExpiredTokenException",
            403,
            "credentials",
            "expired, revoked or wrong",
        ),
        (
            "AccessDeniedException",
            400,
            "access_denied",
            "grant datasync:DescribeAgent",
        ),
        (
            "UnrecognizedClientException",
            403,
            "credentials",
            "replace them",
        ),
    ] {
        let (h, d) = monitoring("").await;
        h.sim.inject_fault(
            Some("DescribeAgent"),
            ApiFault::Error {
                code,
                status,
                times: None,
            },
        );
        eventually(LIMIT, "api_errors alert", async || {
            hook(&h).events().contains(&"api_errors".into())
        })
        .await;
        let s = d.status().await;
        assert_eq!(s["last_diagnosis"]["kind"], kind, "{code}: {s}");
        assert!(
            s["last_diagnosis"]["hint"].as_str().unwrap().contains(hint),
            "{code}: {s}"
        );
        assert!(
            s["status_text"]
                .as_str()
                .unwrap()
                .contains(&format!("DescribeAgent failed [{kind}]")),
            "{s}"
        );
        assert_eq!(s["offline"], false);
        let alert = hook(&h)
            .received
            .lock()
            .unwrap()
            .iter()
            .find(|a| a["event"] == "api_errors")
            .cloned()
            .unwrap();
        assert!(
            alert["message"]
                .as_str()
                .unwrap()
                .contains("cannot read the status"),
            "{alert}"
        );
        h.sim.clear_faults();
        eventually(LIMIT, "api_recovered", async || {
            hook(&h).events().contains(&"api_recovered".into())
        })
        .await;
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resets_and_slow_answers_do_not_stop_monitoring() {
    let (h, d) = monitoring("").await;
    let polls = h.sim.call_count("DescribeAgent");
    h.sim.inject_fault(
        Some("DescribeAgent"),
        ApiFault::ResetConnection { times: 2 },
    );
    h.sim.inject_fault(
        Some("DescribeAgent"),
        ApiFault::Latency(Duration::from_millis(1500)),
    );
    eventually(LIMIT, "polls go on", async || {
        h.sim.call_count("DescribeAgent") >= polls + 5
    })
    .await;
    assert_eq!(d.get("/healthz").await.0, 200);
    assert_eq!(d.status().await["agent_status"], "ONLINE");
    assert!(
        !hook(&h)
            .events()
            .iter()
            .any(|e| e == "offline" || e == "api_errors"),
        "{:?}",
        hook(&h).events()
    );
    // A scrape is answered from memory while a DescribeAgent is in flight for 1.5 s.
    let t = Instant::now();
    assert_eq!(d.get("/metrics").await.0, 200);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "scrape took {:?}",
        t.elapsed()
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_agent_faults_during_activation() {
    // A storm longer than the SDK's retries: the CLI fails with the diagnosis, nothing created.
    let h = Harness::new().await;
    h.sim
        .inject_fault(Some("CreateAgent"), ApiFault::Throttle { times: 3 });
    h.run(&["activate"])
        .await
        .assert_failed_with(1, &["throttled", "back off"]);
    assert_eq!(h.sim.agents().len(), 0);
    // The next run succeeds, with one agent and the same token reused.
    let token = h.state()["activation_token"].clone();
    h.run(&["activate"]).await.assert_ok();
    assert_eq!(h.sim.agents().len(), 1);
    assert_eq!(h.state()["activation_token"], token);

    // The daemon rides out a storm by itself.
    let h = Harness::with_fragment("[monitor]\ninterval = \"1s\"\n").await;
    h.sim
        .inject_fault(Some("CreateAgent"), ApiFault::Throttle { times: 4 });
    let d = Running::start(&h, false).await;
    d.wait_phase_text("activation failed: ").await;
    d.wait_phase_text("monitoring agent-").await;
    assert_eq!(h.sim.agents().len(), 1);
    d.stop().await;

    // A reset before the answer: the SDK retries and exactly one agent exists.
    let h = Harness::new().await;
    h.sim
        .inject_fault(Some("CreateAgent"), ApiFault::ResetConnection { times: 1 });
    h.run(&["activate"]).await.assert_ok();
    assert_eq!(h.sim.agents().len(), 1);
}
