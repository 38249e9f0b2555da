//! `--instance NAME`: one of several daemons on one host, each watching its own agent (DataSync
//! tasks use up to 4 agents per task mode). The name picks the instance's own configuration
//! directory, state directory and default agent name; the template unit
//! `datasync-warden@NAME.service` passes it (`%i`).

use std::fmt;
use std::path::PathBuf;

/// The longest instance name: systemd allows 255 bytes for a whole unit name; 64 keeps paths,
/// the agent name (`<hostname>-NAME`, at most 256 characters) and log lines readable.
pub const MAX_INSTANCE_LEN: usize = 64;

/// A validated instance name: 1–64 of `A-Z a-z 0-9 _ -`, starting with a letter or digit, so it
/// is safe as a path component, a systemd instance (`%i` needs no escaping) and in an agent name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance(String);

impl Instance {
    /// Parses an instance name; the error says what would be valid.
    pub fn parse(s: &str) -> Result<Instance, String> {
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
