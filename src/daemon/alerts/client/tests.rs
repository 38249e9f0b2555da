use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// The integration tests' proxy, shared (tokio only): records each request's target.
#[allow(unreachable_pub)]
#[path = "../../../../tests/common/proxy.rs"]
mod proxy;

use proxy::Proxy;

const LIMIT: Duration = Duration::from_secs(5);
/// `Proxy-Authorization` for user `user`, password `s3cret` (base64 of `user:s3cret`).
const USER_S3CRET: &str = "Basic dXNlcjpzM2NyZXQ=";

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn env(vars: &[(&str, &str)]) -> ProxyEnv {
    ProxyEnv::from_pairs(vars)
}

fn direct() -> AlertClient {
    AlertClient::new(&ProxyEnv::default())
}

/// Fails every lookup the way getaddrinfo(3) does for an unknown name, without sending a
/// DNS query anywhere (tests only talk to loopback).
#[derive(Clone)]
struct NoSuchName;

impl tower_service::Service<Name> for NoSuchName {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        Box::pin(async {
            Err(std::io::Error::other(
                "failed to lookup address information: Name or service not known",
            ))
        })
    }
}

/// Answers every request with `answer` (a status line and headers, no body) and records each
/// request head.
async fn receiver(answer: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let h = h.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut s).await else {
                    return;
                };
                h.lock().unwrap().push(head);
                let reply = format!("{answer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, heads)
}

async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[tokio::test]
async fn refused_unresolvable_and_silent_webhooks_read_differently() {
    let url = format!("http://127.0.0.1:{}/services/SECRET", closed_port());
    let refused = direct()
        .post(&url, &[], Bytes::new(), LIMIT)
        .await
        .unwrap_err();
    assert!(refused.text.contains("refused"), "{refused}");
    assert!(
        refused.text.starts_with("client error (Connect): "),
        "{refused}"
    );
    assert!(!refused.text.contains("SECRET"), "{refused}");
    assert_eq!(refused.retry, Retry::Transient);

    let no_dns: Client<HttpConnector<NoSuchName>, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new_with_resolver(NoSuchName));
    let uri: Uri = "http://hooks.example/x".parse().unwrap();
    let dns = exchange(&no_dns, request(uri, &[], Bytes::new(), None), LIMIT)
        .await
        .unwrap_err();
    assert!(dns.text.contains("dns error: failed to lookup"), "{dns}");
    assert_eq!(dns.retry, Retry::Transient);

    // Accepts the connection, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let short = Duration::from_millis(500);
    let timeout = direct()
        .post(&url, &[], Bytes::new(), short)
        .await
        .unwrap_err();
    assert!(timeout.text.starts_with("no answer within"), "{timeout}");
    assert_eq!(timeout.retry, Retry::Transient);
    drop(silent);
}

