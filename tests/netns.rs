//! Real network faults (issue 6, part 1): the warden in one network namespace, the simulated
//! agent in a second, a fake VPC endpoint in a third, and faults injected with nftables, route
//! deletion, an unanswered ARP and a slow user-space relay. Nothing here talks to any address
//! outside those namespaces: 10.199.0.0/16 exists only inside them and no namespace has a
//! default route.
//!
//! ```text
//!  dw-host-ID  to-agent 10.199.1.1/24 ── eth0 10.199.1.2/24  dw-agent-ID  datasync-sim :80 (agent)
//!  (warden)                                                              :8081 (DataSync API)
//!              to-ep    10.199.2.1/24 ── eth0 10.199.2.2/24  dw-ep-ID     listener.py 443 1024-1064 22
//! ```
//!
//! Needs root and `ip netns`: elsewhere it prints a notice and passes, unless `REQUIRE_NETNS=1`.
//! The topology is built and torn down by `tests/netns/topology.sh`; a Drop guard tears it down
//! (and kills every process this test started) even when an assertion fails.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const WARDEN: &str = env!("CARGO_BIN_EXE_datasync-warden");
const AGENT_IP: &str = "10.199.1.2";
const EP_IP: &str = "10.199.2.2";
/// On the endpoint's link, but nobody has it: ARP goes unanswered.
const DOWN_IP: &str = "10.199.2.99";
const VPCE: &str = "vpce-0123456789abcdef0";
const SUBNET: &str = "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0";
const SG: &str = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0";
/// Bound on any one run of the binary: a hang fails the test, never CI.
const RUN_LIMIT: Duration = Duration::from_secs(45);
/// `checks.timeout` of most cases.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Upper bound, in ms, on a probe that must stop at PROBE_TIMEOUT: the tests share 2 cores, so
/// no wall-clock bound is under 5 s. It still catches a probe left to the kernel's SYN retries
/// (over a minute) or timed per address.
const TIMED_OUT_MS: std::ops::Range<f64> = 990.0..5000.0;
/// Wall-clock bound on 43 filtered probes: one after another they take 43 x PROBE_TIMEOUT; ten
/// of them (10 s) proves they run concurrently and leaves room for 2 shared cores and the
/// process start.
const CONCURRENT_WALL: Duration = Duration::from_secs(10 * PROBE_TIMEOUT.as_secs());

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns")
}

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

