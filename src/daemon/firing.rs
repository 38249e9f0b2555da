//! The alerts that are firing, kept in `<state.dir>/alerts.json` across restarts: a daemon
//! restarted during an outage (a reboot, an upgrade, the watchdog) still sends the recovery
//! that resolves the incident its predecessor opened, and does not page again for an outage
//! already paged. Only the daemon writes this file; losing it costs at most an unresolved
//! incident, never the activation, so a failure to read or write it is a warning.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::activation::state::replace_file;
use crate::daemon::monitor::{EventKind, Firing};

/// The file's name in the state directory.
pub(crate) const FIRING_FILE: &str = "alerts.json";
/// Schema version of the file.
const VERSION: u32 = 1;
/// Largest file read: a few hundred bytes when valid.
const MAX_BYTES: u64 = 16 * 1024;
/// One read or write of the file on the blocking pool: a local file of a few hundred bytes.
pub(crate) const FIRING_IO_BOUND: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
struct File {
    version: u32,
    /// The agent the alerts are about: another agent's file is ignored.
    agent_arn: String,
    /// Declared OFFLINE since, seconds since the epoch.
    offline_since: Option<u64>,
    /// The failures alerted (`api_errors`, `agent_missing`), in the order they fired.
    failing: Vec<String>,
}

/// The firing alerts recorded for `agent_arn` in `dir`; none when there is no file, it is
/// another agent's, or it cannot be read (logged).
pub(crate) fn load(dir: &Path, agent_arn: &str) -> Firing {
    let path = dir.join(FIRING_FILE);
    let text = match read_capped(&path) {
        Ok(Some(t)) => t,
        Ok(None) => return Firing::default(),
        Err(e) => {
            log::warn!("ignoring {}: {e}", path.display());
            return Firing::default();
        }
    };
    match serde_json::from_str::<File>(&text) {
        Ok(f) if f.version == VERSION && f.agent_arn == agent_arn => Firing {
            offline_since: f
                .offline_since
                .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
            failing: EventKind::ALL
                .into_iter()
                .filter(|k| f.failing.iter().any(|n| n == k.as_str()))
                .filter(|k| matches!(k, EventKind::ApiErrors | EventKind::AgentMissing))
                .collect(),
        },
        Ok(_) => Firing::default(),
        Err(e) => {
            log::warn!(
                "ignoring {}: not a firing-alerts file ({e})",
                path.display()
            );
            Firing::default()
        }
    }
}

/// `firing` in words for the log.
pub(crate) fn describe(firing: &Firing) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(since) = firing.offline_since {
        parts.push(format!(
            "OFFLINE since {}",
            humantime::format_rfc3339_seconds(since)
        ));
    }
    parts.extend(firing.failing.iter().map(|k| k.as_str().to_string()));
    parts.join(", ")
}

/// Records `firing` for `agent_arn` in `dir` (atomically: the old file or the new one).
pub(crate) fn save(dir: &Path, agent_arn: &str, firing: &Firing) -> Result<(), String> {
    let file = File {
        version: VERSION,
        agent_arn: agent_arn.to_string(),
        offline_since: firing
            .offline_since
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
        failing: firing
            .failing
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
    };
    let mut json = serde_json::to_vec_pretty(&file).unwrap_or_default();
    json.push(b'\n');
    // A monitor-only host (agent.arn) may never have written state.json.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    replace_file(dir, FIRING_FILE, &json)
        .map_err(|(op, e)| format!("failed to {op} {}: {e}", dir.join(FIRING_FILE).display()))
}

fn read_capped(path: &PathBuf) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    f.take(MAX_BYTES).read_to_string(&mut text)?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:datasync:us-east-1:111122223333:agent/agent-0123456789abcdef0";

    #[test]
    fn round_trips_and_ignores_what_is_not_its_own() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), ARN), Firing::default(), "no file");
        let f = Firing {
            offline_since: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            failing: vec![EventKind::ApiErrors, EventKind::AgentMissing],
        };
        save(dir.path(), ARN, &f).unwrap();
        assert_eq!(load(dir.path(), ARN), f);
        assert_eq!(
            load(dir.path(), "arn:other"),
            Firing::default(),
            "another agent's"
        );
        std::fs::write(dir.path().join(FIRING_FILE), "{not json").unwrap();
        assert_eq!(load(dir.path(), ARN), Firing::default(), "garbage");
    }
}
