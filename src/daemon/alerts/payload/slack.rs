//! Slack incoming webhook: `text` (the notification and fallback) plus Block Kit `blocks`.
//!
//! Shape: <https://api.slack.com/reference/block-kit/blocks> (header, section, context) and
//! <https://api.slack.com/reference/surfaces/formatting#escaping> (`&`, `<`, `>` must be sent as
//! `&amp;`, `&lt;`, `&gt;`; nothing else is escaped). Outside text goes only into `mrkdwn` text
//! objects, escaped, with `verbatim` set so Slack does not turn it into links or mentions; the
//! header (`plain_text`, which Slack does not unescape) holds our own words only.

use serde::Serialize;

use super::{Alert, emoji, fit, line, outage, title, truncate};

/// Header block: "Maximum length for the text in this field is 150 characters."
pub(crate) const HEADER_MAX: usize = 150;
/// Section block text: "Maximum length for the text in this field is 3000 characters."
pub(crate) const SECTION_TEXT_MAX: usize = 3000;
/// Section block fields: "Maximum number of items is 10."
pub(crate) const FIELDS_MAX: usize = 10;
/// Section block fields: "Maximum length for the text in each item is 2000 characters."
pub(crate) const FIELD_TEXT_MAX: usize = 2000;
/// The top-level `text` (notification and fallback): Slack accepts 40,000 characters, but the
/// notification needs no more than the section shows, so it gets the section's bound.
pub(crate) const TEXT_MAX: usize = SECTION_TEXT_MAX;

#[derive(Serialize)]
pub(super) struct Message {
    text: String,
    blocks: Vec<Block>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Header { text: Text },
    Section(Section),
    Context { elements: Vec<Text> },
}

#[derive(Serialize)]
struct Section {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Text>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Text {
    PlainText { text: String, emoji: bool },
    Mrkdwn { text: String, verbatim: bool },
}

/// A `mrkdwn` text object of already-escaped text.
fn mrkdwn(text: String) -> Text {
    Text::Mrkdwn {
        text,
        verbatim: true,
    }
}

/// Slack's three control characters as entities (its formatting reference: "only three").
fn escape(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Outside text escaped for mrkdwn, on one line, within `max` characters.
fn escaped(text: &str, max: usize) -> String {
    fit(&line(text), max, escape).into_owned()
}

/// A field: its label in bold, its value (outside text, escaped) below.
fn field(label: &str, value: &str) -> Text {
    let head = format!("*{label}*\n");
    let room = FIELD_TEXT_MAX.saturating_sub(super::len16(&head));
    mrkdwn(head + &escaped(value, room))
}

pub(super) fn message(a: &Alert) -> Message {
    let heading = format!("{} {}", emoji(a), title(a.event));
    // Slack rejects an empty section text; our title stands in for a missing message.
    let body = if a.message.trim().is_empty() {
        title(a.event)
    } else {
        &a.message
    };
    let text = escaped(&format!("{heading}: {body}"), TEXT_MAX);
    let mut fields = vec![
        field("Agent", &a.agent_name),
        field("Agent ARN", &a.agent_arn),
        field("Region", &a.region),
        field("Host", &a.host),
        field("Status", &a.status),
    ];
    if let Some(since) = &a.since {
        fields.push(field("OFFLINE since", since));
    }
    if let Some(outage) = outage(a) {
        fields.push(field("Outage", &outage));
    }
    fields.truncate(FIELDS_MAX);
    let context = format!(
        "`{}` \u{b7} {} \u{b7} {} \u{b7} {} \u{b7} datasync-warden",
        a.event, a.severity, a.state, a.at
    );
    let blocks = vec![
        Block::Header {
            text: Text::PlainText {
                text: truncate(&heading, HEADER_MAX).into_owned(),
                emoji: true,
            },
        },
        Block::Section(Section {
            text: Some(mrkdwn(escaped(body, SECTION_TEXT_MAX))),
            fields: Vec::new(),
        }),
        Block::Section(Section { text: None, fields }),
        Block::Context {
            elements: vec![mrkdwn(escaped(&context, SECTION_TEXT_MAX))],
        },
    ];
    Message { text, blocks }
}
