//! The persisted activation state: `<state dir>/state.json`.
//!
//! Written atomically (temp file in the same directory, fsync, rename, fsync the directory) with
//! mode 0600 in a 0700 directory, so a crash leaves either the old or the new file, never a
//! torn one. The file records the machine it was written on: a state baked into a golden image
//! and found on a clone is not trusted.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::ids::AgentArn;

/// Current schema version of `state.json`.
pub(crate) const STATE_VERSION: u32 = 1;
/// Largest state file read. A record is well under 2 KiB; a bigger file is not ours, and
/// reading it whole could exhaust memory.
pub(crate) const MAX_STATE_BYTES: u64 = 64 * 1024;
/// The lock file in the state directory: held by whoever may write the state.
pub(crate) const LOCK_FILE: &str = ".lock";
/// Prefix of the temporary files a write renames into place; one left over is a killed write.
const TEMP_PREFIX: &str = ".state.json.";
/// The state file's name in the state directory (the interface contract).
const STATE_FILE: &str = "state.json";

/// What the daemon knows about its agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum Record {
    /// CreateAgent may have been sent with this token as a tag; the agent is not yet known.
    Activating {
        /// Random token, also sent as the `datasync-warden:activation-token` tag.
        activation_token: String,
        /// Agent name used for CreateAgent (narrows the search when adopting).
        agent_name: String,
        region: String,
        /// When this attempt started (RFC 3339).
        started_at: String,
    },
    /// The agent exists.
    Activated {
        agent_arn: AgentArn,
        agent_name: String,
        region: String,
        /// The VPC endpoint it was activated through.
        vpc_endpoint_id: String,
        /// The endpoint IP the agent was told to use.
        endpoint_ip: String,
        /// Subnet given to CreateAgent.
        subnet_arn: String,
        /// Security group given to CreateAgent.
        security_group_arn: String,
        /// When (RFC 3339).
        activated_at: String,
        /// The token it was tagged with.
        activation_token: String,
        /// True when found by its token after an interrupted run rather than from CreateAgent.
        adopted: bool,
    },
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StateFile {
    pub version: u32,
    /// `/etc/machine-id` of the machine that wrote it.
    pub machine_id: String,
    #[serde(flatten)]
    pub record: Record,
}

/// What was found on disk.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// No state file: not activated from this host.
    Absent,
    /// Written on another machine (image cloned after activation): not trusted.
    Foreign { theirs: String, ours: String },
    /// Ours.
    Mine(Box<StateFile>),
}

/// A state-file failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    /// Reading or writing failed.
    #[error("failed to {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        source: io::Error,
    },
    /// The file exists but is not a state file this version understands.
    #[error("{} is not a valid state file: {detail}", path.display())]
    Corrupt {
        path: PathBuf,
        /// Parser's words.
        detail: String,
    },
    /// No machine id could be read.
    #[error("cannot read this machine's id: {detail}")]
    MachineId {
        /// Why, naming the file.
        detail: String,
    },
    /// Another process holds the state directory's lock.
    #[error("the state directory {} is in use by {holder} (waited {})", dir.display(), humantime::format_duration(*waited))]
    Locked {
        dir: PathBuf,
        /// What the lock file says about its holder (pid and command).
        holder: String,
        /// How long this process waited.
        waited: Duration,
    },
}

impl StateError {
    /// Stable label for metrics and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            StateError::Io { .. } => "state_io",
            StateError::Corrupt { .. } => "state_corrupt",
            StateError::MachineId { .. } => "machine_id",
            StateError::Locked { .. } => "state_locked",
        }
    }

    /// What the operator should do.
    pub(crate) fn hint(&self) -> String {
        match self {
            StateError::Io { .. } => {
                "check state.dir exists and is writable by the daemon's user".into()
            }
            StateError::Corrupt { path, .. } => format!(
                "refusing to guess (activating again could orphan an agent): if the agent ARN is \
                 known, put it in agent.arn; otherwise move {} aside",
                path.display()
            ),
            StateError::MachineId { .. } => {
                "run systemd-machine-id-setup (every systemd host has one: 32 lower-case hex digits)"
                    .into()
            }
            StateError::Locked { .. } => "another datasync-warden command is activating this agent; \
                 wait for it to finish (`datasync-warden status` shows the daemon's progress) and run again. \
                 The daemon holds the lock for a whole attempt (port wait and key fetch included): to use \
                 `activate --activation-key` while it waits for the agent, `systemctl stop datasync-warden` first"
                .into(),
        }
    }
}

/// The start of a file's text, safe to print: 64 characters, control characters escaped.
pub(super) fn printable(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_default).collect()
}

/// Reads at most `cap` bytes as UTF-8; more is an `InvalidData` error.
pub(super) fn read_capped(f: fs::File, cap: u64) -> io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    f.take(cap + 1).read_to_string(&mut text)?;
    if text.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {cap} bytes"),
        ));
    }
    Ok(text)
}

/// Now, as RFC 3339 (UTC, seconds).
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The state directory and this machine's identity.
#[derive(Debug, Clone)]
pub(crate) struct StateStore {
    dir: PathBuf,
    machine_id: String,
}

impl StateStore {
    /// A store in `dir` for the machine `machine_id`.
    pub(crate) fn new(dir: impl Into<PathBuf>, machine_id: String) -> Self {
        Self {
            dir: dir.into(),
            machine_id,
        }
    }

