//! Microsoft Teams through a Workflows webhook ("Post to a channel when a webhook request is
//! received"): a `message` whose one attachment is an Adaptive Card. Workflows take Adaptive
//! Cards only; the Office 365 connector's MessageCard is retired.
//!
//! Shape: Microsoft Learn, "Create and send messages" (connectors-using: the `message` envelope
//! with `contentType` `application/vnd.microsoft.card.adaptive`, `contentUrl` null, `content`
//! the card), the Adaptive Cards schema (adaptivecards.io: TextBlock, RichTextBlock/TextRun,
//! FactSet, Container) and "Format cards in Teams" (Markdown is applied to TextBlock and to
//! Fact title and value). Version 1.4: Teams renders up to 1.5 (Microsoft Copilot Studio's
//! Adaptive Cards overview: "Teams is also limited to version 1.5"); nothing here needs more
//! than 1.2 (RichTextBlock), and 1.4 is what the Workflows card designer writes.
//!
//! Outside text never goes through Markdown: the message is a TextRun ("Markdown is not
//! supported"), and fact values have Markdown's link and emphasis characters backslash-escaped.

use serde::Serialize;

use super::{Alert, line, outage, resolves, title, truncate};

/// The Adaptive Card schema version written in each card.
pub(crate) const CARD_VERSION: &str = "1.4";
/// The attachment's content type for an Adaptive Card.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
const SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
/// The message text: Teams refuses a post over about 28 KB ("Microsoft Teams" connector
/// documentation, message size limit); 2,000 characters (≤ 8 KB in UTF-8) leave room for the
/// facts and the envelope.
pub(crate) const TEXT_MAX: usize = 2000;
/// Each fact value: nine facts of at most 256 characters stay under 10 KB.
pub(crate) const FACT_MAX: usize = 256;

#[derive(Serialize)]
pub(super) struct Message {
    #[serde(rename = "type")]
    kind: &'static str,
    attachments: [Attachment; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    content_type: &'static str,
    /// Always null: the card is inline.
    content_url: Option<String>,
    content: Card,
}

#[derive(Serialize)]
struct Card {
    #[serde(rename = "$schema")]
    schema: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
    body: Vec<Element>,
    msteams: TeamsProperties,
}

/// Teams' extension: the card uses the full width of the channel.
#[derive(Serialize)]
struct TeamsProperties {
    width: &'static str,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Element {
    Container {
        style: &'static str,
        items: Vec<Element>,
    },
    TextBlock {
        text: String,
        wrap: bool,
        size: &'static str,
        weight: &'static str,
        color: &'static str,
    },
    RichTextBlock {
        inlines: Vec<Inline>,
    },
    FactSet {
        facts: Vec<Fact>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Inline {
    TextRun { text: String },
}

#[derive(Serialize)]
struct Fact {
    title: &'static str,
    value: String,
}

/// Backslash-escapes what Teams' Markdown subset acts on (links, bold, italics, code,
/// strikethrough), so a fact value shows as sent.
fn escape(c: char, out: &mut String) {
    if matches!(c, '\\' | '[' | ']' | '*' | '_' | '`' | '~') {
        out.push('\\');
    }
    out.push(c);
}

/// Where a backslash keeps Markdown from reading the start of `value` as a list item or
/// heading: before the marker of "- x", "# x", "> x"; before the dot of "1. x" (a backslash
/// before a digit escapes nothing and would show).
fn block_escape_at(value: &str) -> Option<usize> {
    let digits = value.len() - value.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if value.starts_with(['-', '+', '#', '>']) {
        Some(0)
    } else if digits > 0 && value[digits..].starts_with(['.', ')']) {
        Some(digits)
    } else {
        None
    }
}

fn fact(title: &'static str, value: &str) -> Fact {
    let value = line(value);
    // One unit kept for the backslash a block-like start needs.
    let mut out = super::fit(&value, FACT_MAX - 1, escape).into_owned();
    if let Some(at) = block_escape_at(&out) {
        out.insert(at, '\\');
    }
    Fact { title, value: out }
}

/// Container style and title colour: attention while critical, warning for a warning, good
/// once resolved.
fn colours(a: &Alert) -> (&'static str, &'static str) {
    if resolves(a) {
        return ("good", "good");
    }
    match a.severity {
        "critical" => ("attention", "attention"),
        "warning" => ("warning", "warning"),
        _ => ("emphasis", "default"),
    }
}

fn facts(a: &Alert) -> Vec<Fact> {
    let mut facts = vec![
        fact("Agent", &a.agent_name),
        fact("Agent ARN", &a.agent_arn),
        fact("Region", &a.region),
        fact("Host", &a.host),
        fact("Status", &a.status),
    ];
    if let Some(since) = &a.since {
        facts.push(fact("OFFLINE since", since));
    }
    if let Some(outage) = outage(a) {
        facts.push(fact("Outage", &outage));
    }
    facts.push(fact(
        "Event",
        &format!("{} ({}, {})", a.event, a.severity, a.state),
    ));
    facts.push(fact("At", &a.at));
    facts
}

pub(super) fn message(a: &Alert) -> Message {
    let (style, color) = colours(a);
    // The title is our own words (no outside text), so Markdown cannot touch it.
    let heading = Element::TextBlock {
        text: title(a.event).to_string(),
        wrap: true,
        size: "Large",
        weight: "Bolder",
        color,
    };
    let message = if a.message.trim().is_empty() {
        title(a.event)
    } else {
        &a.message
    };
    let text = truncate(&line(message), TEXT_MAX).into_owned();
    let body = vec![
        Element::Container {
            style,
            items: vec![heading],
        },
        Element::RichTextBlock {
            inlines: vec![Inline::TextRun { text }],
        },
        Element::FactSet { facts: facts(a) },
    ];
    Message {
        kind: "message",
        attachments: [Attachment {
            content_type: CONTENT_TYPE,
            content_url: None,
            content: Card {
                schema: SCHEMA,
                kind: "AdaptiveCard",
                version: CARD_VERSION,
                body,
                msteams: TeamsProperties { width: "Full" },
            },
        }],
    }
}