#[tokio::test]
async fn statuses_are_classified_for_the_retry_loop() {
    let cases: [(&'static str, Result<(), Retry>); 8] = [
        ("HTTP/1.1 200 OK", Ok(())),
        ("HTTP/1.1 202 Accepted", Ok(())),
        ("HTTP/1.1 500 Internal Server Error", Err(Retry::Transient)),
        ("HTTP/1.1 503 Service Unavailable", Err(Retry::Transient)),
        (
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7",
            Err(Retry::After(Duration::from_secs(7))),
        ),
        (
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 86400",
            Err(Retry::After(RETRY_AFTER_CAP)),
        ),
        ("HTTP/1.1 404 Not Found", Err(Retry::Permanent)),
        ("HTTP/1.1 403 Forbidden", Err(Retry::Permanent)),
    ];
    for (answer, want) in cases {
        let (addr, _) = receiver(answer).await;
        let url = format!("http://{addr}/services/T000/B000/SECRET?token=QUERYSECRET");
        let got = direct().post(&url, &[], Bytes::new(), LIMIT).await;
        match (got, want) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(retry)) => {
                assert_eq!(e.retry, retry, "{answer}: {e}");
                let code = &answer["HTTP/1.1 ".len().."HTTP/1.1 ".len() + 3];
                assert!(e.text.starts_with(&format!("HTTP {code} ")), "{e}");
                assert!(!e.text.contains("SECRET"), "{e}");
            }
            (got, want) => panic!("{answer}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn the_rest_of_the_status_table() {
    let retry = |code: u16, retry_after: Option<&str>| {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        classify(StatusCode::from_u16(code).unwrap(), &h).map_err(|e| e.retry)
    };
    assert_eq!(retry(204, None), Ok(()));
    for code in [408, 425, 429, 502, 504] {
        assert_eq!(retry(code, None), Err(Retry::Transient), "{code}");
    }
    for code in [400, 401, 405, 410, 413, 422, 301, 302, 307] {
        assert_eq!(retry(code, None), Err(Retry::Permanent), "{code}");
    }
    // The HTTP-date form and garbage fall back to the caller's backoff.
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_eq!(retry(429, Some(date)), Err(Retry::Transient));
    assert_eq!(retry(503, Some("-1")), Err(Retry::Transient));
    assert_eq!(retry(429, Some("0")), Err(Retry::After(Duration::ZERO)));
    // Retry-After means nothing on other statuses.
    assert_eq!(retry(500, Some("5")), Err(Retry::Transient));
    let redirect = classify(StatusCode::MOVED_PERMANENTLY, &HeaderMap::new()).unwrap_err();
    assert_eq!(
        redirect.text,
        "HTTP 301 Moved Permanently (redirects are not followed)"
    );
}

#[tokio::test]
async fn headers_and_body_reach_the_receiver() {
    let (addr, heads) = receiver("HTTP/1.1 200 OK").await;
    let headers = [
        (
            HeaderName::from_static("x-routing-key"),
            HeaderValue::from_static("ROUTINGSECRET"),
        ),
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.test+json"),
        ),
    ];
    direct()
        .post(
            &format!("http://{addr}/hook?k=v"),
            &headers,
            Bytes::from_static(b"{}"),
            LIMIT,
        )
        .await
        .unwrap();
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("post /hook?k=v http/1.1\r\n"), "{head}");
    assert!(
        head.contains("\r\nx-routing-key: routingsecret\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\ncontent-type: application/vnd.test+json\r\n"),
        "{head}"
    );
    assert!(!head.contains("application/json"), "replaced: {head}");
    assert!(head.contains("\r\nuser-agent: datasync-warden/"), "{head}");
    assert!(!head.contains("proxy-authorization"), "{head}");
}

#[tokio::test]
async fn bad_urls_are_permanent_and_not_quoted() {
    for url in [
        "no scheme/SECRET",
        "ftp://host/SECRET",
        "http:///SECRET",
        "",
    ] {
        let e = direct()
            .post(url, &[], Bytes::new(), LIMIT)
            .await
            .unwrap_err();
        assert_eq!(e.retry, Retry::Permanent, "{url:?}: {e}");
        assert!(!e.text.contains("SECRET"), "{e}");
    }
}

