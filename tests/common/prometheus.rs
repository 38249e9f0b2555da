//! A real Prometheus server (Debian's `prometheus` package) on a loopback port the kernel picks,
//! with the shipped rules, for the monitoring tests. Stopped (and its data removed) on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::daemon::{eventually, get};

/// Bound on Prometheus starting and loading its rules (a second here; CI machines are slower).
const START_LIMIT: Duration = Duration::from_secs(30);

/// The shipped rule file.
pub fn alerts_yml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/monitoring/alerts.yml")
}

/// `name` on PATH, or None (a skip) unless REQUIRE_PROMTOOL is set: scripts/test installs
/// Debian's prometheus package, which carries both the server and promtool.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("REQUIRE_PROMTOOL").is_none(),
            "{name} is required (REQUIRE_PROMTOOL) but not on PATH: apt-get install prometheus"
        );
        eprintln!("{name} not installed: skipping");
    }
    found
}

pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus evaluating `rules` every second and scraping `targets` (job
    /// `datasync-warden`, as the rules expect) every second. None when it is not installed.
    pub async fn start(rules: &[PathBuf], targets: &[SocketAddr]) -> Option<Prometheus> {
        let binary = tool("prometheus")?;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_text(rules, targets)).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let pid = child.id();
        let mut p = Prometheus {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            dir,
        };
        eventually(
            START_LIMIT,
            "prometheus listening",
            async || match listening_port(pid) {
                Some(port) => {
                    p.addr.set_port(port);
                    true
                }
                None => false,
            },
        )
        .await;
        let addr = p.addr;
        eventually(START_LIMIT, "prometheus ready", async || {
            matches!(get(addr, "/-/ready").await, Some((200, _)))
        })
        .await;
        Some(p)
    }

    /// GET /api/v1/`path`: the `data` member of a successful answer.
    pub async fn api(&self, path: &str) -> serde_json::Value {
        let (code, body) = get(self.addr, &format!("/api/v1/{path}"))
            .await
            .unwrap_or_else(|| panic!("prometheus answers /api/v1/{path}; log:\n{}", self.log()));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (code, &v["status"]),
            (200, &"success".into()),
            "{path}: {body}"
        );
        v["data"].clone()
    }

    /// An instant query, URL-encoded.
    pub async fn query(&self, promql: &str) -> serde_json::Value {
        self.api(&format!("query?query={}", url_encode(promql)))
            .await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_text(rules: &[PathBuf], targets: &[SocketAddr]) -> String {
    let rules: Vec<String> = rules.iter().map(|r| format!("  - {:?}\n", r)).collect();
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\
         scrape_configs:\n  - job_name: datasync-warden\n    static_configs:\n      - targets: [{}]\n",
        rules.concat(),
        targets.join(", ")
    )
}

/// The TCP port `pid` listens on, from its socket inodes and /proc/net/tcp: Prometheus is given
/// port 0 (other programs may hold any fixed port) and does not print the one it got.
fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // local_address is HEXIP:HEXPORT, st 0A is LISTEN, the inode is the tenth field.
        let listening =
            f.get(3) == Some(&"0A") && inodes.iter().any(|i| Some(&i.as_str()) == f.get(9));
        if !listening {
            return None;
        }
        u16::from_str_radix(f.get(1)?.split(':').nth(1)?, 16).ok()
    })
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
