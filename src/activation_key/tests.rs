use super::*;

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
