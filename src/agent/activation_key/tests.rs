use super::*;
use crate::agent::probe::Outcome;
use datasync_warden_parsers::activation_response::excerpt;

const IP: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 10);
const KEY: &str = "ABCDE-12345-FGHIJ-67890-KLMNO";

fn key_of(r: Result<ActivationKey, ParseFailure>) -> String {
    r.map(|k| k.expose().to_string())
        .unwrap_or_else(|e| panic!("{e:?}"))
}

fn garbage(r: Result<ActivationKey, ParseFailure>) -> String {
    match r {
        Err(ParseFailure::Garbage(w)) => w,
        other => panic!("expected garbage, got {other:?}"),
    }
}

#[test]
fn location_key_is_found_among_other_parameters() {
    let loc = format!(
        "https://console.aws.amazon.com/datasync/home?region=us-east-1&activationKey={KEY}&endpointType=PRIVATE_LINK"
    );
    assert_eq!(key_of(parse_location(&loc, IP)), KEY);
}

#[test]
fn location_error_type_maps_to_the_443_diagnosis() {
    let loc = "https://console.aws.amazon.com/?region=us-east-1&errorType=PRIVATE_LINK_ENDPOINT_UNREACHABLE";
    let Err(ParseFailure::Agent(e)) = parse_location(loc, IP) else {
        panic!()
    };
    let e = KeyError::from(e);
    assert_eq!(e.kind(), "agent_error_type");
    assert!(
        e.hint()
            .contains("cannot reach the VPC endpoint 172.16.1.10 on TCP 443"),
        "{}",
        e.hint()
    );
}

#[test]
fn unknown_error_type_is_reported_verbatim() {
    let Err(ParseFailure::Agent(e)) = parse_location("/?errorType=NEW_THING", IP) else {
        panic!()
    };
    let e = KeyError::from(e);
    assert_eq!(e.to_string(), "the agent reported errorType=NEW_THING");
    assert!(e.hint().contains("\"NEW_THING\""));
}

#[test]
fn ambiguous_or_malformed_locations_are_refused() {
    let two = format!("/?activationKey={KEY}&activationKey=ZZZZZ-12345-FGHIJ-67890-KLMNO");
    assert!(garbage(parse_location(&two, IP)).contains("2 activationKey parameters"));
    assert!(garbage(parse_location("/?activationKey=abc", IP)).contains("does not match"));
    assert!(
        garbage(parse_location("https://console.aws.amazon.com/", IP)).contains("no activationKey")
    );
}

#[test]
fn body_mode_accepts_only_the_key_pattern() {
    assert_eq!(key_of(parse_body(KEY, IP)), KEY);
    assert!(garbage(parse_body("not-a-key!", IP)).contains("not a key"));
    assert!(garbage(parse_body(&format!("{KEY}X"), IP)).contains("not a key"));
    assert!(matches!(
        parse_body("errorType=PRIVATE_LINK_ENDPOINT_UNREACHABLE", IP),
        Err(ParseFailure::Agent(_))
    ));
}

#[test]
fn key_display_hides_all_but_the_first_group() {
    let k = ActivationKey::parse(KEY).unwrap();
    assert_eq!(k.to_string(), "ABCDE-*****-*****-*****-*****");
    assert!(!format!("{k:?}").contains("12345"));
}

#[test]
fn excerpt_escapes_control_characters_and_truncates() {
    assert_eq!(excerpt("a\nb\u{1b}"), "a\\nb\\u{1b}");
    assert_eq!(excerpt(&"x".repeat(100)).chars().count(), 65);
}

#[test]
fn query_is_exactly_the_documented_one() {
    let req = KeyRequest {
        agent: "10.0.1.25".into(),
        port: 80,
        region: Region::parse("eu-west-1").unwrap(),
        endpoint_ip: IP,
    };
    assert_eq!(
        req.path_and_query(Mode::Redirect),
        "/?gatewayType=SYNC&activationRegion=eu-west-1&endpointType=PRIVATE_LINK&privateLinkEndpoint=172.16.1.10"
    );
    assert!(
        req.path_and_query(Mode::NoRedirect)
            .ends_with("&no_redirect")
    );
}

#[test]
fn excerpt_masks_every_key_shaped_run() {
    let shown = excerpt(&format!("key: {KEY} extra"));
    assert_eq!(shown, "key: ABCDE-*****-*****-*****-***** extra");
    // Glued to other text, twice, and across the 64-character cut.
    let shown = excerpt(&format!("x{KEY}{KEY}"));
    assert!(
        !shown.contains("12345") && !shown.contains("KLMNO"),
        "{shown}"
    );
    let shown = excerpt(&format!("{}{KEY}", "y".repeat(50)));
    assert!(!shown.contains("12345"), "{shown}");
    let err = garbage(parse_body(&format!("key: {KEY} extra"), IP));
    assert!(!err.contains("12345"), "{err}");
}

/// The request head the agent sees, for one exchange with a one-shot server on `listener`.
async fn head_seen_by(listener: tokio::net::TcpListener, agent: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed early");
            head.extend_from_slice(&buf[..n]);
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{KEY}",
            KEY.len()
        );
        s.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(head).unwrap()
    });
    let req = KeyRequest {
        agent: agent.into(),
        port,
        region: Region::parse("us-east-1").unwrap(),
        endpoint_ip: IP,
    };
    let key = KeyClient::new(Duration::from_secs(10))
        .fetch_mode(&req, Mode::NoRedirect)
        .await
        .unwrap();
    assert_eq!(key.expose(), KEY);
    server.await.unwrap()
}

#[tokio::test]
async fn host_header_brackets_an_ipv6_agent() {
    let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
        eprintln!("notice: cannot bind [::1] here (no IPv6 loopback); skipping");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let head = head_seen_by(listener, "::1").await.to_ascii_lowercase();
    assert!(
        head.contains(&format!("\r\nhost: [::1]:{port}\r\n")),
        "{head}"
    );
}

#[tokio::test]
async fn host_header_of_an_ipv4_agent_is_plain() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let head = head_seen_by(listener, "127.0.0.1")
        .await
        .to_ascii_lowercase();
    assert!(
        head.contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
}

#[test]
fn connect_errors_name_an_ipv6_agent_bracketed() {
    let e = KeyError::Connect {
        addr: host_port("2001:db8::5", 80),
        outcome: Outcome::Refused,
        detail: "refused".into(),
    };
    assert!(e.to_string().contains("[2001:db8::5]:80"), "{e}");
}
