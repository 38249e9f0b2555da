use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::*;

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

const LIMIT: Duration = Duration::from_millis(500);

#[tokio::test]
async fn refused_unresolvable_and_silent_webhooks_read_differently() {
    let client = https_client();
    let url = format!("http://127.0.0.1:{}/services/SECRET", closed_port());
    let refused = post_once(&client, &url, Bytes::new(), LIMIT)
        .await
        .unwrap_err();
    assert!(refused.contains("refused"), "{refused}");
    assert!(refused.starts_with("client error (Connect): "), "{refused}");
    assert!(!refused.contains("SECRET"), "{refused}");

    let no_dns: Client<HttpConnector<NoSuchName>, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new_with_resolver(NoSuchName));
    let dns = post_once(&no_dns, "http://hooks.example/x", Bytes::new(), LIMIT)
        .await
        .unwrap_err();
    assert!(dns.contains("dns error: failed to lookup"), "{dns}");

    // Accepts the connection, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let timeout = post_once(&client, &url, Bytes::new(), LIMIT)
        .await
        .unwrap_err();
    assert!(timeout.starts_with("no answer within"), "{timeout}");
    drop(silent);
}
