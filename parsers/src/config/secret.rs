//! Secrets in the configuration: written inline or, better, kept in a file named by a `*_file`
//! key: an absolute path, or a bare name looked up in `$CREDENTIALS_DIRECTORY` (systemd's
//! `LoadCredential=`). Files are read when the daemon starts and on every reload; neither their
//! content nor an inline value is ever shown, in errors or in `Debug`.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{ConfigError, Origin};
use crate::redact::redact_url;

/// What `config show` prints instead of a secret. Refused as a secret's value, so a copy of its
/// output fails validation at that key instead of posting with a placeholder.
pub const REDACTED: &str = "(redacted)";

/// A credential file larger than this is a mistake (a whole bundle named instead of one
/// secret): webhook URLs and tokens are well under a kilobyte.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;
/// `O_NONBLOCK` on Linux (asm-generic/fcntl.h): the parsers crate takes no libc dependency
/// for one flag.
const O_NONBLOCK: i32 = 0o4000;

/// A value that must not be shown; `Debug` says only that it is there.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What a secret must look like once read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An http:// or https:// URL (its path and query are the secret).
    Url,
    /// A token: printable ASCII without spaces (a PagerDuty routing key).
    Token,
    /// An HTTP header value: visible ASCII, spaces and tabs (`Bearer …`).
    HeaderValue,
}

impl Shape {
    /// Checks `v`; the error never quotes `v`.
    pub(super) fn check(self, v: &str) -> Result<(), String> {
        if v.is_empty() {
            return Err("is empty".into());
        }
        if v == REDACTED {
            return Err(format!(
                "{REDACTED} is what `config show` prints for a secret, not one: write the \
                 secret in a file and name it in the *_file key"
            ));
        }
        match self {
            Shape::Url => {
                let uri: http::Uri = super::values::http_url(v)?
                    .parse()
                    .map_err(|_| "not a URL".to_string())?;
                // hyper would not send them, and a proxy request would carry them in the clear.
                if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
                    return Err(
                        "user:password@ in the URL is not sent; put the credentials in \
                                header_files = { Authorization = \"<file holding Basic …>\" }"
                            .into(),
                    );
                }
                Ok(())
            }
            Shape::Token if v.chars().all(|c| c.is_ascii_graphic()) => Ok(()),
            Shape::Token => Err("expected printable ASCII without spaces".into()),
            Shape::HeaderValue if http::HeaderValue::from_str(v).is_ok() => Ok(()),
            Shape::HeaderValue => {
                Err("expected visible ASCII, spaces and tabs (no line breaks)".into())
            }
        }
    }

    /// The value as an error may show it: a URL's scheme and host, nothing of a token.
    pub(super) fn shown(self, v: &str) -> String {
        match self {
            Shape::Url => format!("{:?}", redact_url(v)),
            Shape::Token | Shape::HeaderValue => "(secret, not shown)".into(),
        }
    }
}

/// Where a `*_file` key points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretFile {
    /// An absolute path.
    Path(PathBuf),
    /// A systemd credential name, read from `$CREDENTIALS_DIRECTORY/<name>`.
    Credential(String),
}

impl SecretFile {
    /// Parses a `*_file` value: an absolute path or a bare name. Names are held to letters,
    /// digits and `_.@-` (systemd takes more, but `LoadCredential=NAME:PATH` cannot hold `:`):
    /// a URL, a `Bearer …` header or any value with spaces is refused as no name at all.
    pub(super) fn parse(v: &str) -> Result<SecretFile, String> {
        let name = (1..=255).contains(&v.len())
            && v != "."
            && v != ".."
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'));
        if v.starts_with('/') {
            Ok(SecretFile::Path(PathBuf::from(v)))
        } else if name {
            Ok(SecretFile::Credential(v.to_string()))
        } else {
            Err(
                "expected an absolute path, or a bare credential name (letters, digits, _ . @ -) \
                 that systemd's LoadCredential= puts in $CREDENTIALS_DIRECTORY; the value itself \
                 is not shown, in case it is the secret"
                    .into(),
            )
        }
    }
}

/// A secret as configured: the value, or the file that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the configuration.
    Inline(Secret),
    /// Read from a file at start and on reload.
    File(SecretFile),
}

/// A configured secret with the key and place that set it, for errors when it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The value or its file.
    pub source: SecretSource,
    /// What the value must look like.
    pub shape: Shape,
    /// The dotted key that set it (`alerts.destinations.url_file`).
    pub key: &'static str,
    /// Where.
    pub origin: Origin,
    /// The value as written, for errors (a file's path; never an inline secret).
    pub written: String,
}

impl SecretRef {
    /// The secret: the inline value, or the file's content without surrounding whitespace
    /// (editors and `echo` add a final newline). `credentials` is `$CREDENTIALS_DIRECTORY`.
    pub fn read(&self, credentials: Option<&Path>) -> Result<Secret, ConfigError> {
        let file = match &self.source {
            SecretSource::Inline(s) => return Ok(s.clone()),
            SecretSource::File(f) => f,
        };
        let path = match (file, credentials) {
            (SecretFile::Path(p), _) => p.clone(),
            (SecretFile::Credential(name), Some(dir)) => dir.join(name),
            (SecretFile::Credential(name), None) => {
                return Err(self.error(format!(
                    "a bare name is a systemd credential, but $CREDENTIALS_DIRECTORY is not set: \
                     add LoadCredential={name}:/path/to/file to the unit (see the README), or \
                     give an absolute path"
                )));
            }
        };
        let text = read_capped(&path).map_err(|e| {
            let hint = match file {
                SecretFile::Credential(name) if e.kind() == std::io::ErrorKind::NotFound => {
                    format!(" (is LoadCredential={name}:… in the unit?)")
                }
                _ => String::new(),
            };
            self.error(format!("cannot read {}: {e}{hint}", path.display()))
        })?;
        let value = text.trim();
        if value.is_empty() {
            return Err(self.error(format!("{} is empty", path.display())));
        }
        self.shape.check(value).map_err(|p| {
            self.error(format!(
                "the content of {} is not valid: {p} (the content is not shown)",
                path.display()
            ))
        })?;
        Ok(Secret::new(value))
    }

    fn error(&self, problem: String) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.clone(),
            key: self.key,
            value: self.written.clone(),
            problem,
        }
    }
}

/// Reads at most [`MAX_SECRET_FILE`] bytes of UTF-8 from a regular file. Opened non-blocking
/// and checked before reading, so a FIFO or a device named by mistake is refused at once
/// instead of blocking the reader (the daemon reads these on its one runtime thread).
fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a FIFO, socket or device is never read)",
        ));
    }
    let mut text = String::new();
    file.take(MAX_SECRET_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_SECRET_FILE} bytes: name the file holding the one secret"
        )));
    }
    Ok(text)
}
