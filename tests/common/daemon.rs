//! Helpers for driving `datasync-warden run`: an sd_notify socket, a webhook receiver, and an
//! HTTP GET for the health endpoint.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixDatagram};

use super::Harness;

/// Bound on waiting for the daemon to reach a state.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A free loopback port (bound then released: a tiny race, acceptable in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Collects every sd_notify datagram sent to it.
#[derive(Clone)]
pub struct NotifySocket {
    pub path: std::path::PathBuf,
    pub messages: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    pub fn bind(dir: &std::path::Path) -> NotifySocket {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = dir.join(format!(
            "notify-{}.sock",
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let sock = UnixDatagram::bind(&path).unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let m = messages.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf).await {
                m.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        NotifySocket { path, messages }
    }

    pub fn all(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// STATUS= lines, in order.
    pub fn statuses(&self) -> Vec<String> {
        self.all()
            .iter()
            .flat_map(|m| {
                m.lines()
                    .filter_map(|l| l.strip_prefix("STATUS="))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn count(&self, line: &str) -> usize {
        self.all()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }
}

/// Receives webhook POSTs; answers 500 to the first `fail_first` of them.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub received: Arc<Mutex<Vec<serde_json::Value>>>,
    pub attempts: Arc<Mutex<usize>>,
}

impl Webhook {
    pub async fn start(fail_first: usize) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0));
        let (r, a) = (received.clone(), attempts.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (r, a) = (r.clone(), a.clone());
                tokio::spawn(async move {
                    let Some(body) = read_request(&mut s).await else {
                        return;
                    };
                    let n = {
                        let mut a = a.lock().unwrap();
                        *a += 1;
                        *a
                    };
                    let ok = n > fail_first;
                    if ok {
                        r.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap());
                    }
                    let status = if ok {
                        "200 OK"
                    } else {
                        "500 Internal Server Error"
                    };
                    let _ = s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).await;
                });
            }
        });
        Webhook {
            url,
            received,
            attempts,
        }
    }

    pub fn events(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["event"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf[end + 4..end + 4 + len].to_vec());
        }
    }
}

/// GET over HTTP/1.0 (no keep-alive); returns (status code, body).
pub async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

/// Polls `f` every 50 ms until it holds, or panics with `what` after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `datasync-warden run`.
pub struct Running {
    pub child: tokio::process::Child,
    pub health: SocketAddr,
    pub notify: NotifySocket,
}

impl Running {
    pub async fn start(h: &Harness, watchdog: bool) -> Running {
        Self::start_with(h, watchdog, &[]).await
    }

    /// Starts `run` with extra environment variables.
    pub async fn start_with(h: &Harness, watchdog: bool, env: &[(&str, &str)]) -> Running {
        Self::start_args(h, watchdog, env, &["run"]).await
    }

    /// Starts the binary with these arguments (`run` among them).
    pub async fn start_args(
        h: &Harness,
        watchdog: bool,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Running {
        let port = free_port();
        std::fs::write(
            h.dir.path().join("config.d/60-health.toml"),
            format!("[health]\nlisten = \"127.0.0.1:{port}\"\n"),
        )
        .unwrap();
        let notify = NotifySocket::bind(h.dir.path());
        let mut cmd = h.command(args);
        cmd.envs(env.iter().copied());
        cmd.env("NOTIFY_SOCKET", &notify.path);
        if watchdog {
            cmd.env("WATCHDOG_USEC", "1000000");
        }
        let child = cmd.spawn().unwrap();
        let health: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        eventually(LIMIT, "READY=1", async || notify.count("READY=1") == 1).await;
        Running {
            child,
            health,
            notify,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        get(self.health, path)
            .await
            .expect("health endpoint answers")
    }

    pub async fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").await.1).unwrap()
    }

    pub async fn wait_phase_text(&self, needle: &str) {
        eventually(LIMIT, needle, async || {
            self.notify.statuses().iter().any(|s| s.contains(needle))
        })
        .await;
    }

    /// SIGTERM; returns the exit code and how long the stop took.
    pub async fn stop(mut self) -> (i32, Duration, String) {
        let pid = self.child.id().unwrap() as i32;
        let t = Instant::now();
        unsafe_kill(pid, "TERM");
        let status = tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .expect("stops")
            .unwrap();
        let took = t.elapsed();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = e.read_to_string(&mut err).await;
        }
        (status.code().unwrap_or(-1), took, err)
    }
}

pub fn unsafe_kill(pid: i32, sig: &str) {
    std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}