#[tokio::test]
async fn http_goes_through_the_proxy_in_absolute_form_with_basic_auth() {
    let proxy = Proxy::start_with(Some(USER_S3CRET)).await;
    let (addr, heads) = receiver("HTTP/1.1 200 OK").await;
    let client = AlertClient::new(&env(&[("http_proxy", &proxy.url_with("user", "s3cret"))]));
    let url = format!("http://{addr}/services/SECRET");
    client.post(&url, &[], Bytes::new(), LIMIT).await.unwrap();
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, addr.to_string());
    assert_eq!(seen[0].uri, url, "absolute-form");
    assert_eq!(seen[0].authorization.as_deref(), Some(USER_S3CRET));
    let head = heads.lock().unwrap()[0].clone();
    assert!(
        head.starts_with("POST /services/SECRET HTTP/1.1\r\n"),
        "{head}"
    );

    // A wrong password: the proxy's 407 is permanent, and says which proxy.
    let client = AlertClient::new(&env(&[(
        "HTTP_PROXY",
        &proxy.url_with("user", "WRONGPASS"),
    )]));
    let e = client
        .post(&url, &[], Bytes::new(), LIMIT)
        .await
        .unwrap_err();
    assert_eq!(
        e.text,
        format!(
            "via proxy {}: HTTP 407 Proxy Authentication Required",
            proxy.url()
        )
    );
    assert_eq!(e.retry, Retry::Permanent);
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_to_the_right_host_and_port() {
    let proxy = Proxy::start_with(Some(USER_S3CRET)).await;
    let client = AlertClient::new(&env(&[("HTTPS_PROXY", &proxy.url_with("user", "s3cret"))]));
    // The test proxy refuses every non-loopback target (502) without a DNS lookup.
    let url = "https://hooks.example:8443/services/SECRET?token=QUERYSECRET";
    let e = client
        .post(url, &[], Bytes::new(), LIMIT)
        .await
        .unwrap_err();
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("CONNECT", "hooks.example:8443")
    );
    assert_eq!(seen[0].authorization.as_deref(), Some(USER_S3CRET));
    assert!(
        e.text.starts_with(&format!(
            "via proxy {}: client error (Connect): ",
            proxy.url()
        )),
        "{e}"
    );
    assert!(e.text.contains("tunnel error: unsuccessful"), "{e}");
    assert!(
        !e.text.contains("SECRET") && !e.text.contains("s3cret"),
        "{e}"
    );
    assert_eq!(e.retry, Retry::Transient);

    let client = AlertClient::new(&env(&[(
        "https_proxy",
        &proxy.url_with("user", "WRONGPASS"),
    )]));
    let e = client
        .post(url, &[], Bytes::new(), LIMIT)
        .await
        .unwrap_err();
    assert!(e.text.contains("proxy authorization required"), "{e}");
    assert!(!e.text.contains("WRONGPASS"), "{e}");
    assert_eq!(e.retry, Retry::Permanent);
}

#[tokio::test]
async fn https_through_the_tunnel_speaks_tls_to_the_destination() {
    // localhost.{cert,key}.der: a self-signed P-256 certificate for DNS:localhost, valid to
    // 2126 (`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes
    // -days 36500 -subj /CN=localhost -addext subjectAltName=DNS:localhost -addext
    // basicConstraints=critical,CA:FALSE`, then DER and PKCS#8).
    let cert = rustls::pki_types::CertificateDer::from(
        include_bytes!("testdata/localhost.cert.der").to_vec(),
    );
    let key = rustls::pki_types::PrivateKeyDer::try_from(
        include_bytes!("testdata/localhost.key.der").to_vec(),
    )
    .unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(s).await else {
                continue;
            };
            if let Some(head) = read_head(&mut tls).await {
                h.lock().unwrap().push(head);
                let _ = tls
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            }
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let proxy = Proxy::start().await;
    let client = AlertClient::with_tls(&env(&[("HTTPS_PROXY", &proxy.url())]), tls);
    let url = format!("https://localhost:{port}/services/SECRET");
    client.post(&url, &[], Bytes::new(), LIMIT).await.unwrap();
    assert_eq!(proxy.targets(), vec![format!("localhost:{port}")]);
    let head = heads.lock().unwrap()[0].clone();
    assert!(
        head.starts_with("POST /services/SECRET HTTP/1.1\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn no_proxy_hosts_and_a_dead_proxy() {
    let proxy = Proxy::start().await;
    let (addr, heads) = receiver("HTTP/1.1 200 OK").await;
    let url = format!("http://{addr}/hook");
    let client = AlertClient::new(&env(&[
        ("HTTP_PROXY", &proxy.url()),
        ("NO_PROXY", "localhost,127.0.0.0/8"),
    ]));
    client.post(&url, &[], Bytes::new(), LIMIT).await.unwrap();
    assert_eq!(heads.lock().unwrap().len(), 1);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());

    let dead = format!("http://user:PROXYPASS@127.0.0.1:{}", closed_port());
    let client = AlertClient::new(&env(&[("HTTP_PROXY", &dead)]));
    let e = client
        .post(&url, &[], Bytes::new(), LIMIT)
        .await
        .unwrap_err();
    let shown = dead.replace("user:PROXYPASS@", "");
    assert!(
        e.text
            .starts_with(&format!("via proxy {shown}: client error (Connect): ")),
        "{e}"
    );
    assert!(e.text.contains("refused"), "{e}");
    assert!(!e.text.contains("PROXYPASS"), "{e}");
    assert_eq!(e.retry, Retry::Transient);
}
