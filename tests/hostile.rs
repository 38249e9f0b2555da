//! Hostile input (issue 6, part 4): an agent endpoint that answers with too much, too slowly,
//! elsewhere or in bad shape; a health endpoint hit with malformed HTTP, huge heads and
//! thousands of idle connections; configuration fragments with every wrong type and value for
//! every key. All traffic stays on loopback, on ports bound to 0.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use datasync_warden::agent::activation_key::{
    ActivationKey, KeyClient, KeyError, KeyRequest, MAX_BODY_BYTES, Mode,
};
use datasync_warden::daemon::health::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
use datasync_warden::ids::Region;

const KEY: &str = "ABCDE-12345-FGHIJ-67890-KLMNO";
const ENDPOINT_IP: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 10);
/// The client's per-exchange timeout in these tests: also the bound on every exchange that must
/// succeed, so 5 s like every bound here (the tests share 2 cores). The hostile servers below
/// trickle or stream for 30 s and more, far beyond it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on what must be prompt. The tests share 2 cores with each other, so no wall-clock bound
/// is under 5 s; what a test proves is the outcome (the error kind, the bytes that went out),
/// the bound only catches a client that waits for a timeout or reads everything.
const PROMPT: Duration = Duration::from_secs(5);
/// Slack after a timeout that must have fired, for the same reason: REQUEST_TIMEOUT + 3 s, still
/// far below the 30-40 s the hostile servers below would take to finish.
const TIMEOUT_SLACK: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------------
// A raw agent: a loopback listener that reads one request head per connection and hands the
// socket to a handler that writes whatever bytes it likes.

/// What a fake agent saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    /// Bytes the handler managed to write in total.
    written: AtomicUsize,
    /// The peer went away while the handler was still writing.
    closed_early: AtomicBool,
}

struct FakeAgent {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl FakeAgent {
    /// Serves every connection with `answer(socket, seen)`, after reading the request head.
    async fn start<F, Fut>(answer: F) -> FakeAgent
    where
        F: Fn(TcpStream, Arc<Seen>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::SeqCst);
                let (s, answer) = (s.clone(), answer.clone());
                tokio::spawn(async move {
                    if read_head(&mut sock).await {
                        answer(sock, s).await;
                    }
                });
            }
        });
        FakeAgent { addr, seen }
    }

    /// Answers every request with `response`, verbatim.
    async fn fixed(response: Vec<u8>) -> FakeAgent {
        let response = Arc::new(response);
        Self::start(move |mut sock, seen| {
            let response = response.clone();
            async move {
                write_counted(&mut sock, &response, &seen).await;
                let _ = sock.shutdown().await;
            }
        })
        .await
    }

    fn request(&self) -> KeyRequest {
        KeyRequest {
            agent: "127.0.0.1".into(),
            port: self.addr.port(),
            region: Region::parse("us-east-1").unwrap(),
            endpoint_ip: ENDPOINT_IP,
        }
    }

    async fn fetch(&self, mode: Mode) -> (Result<ActivationKey, KeyError>, Duration) {
        let t = Instant::now();
        let r = KeyClient::new(REQUEST_TIMEOUT)
            .fetch_mode(&self.request(), mode)
            .await;
        (r, t.elapsed())
    }

    /// One attempt in both modes (the preferred one, then the fallback).
    async fn fetch_once(&self) -> Result<ActivationKey, KeyError> {
        KeyClient::new(REQUEST_TIMEOUT)
            .fetch_once(&self.request())
            .await
    }
}

