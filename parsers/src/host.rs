//! This host's name, the one source of it: the default agent name, the STS session name and
//! the alerts' `host` field all read it here, so they cannot disagree.

/// Where the kernel keeps the host name (what `hostname` prints; cloud-init sets it).
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// The host name, trimmed; empty when it cannot be read (callers fall back on their own).
pub fn hostname() -> String {
    std::fs::read_to_string(HOSTNAME_FILE)
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}
