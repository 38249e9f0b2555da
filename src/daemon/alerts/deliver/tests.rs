//! Deliveries against receivers on loopback that answer, fail, refuse or hang.

use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::*;
use crate::config::alerts::{EVENTS, Format};
use crate::config::secret::Secret;
use crate::daemon::alerts::{Alerter, ProxyEnv};

/// Long enough that a test waiting on it has certainly failed.
const PATIENCE: Duration = Duration::from_secs(60);

/// How a receiver answers each request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// A status with `Retry-After: <seconds>`.
    RetryAfter(u16, u32),
    /// Reads the request, never answers.
    Hang,
}

struct Receiver {
    url: String,
    /// Request heads and bodies, in arrival order.
    got: Arc<Mutex<Vec<(String, String)>>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    async fn start(answers: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/SECRETPATH", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (g, n, answers) = (got.clone(), arrived.clone(), Arc::new(answers));
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (g, n, answers) = (g.clone(), n.clone(), answers.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let mut len = 0;
                    // One request per connection: the client's pool opens another.
                    let (head, body) = loop {
                        let r = s.read(&mut buf[len..]).await.unwrap_or(0);
                        if r == 0 {
                            return;
                        }
                        len += r;
                        let text = String::from_utf8_lossy(&buf[..len]).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let want = head
                                .to_ascii_lowercase()
                                .lines()
                                .find_map(|l| {
                                    l.strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap())
                                })
                                .unwrap_or(0);
                            if body.len() >= want {
                                break (head.to_string(), body.to_string());
                            }
                        }
                    };
                    let i = {
                        let mut g = g.lock().unwrap();
                        g.push((head, body));
                        g.len() - 1
                    };
                    n.notify_waiters();
                    match answers(i) {
                        Answer::Status(code) => {
                            let _ = s
                                .write_all(format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
                                .await;
                        }
                        Answer::RetryAfter(code, secs) => {
                            let _ = s
                                .write_all(format!("HTTP/1.1 {code} X\r\nRetry-After: {secs}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
                                .await;
                        }
                        Answer::Hang => std::future::pending::<()>().await,
                    }
                });
            }
        });
        Receiver { url, got, arrived }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize) {
        tokio::time::timeout(PATIENCE, async {
            while self.count() < n {
                let notified = self.arrived.notified();
                if self.count() >= n {
                    break;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} requests arrived, not {n}", self.count()));
    }
}

fn dest(name: &str, url: &str) -> Resolved {
    Resolved {
        name: name.into(),
        format: Format::Json,
        url: Secret::new(url),
        routing_key: None,
        headers: vec![("authorization".into(), Secret::new("Bearer SECRETTOKEN"))],
        events: EVENTS.to_vec(),
    }
}

fn alert(event: &'static str) -> Alert {
    Alert {
        event,
        agent_arn: "arn:aws:datasync:us-east-1:111122223333:agent/agent-0123456789abcdef0".into(),
        agent_name: "a".into(),
        region: "us-east-1".into(),
        status: "OFFLINE".into(),
        since: None,
        outage_seconds: None,
        host: "h".into(),
        message: "m".into(),
        at: "2026-12-02T00:00:00Z".into(),
        severity: "critical",
        state: "firing",
        resolves: Vec::new(),
    }
}

fn fast() -> Bounds {
    Bounds {
        post_timeout: Duration::from_secs(5),
        give_up_after: Duration::from_secs(30),
        retry_initial: Duration::from_millis(10),
    }
}

fn deliveries(status: &Status, name: &str) -> Deliveries {
    status.snapshot().deliveries[name].clone()
}

#[tokio::test]
async fn a_hung_destination_delays_neither_another_nor_the_caller() {
    let hung = Receiver::start(|_| Answer::Hang).await;
    let good = Receiver::start(|_| Answer::Status(202)).await;
    let status = Arc::new(Status::new("us-east-1"));
    // A POST bound far beyond the test's patience: if deliveries shared a worker, the good
    // destination would wait behind the hung one and the test would fail.
    let bounds = Bounds {
        post_timeout: Duration::from_secs(3600),
        ..fast()
    };
    let client = AlertClient::new(&ProxyEnv::default());
    let dests = [dest("hung", &hung.url), dest("good", &good.url)];
    register(&status, &dests);
    let queues: Vec<_> = dests
        .iter()
        .map(|d| Queue::spawn(d.clone(), client.clone(), status.clone(), bounds))
        .collect();
    for q in &queues {
        q.offer(&alert("offline"), &status);
    }
    hung.wait_for(1).await;
    for i in 0..99 {
        for q in &queues {
            q.offer(&alert("still_offline"), &status);
        }
        // The good destination keeps up, one alert after the other.
        good.wait_for(i + 2).await;
    }
    assert_eq!(
        hung.count(),
        1,
        "the hung destination holds its first alert"
    );
    let h = deliveries(&status, "hung");
    // One in flight, a full queue, the rest dropped without waiting.
    assert_eq!(
        (h.queued, h.dropped, h.delivered),
        (1 + QUEUE_CAPACITY as u64, 99 - QUEUE_CAPACITY as u64, 0)
    );
    assert_eq!(
        status.snapshot().webhook_failures_total,
        99 - QUEUE_CAPACITY as u64
    );
    tokio::time::timeout(PATIENCE, async {
        while deliveries(&status, "good").delivered < 100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the good destination's counters catch up");
    let g = deliveries(&status, "good");
    assert_eq!((g.dropped, g.failed, g.queued), (0, 0, 0));
}

#[tokio::test]
async fn failures_are_retried_refusals_are_not() {
    let flaky = Receiver::start(|i| Answer::Status(if i < 2 { 503 } else { 200 })).await;
    let refusing = Receiver::start(|_| Answer::Status(400)).await;
    let status = Arc::new(Status::new("us-east-1"));
    let client = AlertClient::new(&ProxyEnv::default());
    register(
        &status,
        &[dest("flaky", &flaky.url), dest("refusing", &refusing.url)],
    );
    let f = Queue::spawn(
        dest("flaky", &flaky.url),
        client.clone(),
        status.clone(),
        fast(),
    );
    let r = Queue::spawn(
        dest("refusing", &refusing.url),
        client,
        status.clone(),
        fast(),
    );
    f.offer(&alert("offline"), &status);
    r.offer(&alert("offline"), &status);
    flaky.wait_for(3).await;
    refusing.wait_for(1).await;
    tokio::time::timeout(PATIENCE, async {
        while deliveries(&status, "flaky").delivered + deliveries(&status, "refusing").failed < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("both settle");
    assert_eq!(
        refusing.count(),
        1,
        "HTTP 400 will not fix itself: no retry"
    );
    let (head, body) = flaky.got.lock().unwrap()[2].clone();
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer secrettoken"),
        "{head}"
    );
    assert!(body.contains("\"event\":\"offline\""), "{body}");
}

#[tokio::test]
async fn a_destination_gets_only_the_events_it_asked_for() {
    let rx = Receiver::start(|_| Answer::Status(200)).await;
    let status = Arc::new(Status::new("us-east-1"));
    let mut d = dest("pager", &rx.url);
    d.events = vec!["offline", "recovered"];
    let q = Queue::spawn(
        d,
        AlertClient::new(&ProxyEnv::default()),
        status.clone(),
        fast(),
    );
    for e in ["offline", "still_offline", "api_errors", "recovered"] {
        q.offer(&alert(e), &status);
    }
    rx.wait_for(2).await;
    drop(q);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events: Vec<_> = rx
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].contains("\"offline\"") && events[1].contains("\"recovered\""),
        "{events:?}"
    );
}

#[tokio::test]
async fn retry_after_zero_is_not_a_busy_loop() {
    let busy = Receiver::start(|_| Answer::RetryAfter(429, 0)).await;
    let status = Arc::new(Status::new("us-east-1"));
    let d = dest("busy", &busy.url);
    register(&status, std::slice::from_ref(&d));
    let bounds = Bounds {
        post_timeout: Duration::from_secs(5),
        give_up_after: Duration::from_secs(2),
        retry_initial: Duration::from_millis(200),
    };
    let q = Queue::spawn(
        d,
        AlertClient::new(&ProxyEnv::default()),
        status.clone(),
        bounds,
    );
    q.offer(&alert("offline"), &status);
    tokio::time::timeout(PATIENCE, async {
        while deliveries(&status, "busy").failed < 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("gives up within its bound");
    // 2 s in waits of at least 200 ms: about ten tries, and one more at the deadline.
    let tries = busy.count();
    assert!((2..=12).contains(&tries), "{tries} tries");
}

#[tokio::test]
async fn a_reload_keeps_each_destinations_order() {
    // The first POST hangs until its timeout; the retry and everything after it is accepted.
    let old = Receiver::start(|i| {
        if i == 0 {
            Answer::Hang
        } else {
            Answer::Status(202)
        }
    })
    .await;
    let new = Receiver::start(|_| Answer::Status(202)).await;
    let status = Arc::new(Status::new("us-east-1"));
    let bounds = Bounds {
        post_timeout: Duration::from_secs(1),
        ..fast()
    };
    let client = AlertClient::new(&ProxyEnv::default());
    let mut alerter = Alerter::spawn(&[dest("pager", &old.url)], &client, status.clone(), bounds);
    alerter.emit(alert("offline"));
    old.wait_for(1).await;
    // A rotated URL under the same name, while the trigger is still in flight.
    alerter.update(&[dest("pager", &new.url)]);
    alerter.emit(Alert {
        state: "resolved",
        ..alert("recovered")
    });
    new.wait_for(1).await;
    assert_eq!(
        old.count(),
        2,
        "the resolve waited for the trigger (retried at the URL it started with)"
    );
}