// ---------------------------------------------------------------------------------------------
// Skipping

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Why this machine cannot run the lab, if it cannot.
fn unavailable() -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("not root".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip netns list` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("`ip` unavailable: {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A process whose output is collected line by line, each line stamped with the time since start.
struct Spawned {
    what: String,
    child: Child,
    started: Instant,
    stdout: Arc<Mutex<Vec<(Duration, String)>>>,
    stderr: Arc<Mutex<Vec<(Duration, String)>>>,
    readers: Vec<thread::JoinHandle<()>>,
    /// When the exit was first seen.
    exited: Option<Duration>,
}

fn collect(
    pipe: impl Read + Send + 'static,
    started: Instant,
    into: Arc<Mutex<Vec<(Duration, String)>>>,
    first_line: Option<mpsc::Sender<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut first_line = first_line;
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = first_line.take() {
                let _ = tx.send(line.clone());
            }
            into.lock().unwrap().push((started.elapsed(), line));
        }
    })
}

impl Spawned {
    fn start(what: &str, mut cmd: Command, ready_line: bool) -> (Spawned, Option<String>) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let (tx, rx) = mpsc::channel();
        let readers = vec![
            collect(
                child.stdout.take().unwrap(),
                started,
                Arc::clone(&stdout),
                ready_line.then_some(tx),
            ),
            collect(
                child.stderr.take().unwrap(),
                started,
                Arc::clone(&stderr),
                None,
            ),
        ];
        let mut s = Spawned {
            what: what.to_string(),
            child,
            started,
            stdout,
            stderr,
            readers,
            exited: None,
        };
        let first = ready_line.then(|| match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(line) => line,
            Err(_) => {
                let _ = s.child.kill();
                let _ = s.child.wait();
                panic!("{what}: no ready line; stderr:\n{}", s.stderr_text());
            }
        });
        (s, first)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr_text(&self) -> String {
        lines(&self.stderr)
    }

    fn stderr_lines(&self) -> Vec<(Duration, String)> {
        self.stderr.lock().unwrap().clone()
    }

    fn running(&mut self) -> bool {
        let running = matches!(self.child.try_wait(), Ok(None));
        if !running && self.exited.is_none() {
            self.exited = Some(self.started.elapsed());
        }
        running
    }

    /// Waits for the exit, killing the process past `limit` (and then failing the test).
    fn wait(mut self, limit: Duration) -> Run {
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            if self.started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} still running after {limit:?}; stderr:\n{}",
                    self.what,
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        let wall = self.exited.unwrap_or_else(|| self.started.elapsed());
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout: lines(&self.stdout),
            stderr: lines(&self.stderr),
            wall,
        }
    }

    /// SIGTERM, then the exit (SIGKILL after `limit`).
    fn terminate(self, limit: Duration) -> Run {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let started = Instant::now();
        let mut s = self;
        s.started = started;
        s.wait(limit)
    }
}

fn lines(v: &Mutex<Vec<(Duration, String)>>) -> String {
    v.lock()
        .unwrap()
        .iter()
        .map(|(_, l)| format!("{l}\n"))
        .collect()
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    wall: Duration,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: stdout {:?}, stderr {:?}", self.stdout, self.stderr))
    }
    fn arn(&self) -> &str {
        let arn = self.stdout.trim();
        assert!(
            arn.starts_with("arn:aws:datasync:us-east-1:111122223333:agent/agent-"),
            "expected an agent ARN on stdout, got {self:#?}"
        );
        arn
    }
    /// "activation key attempt N failed" lines.
    fn key_failures(&self) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.contains("activation key attempt") && l.contains("failed"))
            .count()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[derive(Clone)]
struct Cfg {
    agent_port: u16,
    endpoint_ip: &'static str,
    timeout: &'static str,
    deadline: &'static str,
    request_timeout: &'static str,
}

impl Default for Cfg {
    fn default() -> Self {
        Cfg {
            agent_port: 80,
            endpoint_ip: EP_IP,
            timeout: "1s",
            deadline: "20s",
            request_timeout: "2s",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The lab

struct Row {
    case: String,
    expected: String,
    observed: String,
    time: String,
}

struct Lab {
    id: String,
    host: String,
    agent: String,
    ep: String,
    dir: tempfile::TempDir,
    sim_bin: PathBuf,
    /// Long-running helpers (simulator, listener, relay, daemon), by name.
    procs: Vec<Spawned>,
    /// Every pid this test started, to prove none survives.
    pids: Vec<u32>,
    seq: usize,
    rows: Vec<Row>,
    torn_down: bool,
}

impl Lab {
    fn up(sim_bin: PathBuf) -> Lab {
        let id = std::process::id().to_string();
        let lab = Lab {
            host: format!("dw-host-{id}"),
            agent: format!("dw-agent-{id}"),
            ep: format!("dw-ep-{id}"),
            id,
            dir: tempfile::Builder::new()
                .prefix("netns-lab-")
                .tempdir()
                .unwrap(),
            sim_bin,
            procs: Vec::new(),
            pids: Vec::new(),
            seq: 0,
            rows: Vec::new(),
            torn_down: false,
        };
        // From here on, Drop tears down whatever `up` managed to build.
        let out = Command::new(scripts().join("topology.sh"))
            .args(["up", &lab.id])
            .output()
            .expect("topology.sh runs");
        assert!(
            out.status.success(),
            "topology.sh up failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    fn in_ns(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    fn sh(&self, what: &str, cmd: &mut Command) -> String {
        let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn nft(&self, ns: &str, rule: &str) {
        let mut c = Self::in_ns(ns, "nft");
        c.arg(rule);
        self.sh(&format!("nft {rule} in {ns}"), &mut c);
    }

    fn fault(&self, ns: &str, rule: &str) {
        self.nft(ns, &format!("add rule inet dw input {rule}"));
    }

    fn clear(&self, ns: &str) {
        self.nft(ns, "flush chain inet dw input");
    }

    /// Packets counted by the `counter` statements of `ns`'s input chain: (rules without
    /// `drop`, rules with `drop`).
    fn counted(&self, ns: &str) -> (u64, u64) {
        let mut c = Self::in_ns(ns, "nft");
        c.args(["list", "chain", "inet", "dw", "input"]);
        let text = self.sh("nft list", &mut c);
        let (mut seen, mut dropped) = (0, 0);
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(n) = words
                .windows(2)
                .find(|w| w[0] == "packets")
                .and_then(|w| w[1].parse::<u64>().ok())
            else {
                continue;
            };
            if words.contains(&"drop") {
                dropped += n;
            } else {
                seen += n;
            }
        }
        (seen, dropped)
    }

    fn ip(&self, args: &[&str]) {
        let mut c = Command::new("ip");
        c.args(["-n", &self.host]).args(args);
        self.sh(&format!("ip {args:?}"), &mut c);
    }

    fn spawn_helper(&mut self, name: &str, ns: &str, program: &str, args: &[&str]) -> String {
        let mut cmd = Self::in_ns(ns, program);
        cmd.args(args);
        let (s, first) = Spawned::start(name, cmd, true);
        self.pids.push(s.pid());
        self.procs.push(s);
        first.unwrap()
    }

    fn stop(&mut self, name: &str) {
        while let Some(i) = self.procs.iter().position(|p| p.what == name) {
            let mut p = self.procs.remove(i);
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// A fresh simulator: the simulator activates one agent per process.
    fn restart_sim(&mut self) {
        self.stop("sim");
        let sim = self.sim_bin.display().to_string();
        let (agent, api) = (format!("{AGENT_IP}:80"), format!("{AGENT_IP}:8081"));
        let ns = self.agent.clone();
        let line = self.spawn_helper(
            "sim",
            &ns,
            &sim,
            &["--agent-listen", &agent, "--api-listen", &api],
        );
        let v: Value = serde_json::from_str(&line).expect("the simulator's ready line is JSON");
        assert_eq!(v["agent"], agent.as_str(), "{line}");
    }

    fn start_listener(&mut self) {
        let ns = self.ep.clone();
        let script = scripts().join("listener.py").display().to_string();
        let line = self.spawn_helper(
            "listener",
            &ns,
            python(),
            &[&script, EP_IP, "443", "1024-1064", "22"],
        );
        assert_eq!(line, "ready");
    }

    fn start_relay(&mut self, listen: &str, upstream: &str, delay: &str) {
        let ns = self.agent.clone();
        let script = scripts().join("relay.py").display().to_string();
        let line = self.spawn_helper("relay", &ns, python(), &[&script, listen, upstream, delay]);
        assert_eq!(line, "ready");
    }

    /// Writes a configuration with a fresh state directory; returns its path.
    fn config(&mut self, c: &Cfg) -> PathBuf {
        self.seq += 1;
        let dir = self.dir.path().join(format!("run{}", self.seq));
        std::fs::create_dir(&dir).unwrap();
        let text = format!(
            r#"[agent]
address = "{AGENT_IP}"
name = "netns-agent"
activation_port = {port}
[endpoint]
region = "us-east-1"
vpc_endpoint_id = "{VPCE}"
ip = "{ip}"
subnet_arn = "{SUBNET}"
security_group_arn = "{SG}"
[aws]
endpoint_url = "http://{AGENT_IP}:8081"
[activation]
deadline = "{deadline}"
request_timeout = "{rt}"
[checks]
aws = false
control_ports = true
support_port = true
timeout = "{timeout}"
[health]
listen = "127.0.0.1:9417"
[state]
dir = "{state}"
"#,
            port = c.agent_port,
            ip = c.endpoint_ip,
            deadline = c.deadline,
            rt = c.request_timeout,
            timeout = c.timeout,
            state = dir.join("state").display(),
        );
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn warden_cmd(&self, config: &Path, args: &[&str]) -> Command {
        let mut c = Self::in_ns(&self.host, WARDEN);
        c.arg("--config")
            .arg(config)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", config.parent().unwrap())
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        c
    }

    fn spawn_warden(&mut self, config: &Path, args: &[&str]) -> Spawned {
        let (s, _) = Spawned::start(
            &format!("datasync-warden {}", args.join(" ")),
            self.warden_cmd(config, args),
            false,
        );
        self.pids.push(s.pid());
        s
    }

    fn warden(&mut self, config: &Path, args: &[&str]) -> Run {
        self.spawn_warden(config, args).wait(RUN_LIMIT)
    }

    fn row(&mut self, case: &str, expected: &str, observed: String, time: String) {
        println!("[netns] {case}: {observed} ({time})");
        self.rows.push(Row {
            case: case.into(),
            expected: expected.into(),
            observed,
            time,
        });
    }

    fn table(&self) -> String {
        let w = |f: fn(&Row) -> &str, title: &str| {
            self.rows
                .iter()
                .map(|r| f(r).chars().count())
                .max()
                .unwrap_or(0)
                .max(title.len())
        };
        let (a, b, c) = (
            w(|r| &r.case, "case"),
            w(|r| &r.expected, "expected"),
            w(|r| &r.observed, "observed"),
        );
        let mut out = format!(
            "| {:<a$} | {:<b$} | {:<c$} | time |\n|{}|{}|{}|------|\n",
            "case",
            "expected",
            "observed",
            "-".repeat(a + 2),
            "-".repeat(b + 2),
            "-".repeat(c + 2)
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {:<a$} | {:<b$} | {:<c$} | {} |\n",
                r.case, r.expected, r.observed, r.time
            ));
        }
        out
    }

    /// Kills what this test started, checks nothing else is left in the namespaces, deletes
    /// them. Returns the processes found left behind (should be none).
    fn teardown(&mut self) -> Vec<String> {
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        for mut p in self.procs.drain(..) {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        let mut left = Vec::new();
        for ns in [&self.host, &self.agent, &self.ep] {
            if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let comm =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    left.push(format!("{ns}: pid {pid} {}", comm.trim()));
                }
            }
        }
        let _ = Command::new(scripts().join("topology.sh"))
            .args(["down", &self.id])
            .status();
        left
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        let left = self.teardown();
        if panicking {
            if !self.rows.is_empty() {
                eprintln!(
                    "[netns] cases observed before the failure:\n{}",
                    self.table()
                );
            }
            if !left.is_empty() {
                eprintln!("[netns] processes left in the namespaces (killed): {left:?}");
            }
        }
    }
}

/// Namespaces of an earlier run of this test that was killed before its Drop guard ran
/// (its pid is gone): delete them so they do not accumulate.
fn reap_stale_labs() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let ids: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|name| {
            ["dw-host-", "dw-agent-", "dw-ep-"]
                .iter()
                .find_map(|p| name.strip_prefix(p))
        })
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect();
    for id in ids {
        if id.parse::<u32>().is_ok_and(|pid| !pid_alive(pid)) {
            eprintln!("[netns] removing namespaces of a dead earlier run {id}");
            let _ = Command::new(scripts().join("topology.sh"))
                .args(["down", &id])
                .status();
        }
    }
}

fn sim_binary() -> PathBuf {
    let dir = Path::new(WARDEN).parent().unwrap().to_path_buf();
    let sim = dir.join("datasync-sim");
    if !sim.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "datasync-sim"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(st.success(), "cargo build -p datasync-sim failed");
    }
    assert!(sim.exists(), "{} missing", sim.display());
    sim
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

fn probes(v: &Value) -> Vec<&Value> {
    v["checks"]
        .as_array()
        .expect("checks[]")
        .iter()
        .filter(|c| c.get("outcome").is_some())
        .collect()
}

fn probe<'a>(v: &'a Value, check: &str) -> &'a Value {
    probes(v)
        .into_iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {v:#}"))
}

fn endpoint_probes(v: &Value) -> Vec<&Value> {
    probes(v)
        .into_iter()
        .filter(|c| c["check"].as_str().unwrap().starts_with("endpoint."))
        .collect()
}

fn elapsed(c: &Value) -> f64 {
    c["elapsed_ms"].as_f64().expect("elapsed_ms")
}

fn outcome(c: &Value) -> &str {
    c["outcome"].as_str().expect("outcome")
}

/// Asserts the probe's hint starts with `prefix` (the outcome, then the diagnosis).
fn assert_hint(c: &Value, prefix: &str) {
    let hint = c["hint"].as_str().expect("hint");
    assert!(
        hint.starts_with(prefix),
        "hint should start with {prefix:?}: {c:#}"
    );
}

fn port(c: &Value) -> u16 {
    c["port"].as_u64().expect("port") as u16
}

fn max_elapsed(cs: &[&Value]) -> f64 {
    cs.iter().map(|c| elapsed(c)).fold(0.0, f64::max)
}

/// Outcome counts, e.g. "38 unreachable, 5 filtered".
fn tally(cs: &[&Value]) -> String {
    let mut m = std::collections::BTreeMap::<&str, usize>::new();
    for c in cs {
        *m.entry(outcome(c)).or_default() += 1;
    }
    m.iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// The test

#[test]
fn real_network_faults() {
    if let Some(why) = unavailable() {
        assert!(
            std::env::var("REQUIRE_NETNS").as_deref() != Ok("1"),
            "REQUIRE_NETNS=1 but the netns lab cannot run: {why}"
        );
        println!("SKIPPED tests/netns.rs: {why} (set REQUIRE_NETNS=1 to make this a failure)");
        return;
    }
    let started = Instant::now();
    reap_stale_labs();
    let sim = sim_binary();
    let mut lab = Lab::up(sim);
    lab.restart_sim();
    lab.start_listener();
    let (host, agent, ep) = (lab.host.clone(), lab.agent.clone(), lab.ep.clone());

    // Baseline: everything open.
    let base = lab.config(&Cfg::default());
    let run = lab.warden(&base, &["check", "--format", "json"]);
    let v = run.json();
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(probes(&v).len(), 44, "80, 443, 1024-1064, 22");
    assert!(probes(&v).iter().all(|c| outcome(c) == "open"), "{v:#}");
    lab.row(
        "0 baseline",
        "all 44 probes open",
        tally(&probes(&v)),
        ms(run.wall),
    );

    case2_https_rejected(&mut lab, &base, &ep);
    case3_control_ports_dropped(&mut lab, &base, &ep);
    case4_unreachable(&mut lab, &base, &host);
    case1_agent_port_dropped(&mut lab, &agent);
    case5_syn_loss(&mut lab, &agent);
    case6_slow_path(&mut lab);

    // Nothing may be left behind: the helpers die with their kill, nothing else was started
    // in the namespaces, and the namespaces are gone.
    let pids = lab.pids.clone();
    let names = [lab.host.clone(), lab.agent.clone(), lab.ep.clone()];
    let left = lab.teardown();
    assert!(
        left.is_empty(),
        "processes left in the namespaces: {left:?}"
    );
    let listed = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    for n in &names {
        assert!(
            !listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(n)),
            "{n} still exists"
        );
        assert!(
            !Path::new("/run/netns").join(n).exists(),
            "{n} still mounted"
        );
    }
    let alive: Vec<u32> = pids.into_iter().filter(|p| pid_alive(*p)).collect();
    assert!(alive.is_empty(), "started processes still alive: {alive:?}");
    let total = started.elapsed();
    lab.row(
        "teardown",
        "no process, no namespace left",
        "0 processes, 0 namespaces".into(),
        ms(total),
    );
    println!(
        "\nnetns lab summary (total {:.1} s):\n{}",
        total.as_secs_f64(),
        lab.table()
    );
    assert!(
        total < Duration::from_secs(90),
        "the lab took {total:?} (budget 90 s)"
    );
}

/// 443 rejected with a TCP reset → `endpoint.https` refused, fast.
fn case2_https_rejected(lab: &mut Lab, base: &Path, ep: &str) {
    lab.fault(ep, "tcp dport 443 reject with tcp reset");
    let run = lab.warden(base, &["check", "--format", "json"]);
    lab.clear(ep);
    let v = run.json();
    assert_eq!(run.code, 1, "{run:#?}");
    let https = probe(&v, "endpoint.https");
    assert_eq!(outcome(https), "refused", "{https:#}");
    assert_eq!(https["status"], "fail");
    assert_hint(https, "refused: 10.199.2.2 or a firewall rejects TCP 443");
    // At once, not at the timeout: a probe cut off by PROBE_TIMEOUT reads "filtered".
    let others: Vec<_> = probes(&v)
        .into_iter()
        .filter(|c| c["check"] != "endpoint.https")
        .collect();
    assert!(others.iter().all(|c| outcome(c) == "open"), "{v:#}");
    lab.row(
        "2 443 reject tcp-reset",
        "endpoint.https refused (RST), not timed out",
        format!("refused in {:.1} ms", elapsed(https)),
        ms(run.wall),
    );
}

/// 1030-1035 and 1060 dropped → exactly those filtered, grouped in the text report; then all
/// 43 endpoint ports dropped → one timeout for all, not 43.
fn case3_control_ports_dropped(lab: &mut Lab, base: &Path, ep: &str) {
    lab.fault(ep, "tcp dport { 1030-1035, 1060 } drop");
    let run = lab.warden(base, &["check", "--format", "json"]);
    let text = lab.warden(base, &["check"]);
    lab.clear(ep);
    let v = run.json();
    assert_eq!(run.code, 1, "{run:#?}");
    let filtered: BTreeSet<u16> = probes(&v)
        .into_iter()
        .filter(|c| outcome(c) == "filtered")
        .map(|c| {
            assert_eq!(c["check"], "endpoint.control_ports", "{c:#}");
            assert_hint(c, "filtered: no answer within 1s");
            port(c)
        })
        .collect();
    let expected: BTreeSet<u16> = (1030..=1035).chain([1060]).collect();
    assert_eq!(filtered, expected, "{v:#}");
    let others_open = probes(&v)
        .into_iter()
        .filter(|c| !expected.contains(&port(c)))
        .all(|c| outcome(c) == "open");
    assert!(others_open, "{v:#}");
    // The text report groups consecutive ports with the same outcome.
    assert_eq!(text.code, 1);
    let row = |ports: &str, outcome: &str| {
        text.stdout.lines().any(|l| {
            l.contains("endpoint.control_ports")
                && l.contains(&format!("{EP_IP}:{ports} "))
                && l.contains(outcome)
        })
    };
    for (ports, outcome) in [
        ("1024-1029", "open"),
        ("1030-1035", "filtered"),
        ("1036-1059", "open"),
        ("1060", "filtered"),
        ("1061-1064", "open"),
    ] {
        assert!(
            row(ports, outcome),
            "no row {ports} {outcome}:\n{}",
            text.stdout
        );
    }
    assert!(
        text.stdout.contains("drops TCP 1030-1035 to 10.199.2.2"),
        "{}",
        text.stdout
    );
    lab.row(
        "3a 1030-1035,1060 drop",
        "exactly those 7 filtered; text rows 1030-1035 / 1060",
        format!(
            "filtered {:?}; text rows grouped as expected",
            filtered.iter().collect::<Vec<_>>()
        ),
        ms(run.wall),
    );

    lab.fault(ep, "tcp dport { 22, 443, 1024-1064 } drop");
    let run = lab.warden(base, &["check", "--format", "json"]);
    lab.clear(ep);
    let v = run.json();
    let eps = endpoint_probes(&v);
    assert_eq!(eps.len(), 43);
    assert!(eps.iter().all(|c| outcome(c) == "filtered"), "{v:#}");
    let support = probe(&v, "endpoint.support_port");
    assert_eq!(support["status"], "warn", "22 never blocks");
    let max = max_elapsed(&eps);
    assert!(
        run.wall < CONCURRENT_WALL,
        "43 filtered probes took {:?} (max probe {max:.0} ms): not concurrent?",
        run.wall
    );
    assert!(TIMED_OUT_MS.contains(&max), "max probe {max} ms");
    lab.row(
        "3b all 43 endpoint ports drop",
        "43 filtered, wall < 10 s (43 s one by one)",
        format!("43 filtered, max probe {max:.0} ms"),
        format!("{} wall", ms(run.wall)),
    );
}

/// No route (connected route deleted) → unreachable at once; a routed host that is down (ARP
/// unanswered) → unreachable after the ARP timeout, or filtered if the probe timeout is first.
fn case4_unreachable(lab: &mut Lab, base: &Path, host: &str) {
    lab.ip(&["route", "del", "10.199.2.0/24", "dev", "to-ep"]);
    let run = lab.warden(base, &["check", "--format", "json"]);
    lab.ip(&[
        "route",
        "add",
        "10.199.2.0/24",
        "dev",
        "to-ep",
        "proto",
        "kernel",
        "scope",
        "link",
        "src",
        "10.199.2.1",
    ]);
    let v = run.json();
    let eps = endpoint_probes(&v);
    assert_eq!(eps.len(), 43);
    for c in &eps {
        // At once, not at the timeout: a probe cut off by PROBE_TIMEOUT reads "filtered".
        assert_eq!(outcome(c), "unreachable", "{c:#}");
        assert_hint(c, "unreachable: no route to 10.199.2.2");
    }
    assert_eq!(probe(&v, "agent.activation_port")["outcome"], "open");
    lab.row(
        "4a route to endpoint deleted",
        "unreachable (ENETUNREACH) at once",
        format!(
            "43 unreachable ({}), max {:.1} ms",
            eps[0]["detail"].as_str().unwrap_or(""),
            max_elapsed(&eps)
        ),
        ms(run.wall),
    );

    // A host on the endpoint's link that does not exist: ARP is never answered. With a probe
    // timeout longer than the ~3 s ARP timeout the kernel reports EHOSTUNREACH; with 1 s the
    // probe times out first.
    for (label, timeout) in [
        ("4b host down, timeout 4s", "4s"),
        ("4c host down, timeout 1s", "1s"),
    ] {
        let _ = Command::new("ip")
            .args(["-n", host, "neigh", "flush", "dev", "to-ep"])
            .status();
        let cfg = lab.config(&Cfg {
            endpoint_ip: DOWN_IP,
            timeout,
            ..Cfg::default()
        });
        let run = lab.warden(&cfg, &["check", "--format", "json"]);
        let v = run.json();
        let eps = endpoint_probes(&v);
        assert_eq!(eps.len(), 43);
        for c in &eps {
            assert!(["unreachable", "filtered"].contains(&outcome(c)), "{c:#}");
        }
        let unreachable: Vec<_> = eps
            .iter()
            .filter(|c| outcome(c) == "unreachable")
            .copied()
            .collect();
        let detail = unreachable
            .first()
            .map(|c| {
                format!(
                    " ({}, at {:.0} ms)",
                    c["detail"].as_str().unwrap_or(""),
                    max_elapsed(&unreachable)
                )
            })
            .unwrap_or_default();
        lab.row(
            label,
            "unreachable (EHOSTUNREACH ~3 s) or filtered",
            format!("{}{detail}", tally(&eps)),
            ms(run.wall),
        );
    }
}

/// The agent's TCP 80 dropped: check says filtered; activate / fetch-key / the daemon while
/// the drop is lifted after 3 s.
fn case1_agent_port_dropped(lab: &mut Lab, agent: &str) {
    const LIFT: Duration = Duration::from_secs(3);
    let drop_80 = "tcp dport 80 counter drop";
    let base = lab.config(&Cfg::default());
    lab.fault(agent, drop_80);
    let run = lab.warden(&base, &["check", "--format", "json"]);
    lab.clear(agent);
    let v = run.json();
    assert_eq!(run.code, 1, "{run:#?}");
    let c = probe(&v, "agent.activation_port");
    assert_eq!(outcome(c), "filtered", "{c:#}");
    assert_eq!(c["status"], "fail");
    assert_hint(c, "filtered: no answer within 1s");
    assert!(
        TIMED_OUT_MS.contains(&elapsed(c)),
        "elapsed ≈ timeout: {c:#}"
    );
    assert!(endpoint_probes(&v).iter().all(|c| outcome(c) == "open"));
    lab.row(
        "1a agent 80 drop: check",
        "agent.activation_port filtered, elapsed ≈ 1s",
        format!("filtered in {:.0} ms", elapsed(c)),
        ms(run.wall),
    );

    // Runs `args` while 80 is dropped, lifting the drop after LIFT.
    let with_lift = |lab: &mut Lab, cfg: &Path, args: &[&str]| -> (Spawned, bool) {
        lab.fault(agent, drop_80);
        let mut p = lab.spawn_warden(cfg, args);
        let mut ended_before_lift = false;
        while p.started.elapsed() < LIFT {
            ended_before_lift |= !p.running();
            thread::sleep(Duration::from_millis(20));
        }
        lab.clear(agent);
        (p, ended_before_lift)
    };

    // `activate`: the port check is part of its preflight and is retried within the deadline.
    let cfg = lab.config(&Cfg::default());
    let (p, ended_before_lift) = with_lift(lab, &cfg, &["activate"]);
    let run = p.wait(RUN_LIMIT);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(!ended_before_lift, "{run:#?}");
    run.arn();
    let waits = run
        .stderr
        .matches("waiting for 10.199.1.2:80 (agent.activation_port): filtered")
        .count();
    assert!(waits >= 1, "{run:#?}");
    lab.row(
        "1b agent 80 drop, lifted at 3s: activate",
        "succeeds after retries",
        format!("succeeded after {waits} port wait(s)"),
        ms(run.wall),
    );
    lab.restart_sim();

    // `fetch-key` (no preflight): the key fetch itself retries through the drop.
    let cfg = lab.config(&Cfg {
        request_timeout: "1s",
        ..Cfg::default()
    });
    let (p, _) = with_lift(lab, &cfg, &["fetch-key"]);
    let run = p.wait(RUN_LIMIT);
    assert_eq!(run.code, 0, "{run:#?}");
    let key = run.stdout.trim();
    assert_eq!(key.len(), 29, "{run:#?}");
    assert!(run.key_failures() >= 1, "{run:#?}");
    assert!(run.wall >= LIFT, "{run:#?}");
    let first_failure = run
        .stderr
        .lines()
        .find(|l| l.contains("activation key attempt 1 failed"))
        .unwrap()
        .to_string();
    lab.row(
        "1c agent 80 drop, lifted at 3s: fetch-key",
        "key after retries",
        format!(
            "key after {} failed attempt(s); reported as: {}",
            run.key_failures(),
            first_failure
                .split_once("failed ")
                .map_or(first_failure.as_str(), |(_, r)| r)
                .split("; retry")
                .next()
                .unwrap()
        ),
        ms(run.wall),
    );

    // The daemon retries its failed preflight by itself and activates once the port opens.
    let cfg = lab.config(&Cfg::default());
    let state = cfg.parent().unwrap().join("state/state.json");
    let (p, _) = with_lift(lab, &cfg, &["run"]);
    let activated = loop {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        if text.contains("\"activated\"") {
            break Some(p.started.elapsed());
        }
        if p.started.elapsed() > Duration::from_secs(25) {
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let log = p.stderr_lines();
    let run = p.terminate(Duration::from_secs(5));
    let activated = activated.unwrap_or_else(|| panic!("the daemon did not activate: {run:#?}"));
    assert_eq!(run.code, 0, "SIGTERM → exit 0: {run:#?}");
    // The preflight waits for the port within the activation deadline ("waiting for …").
    let checks: Vec<Duration> = log
        .iter()
        .filter(|(_, l)| l.starts_with("info: waiting for 10.199.1.2:80"))
        .map(|(t, _)| *t)
        .collect();
    let failed = checks.len();
    assert!(failed >= 1, "{run:#?}");
    assert!(activated >= LIFT);
    let gaps: Vec<String> = checks
        .windows(2)
        .map(|w| format!("{:.1}", (w[1] - w[0]).as_secs_f64()))
        .collect();
    lab.row(
        "1d agent 80 drop, lifted at 3s: run (daemon)",
        "activates once the port opens",
        format!(
            "activated at {:.1} s after {failed} port wait(s); waits announced {} s apart",
            activated.as_secs_f64(),
            gaps.join("/")
        ),
        ms(activated),
    );
    lab.restart_sim();
}

/// 30% of the SYNs to the agent's port 80 dropped: activate still succeeds, three times.
fn case5_syn_loss(lab: &mut Lab, agent: &str) {
    for i in 1..=3 {
        if i > 1 {
            lab.restart_sim();
        }
        lab.clear(agent);
        lab.fault(agent, "tcp dport 80 tcp flags & (syn | ack) == syn counter");
        lab.fault(
            agent,
            "tcp dport 80 tcp flags & (syn | ack) == syn numgen random mod 100 < 30 counter drop",
        );
        // The preflight probe gets 4 s: the kernel resends a lost SYN after 1 s, then 2 s.
        let cfg = lab.config(&Cfg {
            timeout: "4s",
            deadline: "60s",
            request_timeout: "2s",
            ..Cfg::default()
        });
        // A lost SYN is resent by the kernel, and a port check that still fails is retried
        // within activation.deadline: one run must do.
        let runs = [lab.warden(&cfg, &["activate"])];
        let (syns, dropped) = lab.counted(agent);
        lab.clear(agent);
        let last = runs.last().unwrap();
        assert_eq!(last.code, 0, "{last:#?}");
        last.arn();
        let wall: Duration = runs.iter().map(|r| r.wall).sum();
        assert!(wall < Duration::from_secs(60), "{wall:?}");
        lab.row(
            &format!("5.{i} 30% SYN loss on 80: activate"),
            "succeeds within 60s",
            format!(
                "ok: {} key attempt(s), {dropped} of {syns} SYN(s) dropped",
                last.key_failures() + 1,
            ),
            ms(wall),
        );
    }
    lab.restart_sim();
}

/// A relay that holds each direction's first chunk for 1.5 s: a 1 s request timeout cannot get
/// a key (and says so); 5 s can.
fn case6_slow_path(lab: &mut Lab) {
    lab.start_relay(
        &format!("{AGENT_IP}:8080"),
        &format!("{AGENT_IP}:80"),
        "1.5",
    );
    let cfg = lab.config(&Cfg {
        agent_port: 8080,
        request_timeout: "1s",
        deadline: "4s",
        ..Cfg::default()
    });
    let run = lab.warden(&cfg, &["activate"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("no activation key after"), "{run:#?}");
    assert!(run.stderr.contains("did not answer in 1s"), "{run:#?}");
    assert!(run.stdout.is_empty());
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_string();
    // Both modes were tried within an attempt (the timeout is mode-specific).
    assert!(run.stderr.contains("trying no_redirect mode"), "{run:#?}");
    assert!(run.wall < Duration::from_secs(8), "{run:#?}");
    lab.row(
        "6a 1.5s relay, request_timeout 1s",
        "fails: 'no activation key ...' / 'did not answer in 1s'",
        error.trim_start_matches("error: ").to_string(),
        ms(run.wall),
    );

    let cfg = lab.config(&Cfg {
        agent_port: 8080,
        request_timeout: "5s",
        deadline: "20s",
        ..Cfg::default()
    });
    let run = lab.warden(&cfg, &["activate"]);
    assert_eq!(run.code, 0, "{run:#?}");
    run.arn();
    assert_eq!(run.key_failures(), 0, "{run:#?}");
    assert!(
        run.wall >= Duration::from_secs(3),
        "two 1.5 s delays: {run:#?}"
    );
    lab.row(
        "6b 1.5s relay, request_timeout 5s",
        "succeeds",
        format!("activated, {} failed key attempt(s)", run.key_failures()),
        ms(run.wall),
    );
    lab.stop("relay");
}