/// Reads until the end of a request head; false if the peer went away first.
async fn read_head(sock: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// Writes `bytes`, counting what was written; records an early close.
async fn write_counted(sock: &mut TcpStream, bytes: &[u8], seen: &Seen) -> bool {
    match sock.write_all(bytes).await {
        Ok(()) => {
            seen.written.fetch_add(bytes.len(), Ordering::SeqCst);
            true
        }
        Err(_) => {
            seen.closed_early.store(true, Ordering::SeqCst);
            false
        }
    }
}

fn unparseable(r: Result<ActivationKey, KeyError>) -> String {
    match r {
        Err(KeyError::Unparseable { what, .. }) => what,
        other => panic!("expected Unparseable, got {other:?}"),
    }
}

fn redirect_to(location: &[u8]) -> Vec<u8> {
    let mut r = b"HTTP/1.1 302 Found\r\nLocation: ".to_vec();
    r.extend_from_slice(location);
    r.extend_from_slice(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    r
}

fn body_answer(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

// ---------------------------------------------------------------------------------------------
// The agent endpoint

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_body_fails_fast_without_being_read() {
    const SIZE: usize = 100 << 20;
    let agent = FakeAgent::start(|mut sock, seen| async move {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n");
        if !write_counted(&mut sock, head.as_bytes(), &seen).await {
            return;
        }
        let chunk = vec![b'A'; 64 << 10];
        for _ in 0..SIZE / chunk.len() {
            if !write_counted(&mut sock, &chunk, &seen).await {
                return;
            }
        }
    })
    .await;
    let (r, took) = agent.fetch(Mode::NoRedirect).await;
    assert!(
        matches!(
            r,
            Err(KeyError::TooLarge {
                mode: Mode::NoRedirect,
                limit: MAX_BODY_BYTES
            })
        ),
        "{r:?}"
    );
    assert!(took < PROMPT, "took {took:?}");
    // The client hung up: the server's writes fail long before 100 MB went out.
    common::daemon::eventually(
        Duration::from_secs(5),
        "the server sees the close",
        async || agent.seen.closed_early.load(Ordering::SeqCst),
    )
    .await;
    let written = agent.seen.written.load(Ordering::SeqCst);
    eprintln!("100 MB body: refused after {took:?}; {written} bytes went out before the close");
    assert!(
        written < SIZE / 4,
        "{written} bytes went out before the close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_ending_chunked_body_is_cut_off() {
    let agent = FakeAgent::start(|mut sock, seen| async move {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        if !write_counted(&mut sock, head.as_bytes(), &seen).await {
            return;
        }
        let mut chunk = b"400\r\n".to_vec();
        chunk.extend_from_slice(&[b'K'; 0x400]);
        chunk.extend_from_slice(b"\r\n");
        // Never the final 0-length chunk; bounded only so that the test cannot run away.
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if !write_counted(&mut sock, &chunk, &seen).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    for mode in [Mode::NoRedirect, Mode::Redirect] {
        let (r, took) = agent.fetch(mode).await;
        assert!(
            matches!(
                r,
                Err(KeyError::TooLarge { .. }) | Err(KeyError::Timeout { .. })
            ),
            "{mode}: {r:?}"
        );
        assert!(
            took < REQUEST_TIMEOUT + TIMEOUT_SLACK,
            "{mode}: took {took:?}"
        );
    }
    common::daemon::eventually(
        Duration::from_secs(5),
        "the server sees the close",
        async || agent.seen.closed_early.load(Ordering::SeqCst),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_trickle_times_out_at_the_request_timeout() {
    // One byte every 500 ms: of the head, and (after a prompt head) of the body.
    let trickle = |prefix: &'static [u8], rest: Vec<u8>| {
        move |mut sock: TcpStream, seen: Arc<Seen>| {
            let rest = rest.clone();
            async move {
                if !write_counted(&mut sock, prefix, &seen).await {
                    return;
                }
                for b in rest {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if !write_counted(&mut sock, &[b], &seen).await {
                        return;
                    }
                }
            }
        }
    };
    let head = FakeAgent::start(trickle(b"", body_answer(KEY.as_bytes()))).await;
    let body = FakeAgent::start(trickle(
        b"HTTP/1.1 200 OK\r\nContent-Length: 29\r\n\r\n",
        KEY.as_bytes().to_vec(),
    ))
    .await;
    let ((r1, t1), (r2, t2)) =
        tokio::join!(head.fetch(Mode::NoRedirect), body.fetch(Mode::NoRedirect));
    for (what, r, took) in [("head", r1, t1), ("body", r2, t2)] {
        assert!(
            matches!(r, Err(KeyError::Timeout { after, .. }) if after == REQUEST_TIMEOUT),
            "{what}: {r:?}"
        );
        assert!(
            took >= REQUEST_TIMEOUT && took < REQUEST_TIMEOUT + TIMEOUT_SLACK,
            "{what}: took {took:?}"
        );
    }
    // A trickle of the redirect in redirect mode is bounded the same way.
    let (r, took) = head.fetch(Mode::Redirect).await;
    assert!(matches!(r, Err(KeyError::Timeout { .. })), "{r:?}");
    assert!(took < REQUEST_TIMEOUT + TIMEOUT_SLACK, "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_is_never_followed() {
    let elsewhere = FakeAgent::fixed(body_answer(b"ZZZZZ-12345-FGHIJ-67890-KLMNO")).await;
    let other = elsewhere.addr;

    // The key in the Location is taken as is: nothing connects to the Location's host.
    let with_key = FakeAgent::fixed(redirect_to(
        format!("http://{other}/?activationKey={KEY}&region=us-east-1").as_bytes(),
    ))
    .await;
    let (r, _) = with_key.fetch(Mode::Redirect).await;
    assert_eq!(r.unwrap().expose(), KEY);

    // Without a key: no key, and still no connection, in either mode.
    let without_key = FakeAgent::fixed(redirect_to(
        format!("http://{other}/activate?next=1").as_bytes(),
    ))
    .await;
    let (r, _) = without_key.fetch(Mode::Redirect).await;
    assert!(unparseable(r).contains("no activationKey"));
    let r = without_key.fetch_once().await;
    assert!(matches!(r, Err(KeyError::Unparseable { .. })), "{r:?}");
    assert_eq!(without_key.seen.connections.load(Ordering::SeqCst), 3);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        elsewhere.seen.connections.load(Ordering::SeqCst),
        0,
        "the client connected to the redirect target"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_or_malformed_answers_are_refused() {
    let other = "ZZZZZ-12345-FGHIJ-67890-KLMNO";
    // Two activationKey parameters.
    let agent = FakeAgent::fixed(redirect_to(
        format!("/?activationKey={KEY}&activationKey={other}").as_bytes(),
    ))
    .await;
    assert!(unparseable(agent.fetch(Mode::Redirect).await.0).contains("ambiguous"));

    // Two Location headers, each with a different key.
    let mut two = format!("HTTP/1.1 302 Found\r\nLocation: /?activationKey={KEY}\r\n").into_bytes();
    two.extend_from_slice(
        format!("Location: /?activationKey={other}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    let agent = FakeAgent::fixed(two).await;
    assert!(unparseable(agent.fetch(Mode::Redirect).await.0).contains("Location"));

    // Invalid UTF-8 in the Location and in the body.
    let agent = FakeAgent::fixed(redirect_to(
        format!("/?activationKey={KEY}&name=caf\u{e9}").as_bytes(),
    ))
    .await;
    assert!(unparseable(agent.fetch(Mode::Redirect).await.0).contains("not ASCII"));
    let mut bad = b"/?activationKey=".to_vec();
    bad.extend_from_slice(&KEY.as_bytes()[..10]);
    bad.extend_from_slice(b"\xff\xfe");
    bad.extend_from_slice(&KEY.as_bytes()[12..]);
    let agent = FakeAgent::fixed(redirect_to(&bad)).await;
    assert!(unparseable(agent.fetch(Mode::Redirect).await.0).contains("not ASCII"));
    let mut body = KEY.as_bytes()[..10].to_vec();
    body.extend_from_slice(b"\xff\xfe");
    body.extend_from_slice(&KEY.as_bytes()[12..]);
    let agent = FakeAgent::fixed(body_answer(&body)).await;
    let what = unparseable(agent.fetch(Mode::NoRedirect).await.0);
    assert!(what.contains("not a key"), "{what}");
    let mut body = KEY.as_bytes().to_vec();
    body.push(0xff);
    let agent = FakeAgent::fixed(body_answer(&body)).await;
    assert!(unparseable(agent.fetch(Mode::NoRedirect).await.0).contains("not a key"));

    // Keys of the wrong shape, in both modes.
    for wrong in [
        "abcde-12345-fghij-67890-klmno",
        "ABCDE-12345-FGHIJ-67890",
        "ABCDE-12345-FGHIJ-67890-KLMNOP",
        "ABCDE_12345_FGHIJ_67890_KLMNO",
        "ABCDE-12345-FGHIJ-67890-KLMN\u{c9}",
    ] {
        let agent = FakeAgent::fixed(body_answer(wrong.as_bytes())).await;
        let what = unparseable(agent.fetch(Mode::NoRedirect).await.0);
        assert!(what.contains("not a key"), "{wrong}: {what}");
        let agent =
            FakeAgent::fixed(redirect_to(format!("/?activationKey={wrong}").as_bytes())).await;
        let r = agent.fetch(Mode::Redirect).await.0;
        assert!(
            matches!(r, Err(KeyError::Unparseable { .. })),
            "{wrong}: {r:?}"
        );
    }

    // A head larger than any real answer; a folded (obsolete multi-line) Location.
    let mut huge = b"HTTP/1.1 302 Found\r\n".to_vec();
    for i in 0..2000 {
        huge.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(40)).as_bytes());
    }
    huge.extend_from_slice(format!("Location: /?activationKey={KEY}\r\n\r\n").as_bytes());
    let agent = FakeAgent::fixed(huge).await;
    let (r, took) = agent.fetch(Mode::Redirect).await;
    // "malformed HTTP", not a timeout: refused on the head's size, not read to its end.
    assert!(unparseable(r).contains("malformed HTTP"));
    assert!(took < PROMPT, "took {took:?}");
    let agent = FakeAgent::fixed(
        format!("HTTP/1.1 302 Found\r\nLocation: /?x=1\r\n &activationKey={KEY}\r\n\r\n")
            .into_bytes(),
    )
    .await;
    let r = agent.fetch(Mode::Redirect).await.0;
    assert!(matches!(r, Err(KeyError::Unparseable { .. })), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// The health endpoint of a running daemon

/// Sends raw bytes; returns what came back before the server closed (or `limit` passed), and
/// how long that took. A reset counts as a close.
async fn raw(addr: SocketAddr, bytes: &[u8], limit: Duration) -> (String, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await; // the server may close before reading it all
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = s.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    (String::from_utf8_lossy(&out).into_owned(), t.elapsed())
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

/// Resident memory of a process, in KiB.
/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .expect("/proc/PID/fd is readable")
}

/// The kernel's count of connections dropped on a full accept queue (`TcpExt: ListenOverflows`,
/// this network namespace).
fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut tcp_ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (tcp_ext.next(), tcp_ext.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// The soft limit on open files of this process.
fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoint_survives_hostile_clients() {
    let h = common::Harness::new().await;
    let mut d = common::daemon::Running::start(&h, false).await;
    let addr = d.health;
    let pid = d.child.id().unwrap();
    assert_eq!(d.get("/healthz").await.0, 200);

    // Malformed requests: 400 (or a close), and the daemon keeps serving.
    for (junk, allowed) in [
        (&b"GARBAGE\r\n\r\n"[..], &["400"][..]),
        (b"GET /healthz\r\n\r\n", &["400"]),
        (b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", &["400"]),
        (
            b"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            &["400"],
        ),
        (b"GET /he\x00lthz HTTP/1.1\r\n\r\n", &["400"]),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", &["400"]), // a TLS ClientHello
        (b"GET /healthz HTTP/2.0\r\n\r\n", &["400", "505"]),
        // A well-formed head with a broken body: answered, then the connection is dropped.
        (
            b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            &["200", "400"],
        ),
    ] {
        let (resp, took) = raw(addr, junk, Duration::from_secs(8)).await;
        let line = status_line(&resp);
        assert!(
            line.is_empty()
                || allowed
                    .iter()
                    .any(|c| line.starts_with(&format!("HTTP/1.1 {c}"))),
            "{junk:?} → {line:?}"
        );
        assert!(
            took < HEADER_READ_TIMEOUT + Duration::from_secs(2),
            "{junk:?}: {took:?}"
        );
        assert_eq!(d.get("/healthz").await.0, 200, "after {junk:?}");
    }
    let (resp, _) = raw(addr, b"GARBAGE\r\n\r\n", PROMPT).await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 400"), "{resp:?}");

    // 64 KiB of headers: refused quickly (431 or a close), never read whole.
    let mut big = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    while big.len() < 64 << 10 {
        big.extend_from_slice(format!("X-Pad-{}: {}\r\n", big.len(), "h".repeat(100)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let (resp, took) = raw(addr, &big, Duration::from_secs(5)).await;
    let line = status_line(&resp);
    assert!(
        line.is_empty() || line.starts_with("HTTP/1.1 431"),
        "64 KiB head → {line:?}"
    );
    // Before the header-read timeout (5 s) would have closed it: refused on size.
    assert!(took < HEADER_READ_TIMEOUT, "64 KiB head took {took:?}");
    eprintln!("64 KiB head → {line:?} in {took:?}");
    assert_eq!(d.get("/healthz").await.0, 200);

    // 2000 idle connections opened at once: the daemon stays up with bounded memory and file
    // descriptors, lets go of the idle ones at its header-read timeout, and serves again.
    const IDLE: usize = 2000;
    // A try is dropped when the evicted connection's task takes longer than the daemon's
    // EVICTION_WAIT (100 ms) to let go, which a loaded 2-core machine can cause now and then.
    const SCRAPE_TRIES: usize = 5;
    assert!(
        open_files_limit() > IDLE as u64 + 200,
        "raise the open-files limit (ulimit -n) above {IDLE}"
    );
    let (rss_before, fds_before, overflows_before) = (
        common::daemon::rss_kib(pid),
        open_fds(pid),
        listen_overflows(),
    );
    let opened = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..IDLE {
        tasks.spawn(async move {
            let mut s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
                .await
                .ok()?
                .ok()?;
            // Idle: send nothing; wait for the server to close (or the bound).
            let t = Instant::now();
            let mut b = [0u8; 1];
            let closed = tokio::time::timeout(Duration::from_secs(15), s.read(&mut b))
                .await
                .is_ok();
            Some((closed, t.elapsed()))
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_during, fds_during) = (common::daemon::rss_kib(pid), open_fds(pid));
    // Every slot is held by a silent client, yet a scrape is answered: the oldest silent
    // connection gives way (src/daemon/health.rs, Slots::evict). Counted in tries, not timed: without
    // eviction a full daemon drops each new connection at once, so every try would fail until
    // the silent clients reach the header-read timeout.
    // (A slot or two may be between an eviction and the next accept.)
    assert!(
        fds_during + 4 >= fds_before + MAX_CONNECTIONS,
        "the slots are held when the scrape starts ({fds_during} descriptors, {fds_before} before)"
    );
    let scrape_started = Instant::now();
    let mut tries = 0;
    while common::daemon::get(addr, "/healthz").await.map(|r| r.0) != Some(200) {
        tries += 1;
        assert!(
            tries < SCRAPE_TRIES,
            "/healthz not answered in {SCRAPE_TRIES} tries during the flood of silent clients"
        );
    }
    eprintln!(
        "/healthz during the flood: 200 after {:?}",
        scrape_started.elapsed()
    );
    assert!(
        fds_during <= fds_before + MAX_CONNECTIONS + 8,
        "the daemon holds {fds_during} descriptors (was {fds_before}; at most {MAX_CONNECTIONS} connections)"
    );
    // The daemon lets go of every idle connection at its header-read timeout (a few late
    // connects, after SYN retries, may start their own timeout up to a few seconds later).
    let mut fds_later = fds_during;
    common::daemon::eventually(
        (opened + 2 * HEADER_READ_TIMEOUT + Duration::from_secs(2)) - Instant::now(),
        "the daemon closes the idle connections",
        async || {
            fds_later = open_fds(pid);
            fds_later <= fds_before + 8
        },
    )
    .await;
    let released = opened.elapsed();
    let mut connected = 0;
    let mut closed_late = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Some((closed, after)) = r.unwrap() {
            connected += 1;
            if !closed || after > HEADER_READ_TIMEOUT + Duration::from_secs(3) {
                closed_late.push(after);
            }
        }
    }
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon died");
    assert!(
        connected >= IDLE * 9 / 10,
        "only {connected} of {IDLE} connected"
    );
    // A client may believe itself connected when the kernel dropped the handshake's last ACK on
    // a full accept queue (SYN cookies): the daemon never saw that connection, so it cannot
    // close it. Every connection still open on the client side must be one of those.
    let overflows = listen_overflows() - overflows_before;
    assert!(
        closed_late.len() as u64 <= overflows,
        "{} idle connection(s) not closed within the header-read timeout, {overflows} listen \
         overflow(s): {:?}",
        closed_late.len(),
        &closed_late[..closed_late.len().min(5)]
    );
    common::daemon::eventually(
        Duration::from_secs(10),
        "/healthz after the flood",
        async || common::daemon::get(addr, "/healthz").await.map(|r| r.0) == Some(200),
    )
    .await;
    let rss_after = common::daemon::rss_kib(pid);
    eprintln!(
        "{connected} idle connections ({} never reached the daemon: {overflows} listen overflows); \
         daemon descriptors {fds_before} → {fds_during} → {fds_later} (after {released:?}); \
         RSS {rss_before} → {rss_during} → {rss_after} KiB",
        closed_late.len()
    );
    for rss in [rss_during, rss_after] {
        assert!(
            rss < rss_before + 20 * 1024,
            "RSS grew from {rss_before} to {rss} KiB"
        );
    }

    // Every slot held by a client that sent the start of a head and went quiet (a slowloris
    // flood): the oldest gives way, and a scrape is answered at once.
    let mut trickles = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /hea").await.unwrap();
        trickles.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let scrape = common::daemon::get(addr, "/healthz").await.map(|r| r.0);
    assert_eq!(
        scrape,
        Some(200),
        "/healthz with {MAX_CONNECTIONS} trickling clients"
    );
    eprintln!(
        "/healthz with {MAX_CONNECTIONS} trickling clients: 200 in {:?}",
        t.elapsed()
    );
    drop(trickles);

    // One idle connection on a quiet daemon: closed after the header-read timeout, not before.
    let (resp, took) = raw(addr, b"", Duration::from_secs(15)).await;
    eprintln!(
        "idle connection closed after {took:?} with {:?}",
        status_line(&resp)
    );
    assert!(
        resp.is_empty() || status_line(&resp).starts_with("HTTP/1.1 408"),
        "{resp:?}"
    );
    assert!(
        took >= HEADER_READ_TIMEOUT - Duration::from_millis(100)
            && took < HEADER_READ_TIMEOUT + Duration::from_secs(2),
        "idle connection closed after {took:?}"
    );
    // A head that never ends (a slowloris client): closed at the same timeout.
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        let mut chunk = [0u8; 256];
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(1), s.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a trickled head was never cut off");
    let took = t.elapsed();
    assert!(
        took < HEADER_READ_TIMEOUT + Duration::from_secs(2),
        "slowloris lasted {took:?}"
    );

    assert_eq!(d.get("/healthz").await.0, 200);
    let (code, _, stderr) = d.stop().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Configuration: every wrong type and value, for every key

/// Every key, with values (TOML text) of the wrong type and of the right type but invalid.
fn wrong_values() -> Vec<(&'static str, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let many_tags = format!(
        "{{ {} }}",
        (0..50)
            .map(|i| format!("t{i} = \"v\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let subnet = "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0";
    let sg = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0";
    let arns = |good: &str, kind: &str| {
        vec![
            "1".into(),
            "true".into(),
            "{ arn = \"x\" }".into(),
            "[]".into(),
            "[1]".into(),
            format!("[\"{good}\", \"{good}\"]"),
            "\"\"".into(),
            format!("\"{kind}-0123456789abcdef0\""),
            format!("\"{}\"", good.replace("us-east-1", "eu-west-1")),
            format!("\"{}\"", good.replace("111122223333", "1111")),
        ]
    };
    vec![
        (
            "agent.address",
            s(&[
                "1",
                "true",
                "[\"10.0.0.1\"]",
                "\"\"",
                "\"http://10.0.0.1\"",
                "\"10.0.0.1:80\"",
                "\"a b\"",
                "\"host;rm\"",
            ]),
        ),
        (
            "agent.name",
            s(&[
                "5",
                "[\"a\"]",
                "\"\"",
                "\"bad;name\"",
                &format!("\"{}\"", "a".repeat(257)),
            ]),
        ),
        (
            "agent.activation_port",
            s(&[
                "\"80\"",
                "0",
                "-1",
                "65536",
                "1.5",
                "true",
                "[80]",
                "9223372036854775807",
            ]),
        ),
        (
            "agent.arn",
            s(&[
                "1",
                "\"agent-0123456789abcdef0\"",
                "\"arn:aws:datasync:us-east-1:1:agent/agent-0123456789abcdef0\"",
                "\"arn:aws:datasync:us-east-1:111122223333:agent/agent-1\"",
            ]),
        ),
        (
            "endpoint.region",
            s(&[
                "1",
                "\"\"",
                "\"US-EAST-1\"",
                "\"mars\"",
                "[\"us-east-1\"]",
                "1979-05-27",
            ]),
        ),
        (
            "endpoint.vpc_endpoint_id",
            s(&[
                "1",
                "\"vpce-123\"",
                "\"vpce-0123456789ABCDEF0\"",
                "\"0123456789abcdef0\"",
            ]),
        ),
        (
            "endpoint.ip",
            s(&[
                "1",
                "\"300.1.1.1\"",
                "\"fd00::1\"",
                "\"host.example\"",
                "\"10.0.0.1/32\"",
                "[\"10.0.0.1\"]",
            ]),
        ),
        ("endpoint.subnet_arn", arns(subnet, "subnet")),
        ("endpoint.security_group_arn", arns(sg, "sg")),
        ("aws.profile", s(&["1", "\"\"", "false", "[\"p\"]"])),
        (
            "aws.role_arn",
            s(&[
                "1",
                "\"arn:aws:iam::1:role/x\"",
                "\"datasync-activation\"",
                "\"arn:aws:iam::111122223333:user/x\"",
            ]),
        ),
        (
            "aws.external_id",
            s(&[
                "1",
                "\"x\"",
                "\"a b\"",
                &format!("\"{}\"", "e".repeat(1225)),
            ]),
        ),
        (
            "aws.endpoint_url",
            s(&[
                "1",
                "\"ftp://x\"",
                "\"not a url\"",
                "\"http://\"",
                "\"127.0.0.1:4566\"",
                "\"/path\"",
            ]),
        ),
        (
            "activation.deadline",
            s(&[
                "60",
                "\"0s\"",
                "\"40m\"",
                "\"5 parsecs\"",
                "\"-1s\"",
                "\"99999999999999999999s\"",
            ]),
        ),
        (
            "activation.request_timeout",
            s(&["15", "\"1ms\"", "\"3h\"", "\"x\"", "\"\""]),
        ),
        (
            "activation.tags",
            vec![
                "\"x\"".into(),
                "1".into(),
                "[\"a\"]".into(),
                "{ Team = 5 }".into(),
                "{ \"aws:x\" = \"y\" }".into(),
                "{ \"datasync-warden:activation-token\" = \"y\" }".into(),
                "{ \"bad;key\" = \"v\" }".into(),
                "{ k = \"bad;value\" }".into(),
                "{ \"\" = \"v\" }".into(),
                many_tags,
            ],
        ),
        (
            "checks.timeout",
            s(&["3", "\"0s\"", "\"2m\"", "\"three seconds\""]),
        ),
        ("checks.control_ports", s(&["\"yes\"", "1", "[true]"])),
        ("checks.support_port", s(&["\"true\"", "0"])),
        ("checks.aws", s(&["\"false\"", "1", "{}"])),
        (
            "checks.planned_tasks",
            s(&["\"1\"", "0", "1001", "-5", "1.0"]),
        ),
        (
            "checks.source_cidrs",
            s(&[
                "\"10.0.0.0/8\"",
                "[1]",
                "[\"10.0.0.0/33\"]",
                "[\"fd00::/8\"]",
                "[\"10.0.0.0\"]",
                "[[\"10.0.0.0/8\"]]",
            ]),
        ),
        (
            "monitor.interval",
            s(&["60", "\"0s\"", "\"2h\"", "\"often\""]),
        ),
        ("monitor.offline_after", s(&["\"2\"", "0", "1001", "true"])),
        (
            "monitor.realert_every",
            s(&["1800", "\"0s\"", "\"8days\"", "\"soon\""]),
        ),
        (
            "alerts.webhook",
            s(&[
                "1",
                "\"ftp://x\"",
                "\"hooks.example\"",
                "\"http://\"",
                "[\"http://x\"]",
            ]),
        ),
        (
            "alerts.destinations.name",
            s(&["1", "\"bad name\"", "\"\"", "\"webhook/2\""]),
        ),
        (
            "alerts.destinations.format",
            s(&["\"discord\"", "1", "[\"slack\"]", "\"\""]),
        ),
        (
            "alerts.destinations.url",
            s(&["1", "\"ftp://x\"", "\"hooks.example\"", "\"\""]),
        ),
        (
            "alerts.destinations.url_file",
            s(&["1", "\"relative/file\"", "\"\"", "\"..\""]),
        ),
        (
            "alerts.destinations.routing_key",
            s(&["1", "\"has space\"", "\"\""]),
        ),
        (
            "alerts.destinations.routing_key_file",
            s(&["1", "\"a/b\"", "[\"k\"]"]),
        ),
        (
            "alerts.destinations.headers",
            s(&[
                "\"Authorization: x\"",
                "{ \"Bad Name\" = \"v\" }",
                "{ Host = \"x\" }",
                "{ a = 1 }",
                "{ a = \"line\\nbreak\" }",
            ]),
        ),
        (
            "alerts.destinations.header_files",
            s(&["{ a = \"rel/x\" }", "{ \"Content-Length\" = \"f\" }", "[]"]),
        ),
        (
            "alerts.destinations.events",
            s(&["[\"ofline\"]", "[]", "\"offline\"", "[1]"]),
        ),
        (
            "health.listen",
            s(&[
                "9417",
                "\"localhost\"",
                "\"127.0.0.1\"",
                "\"127.0.0.1:99999\"",
                "\"localhost:9417\"",
            ]),
        ),
        (
            "state.dir",
            s(&["1", "\"relative/dir\"", "\"\"", "[\"/var\"]"]),
        ),
    ]
}

#[test]
fn every_wrong_value_of_every_key_is_refused_naming_file_and_key() {
    let bin = env!("CARGO_BIN_EXE_datasync-warden");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, common::OFFLINE_CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("config.d")).unwrap();
    let fragment = dir.path().join("config.d/50-instance.toml");
    let table = wrong_values();
    // Every key of the configuration is covered (parsers/src/config/fragment.rs).
    assert_eq!(table.len(), 37);
    let mut runs = 0;
    for (dotted, values) in &table {
        let (section, key) = dotted.rsplit_once('.').unwrap();
        for v in values {
            let text = match section {
                // An array of tables, with the keys a destination needs after the wrong one.
                "alerts.destinations" => format!(
                    "[[{section}]]\n{key} = {v}\n{}",
                    match key {
                        "format" => "url = \"https://h/x\"\n",
                        "url" | "url_file" => "format = \"json\"\n",
                        "routing_key" | "routing_key_file" => "format = \"pagerduty\"\n",
                        _ => "format = \"json\"\nurl = \"https://h/x\"\n",
                    }
                ),
                _ => format!("[{section}]\n{key} = {v}\n"),
            };
            std::fs::write(&fragment, &text).unwrap();
            let out = std::process::Command::new(bin)
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .args(["check", "--config"])
                .arg(&config)
                .output()
                .unwrap();
            runs += 1;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let shown = text.chars().take(120).collect::<String>();
            assert_eq!(out.status.code(), Some(2), "{shown}→ {stderr}");
            assert!(
                stderr.contains("config.d/50-instance.toml:2:"),
                "file and line not named for {shown}→ {stderr}"
            );
            assert!(
                stderr.contains(dotted),
                "{dotted} not named for {shown}→ {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(
                out.stdout.is_empty(),
                "{shown}: stdout {:?}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    eprintln!("{runs} wrong values refused");
}
