//! The HTTP client alerts are posted with: TLS as before (hyper-rustls, native roots; http://
//! works without a CA bundle), proxies from the environment, and every failure classified for
//! the retry loop. Error texts never carry the URL's path or query, a header value or a proxy
//! password: those are credentials (Slack, Teams, PagerDuty keys).
//!
//! Proxying reuses hyper-util's pieces, as the AWS SDK's HTTP client (aws-smithy-http-client)
//! and reqwest do: `Matcher` decides per destination (NO_PROXY rules included), an http://
//! destination goes to the proxy in absolute-form, an https:// one through `Tunnel` (CONNECT)
//! with TLS to the destination on top. Basic proxy auth comes from the proxy URL's userinfo.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::Full;
use hyper::rt;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connect, Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioExecutor;

use crate::support::error_chain::chain;

mod env;

pub(crate) use env::ProxyEnv;

/// Longest `Retry-After` taken from a server. Rate-limited webhook services ask for seconds; a
/// larger (or hostile) value must not park a destination's worker for long. The delivery loop
/// also cuts every wait to what is left of its own deadline (`deliver::GIVE_UP_AFTER`).
pub(crate) const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// hyper-util's text for a CONNECT answered 407 (its `TunnelError` type is private): a wrong
/// proxy password will not fix itself.
const TUNNEL_AUTH_REQUIRED: &str = "proxy authorization required";

/// How a failed POST may be retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Retry {
    /// Connection failure, timeout, 5xx, 408, 425, 429 without `Retry-After`: try again.
    Transient,
    /// Other 4xx, 3xx (redirects are not followed), a bad URL, proxy auth refused: a wrong
    /// routing key or URL will not fix itself.
    Permanent,
    /// 429 or 503 with `Retry-After` in seconds, capped at [`RETRY_AFTER_CAP`].
    After(Duration),
}

/// Why one POST failed.
#[derive(Debug)]
pub(crate) struct PostError {
    /// The cause chain ("client error (Connect): tcp connect error: Connection refused …"),
    /// "HTTP 503 Service Unavailable", or "no answer within 5s"; through a proxy prefixed with
    /// "via proxy http://proxy:3128: ". Never the URL's path or query, a header value or a
    /// proxy credential.
    pub(crate) text: String,
    pub(crate) retry: Retry,
}

impl PostError {
    fn new(text: impl Into<String>, retry: Retry) -> PostError {
        PostError {
            text: text.into(),
            retry,
        }
    }
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for PostError {}

/// Posts alerts; cheap to clone (the connection pool is shared); one per destination worker.
#[derive(Clone)]
pub(crate) struct AlertClient {
    client: Client<ProxyConnector, Full<Bytes>>,
    proxies: Arc<Matcher>,
}

impl AlertClient {
    /// A client that routes through the proxies of `proxy` (none when it is empty).
    pub(crate) fn new(proxy: &ProxyEnv) -> AlertClient {
        Self::with_tls(proxy, tls_config())
    }

    /// [`new`](Self::new) with its TLS roots given (the tests trust their own certificate).
    fn with_tls(proxy: &ProxyEnv, tls: rustls::ClientConfig) -> AlertClient {
        let tls = Arc::new(tls);
        let direct = HttpsConnector::from((plain_connector(), tls.clone()));
        let proxies = Arc::new(proxy.matcher());
        let connector = ProxyConnector {
            direct,
            tls,
            proxies: proxies.clone(),
        };
        AlertClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            proxies,
        }
    }

    /// One POST of `body` (application/json) with extra `headers` (a `User-Agent` among them
    /// replaces the default; the configuration refuses `Content-Type`), bounded by `limit` from the DNS
    /// lookup and connection (to the proxy, and through its tunnel) to the response's head.
    pub(crate) async fn post(
        &self,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        limit: Duration,
    ) -> Result<(), PostError> {
        let uri = target(url)?;
        let secret = uri.path_and_query().map(|p| p.as_str().to_string());
        let via = self.proxies.intercept(&uri);
        // Absolute-form requests carry the proxy's credentials themselves; a tunnel sends them
        // in its CONNECT (see `ProxyConnector`).
        let auth = via
            .as_ref()
            .filter(|_| uri.scheme() == Some(&Scheme::HTTP))
            .and_then(Intercept::basic_auth);
        let req = request(uri, headers, body, auth);
        exchange(&self.client, req, limit).await.map_err(|mut e| {
            // Defence in depth: no cause seen so far quotes the URL, but none ever may.
            if let Some(secret) = secret.filter(|s| s.len() > 1) {
                e.text = e.text.replace(&secret, "/…");
            }
            if let Some(p) = &via {
                e.text = format!("via proxy {}: {}", shown(p.uri()), e.text);
            }
            e
        })
    }
}

/// The destination as a URI; a URL that cannot be one is a permanent failure, and its text is
/// never quoted (all of it may be secret).
fn target(url: &str) -> Result<Uri, PostError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| PostError::new("not a valid URL", Retry::Permanent))?;
    let scheme_ok = uri.scheme() == Some(&Scheme::HTTP) || uri.scheme() == Some(&Scheme::HTTPS);
    if !scheme_ok || uri.host().is_none() {
        return Err(PostError::new(
            "not an http:// or https:// URL with a host",
            Retry::Permanent,
        ));
    }
    Ok(uri)
}

