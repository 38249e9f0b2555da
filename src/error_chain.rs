//! One cause-chain formatter for every log line, diagnosis and delivery failure: the
//! outermost error and each `source()` below it, so "client error (Connect)" always comes with
//! the refused port, the failed DNS lookup or the TLS alert that caused it.

use std::error::Error;

/// `outer: cause: root cause`, skipping a cause whose text the previous one already shows
/// (many wrappers repeat their source in their own message).
pub fn chain(err: &dyn Error) -> String {
    let mut out = err.to_string();
    let mut last = out.clone();
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !last.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        last = text;
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn every_cause_is_shown_once() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        assert_eq!(
            chain(&Outer(refused)),
            "client error (Connect): Connection refused"
        );
        let io = std::io::Error::other("dns error");
        assert_eq!(chain(&Repeats(io)), "wrapped: dns error");
    }
}
