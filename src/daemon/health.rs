//! The local health endpoint: `/healthz`, `/readyz`, `/status` (JSON) and `/metrics`
//! (Prometheus). Everything is served from the in-memory status (`daemon::status`): a scrape never causes an
//! AWS call. Connections, request heads and connection lifetimes are bounded so that a slow or
//! hostile client cannot starve the daemon.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::io::InspectReader;
use tokio_util::sync::CancellationToken;

use crate::daemon::metrics;
use crate::daemon::status::Status;

/// Concurrent connections served. A Prometheus server plus a few operators need a handful; 64
/// leaves room without letting a flood exhaust file descriptors. At the limit, an older
/// connection makes room for the new one, preferring one that has not sent a byte yet.
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request head within this time (slowloris defence).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection lives longer than this, keep-alive included.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// Largest request head accepted (hyper's minimum buffer size).
pub const MAX_HEAD_BYTES: usize = 8192;
/// How long a new connection waits for the slot of an evicted one: the evicted task only has to
/// wake and drop its socket, which takes microseconds; the bound keeps a stuck task from
/// stalling the accept loop.
const EVICTION_WAIT: Duration = Duration::from_millis(100);

/// Serves until `cancel` fires.
pub async fn serve(listener: TcpListener, status: Arc<Status>, cancel: CancellationToken) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let slots = Arc::new(Slots::default());
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    log::warn!("health endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            // Full: an older connection gives way to the newcomer (see `Slots::evict`), so a
            // flood of idle or trickling connections cannot lock scrapes out.
            Err(_) if slots.evict() => {
                match tokio::time::timeout(EVICTION_WAIT, permits.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    _ => continue,
                }
            }
            Err(_) => continue,
        };
        let (spoke, evicted, slot) = slots.register();
        let status = status.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            // Both released when the connection ends, however it ends.
            let _held = (permit, slot);
            let svc = service_fn(move |req| {
                let status = status.clone();
                async move { Ok::<_, Infallible>(route(&req, &status)) }
            });
            let stream = InspectReader::new(stream, move |bytes: &[u8]| {
                if !bytes.is_empty() {
                    spoke.store(true, Ordering::Relaxed);
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = evicted.cancelled() => {}
                _ = tokio::time::timeout(CONNECTION_LIFETIME, conn) => {}
            }
        });
    }
}

/// The live connections, oldest first: what the accept loop needs to pick one to end.
#[derive(Default)]
struct Slots {
    inner: Mutex<SlotList>,
}

#[derive(Default)]
struct SlotList {
    next_id: u64,
    live: VecDeque<Slot>,
}

struct Slot {
    id: u64,
    /// Set by the connection's reader on its first byte.
    spoke: Arc<AtomicBool>,
    evict: CancellationToken,
}

/// Removes its connection from [`Slots`] when the connection's task ends.
struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
}

impl Slots {
    fn register(self: &Arc<Self>) -> (Arc<AtomicBool>, CancellationToken, SlotGuard) {
        let spoke = Arc::new(AtomicBool::new(false));
        let evict = CancellationToken::new();
        let mut list = self.inner.lock().expect("slots lock");
        let id = list.next_id;
        list.next_id += 1;
        list.live.push_back(Slot {
            id,
            spoke: spoke.clone(),
            evict: evict.clone(),
        });
        let guard = SlotGuard {
            slots: self.clone(),
            id,
        };
        (spoke, evict, guard)
    }

    /// Ends one connection to make room: the oldest that has not sent a byte (an idle or
    /// hostile client; a scraper sends its request at once), else the oldest of all (a client
    /// trickling a head, or a keep-alive connection between requests; a scraper reconnects).
    /// Answers come from memory, so no slot is ever busy for long. False when none is live.
    fn evict(&self) -> bool {
        let mut list = self.inner.lock().expect("slots lock");
        let silent = list
            .live
            .iter()
            .position(|s| !s.spoke.load(Ordering::Relaxed));
        match list.live.remove(silent.unwrap_or(0)) {
            Some(slot) => {
                slot.evict.cancel();
                true
            }
            None => false,
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut list = self.slots.inner.lock().expect("slots lock");
        if let Some(i) = list.live.iter().position(|s| s.id == self.id) {
            list.live.remove(i);
        }
    }
}

fn text(code: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

/// Answers one request from the status alone.
pub fn route(req: &Request<Incoming>, status: &Status) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match req.uri().path() {
        "/healthz" if status.alive() => text(StatusCode::OK, "ok\n"),
        "/healthz" => text(StatusCode::SERVICE_UNAVAILABLE, "main loop stalled\n"),
        "/readyz" => {
            let s = status.snapshot();
            match (&s.agent_arn, s.agent_status.as_deref(), s.offline) {
                (Some(arn), Some("ONLINE"), false) => {
                    text(StatusCode::OK, format!("ready: {arn} is ONLINE\n"))
                }
                (None, ..) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not activated: {}\n", s.status_text),
                ),
                (Some(arn), st, _) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "{arn} is {}: {}\n",
                        st.unwrap_or("of unknown status"),
                        s.status_text
                    ),
                ),
            }
        }
        "/status" => Response::builder()
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(
                serde_json::to_vec_pretty(&status.snapshot()).expect("status serializes"),
            )))
            .expect("static response parts are valid"),
        "/metrics" => Response::builder()
            .header(hyper::header::CONTENT_TYPE, metrics::CONTENT_TYPE)
            .body(Full::new(Bytes::from(metrics::render(&status.snapshot()))))
            .expect("static response parts are valid"),
        _ => text(
            StatusCode::NOT_FOUND,
            "try /healthz, /readyz, /status or /metrics\n",
        ),
    }
}
