//! `activate --activation-key`: the key itself, `-` (standard input) or a file holding it.
//!
//! A key on the command line shows in `ps` and shell history for its 30-minute life; stdin and
//! a root-only file do not. A key has no `/`, so a value is a key, `-`, or else a path.

use std::io::{self, BufRead, Read};
use std::path::PathBuf;

use crate::agent::activation_key::ActivationKey;

/// Largest key file or stdin line read: a key is 29 bytes; 1 KiB allows a BOM, CRLF and
/// trailing blanks, and keeps `--activation-key /dev/zero` from reading forever.
const MAX_KEY_BYTES: u64 = 1024;

/// What a valid value looks like, for every error.
const VALID: &str = "five groups of five upper-case letters or digits, e.g. \
    ABCDE-12345-FGHIJ-67890-KLMNO";

/// `--activation-key` yields no key. Never quotes what was read: it may be a mistyped key.
#[derive(Debug, thiserror::Error)]
pub enum BadKey {
    /// Neither a key, `-`, nor an existing file.
    #[error(
        "--activation-key: expected {VALID}; or `-` to read it from standard input; or the \
         path of a file holding it"
    )]
    Value,
    /// The file could not be read.
    #[error("--activation-key {}: cannot read the file ({source}); expected a readable file holding one key ({VALID})", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file (or stdin) holds something else than one key.
    #[error(
        "--activation-key {}: {what}; expected one key ({VALID})",
        source_name(path)
    )]
    NotAKey {
        /// The file; `-` for standard input.
        path: PathBuf,
        /// What was found instead, without quoting it.
        what: String,
    },
}

fn source_name(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" {
        "- (standard input)".into()
    } else {
        path.display().to_string()
    }
}

/// The key `value` names; `stdin` is read only for `-`.
pub(crate) fn read_key(value: &str, stdin: impl BufRead) -> Result<ActivationKey, BadKey> {
    if value == "-" {
        let mut line = Vec::new();
        stdin
            .take(MAX_KEY_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| BadKey::Read {
                path: "-".into(),
                source,
            })?;
        return key_in("-".into(), &line);
    }
    if let Some(key) = ActivationKey::parse(value.trim()) {
        return Ok(key);
    }
    let path = PathBuf::from(value);
    let mut text = Vec::new();
    match std::fs::File::open(&path).and_then(|f| f.take(MAX_KEY_BYTES + 1).read_to_end(&mut text))
    {
        Ok(_) => key_in(path, &text),
        // No `/` and no such file: most likely a mistyped key, which must not be echoed.
        Err(e) if e.kind() == io::ErrorKind::NotFound && !value.contains('/') => Err(BadKey::Value),
        Err(source) => Err(BadKey::Read { path, source }),
    }
}

/// The one key in `bytes` (surrounding blanks and a BOM allowed).
fn key_in(path: PathBuf, bytes: &[u8]) -> Result<ActivationKey, BadKey> {
    let not_a_key = |what: String| BadKey::NotAKey {
        path: path.clone(),
        what,
    };
    if bytes.len() as u64 > MAX_KEY_BYTES {
        return Err(not_a_key(format!("more than {MAX_KEY_BYTES} bytes")));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| not_a_key("not UTF-8 text".into()))?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(not_a_key("empty".into()));
    }
    ActivationKey::parse(text).ok_or_else(|| {
        not_a_key(format!(
            "{} characters that are not a key",
            text.chars().count()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Unlike the example in the messages, so that "not echoed" means something.
    const KEY: &str = "ZZZZZ-99999-YYYYY-88888-XXXXX";

    fn read(value: &str, stdin: &str) -> Result<String, String> {
        read_key(value, stdin.as_bytes())
            .map(|k| k.expose().to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_key_a_dash_or_a_file() {
        assert_eq!(read(KEY, "").unwrap(), KEY);
        assert_eq!(read(&format!(" {KEY}\n"), "").unwrap(), KEY);
        assert_eq!(read("-", &format!("{KEY}\r\nignored")).unwrap(), KEY);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, format!("\u{feff}{KEY}\n")).unwrap();
        assert_eq!(read(file.to_str().unwrap(), "").unwrap(), KEY);
    }

    #[test]
    fn errors_name_the_source_never_its_content() {
        let near = "ZZZZZ-99999-YYYYY-88888-XXXX"; // one character short
        let e = read(near, "").unwrap_err();
        assert!(
            e.starts_with("--activation-key: expected five groups"),
            "{e}"
        );
        assert!(!e.contains(near), "{e}");

        let e = read("-", &format!("{near}\n")).unwrap_err();
        assert!(e.contains("- (standard input)") && !e.contains(near), "{e}");
        assert!(read("-", "").unwrap_err().contains("empty"));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.txt");
        std::fs::write(&file, format!("the key is {KEY}\n")).unwrap();
        let e = read(file.to_str().unwrap(), "").unwrap_err();
        assert!(
            e.contains(file.to_str().unwrap()) && !e.contains("99999"),
            "{e}"
        );
        assert!(e.contains("expected one key"), "{e}");

        let missing = dir.path().join("nope");
        let e = read(missing.to_str().unwrap(), "").unwrap_err();
        assert!(
            e.contains(missing.to_str().unwrap()) && e.contains("cannot read"),
            "{e}"
        );

        let big = dir.path().join("big");
        std::fs::write(&big, "A".repeat(5000)).unwrap();
        assert!(
            read(big.to_str().unwrap(), "")
                .unwrap_err()
                .contains("more than 1024 bytes")
        );
    }
}
