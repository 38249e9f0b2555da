//! Configuration: TOML fragments → merged keys → validated [`Settings`].
//!
//! The main file (default `/etc/datasync-warden/config.toml`) is read first, then every
//! `config.d/*.toml` beside it in lexical order; a later fragment wins key by key. Every error
//! names the file, the position and the key, and says what would be valid.

pub mod alerts;
mod fragment;
mod instance;
mod parse_error;
pub mod secret;
mod settings;
mod show;
mod values;

use std::io;
use std::path::{Path, PathBuf};

pub use fragment::{Merged, MergedDestination, OneOrMany, Origin, Sourced};
pub use instance::{Instance, MAX_INSTANCE_LEN};
pub use settings::*;
pub use show::{Entry, REDACTED, Section, Shown, origin_label};

/// Default location of the main configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/datasync-warden/config.toml";

/// Name of the drop-in directory beside the main file.
pub const FRAGMENT_DIR: &str = "config.d";

/// A configuration problem. Always exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file is not valid TOML or has a key or type the daemon does not know.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// The parser's explanation.
        message: String,
    },
    /// A value has the right type but is not acceptable.
    #[error("{origin}: {key} = {value}: {problem}")]
    Invalid {
        /// Where it was set.
        origin: Origin,
        /// Dotted key, e.g. `endpoint.vpc_endpoint_id`.
        key: &'static str,
        /// The value as written (TOML syntax).
        value: String,
        /// What is wrong and what would be valid.
        problem: String,
    },
    /// A key needed for what was asked is not set anywhere.
    #[error("{key} is not set in {files}: {why}")]
    Missing {
        /// Dotted key.
        key: &'static str,
        /// The files that were read.
        files: String,
        /// Why it is needed.
        why: &'static str,
    },
}

impl ConfigError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "config_read",
            ConfigError::Parse { .. } => "config_parse",
            ConfigError::Invalid { .. } => "config_invalid",
            ConfigError::Missing { .. } => "config_missing",
        }
    }
}

/// The files that make up a configuration rooted at `main`, in the order they apply.
///
/// A missing main file is tolerated when fragments exist: golden images often ship only a
/// `config.d/50-instance.toml` written by cloud-init.
pub fn files(main: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let dir = main.parent().unwrap_or(Path::new(".")).join(FRAGMENT_DIR);
    let mut fragments = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect::<Vec<_>>(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(ConfigError::Read { path: dir, source }),
    };
    fragments.sort();
    let mut out = Vec::with_capacity(fragments.len() + 1);
    match std::fs::metadata(main) {
        Ok(_) => out.push(main.to_path_buf()),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !fragments.is_empty() => {}
        Err(source) => {
            return Err(ConfigError::Read {
                path: main.to_path_buf(),
                source,
            });
        }
    }
    out.extend(fragments);
    Ok(out)
}

/// Where a configuration comes from: its main file and the instance it is for. What the
/// commands load at start and the daemon reloads on SIGHUP, so both apply the same defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The main file (`config.d/` beside it).
    pub path: PathBuf,
    /// `--instance NAME`.
    pub instance: Option<Instance>,
}

impl Source {
    /// `--config` when given; else the instance's `/etc/datasync-warden/NAME/config.toml`;
    /// else the default `/etc/datasync-warden/config.toml`.
    pub fn new(config: Option<PathBuf>, instance: Option<Instance>) -> Source {
        let path = config.unwrap_or_else(|| match &instance {
            Some(i) => i.config_path(),
            None => PathBuf::from(DEFAULT_CONFIG_PATH),
        });
        Source { path, instance }
    }

    /// Reads, merges and validates it.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        load_for(&self.path, self.instance.as_ref())
    }

    /// [`Source::load`], and each value with where it came from (`config show`).
    pub fn show(&self) -> Result<(Settings, Shown), ConfigError> {
        let (files, merged) = merge(&self.path)?;
        let settings =
            Settings::validate_for(merged.clone(), names(&files), self.instance.as_ref())?;
        let shown = Shown::new(files, &settings, &merged);
        Ok((settings, shown))
    }
}

/// Reads, merges and validates the configuration rooted at `main`.
pub fn load(main: &Path) -> Result<Settings, ConfigError> {
    load_for(main, None)
}

/// [`load`] for `--instance NAME` (its defaults: see [`Settings::validate_for`]).
pub fn load_for(main: &Path, instance: Option<&Instance>) -> Result<Settings, ConfigError> {
    let (files, merged) = merge(main)?;
    Settings::validate_for(merged, names(&files), instance)
}

/// The files of the configuration rooted at `main`, read and merged.
fn merge(main: &Path) -> Result<(Vec<PathBuf>, Merged), ConfigError> {
    let files = files(main)?;
    let mut merged = Merged::default();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let fragment = fragment::parse(path, &text)?;
        merged.apply(path, &text, fragment);
    }
    Ok((files, merged))
}

/// The files as messages name them.
fn names(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a configuration from one in-memory text, for tests and tools.
pub fn from_str(path: &Path, text: &str) -> Result<Settings, ConfigError> {
    from_str_for(path, text, None)
}

/// [`from_str`] for `--instance NAME`.
pub fn from_str_for(
    path: &Path,
    text: &str,
    instance: Option<&Instance>,
) -> Result<Settings, ConfigError> {
    let mut merged = Merged::default();
    merged.apply(path, text, fragment::parse(path, text)?);
    Settings::validate_for(merged, path.display().to_string(), instance)
}
