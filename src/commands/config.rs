//! `config show` and `config check`: the configuration as the daemon would use it, read from
//! the files alone (no network call, no state file, no lock), so a Packer build, an
//! `ExecStartPre=` or an operator can run them anywhere.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::emit;
use crate::cli::{ConfigAction, ShowFormat};
use crate::config::alerts::Destination;
use crate::config::secret::{SecretFile, SecretRef, SecretSource};
use crate::config::{Shown, Source, origin_label};

pub(super) fn config(source: &Source, action: ConfigAction) -> Result<ExitCode> {
    let (settings, shown) = source.show()?;
    match action {
        ConfigAction::Show {
            show_origin,
            format,
        } => {
            let text = match format {
                ShowFormat::Toml => shown.to_toml(show_origin),
                ShowFormat::Json => format!("{:#}\n", to_json(&shown, show_origin)),
            };
            emit(&text)?;
        }
        ConfigAction::Check => {
            // Where the daemon would look: the same environment, read the same way.
            let credentials = crate::daemon::Environment::from_process().credentials_dir;
            let read = read_secrets(&settings.alerts.destinations, credentials.as_deref())
                .context("failed to read a secret the configuration names")?;
            let instance = match &settings.instance {
                Some(i) => format!(" (instance {})", i.as_str()),
                None => String::new(),
            };
            let mut text = format!("configuration OK{instance}: {}\n", settings.files);
            for r in read.unread {
                text.push_str(&format!(
                    "note: {} = {} is a systemd credential, read when the service starts \
                     ($CREDENTIALS_DIRECTORY is not set here)\n",
                    r.key, r.written
                ));
            }
            for (r, path, why) in read.private {
                text.push_str(&format!(
                    "note: {} = {} {why}: read here, but the shipped units run as a dynamic \
                     user, which cannot read it; pass it with LoadCredential=NAME:{} and write \
                     NAME instead of the path (see the README)\n",
                    r.key,
                    r.written,
                    path.display()
                ));
            }
            emit(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What [`read_secrets`] could not vouch for.
struct Read<'a> {
    /// Credentials that cannot be read here: `$CREDENTIALS_DIRECTORY` is not set.
    unread: Vec<&'a SecretRef>,
    /// Files read here (as their owner, or as root) that the service's dynamic user, neither
    /// owner nor group, could not, and why.
    private: Vec<(&'a SecretRef, &'a Path, String)>,
}

/// Reads every secret file the destinations name, as the daemon does at start.
fn read_secrets<'a>(
    destinations: &'a [Destination],
    credentials: Option<&Path>,
) -> Result<Read<'a>, crate::config::ConfigError> {
    let mut read = Read {
        unread: Vec::new(),
        private: Vec::new(),
    };
    for d in destinations {
        for r in d.secrets() {
            match (&r.source, credentials) {
                (SecretSource::File(SecretFile::Credential(_)), None) => read.unread.push(r),
                (SecretSource::File(SecretFile::Path(path)), _) => {
                    r.read(credentials)?;
                    if let Some(why) = hidden_from_the_unit(path) {
                        read.private.push((r, path, why));
                    }
                }
                _ => {
                    r.read(credentials)?;
                }
            }
        }
    }
    Ok(read)
}

/// Why the shipped units' dynamic user could not read `path`, a file read here: its sandbox
/// (`ProtectHome=yes`, `PrivateTmp=yes`) or the permissions of the file or a directory above it
/// (the user is no file's owner or group, so only the bits for others count).
fn hidden_from_the_unit(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    if mode(path) & 0o004 == 0 {
        return Some(format!(
            "is not readable by others (mode {:04o})",
            mode(path) & 0o7777
        ));
    }
    if let Some(closed) = path.ancestors().skip(1).find(|d| mode(d) & 0o001 == 0) {
        return Some(format!(
            "is in {}, which others cannot enter",
            closed.display()
        ));
    }
    if ["/home", "/root", "/run/user"]
        .iter()
        .any(|d| path.starts_with(d))
    {
        return Some("is in a home directory, which the units hide (ProtectHome=yes)".into());
    }
    if ["/tmp", "/var/tmp"].iter().any(|d| path.starts_with(d)) {
        return Some("is in /tmp or /var/tmp, which the units replace (PrivateTmp=yes)".into());
    }
    None
}

/// `{"files", "instance", "settings"}`, and with `show_origin` `"origins"`: dotted key (with
/// `[i]` for the i-th destination) to `file:line` or `default`. Unset keys are absent.
fn to_json(shown: &Shown, show_origin: bool) -> Value {
    let mut settings = Map::new();
    let mut origins = Map::new();
    let mut destinations = 0;
    for s in &shown.sections {
        let mut table = Map::new();
        let prefix = if s.array {
            destinations += 1;
            format!("{}[{}]", s.name, destinations - 1)
        } else {
            s.name.to_string()
        };
        for e in &s.entries {
            let Some(v) = &e.value else { continue };
            table.insert(
                e.key.clone(),
                serde_json::to_value(v).unwrap_or(Value::Null),
            );
            origins.insert(
                format!("{prefix}.{}", e.key),
                origin_label(e.origin.as_ref()).into(),
            );
        }
        if table.is_empty() && !s.array {
            continue;
        }
        insert(&mut settings, s.name, s.array, table);
    }
    let mut out = json!({
        "files": shown.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "instance": shown.instance.as_ref().map(|i| i.as_str()),
        "settings": settings,
    });
    if show_origin {
        out["origins"] = origins.into();
    }
    out
}

/// Puts `table` at the dotted `name` in `root` (pushed onto an array for `[[name]]`).
fn insert(root: &mut Map<String, Value>, name: &str, array: bool, table: Map<String, Value>) {
    let (parents, last) = match name.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, name),
    };
    let mut at = root;
    for part in parents.into_iter().flat_map(|p| p.split('.')) {
        at = at
            .entry(part)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("sections are tables");
    }
    if array {
        let list = at.entry(last).or_insert_with(|| Value::Array(Vec::new()));
        list.as_array_mut()
            .expect("an array of tables")
            .push(table.into());
    } else {
        match at.entry(last).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(o) => o.extend(table),
            other => *other = table.into(),
        }
    }
}
