//! This machine's identity (machine-id(5)), which the state file records: a state written on
//! another machine (a golden image cloned after activation) is never trusted.

use std::path::Path;
use std::{fs, io};

use super::{StateError, printable, read_capped};

/// Where systemd keeps this machine's identity (machine-id(5)).
pub(crate) const MACHINE_ID_PATHS: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];
/// Names another machine-id file (containers, tests): read instead of [`MACHINE_ID_PATHS`].
pub(crate) const MACHINE_ID_FILE_ENV: &str = "DATASYNC_WARDEN_MACHINE_ID_FILE";

/// Reads this machine's id: from the file [`MACHINE_ID_FILE_ENV`] names, else the first of
/// [`MACHINE_ID_PATHS`] that exists.
pub(crate) fn machine_id() -> Result<String, StateError> {
    match std::env::var_os(MACHINE_ID_FILE_ENV) {
        Some(p) => machine_id_from(&[Path::new(&p)]),
        None => machine_id_from(&MACHINE_ID_PATHS.map(Path::new)),
    }
}

/// The machine id in the first of `paths` that exists. A file that exists but does not hold
/// 32 hex digits (machine-id(5)) is an error, not an identity: a blank or garbled id shared by
/// clones would make every clone trust the golden image's state.
pub(crate) fn machine_id_from(paths: &[&Path]) -> Result<String, StateError> {
    let mut last = String::new();
    for p in paths {
        let text = match fs::File::open(p).and_then(|f| read_capped(f, 1024)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                last = format!("{} does not exist", p.display());
                continue;
            }
            Err(e) => {
                return Err(StateError::MachineId {
                    detail: format!("{}: {e}", p.display()),
                });
            }
        };
        let id = text.trim();
        if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(id.to_ascii_lowercase());
        }
        return Err(StateError::MachineId {
            detail: format!(
                "{} holds {:?}, not 32 hexadecimal digits",
                p.display(),
                printable(id)
            ),
        });
    }
    Err(StateError::MachineId { detail: last })
}