fn request(
    uri: Uri,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    proxy_auth: Option<&HeaderValue>,
) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::USER_AGENT,
        HeaderValue::from_static(concat!("datasync-warden/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, _) in headers {
        h.remove(name);
    }
    for (name, value) in headers {
        h.append(name.clone(), value.clone());
    }
    if let Some(auth) = proxy_auth {
        h.insert(header::PROXY_AUTHORIZATION, auth.clone());
    }
    req
}

/// Sends `req` and classifies the outcome; generic over the connector so the tests can inject
/// a resolver that fails without a DNS query.
async fn exchange<C>(
    client: &Client<C, Full<Bytes>>,
    req: Request<Full<Bytes>>,
    limit: Duration,
) -> Result<(), PostError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let resp = tokio::time::timeout(limit, client.request(req))
        .await
        .map_err(|_| PostError::new(format!("no answer within {limit:?}"), Retry::Transient))?
        .map_err(|e| {
            let text = chain(&e);
            let retry = if text.contains(TUNNEL_AUTH_REQUIRED) {
                Retry::Permanent
            } else {
                Retry::Transient
            };
            PostError::new(text, retry)
        })?;
    // The body is not read: the status says it all, and an unread body only costs the
    // connection its reuse.
    classify(resp.status(), resp.headers())
}

/// A response's status as an outcome.
pub(crate) fn classify(status: StatusCode, headers: &HeaderMap) -> Result<(), PostError> {
    if status.is_success() {
        return Ok(());
    }
    let retry = match status.as_u16() {
        429 | 503 => retry_after(headers).map_or(Retry::Transient, Retry::After),
        408 | 425 | 500..=599 => Retry::Transient,
        _ => Retry::Permanent,
    };
    let mut text = format!("HTTP {status}");
    if status.is_redirection() {
        text.push_str(" (redirects are not followed)");
    }
    Err(PostError::new(text, retry))
}

/// `Retry-After` as delay-seconds (RFC 9110 §10.2.3), capped; the HTTP-date form is left to
/// the caller's backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP))
}

/// A proxy's `scheme://host:port` (the matcher has already taken any credentials out).
fn shown(proxy: &Uri) -> String {
    let scheme = proxy.scheme_str().unwrap_or("http");
    let authority = proxy.authority().map_or("", |a| a.as_str());
    format!("{scheme}://{authority}")
}

/// The roots of the system's CA bundle (SSL_CERT_FILE honoured); none on a minimal image.
fn tls_config() -> rustls::ClientConfig {
    match rustls::ClientConfig::builder().with_native_roots() {
        Ok(b) => b.with_no_client_auth(),
        Err(e) => {
            // Minimal images may lack a CA bundle: http:// webhooks must still work.
            log::warn!(
                "no TLS root certificates ({e}): https:// webhooks will fail, http:// ones work"
            );
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        }
    }
}

fn plain_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    // The TLS layer above decides the scheme; this one only opens TCP connections.
    http.enforce_http(false);
    http
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Direct = HttpsConnector<HttpConnector>;

/// Opens the connection for one destination: direct, to an HTTP proxy (for http://, flagged
/// so that hyper writes absolute-form), or through a CONNECT tunnel (for https://).
#[derive(Clone)]
struct ProxyConnector {
    direct: Direct,
    tls: Arc<rustls::ClientConfig>,
    proxies: Arc<Matcher>,
}

impl tower_service::Service<Uri> for ProxyConnector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // HttpConnector is always ready; so are the tunnels built on a clone of it.
        self.direct.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self.proxies.intercept(&dst) {
            None => {
                let connecting = self.direct.call(dst);
                Box::pin(async move { Ok(Conn::new(connecting.await?, false)) })
            }
            Some(proxy) if dst.scheme() == Some(&Scheme::HTTPS) => {
                // The tunnel reaches the proxy with `direct` (TLS too for an https:// proxy);
                // the outer layer then speaks TLS to the destination inside the tunnel.
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let mut tls = HttpsConnector::from((tunnel, self.tls.clone()));
                tls.enforce_https();
                let connecting = tls.call(dst);
                // Origin-form inside the tunnel: to hyper this is a direct connection.
                Box::pin(async move { Ok(Conn::new(connecting.await?, false)) })
            }
            Some(proxy) => {
                let connecting = self.direct.call(proxy.uri().clone());
                Box::pin(async move { Ok(Conn::new(connecting.await?, true)) })
            }
        }
    }
}

/// What a connection needs to be for hyper.
trait Io: rt::Read + rt::Write + Connection + Send + Unpin {}
impl<T: rt::Read + rt::Write + Connection + Send + Unpin> Io for T {}

/// One connection of any of the three kinds, and whether hyper must use absolute-form on it.
struct Conn {
    io: Pin<Box<dyn Io>>,
    to_proxy: bool,
}

impl Conn {
    fn new(io: impl Io + 'static, to_proxy: bool) -> Conn {
        Conn {
            io: Box::pin(io),
            to_proxy,
        }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.to_proxy)
    }
}

impl rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
