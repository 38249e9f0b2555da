//! An HTTP receiver on loopback for alert destinations: records every request (path, headers,
//! JSON body) and answers with a fixed status, or never answers at all.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the receiver answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// This status, empty body.
    Status(u16),
    /// Reads the request and holds the connection open without a word.
    Hang,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    /// Lowercase names.
    pub headers: BTreeMap<String, String>,
    pub body: serde_json::Value,
}

#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/<secret path>`.
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    /// A receiver whose URL path is `path` (a secret, for the tests that look for leaks).
    pub async fn start(path: &str, answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let r = requests.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve(s, r.clone(), answer));
            }
        });
        Receiver { url, requests }
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn serve(mut s: TcpStream, into: Arc<Mutex<Vec<Request>>>, answer: Answer) {
    let Some(req) = read(&mut s).await else {
        return;
    };
    into.lock().unwrap().push(req);
    match answer {
        Answer::Status(code) => {
            let head =
                format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(head.as_bytes()).await;
        }
        Answer::Hang => {
            let mut sink = [0u8; 64];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    }
}

async fn read(s: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let mut lines = head.lines();
        let path = lines.next()?.split(' ').nth(1)?.to_string();
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap_or(0));
        while buf.len() < end + 4 + len {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&buf[end + 4..])
            )
        });
        return Some(Request {
            path,
            headers,
            body,
        });
    }
}
