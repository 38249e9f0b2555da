use super::*;

fn event(kind: EventKind, detail: &str) -> Event {
    Event {
        kind,
        since: None,
        outage: None,
        detail: detail.into(),
        resolves: Vec::new(),
    }
}

#[test]
fn alert_text_carries_no_control_characters() {
    let who = Subject {
        agent_arn: "arn:aws:datasync:us-east-1:111122223333:agent/agent-0123456789abcdef0".into(),
        agent_name: "a\nMESSAGE_ID=forged".into(),
        region: "us-east-1".into(),
    };
    let a = alert(
        &event(EventKind::ApiErrors, "denied\nREADY=1\r\nMAINPID=1"),
        &who,
        "OFFLINE",
    );
    assert!(!a.message.chars().any(char::is_control), "{:?}", a.message);
    assert!(
        a.message.contains("denied READY=1  MAINPID=1"),
        "{:?}",
        a.message
    );
}

#[test]
fn a_long_aws_message_is_cut() {
    let who = Subject {
        agent_arn: "arn:aws:datasync:us-east-1:111122223333:agent/agent-0123456789abcdef0".into(),
        agent_name: "a".into(),
        region: "us-east-1".into(),
    };
    let a = alert(
        &event(EventKind::ApiErrors, &"x".repeat(100_000)),
        &who,
        "ONLINE",
    );
    assert!(
        a.message.chars().count() <= MESSAGE_MAX,
        "{}",
        a.message.len()
    );
    assert!(
        a.message
            .starts_with("cannot read the status of DataSync agent a: xxx")
    );
}
