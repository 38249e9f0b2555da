//! TCP reachability probes: the activation port on the agent, and the endpoint's control ports.
//!
//! Probes run concurrently, each under its own timeout, so that 43 filtered ports cost about
//! one timeout rather than 43. Each result is classified the way an operator reasons about a
//! firewall: open, refused, filtered, unreachable, or a name that does not resolve.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;

/// The check name of the agent's activation port: a refusal there has its own meaning (an
/// activated agent closes the port by design).
pub(crate) const ACTIVATION_PORT_CHECK: &str = "agent.activation_port";

/// What a TCP connect attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The handshake completed.
    Open,
    /// RST: nothing listens, or a firewall rejects.
    Refused,
    /// No answer before the timeout: something drops the SYN.
    Filtered,
    /// No route to the host or network, or the host is down.
    Unreachable,
    /// The host name did not resolve.
    ResolveFailed,
}

impl Outcome {
    /// The name in JSON, metrics and messages: the same as its serde name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Open => "open",
            Outcome::Refused => "refused",
            Outcome::Filtered => "filtered",
            Outcome::Unreachable => "unreachable",
            Outcome::ResolveFailed => "resolve_failed",
        }
    }
}

/// One port to probe, and why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Target {
    /// Stable check name, e.g. `agent.activation_port` or `endpoint.control_ports`.
    pub check: &'static str,
    /// Host name or IP.
    pub host: String,
    pub port: u16,
    /// Whether a failure blocks activation.
    pub required: bool,
    /// Why the port matters, appended to a failure's hint ("DataSync needs …").
    #[serde(skip)]
    pub need: String,
}

/// The result of probing one [`Target`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Probe {
    #[serde(flatten)]
    pub target: Target,
    pub outcome: Outcome,
    /// Time to the outcome, in milliseconds.
    pub elapsed_ms: f64,
    /// The operating system's words, when it gave any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// One line telling the operator what to do (empty when open).
    pub hint: String,
}

impl Probe {
    /// Whether this probe blocks activation.
    pub(crate) fn failed_required(&self) -> bool {
        self.target.required && self.outcome != Outcome::Open
    }
}

/// Probes every target concurrently, each bounded by `timeout`; results keep the input order.
pub(crate) async fn probe_all(targets: Vec<Target>, timeout: Duration) -> Vec<Probe> {
    let handles: Vec<_> = targets
        .into_iter()
        .map(|t| tokio::spawn(probe_one(t, timeout)))
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        // A probe task only panics on a bug; surface it rather than hide a port.
        out.push(h.await.expect("probe task panicked"));
    }
    out
}

pub(crate) async fn probe_one(target: Target, timeout: Duration) -> Probe {
    let start = Instant::now();
    let (outcome, detail) = match tokio::time::timeout(timeout, connect(&target)).await {
        Ok(Ok(())) => (Outcome::Open, None),
        Ok(Err((outcome, e))) => (outcome, Some(e.to_string())),
        Err(_) => (Outcome::Filtered, None),
    };
    let elapsed = start.elapsed();
    let hint = hint(&target, outcome, timeout);
    Probe {
        target,
        outcome,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        detail,
        hint,
    }
}

async fn connect(t: &Target) -> Result<(), (Outcome, io::Error)> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((t.host.as_str(), t.port))
        .await
        .map_err(|e| (Outcome::ResolveFailed, e))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(e) => last = Some((classify(&e), e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        (
            Outcome::ResolveFailed,
            io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        )
    }))
}

/// `host:port` as a URL authority and a Host header write it (RFC 3986 §3.2.2): an IPv6
/// literal in brackets, `[2001:db8::5]:80`, since `2001:db8::5:80` is another address.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Maps a connect error to what it means on the wire.
pub(crate) fn classify(e: &io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => Outcome::Refused,
        io::ErrorKind::TimedOut => Outcome::Filtered,
        _ => Outcome::Unreachable,
    }
}

fn hint(t: &Target, outcome: Outcome, timeout: Duration) -> String {
    let (host, port) = (&t.host, t.port);
    let need = &t.need;
    match outcome {
        Outcome::Open => String::new(),
        Outcome::Refused if t.check == ACTIVATION_PORT_CHECK => format!(
            "refused: nothing accepts TCP {port} on {host}; the agent VM is up but not serving \
             activation (an agent closes its activation port once activated: look for it in DataSync)"
        ),
        Outcome::Refused => {
            format!("refused: {host} or a firewall rejects TCP {port}; {need}")
        }
        Outcome::Filtered => format!(
            "filtered: no answer within {}; a firewall or security group drops TCP {port} to \
             {host}; {need}",
            humantime::format_duration(timeout)
        ),
        Outcome::Unreachable => format!(
            "unreachable: no route to {host}; check routes, VPN / Direct Connect / peering and \
             that the host is up; {need}"
        ),
        Outcome::ResolveFailed => {
            format!("name resolution failed for {host}; use an IP address or fix DNS")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> Target {
        Target {
            check: "endpoint.control_ports",
            host: host.into(),
            port,
            required: true,
            need: "DataSync needs 1024–1064 from the agent to the endpoint".into(),
        }
    }

    #[tokio::test]
    async fn open_and_refused_are_told_apart() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().port();
        // Bind then drop: the port is free and nothing listens, so the kernel answers RST.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = Duration::from_secs(2);
        let r = probe_all(
            vec![target("127.0.0.1", open), target("127.0.0.1", closed)],
            t,
        )
        .await;
        assert_eq!(r[0].outcome, Outcome::Open);
        assert!(r[0].hint.is_empty());
        assert_eq!(r[1].outcome, Outcome::Refused);
        assert!(
            r[1].hint.contains(&format!("rejects TCP {closed}")),
            "{}",
            r[1].hint
        );
        assert!(r[1].failed_required());
    }

    #[test]
    fn resolve_failure_hint_names_the_host() {
        // Not probed for real: a lookup of an unknown name would query a DNS server off-box.
        let h = hint(
            &target("agent.example", 80),
            Outcome::ResolveFailed,
            Duration::from_secs(3),
        );
        assert_eq!(
            h,
            "name resolution failed for agent.example; use an IP address or fix DNS"
        );
    }

    #[test]
    fn filtered_hint_names_port_host_and_range() {
        let h = hint(
            &target("172.16.1.10", 1040),
            Outcome::Filtered,
            Duration::from_secs(3),
        );
        assert_eq!(
            h,
            "filtered: no answer within 3s; a firewall or security group drops TCP 1040 to \
             172.16.1.10; DataSync needs 1024–1064 from the agent to the endpoint"
        );
    }

    #[test]
    fn outcome_names_are_the_serialized_names() {
        for o in [
            Outcome::Open,
            Outcome::Refused,
            Outcome::Filtered,
            Outcome::Unreachable,
            Outcome::ResolveFailed,
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
        }
    }

    #[test]
    fn ipv6_literals_are_bracketed() {
        assert_eq!(host_port("2001:db8::5", 80), "[2001:db8::5]:80");
        assert_eq!(host_port("::1", 8080), "[::1]:8080");
        assert_eq!(host_port("10.0.0.5", 80), "10.0.0.5:80");
        assert_eq!(host_port("agent.example", 80), "agent.example:80");
    }

    #[test]
    fn os_errors_map_to_outcomes() {
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::ConnectionRefused)),
            Outcome::Refused
        );
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::HostUnreachable)),
            Outcome::Unreachable
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(101)),
            Outcome::Unreachable
        );
    }
}
