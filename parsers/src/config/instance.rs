//! `--instance NAME`: one of several daemons on one host, each watching its own agent (DataSync
//! tasks use up to 4 agents per task mode). The name picks the instance's own configuration
//! directory, state directory and default agent name; the template unit
//! `datasync-warden@NAME.service` passes it (`%i`).

use std::fmt;
use std::path::PathBuf;

/// The longest instance name: systemd allows 255 bytes for a whole unit name; 64 keeps paths,
/// the agent name (`<hostname>-NAME`, at most 256 characters) and log lines readable.
pub const MAX_INSTANCE_LEN: usize = 64;

/// Names of `/etc/datasync-warden/` entries the main unit and the README already use: an
/// instance of that name would take the directory (its `ConfigurationDirectory=`) and turn
/// the main unit's `EnvironmentFile=` into a directory it silently skips, or live inside the
/// root-only credentials store.
pub const RESERVED_NAMES: &[&str] = &["credentials", "environment"];

/// A validated instance name: 1–64 of `A-Z a-z 0-9 _ -`, starting with a letter or digit, so it
/// is safe as a path component, a systemd instance (`%i` needs no escaping) and in an agent name;
/// not one of [`RESERVED_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance(String);

impl Instance {
    /// Parses an instance name; the error says what would be valid.
    pub fn parse(s: &str) -> Result<Instance, String> {
        if RESERVED_NAMES.contains(&s) {
            return Err(format!(
                "\"{s}\" is reserved: /etc/datasync-warden/{s} belongs to the main unit; \
                 pick another name, e.g. \"a\" or \"site-b\""
            ));
        }
        let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if s.len() <= MAX_INSTANCE_LEN && first_ok && rest_ok {
            Ok(Instance(s.to_owned()))
        } else {
            Err(format!(
                "expected 1 to {MAX_INSTANCE_LEN} letters, digits, '_' or '-', starting with a \
                 letter or digit (it names /etc/datasync-warden/NAME/ and \
                 /var/lib/datasync-warden-NAME), e.g. \"a\" or \"site-b\""
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The instance's main configuration file: `/etc/datasync-warden/NAME/config.toml`, with
    /// `config.d/` beside it (the template unit's `ConfigurationDirectory=datasync-warden/%i`).
    pub fn config_path(&self) -> PathBuf {
        PathBuf::from(format!("/etc/datasync-warden/{}/config.toml", self.0))
    }

    /// Whether `dir` is at or under the main unit's state or another instance's, in
    /// `/var/lib` or behind `DynamicUser=` in `/var/lib/private`: sharing one would monitor
    /// the other's agent (or fight over its lock), and the unit's sandbox cannot write there.
    pub fn is_others_state(&self, dir: &std::path::Path) -> bool {
        let dir: PathBuf = dir.components().collect();
        let own = format!("datasync-warden-{}", self.0);
        ["/var/lib", "/var/lib/private"].iter().any(|base| {
            let Ok(rest) = dir.strip_prefix(base) else {
                return false;
            };
            let first = rest.iter().next().and_then(|c| c.to_str()).unwrap_or("");
            first == "datasync-warden" || (first.starts_with("datasync-warden-") && first != own)
        })
    }

    /// The default `state.dir`: `/var/lib/datasync-warden-NAME` (the template unit's
    /// `StateDirectory=datasync-warden-%i`). A separate directory, not a subdirectory of the
    /// main unit's, so that each instance's DynamicUser owns its own.
    pub fn state_dir(&self) -> PathBuf {
        PathBuf::from(format!("/var/lib/datasync-warden-{}", self.0))
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{ConfigError, Settings, Source, from_str_for};

    #[test]
    fn names_safe_as_paths_and_unit_instances_only() {
        for ok in ["a", "B", "site-b", "x_1", &"a".repeat(MAX_INSTANCE_LEN)] {
            assert_eq!(Instance::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "-a",
            "_a",
            "a/b",
            "..",
            "a.b",
            "a b",
            "é",
            "a\n",
            &"a".repeat(MAX_INSTANCE_LEN + 1),
        ] {
            let e = Instance::parse(bad).unwrap_err();
            assert!(e.contains("letters, digits"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn names_of_the_main_units_files_are_reserved() {
        for name in RESERVED_NAMES {
            let e = Instance::parse(name).unwrap_err();
            assert!(e.contains("reserved") && e.contains(name), "{name}: {e}");
        }
        assert!(Instance::parse("credentials-2").is_ok());
    }

    #[test]
    fn the_main_units_and_other_instances_state_is_refused() {
        let with = |dir: &str| {
            format!("{MINIMAL}[health]\nlisten = \"127.0.0.1:9418\"\n[state]\ndir = \"{dir}\"\n")
        };
        for dir in [
            "/var/lib/datasync-warden",
            "/var/lib/datasync-warden/",
            "/var/lib//datasync-warden/sub",
            "/var/lib/datasync-warden-a",
            "/var/lib/private/datasync-warden",
            "/var/lib/private/datasync-warden-c",
        ] {
            let e = settings(&with(dir), Some("b")).unwrap_err().to_string();
            assert!(
                e.contains("state.dir") && e.contains("instance b"),
                "{dir}: {e}"
            );
        }
        for dir in [
            "/var/lib/datasync-warden-b",
            "/var/lib/private/datasync-warden-b/x",
            "/srv/b",
        ] {
            assert!(settings(&with(dir), Some("b")).is_ok(), "{dir}");
        }
        for dir in [
            "/var/lib/datasync-warden-b/../datasync-warden",
            "/var/lib/x/../datasync-warden-a",
        ] {
            let e = settings(&with(dir), Some("b")).unwrap_err().to_string();
            assert!(e.contains("state.dir") && e.contains("'..'"), "{dir}: {e}");
        }
        // The main unit may keep its state anywhere.
        let main = format!("{MINIMAL}[state]\ndir = \"/var/lib/datasync-warden-a\"\n");
        assert!(settings(&main, None).is_ok());
    }

    const MINIMAL: &str = "[endpoint]\nregion = \"eu-west-1\"\n";

    fn settings(text: &str, instance: Option<&str>) -> Result<Settings, ConfigError> {
        let i = instance.map(|n| Instance::parse(n).unwrap());
        from_str_for(Path::new("/etc/x/config.toml"), text, i.as_ref())
    }

    #[test]
    fn an_instance_has_its_own_state_dir_and_agent_name_and_no_default_port() {
        let e = settings(MINIMAL, Some("b")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("health.listen is not set in /etc/x/config.toml")
                && text.contains("own health port"),
            "{text}"
        );
        let with_port = format!("{MINIMAL}[health]\nlisten = \"127.0.0.1:9418\"\n");
        let b = settings(&with_port, Some("b")).unwrap();
        assert_eq!(b.instance, Some(Instance::parse("b").unwrap()));
        assert_eq!(b.state.dir, PathBuf::from("/var/lib/datasync-warden-b"));
        assert!(b.agent.name.as_str().ends_with("-b"), "{}", b.agent.name);
        // The main unit's defaults are untouched.
        let main = settings(MINIMAL, None).unwrap();
        assert_eq!(main.instance, None);
        assert_eq!(
            main.state.dir,
            PathBuf::from(crate::config::DEFAULT_STATE_DIR)
        );
        assert_eq!(
            main.health.listen.to_string(),
            crate::config::DEFAULT_HEALTH_LISTEN
        );
        assert_eq!(format!("{}-b", main.agent.name), b.agent.name.as_str());
    }

    #[test]
    fn keys_set_in_a_file_win_over_the_instance_defaults() {
        let text = format!(
            "{MINIMAL}[health]\nlisten = \"127.0.0.1:9418\"\n[state]\ndir = \"/srv/s\"\n\
             [agent]\nname = \"edge-1\"\n"
        );
        let b = settings(&text, Some("b")).unwrap();
        assert_eq!(b.state.dir, PathBuf::from("/srv/s"));
        assert_eq!(b.agent.name.as_str(), "edge-1");
    }

    #[test]
    fn the_source_picks_the_instance_directory_unless_a_file_is_given() {
        let i = Instance::parse("b").unwrap();
        assert_eq!(
            Source::new(None, Some(i.clone())).path,
            PathBuf::from("/etc/datasync-warden/b/config.toml")
        );
        assert_eq!(
            Source::new(Some("/tmp/c.toml".into()), Some(i)).path,
            PathBuf::from("/tmp/c.toml")
        );
        assert_eq!(
            Source::new(None, None).path,
            PathBuf::from(crate::config::DEFAULT_CONFIG_PATH)
        );
    }

    #[test]
    fn paths_follow_the_template_unit() {
        let i = Instance::parse("b").unwrap();
        assert_eq!(
            i.config_path(),
            PathBuf::from("/etc/datasync-warden/b/config.toml")
        );
        assert_eq!(i.state_dir(), PathBuf::from("/var/lib/datasync-warden-b"));
    }
}
