//! Process hardening done once at start.
//!
//! A core dump of this process would hold the activation key, AWS credentials from the SDK's
//! provider chain and the webhook URL: a watchdog abort (SIGABRT) or a crash must not write
//! them to disk, wherever `kernel.core_pattern` points (a file, systemd-coredump, apport).

/// Why core dumps could not be forbidden.
#[derive(Debug, thiserror::Error)]
pub enum HardeningError {
    /// setrlimit(RLIMIT_CORE, 0, 0) failed.
    #[error("cannot set RLIMIT_CORE to 0: {0}")]
    CoreLimit(nix::Error),
    /// prctl(PR_SET_DUMPABLE, 0) failed.
    #[error("cannot clear the dumpable flag (prctl PR_SET_DUMPABLE): {0}")]
    Dumpable(nix::Error),
}

/// Sets RLIMIT_CORE to 0 (soft and hard: the process cannot raise it again) and clears the
/// dumpable flag, which also stops a piped `core_pattern` (systemd-coredump ignores the
/// limit) and ptrace attach by other unprivileged processes of the same user.
pub fn forbid_core_dumps() -> Result<(), HardeningError> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    // The unit sets LimitCORE=0 and its seccomp filter (~@resources) refuses setrlimit: do
    // not ask for what is already in force.
    if getrlimit(Resource::RLIMIT_CORE).ok() != Some((0, 0)) {
        setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(HardeningError::CoreLimit)?;
    }
    nix::sys::prctl::set_dumpable(false).map_err(HardeningError::Dumpable)?;
    Ok(())
}
