//! The state directory's lock: one writer of the state at a time, across processes (the
//! daemon, `activate`, a second daemon). flock(2) on `<dir>/.lock`, whose content names the
//! holder for a waiter's message; the kernel releases it when the holder dies.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use super::{LOCK_FILE, StateError, StateStore, TEMP_PREFIX, printable, read_capped};

/// How often a waiting command retries the lock: cheap, and quick to notice a release.
const LOCK_POLL: Duration = Duration::from_millis(200);

impl StateStore {
    /// Takes the state directory's exclusive lock, waiting at most `wait` for another holder:
    /// whoever may write the state holds it from the load to the final save. The lock file
    /// names its holder, so a waiter can say who is in the way. Released on drop (and by the
    /// kernel when the holder dies: a crash never leaves the directory locked).
    pub(crate) async fn lock(&self, wait: Duration) -> Result<StateLock, StateError> {
        let started = Instant::now();
        loop {
            let this = self.clone();
            let attempt = tokio::task::spawn_blocking(move || this.try_lock())
                .await
                .unwrap_or_else(|e| {
                    Err(StateError::Io {
                        op: "lock",
                        path: self.dir.join(LOCK_FILE),
                        source: io::Error::other(e.to_string()),
                    })
                })?;
            match attempt {
                Ok(lock) => return Ok(lock),
                Err(holder) if started.elapsed() >= wait => {
                    return Err(StateError::Locked {
                        dir: self.dir.clone(),
                        holder,
                        waited: started.elapsed(),
                    });
                }
                Err(holder) => {
                    log::debug!("state directory locked by {holder}; waiting");
                    tokio::time::sleep(LOCK_POLL).await;
                }
            }
        }
    }

    /// One non-blocking attempt: the lock, or what the lock file says about its holder.
    fn try_lock(&self) -> Result<Result<StateLock, String>, StateError> {
        self.ensure_dir()?;
        let path = self.dir.join(LOCK_FILE);
        let io = |op, source| StateError::Io {
            op,
            path: path.clone(),
            source,
        };
        let opened = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path);
        // A lock file another user left (root ran `activate` once) cannot be opened for
        // writing by the daemon's user; flock(2) works on a read-only descriptor all the same.
        let (mut file, writable) = match opened {
            Ok(f) => (f, true),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                (fs::File::open(&path).map_err(|e| io("open", e))?, false)
            }
            Err(e) => return Err(io("open", e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::File::open(&path)
                    .and_then(|f| read_capped(f, 512))
                    .unwrap_or_default();
                let holder = holder.trim();
                return Ok(Err(if holder.is_empty() {
                    "another process".to_string()
                } else {
                    printable(holder)
                }));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", e)),
        }
        if writable {
            file.set_len(0)
                .and_then(|()| file.write_all(holder_line().as_bytes()))
                .map_err(|e| io("write", e))?;
        }
        self.remove_stale_temps();
        Ok(Ok(StateLock { file, writable }))
    }

    /// Removes temporary files a killed write left behind. Only the lock holder calls this: a
    /// temporary file is never another live writer's.
    fn remove_stale_temps(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(TEMP_PREFIX) {
                match fs::remove_file(entry.path()) {
                    Ok(()) => log::info!(
                        "removed {}, left by an interrupted state write",
                        entry.path().display()
                    ),
                    Err(e) => log::warn!("cannot remove {}: {e}", entry.path().display()),
                }
            }
        }
    }
}

/// The state directory's exclusive lock; released when dropped.
#[derive(Debug)]
pub(crate) struct StateLock {
    file: fs::File,
    writable: bool,
}

impl Drop for StateLock {
    /// The holder line goes with the lock: a later waiter never names a process long gone.
    fn drop(&mut self) {
        if self.writable {
            let _ = self.file.set_len(0);
        }
    }
}

/// Subcommands, the only word of the command line the lock file records.
const SUBCOMMANDS: [&str; 5] = ["run", "activate", "check", "fetch-key", "status"];

/// `pid 1234 (datasync-warden run)`: the pid and the subcommand only. Never the whole command
/// line, which may hold `--activation-key KEY` (and need not be UTF-8).
pub(super) fn holder_line() -> String {
    let sub = std::env::args_os()
        .skip(1)
        .find_map(|a| SUBCOMMANDS.iter().find(|s| a.as_os_str() == **s).copied())
        .unwrap_or("a command");
    format!("pid {} (datasync-warden {sub})\n", std::process::id())
}
