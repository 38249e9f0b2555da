//! The HTTP client alerts are posted with (one per destination worker).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::support::error_chain::chain;

pub(crate) type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

pub(crate) fn https_client() -> HttpsClient {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .unwrap_or_else(|e| {
            // Minimal images may lack a CA bundle: http:// webhooks must still work.
            log::warn!(
                "no TLS root certificates ({e}): https:// webhooks will fail, http:// ones work"
            );
            let tls = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
        });
    let connector = builder.https_or_http().enable_http1().build();
    Client::builder(TokioExecutor::new()).build(connector)
}

/// One POST, bounded by `limit`. The error text is the whole cause chain ("…: Connection
/// refused", "…: dns error: …"), never the URL.
pub(crate) async fn post_once<C>(
    client: &Client<C, Full<Bytes>>,
    url: &str,
    body: Bytes,
    limit: Duration,
) -> Result<(), String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let req = hyper::Request::post(url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("datasync-warden/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|e| format!("bad request: {}", chain(&e)))?;
    let resp = tokio::time::timeout(limit, client.request(req))
        .await
        .map_err(|_| format!("no answer within {limit:?}"))?
        .map_err(|e| chain(&e))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status()))
    }
}

#[cfg(test)]
mod tests;

// --- Interim interface (replaced wholesale by the proxy-aware client) ---

/// Proxy settings from the environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProxyEnv {}

impl ProxyEnv {
    pub(crate) fn from_env() -> ProxyEnv {
        ProxyEnv {}
    }

    pub(crate) fn describe(&self) -> String {
        String::new()
    }
}

/// Whether and when a failed POST is worth repeating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Retry {
    Transient,
    Permanent,
    After(Duration),
}

#[derive(Debug)]
pub(crate) struct PostError {
    pub(crate) text: String,
    pub(crate) retry: Retry,
}

#[derive(Clone)]
pub(crate) struct AlertClient {
    client: HttpsClient,
}

impl AlertClient {
    pub(crate) fn new(_proxy: &ProxyEnv) -> AlertClient {
        AlertClient {
            client: https_client(),
        }
    }

    pub(crate) async fn post(
        &self,
        url: &str,
        _headers: &[(http::HeaderName, http::HeaderValue)],
        body: Bytes,
        limit: Duration,
    ) -> Result<(), PostError> {
        post_once(&self.client, url, body, limit)
            .await
            .map_err(|text| PostError {
                text,
                retry: Retry::Transient,
            })
    }
}
