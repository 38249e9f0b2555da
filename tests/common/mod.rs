//! Test harness: the simulator in-process on loopback port 0, and the real binary as a
//! subprocess with a private configuration, state directory and AWS environment.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use datasync_sim::{SimConfig, Simulator};

pub const BIN: &str = env!("CARGO_BIN_EXE_datasync-warden");
/// `agent.name` in the harness's configuration.
pub const AGENT_NAME: &str = "test-agent";
/// A valid configuration that needs no simulator (nothing listens on its addresses): the base
/// for the configuration-error tests, which add one bad fragment.
pub const OFFLINE_CONFIG: &str = r#"
[agent]
address = "127.0.0.1"
[endpoint]
region = "us-east-1"
vpc_endpoint_id = "vpce-0123456789abcdef0"
ip = "127.0.0.1"
subnet_arn = "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0"
security_group_arn = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0"
[checks]
aws = false
"#;
/// The machine id every harness's binary sees.
pub const MACHINE_ID: &str = "0123456789abcdef0123456789abcdef";
pub const VPCE: &str = "vpce-0123456789abcdef0";
pub const ENDPOINT_IP: &str = "172.16.1.10";
pub const SUBNET: &str = "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0";
pub const SG: &str = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0";
/// Bound on any single run of the binary, so a hang fails the test instead of CI.
pub const RUN_LIMIT: Duration = Duration::from_secs(90);

pub struct Harness {
    pub sim: Simulator,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Harness {
        Self::with_fragment("").await
    }

    /// A harness whose configuration gets `extra` as `config.d/50-test.toml`.
    pub async fn with_fragment(extra: &str) -> Harness {
        let sim = Simulator::start(SimConfig::default())
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let h = Harness { sim, dir };
        let config = format!(
            r#"[agent]
address = "127.0.0.1"
name = "{AGENT_NAME}"
activation_port = {port}
[endpoint]
region = "us-east-1"
vpc_endpoint_id = "{VPCE}"
ip = "{ENDPOINT_IP}"
subnet_arn = "{SUBNET}"
security_group_arn = "{SG}"
[aws]
endpoint_url = "{api}"
[activation]
deadline = "20s"
request_timeout = "2s"
[activation.tags]
Team = "storage"
[monitor]
# The tests of alerts flip the agent OFFLINE moments after activating it: no post-activation
# grace here (tests/promises.rs tests the grace itself).
activation_grace = "0s"
[checks]
timeout = "1s"
# The simulator has no EC2: the AWS-side checks run against moto in tests/moto.rs.
aws = false
[state]
dir = "{state}"
"#,
            port = h.sim.agent_addr().port(),
            api = h.sim.api_url(),
            state = h.state_dir().display(),
        );
        std::fs::write(h.config(), config).unwrap();
        std::fs::write(h.machine_id_file(), format!("{MACHINE_ID}\n")).unwrap();
        std::fs::create_dir(h.dir.path().join("config.d")).unwrap();
        h.fragment(extra);
        h
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// This harness's machine-id file (DATASYNC_WARDEN_MACHINE_ID_FILE): the tests never
    /// depend on the host's /etc/machine-id.
    pub fn machine_id_file(&self) -> PathBuf {
        self.dir.path().join("machine-id")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn state_file(&self) -> PathBuf {
        self.state_dir().join("state.json")
    }

    pub fn state(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.state_file()).unwrap()).unwrap()
    }

    /// The simulator's agents this harness's binary created (seeded ones have other names).
    pub fn own_agents(&self) -> Vec<datasync_sim::AgentSnapshot> {
        self.sim
            .agents()
            .into_iter()
            .filter(|a| a.name.as_deref() == Some(AGENT_NAME))
            .collect()
    }

    /// Replaces `config.d/50-test.toml`.
    pub fn fragment(&self, toml: &str) {
        std::fs::write(self.dir.path().join("config.d/50-test.toml"), toml).unwrap();
    }

    /// The binary with this harness's configuration and a sealed-off AWS environment.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(BIN);
        c.args(args)
            .arg("--config")
            .arg(self.config())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("DATASYNC_WARDEN_MACHINE_ID_FILE", self.machine_id_file())
            // Any AWS call not pointed at a test peer lands on a closed loopback port.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// Runs the binary to completion.
    pub async fn run(&self, args: &[&str]) -> Run {
        output(self.command(args)).await
    }
}

/// Runs a prepared command (see [`Harness::command`]) to completion within [`RUN_LIMIT`].
pub async fn output(mut c: tokio::process::Command) -> Run {
    let out = tokio::time::timeout(RUN_LIMIT, c.output())
        .await
        .expect("the binary finishes in time")
        .unwrap();
    Run::from(out)
}

/// One GET to a raw HTTP peer (the simulator's agent), returning the body.
pub async fn raw_get(addr: std::net::SocketAddr, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn assert_failed_with(&self, code: i32, needles: &[&str]) -> &Self {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "missing {n:?} in stderr:\n{}",
                self.stderr
            );
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }
}
pub mod daemon;
pub mod prometheus;
pub mod proxy;
pub mod receiver;
pub mod shapes;
