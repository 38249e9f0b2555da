//! Redaction of secrets before they reach any output.
//!
//! Webhook URLs are credentials: Slack, Teams and PagerDuty put the secret in the path or the
//! query, and a URL may carry `user:password@`. Logs, errors and status show only the scheme,
//! the host and the port.

/// Shown instead of a URL that has no recognisable `scheme://host`: all of it may be secret.
const OPAQUE: &str = "(redacted URL)";

/// `url` reduced to `scheme://host[:port]`, with `/…` when anything followed. Never returns
/// the path, query, fragment or user info.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return OPAQUE.into();
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // User info ends at the last '@' of the authority (RFC 3986 §3.2.1).
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_ok = !host_port.is_empty()
        && host_port
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    if !scheme_ok || !host_ok {
        return OPAQUE.into();
    }
    let elided = !tail.trim_start_matches('/').is_empty() || host_port.len() != authority.len();
    let mut out = format!("{}://{host_port}", scheme.to_ascii_lowercase());
    if elided {
        out.push_str("/…");
    }
    out
}

/// Whether an endpoint URL may carry user info (`user:password@`): any `@` at all, by the text
/// alone. A password may hold `/`, `?` or `#` (base64 does), which would end the authority
/// early for a parser, and an AWS endpoint URL has no other use for an `@`.
pub fn has_user_info(url: &str) -> bool {
    url.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_scheme_host_and_port_only() {
        let cases = [
            (
                "https://hooks.slack.com/services/T000/B000/SECRET",
                "https://hooks.slack.com/…",
            ),
            (
                "http://127.0.0.1:8080/hook?token=SECRET#frag",
                "http://127.0.0.1:8080/…",
            ),
            ("https://u:SECRET@h.example:443", "https://h.example:443/…"),
            (
                "http://[2001:db8::1]:80/SECRET",
                "http://[2001:db8::1]:80/…",
            ),
            (
                "https://events.pagerduty.com",
                "https://events.pagerduty.com",
            ),
            (
                "https://events.pagerduty.com/",
                "https://events.pagerduty.com",
            ),
            ("ftp://h/SECRET", "ftp://h/…"),
            ("HTTPS://h?SECRET", "https://h/…"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn anything_unrecognisable_is_hidden_whole() {
        for url in [
            "SECRET",
            "://SECRET",
            "https:/SECRET",
            "1http://h/SECRET",
            "https://SE CRET/x",
            "https://@/SECRET",
            "",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains("SECRET"), "{url} -> {shown}");
            assert_eq!(shown, OPAQUE, "{url}");
        }
    }
}
