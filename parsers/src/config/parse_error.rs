//! What a TOML parse error says about the key it is at. The parser reports type errors with a
//! byte position only; the key is read back from the document's parse tree (toml_edit keeps the
//! span of every key and value), never guessed from the line's text: a continuation line of a
//! multi-line array, or a table header with a comment, would otherwise make part of a value,
//! perhaps a webhook URL, pass for a key and be printed.

use toml_edit::{ImDocument, Item, TableLike};

/// The dotted path (`alerts.destinations.url`, keys quoted as TOML wants them, the same form
/// as validation errors: the line and column say which destination) of the innermost key or
/// value holding byte `offset`; `None` when the text is no TOML document or
/// nothing holds the offset.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = ImDocument::parse(text).ok()?;
    let mut path = Vec::new();
    in_table(doc.as_table(), offset, &mut path).then(|| path.concat())
}

/// Whether a path from [`key_at`] is in `[alerts]`, whose values may all be secrets.
pub(super) fn under_alerts(path: &str) -> bool {
    path == "alerts" || path.starts_with("alerts.")
}

/// serde's quotes of the value it refused (`string "…"`, ``integer `…` ``, ``floating point
/// `…` ``, ``boolean `…` ``, ``character `…` ``: serde's `Unexpected`) as its type alone, `a
/// string`, `an integer`: a header's value may be all digits.
pub(super) fn unquote_values(message: &str) -> String {
    let re = regex_lite::Regex::new(
        r#"string "(?:[^"\\]|\\.)*"|(integer|floating point|boolean|character) `[^`]*`"#,
    )
    .expect("valid pattern");
    re.replace_all(message, |c: &regex_lite::Captures<'_>| {
        match c.get(1).map(|m| m.as_str()) {
            None => "a string",
            Some("integer") => "an integer",
            Some("floating point") => "a floating-point number",
            Some("boolean") => "a boolean",
            Some(_) => "a character",
        }
    })
    .into_owned()
}

fn holds(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.contains(&offset))
}

/// `key` as a path segment: `.key` (or the bare key at the root), quoted when TOML needs it.
fn segment(path: &[String], key: &str) -> String {
    let key = toml_edit::Key::new(key).display_repr().into_owned();
    if path.is_empty() {
        key
    } else {
        format!(".{key}")
    }
}

/// A standard table or an inline one (`TableLike` yields an inline table's values as items).
fn in_table(table: &dyn TableLike, offset: usize, path: &mut Vec<String>) -> bool {
    for (name, item) in table.iter() {
        path.push(segment(path, name));
        let key_span = table.get_key_value(name).and_then(|(k, _)| k.span());
        if holds(key_span, offset) || in_item(item, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn in_item(item: &Item, offset: usize, path: &mut Vec<String>) -> bool {
    match item {
        Item::None => false,
        // An inline table, an array or a scalar: the value itself, or a key inside it.
        Item::Value(v) => {
            if !holds(v.span(), offset) {
                return false;
            }
            if let Some(t) = v.as_inline_table() {
                in_table(t, offset, path);
            }
            true
        }
        // A key inside first: a table's span may cover its body too.
        Item::Table(t) => in_table(t, offset, path) || holds(t.span(), offset),
        Item::ArrayOfTables(tables) => tables
            .iter()
            .any(|t| in_table(t, offset, path) || holds(t.span(), offset)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path at the first byte of `needle` in `text`.
    fn at(text: &str, needle: &str) -> Option<String> {
        key_at(text, text.find(needle).expect("needle in text"))
    }

    #[test]
    fn paths_come_from_the_parse_tree() {
        let t = "[agent]\nactivation_port = \"80\"\n";
        assert_eq!(at(t, "\"80\"").as_deref(), Some("agent.activation_port"));
        assert_eq!(
            at(t, "activation").as_deref(),
            Some("agent.activation_port")
        );
        let t = "[[alerts.destinations]]\nname = \"a\"\n[[alerts.destinations]]\nurl = 5\n";
        assert_eq!(at(t, "5").as_deref(), Some("alerts.destinations.url"));
        let t = "alerts = { webhook = 5 }\n";
        assert_eq!(at(t, "5").as_deref(), Some("alerts.webhook"));
        let t = "[activation.tags]\n\"a b\" = 5\n";
        assert_eq!(at(t, "5").as_deref(), Some("activation.tags.\"a b\""));
    }

    #[test]
    fn no_part_of_a_value_passes_for_a_key() {
        // The second line of a multi-line array: its text before '=' is part of a URL.
        let t = "[alerts]\ndestinations = [\n  \"https://h/x/T/B/SECRET?a=1\",\n]\n";
        let path = at(t, "\"https").expect("inside the array");
        assert_eq!(path, "alerts.destinations");
        // A header with a comment is still the [alerts] table.
        let t = "[alerts] # paging\ndestinations = \"https://h/SECRET\"\n";
        assert!(under_alerts(&at(t, "\"https").expect("a value")));
        let t = "[\"alerts\"] # x\ndestinations = \"https://h/SECRET\"\n";
        assert!(under_alerts(&at(t, "\"https").expect("a value")));
    }

    #[test]
    fn offsets_anywhere_do_not_panic() {
        let t = "a = \"é\"\n[b]\nc = [1,\n 2]\n[[d]]\ne = { f = 1 }\n";
        for offset in 0..t.len() + 3 {
            let _ = key_at(t, offset);
        }
        assert_eq!(key_at("not = = toml", 0), None);
    }

    #[test]
    fn no_refused_value_is_quoted() {
        for (message, want) in [
            (
                r#"invalid type: string "a\"b", expected u16"#,
                "invalid type: a string, expected u16",
            ),
            (
                "invalid type: integer `123456789012`, expected a string",
                "invalid type: an integer, expected a string",
            ),
            (
                "invalid type: floating point `1.5e9`, expected a string",
                "invalid type: a floating-point number, expected a string",
            ),
            (
                "invalid type: boolean `true`, expected a string",
                "invalid type: a boolean, expected a string",
            ),
            (
                "invalid type: sequence, expected a string",
                "invalid type: sequence, expected a string",
            ),
        ] {
            assert_eq!(unquote_values(message), want);
        }
    }

    #[test]
    fn under_alerts_is_the_table_only() {
        assert!(under_alerts("alerts"));
        assert!(under_alerts("alerts.webhook"));
        assert!(!under_alerts("alertsx.webhook"));
        assert!(!under_alerts("agent.name"));
    }
}
