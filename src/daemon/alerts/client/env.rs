//! The proxy variables, read once at start by the application edge and handed to every
//! [`AlertClient`](super::AlertClient).
//!
//! Precedence is curl's: the lowercase name wins over the uppercase one, a scheme's own
//! variable over `all_proxy`/`ALL_PROXY`, and `no_proxy`/`NO_PROXY` lists the hosts reached
//! directly. Two deliberate differences: an empty variable counts as unset (it does not mask
//! the other case), and `HTTP_PROXY` is honoured (curl never reads it) except when
//! `REQUEST_METHOD` is set: under CGI a client's `Proxy:` header becomes `HTTP_PROXY`
//! ("httpoxy"), which is why curl ignores it and hyper-util ignores every variable then.
//!
//! NO_PROXY follows hyper-util's `Matcher` (curl's rules): comma-separated entries, spaces
//! ignored; an IP address or CIDR block (`10.0.0.0/8`, `::1`) matches destination IP literals
//! in it; `*` matches everything; any other entry is a domain that matches itself and every
//! subdomain (`example.com` and `.example.com` both match `hooks.example.com`, not
//! `badexample.com`). Ports are not part of a rule.
//!
//! The AWS SDK reads the same variables itself (see `aws::sdk`), with hyper-util's precedence
//! (uppercase first): set one case only and both clients agree.

use std::fmt;

use http::Uri;
use hyper_util::client::proxy::matcher::Matcher;

/// One variable that was set: its name and value.
#[derive(Clone, PartialEq)]
struct Var {
    name: &'static str,
    value: String,
}

/// Debug output is the redacted form: a proxy URL may carry a password.
impl fmt::Debug for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, shown(&self.value))
    }
}

/// Proxy settings read once at start by the application edge (never inside the library):
/// HTTPS_PROXY/https_proxy, HTTP_PROXY/http_proxy, ALL_PROXY/all_proxy, NO_PROXY/no_proxy,
/// with curl's precedence (lowercase wins where curl does so).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProxyEnv {
    https: Option<Var>,
    http: Option<Var>,
    all: Option<Var>,
    no_proxy: Option<Var>,
}

impl ProxyEnv {
    /// Reads the process environment.
    pub(crate) fn from_env() -> ProxyEnv {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The environment holding exactly `vars` (for the tests of this module and the client's).
    #[cfg(test)]
    pub(crate) fn from_pairs(vars: &[(&str, &str)]) -> ProxyEnv {
        ProxyEnv::from_vars(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    /// Reads the variables through `get` (tests pass a map).
    pub(crate) fn from_vars(get: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let first = |names: &[&'static str]| {
            names.iter().find_map(|&name| {
                let value = get(name)?.trim().to_string();
                (!value.is_empty()).then_some(Var { name, value })
            })
        };
        let http: &[&'static str] = if get("REQUEST_METHOD").is_some() {
            &["http_proxy"]
        } else {
            &["http_proxy", "HTTP_PROXY"]
        };
        ProxyEnv {
            https: first(&["https_proxy", "HTTPS_PROXY"]),
            http: first(http),
            all: first(&["all_proxy", "ALL_PROXY"]),
            no_proxy: first(&["no_proxy", "NO_PROXY"]),
        }
    }

    /// Proxy URLs with any user:password shown as `…@`, for the log line at start: which proxy
    /// each scheme uses and from which variable, the NO_PROXY list, and any value ignored.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (scheme, own) in [("https://", &self.https), ("http://", &self.http)] {
            parts.push(match self.route(own) {
                Some(v) => format!("{scheme} via {} ({})", shown(&v.value), v.name),
                None => format!("{scheme} direct"),
            });
        }
        if let Some(v) = &self.no_proxy {
            let list: String = v
                .value
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            parts.push(format!("direct for {} ({list})", v.name));
        }
        for v in [&self.https, &self.http, &self.all].into_iter().flatten() {
            if !usable(&v.value) {
                parts.push(format!(
                    "{}={} ignored: not an http:// or https:// proxy URL",
                    v.name,
                    shown(&v.value)
                ));
            }
        }
        parts.join("; ")
    }

    /// The proxy for a scheme: its own variable if usable, else ALL_PROXY if usable.
    fn route<'a>(&'a self, own: &'a Option<Var>) -> Option<&'a Var> {
        [own, &self.all]
            .into_iter()
            .flatten()
            .find(|v| usable(&v.value))
    }

    /// hyper-util's matcher for these settings (never its `from_env`: the edge reads once).
    pub(super) fn matcher(&self) -> Matcher {
        let url = |own| self.route(own).map_or(String::new(), |v| v.value.clone());
        Matcher::builder()
            .https(url(&self.https))
            .http(url(&self.http))
            .no(self.no_proxy.as_ref().map_or("", |v| v.value.as_str()))
            .build()
    }
}

/// An http:// or https:// proxy URL (no scheme means http://, as curl reads it). SOCKS URLs,
/// which hyper-util's matcher would accept, are refused: this client speaks HTTP to proxies.
fn usable(value: &str) -> bool {
    let Ok(uri) = value.parse::<Uri>() else {
        return false;
    };
    matches!(uri.scheme_str(), None | Some("http") | Some("https"))
        && uri.host().is_some_and(|h| !h.is_empty())
}

/// `scheme://[…@]host[:port]` of a proxy URL; nothing of a value that does not parse (it may
/// be all password).
pub(super) fn shown(value: &str) -> String {
    let Ok(uri) = value.parse::<Uri>() else {
        return "(unparsable value)".into();
    };
    let Some(authority) = uri.authority() else {
        return "(unparsable value)".into();
    };
    let userinfo = if authority.as_str().contains('@') {
        "…@"
    } else {
        ""
    };
    let port = authority.port().map_or(String::new(), |p| format!(":{p}"));
    format!(
        "{}://{userinfo}{}{port}",
        uri.scheme_str().unwrap_or("http"),
        authority.host()
    )
}

#[cfg(test)]
mod tests;