    /// `<dir>/state.json`.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Reads the state file.
    pub(crate) fn load(&self) -> Result<Loaded, StateError> {
        let path = self.path();
        let text = match fs::File::open(&path).and_then(|f| read_capped(f, MAX_STATE_BYTES)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Absent),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(StateError::Corrupt {
                    path,
                    detail: e.to_string(),
                });
            }
            Err(source) => {
                return Err(StateError::Io {
                    op: "read",
                    path,
                    source,
                });
            }
        };
        let file: StateFile = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        if file.version != STATE_VERSION {
            return Err(StateError::Corrupt {
                path,
                detail: format!(
                    "schema version {} (this build reads {STATE_VERSION})",
                    file.version
                ),
            });
        }
        if file.machine_id != self.machine_id {
            return Ok(Loaded::Foreign {
                theirs: file.machine_id,
                ours: self.machine_id.clone(),
            });
        }
        Ok(Loaded::Mine(Box::new(file)))
    }

    /// Atomically replaces the state file with `record`.
    pub(crate) fn save(&self, record: &Record) -> Result<(), StateError> {
        let file = StateFile {
            version: STATE_VERSION,
            machine_id: self.machine_id.clone(),
            record: record.clone(),
        };
        let mut json = serde_json::to_vec_pretty(&file).expect("state serializes");
        json.push(b'\n');
        self.ensure_dir()?;
        replace_file(&self.dir, STATE_FILE, &json).map_err(|(op, source)| StateError::Io {
            op,
            path: if op == "fsync directory" {
                self.dir.clone()
            } else {
                self.path()
            },
            source,
        })
    }

    fn ensure_dir(&self) -> Result<(), StateError> {
        let io = |op, source| StateError::Io {
            op,
            path: self.dir.clone(),
            source,
        };
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
        {
            Ok(()) => {}
            Err(e) => return Err(io("create directory", e)),
        }
        let meta = fs::metadata(&self.dir).map_err(|e| io("inspect", e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "state directory {} was readable by others; setting mode 0700",
                self.dir.display()
            );
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| io("chmod", e))?;
        }
        Ok(())
    }
}

/// Atomically replaces `dir/name` with `bytes`, so that a crash leaves the old file or the new
/// one: a temporary file created 0600 in `dir` (a rename within one directory is atomic), fsync,
/// rename, fsync of `dir` (the directory entry itself must reach the disk). The error names the
/// step that failed.
pub(crate) fn replace_file(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), (&'static str, std::io::Error)> {
    // `.state.json.…` for the state file: TEMP_PREFIX, which the lock holder cleans up.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)
        .map_err(|e| ("create a temporary file beside", e))?;
    tmp.write_all(bytes).map_err(|e| ("write", e))?;
    tmp.as_file().sync_all().map_err(|e| ("fsync", e))?;
    tmp.persist(dir.join(name))
        .map_err(|e| ("rename into", e.error))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ("fsync directory", e))
}

mod lock;
mod machine_id;

pub(crate) use lock::StateLock;
pub(crate) use machine_id::machine_id;

#[cfg(test)]
mod tests {
    use super::lock::holder_line;
    use super::*;

    fn activating() -> Record {
        Record::Activating {
            activation_token: "t1".into(),
            agent_name: "a".into(),
            region: "us-east-1".into(),
            started_at: now_rfc3339(),
        }
    }

    #[test]
    fn save_then_load_round_trips_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let store = StateStore::new(&dir, "m1".into());
        assert!(matches!(store.load().unwrap(), Loaded::Absent));
        store.save(&activating()).unwrap();
        let Loaded::Mine(f) = store.load().unwrap() else {
            panic!()
        };
        assert_eq!(f.record, activating_with(&f));
        assert_eq!(
            fs::metadata(store.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    fn activating_with(f: &StateFile) -> Record {
        let Record::Activating { started_at, .. } = &f.record else {
            panic!()
        };
        Record::Activating {
            activation_token: "t1".into(),
            agent_name: "a".into(),
            region: "us-east-1".into(),
            started_at: started_at.clone(),
        }
    }

    #[test]
    fn another_machines_state_is_foreign() {
        let tmp = tempfile::tempdir().unwrap();
        StateStore::new(tmp.path(), "golden".into())
            .save(&activating())
            .unwrap();
        match StateStore::new(tmp.path(), "clone".into()).load().unwrap() {
            Loaded::Foreign { theirs, ours } => {
                assert_eq!((theirs.as_str(), ours.as_str()), ("golden", "clone"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_lock_file_names_pid_and_subcommand_only() {
        let line = holder_line();
        assert!(
            line.starts_with(&format!("pid {} (datasync-warden ", std::process::id())),
            "{line}"
        );
        // The test binary's own arguments (filters, flags) never reach the file.
        assert!(!line.contains("--"), "{line}");
    }

    #[tokio::test]
    async fn a_second_lock_waits_then_names_the_holder_and_the_line_goes_with_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path(), "m".into());
        let held = store.lock(Duration::ZERO).await.unwrap();
        let e = store.lock(Duration::from_millis(300)).await.unwrap_err();
        assert_eq!(e.kind(), "state_locked");
        assert!(
            e.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(held);
        assert_eq!(fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap(), "");
        store.lock(Duration::ZERO).await.unwrap();
    }

    #[test]
    fn corrupt_state_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path(), "m".into());
        fs::write(store.path(), "{\"version\":1,").unwrap();
        let e = store.load().unwrap_err();
        assert_eq!(e.kind(), "state_corrupt");
        assert!(
            e.to_string()
                .contains("state.json is not a valid state file"),
            "{e}"
        );
    }
}
