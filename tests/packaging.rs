//! The packaging files agree with the code: the unit, the shipped configuration, the example
//! fragment and the package manifests. Fast and unprivileged; the packages themselves are built
//! and tested under a real systemd by `scripts/package-test`.

use std::path::{Path, PathBuf};

use datasync_warden::config::{self, DEFAULT_CONFIG_PATH, FRAGMENT_DIR};
use datasync_warden::logging::LOG_ENV;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `Key=value` lines of the unit (comments skipped), in order.
fn unit_lines() -> Vec<(String, String)> {
    read("systemd/datasync-warden.service")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn unit(key: &str) -> Vec<String> {
    unit_lines()
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

/// The package's configuration as a golden image gets it: the shipped config.toml plus the
/// example fragment, loaded by the daemon's own loader.
#[test]
fn shipped_config_and_example_fragment_validate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo("config/config.toml"), dir.path().join("config.toml")).unwrap();
    std::fs::create_dir(dir.path().join(FRAGMENT_DIR)).unwrap();
    std::fs::copy(
        repo("packaging/examples/50-instance.toml"),
        dir.path().join(FRAGMENT_DIR).join("50-instance.toml"),
    )
    .unwrap();
    let s = config::load(&dir.path().join("config.toml")).expect("the example validates");
    assert_eq!(s.agent.address.as_deref(), Some("10.0.1.25"));
    assert!(s.agent.arn.is_none());
    s.activation_target(None)
        .expect("the example has every key activation needs");
}

/// The shipped config.toml alone is not enough to activate: the unit's condition (a config.d
/// fragment) is what starts the service, and the daemon would exit 2 without one.
#[test]
fn shipped_config_alone_cannot_activate() {
    let s = config::load(&repo("config/config.toml")).expect("the shipped file validates");
    assert!(s.agent.address.is_none() && s.agent.arn.is_none());
    assert!(s.activation_target(None).is_err());
}

#[test]
fn unit_condition_is_the_fragment_directory_of_the_default_config() {
    let dir = Path::new(DEFAULT_CONFIG_PATH).parent().unwrap();
    assert_eq!(
        unit("ConditionPathExistsGlob"),
        [format!("{}/{FRAGMENT_DIR}/*.toml", dir.display())]
    );
    assert_eq!(unit("ConfigurationDirectory"), ["datasync-warden"]);
    assert_eq!(dir, Path::new("/etc/datasync-warden"));
}

#[test]
fn unit_state_directory_is_the_default_state_dir() {
    // The shipped config leaves [state] dir commented: the default must be the StateDirectory=
    // (ProtectSystem=strict makes anything else read-only).
    let s = config::load(&repo("config/config.toml")).unwrap();
    assert_eq!(
        s.state.dir,
        Path::new("/var/lib").join(&unit("StateDirectory")[0])
    );
    assert_eq!(unit("DynamicUser"), ["yes"]);
}

#[test]
fn unit_runs_the_packaged_binary_as_a_notify_daemon_with_a_watchdog() {
    assert_eq!(unit("Type"), ["notify"]);
    assert_eq!(unit("ExecStart"), ["/usr/bin/datasync-warden run"]);
    assert_eq!(unit("RestartPreventExitStatus"), ["2"]);
    assert!(!unit("WatchdogSec").is_empty());
    assert_eq!(unit("Environment"), [format!("{LOG_ENV}=info")]);
    let manifest = read("Cargo.toml");
    assert!(manifest.contains(r#"["target/release/datasync-warden", "usr/bin/", "755"]"#));
    // The .rpm is built by rpmbuild from its spec (issue 11: no cargo-generate-rpm).
    let spec = read("packaging/rpm/datasync-warden.spec");
    assert!(spec.contains("%{buildroot}/usr/bin/datasync-warden"));
    assert!(spec.lines().any(|l| l == "/usr/bin/datasync-warden"));
}

#[test]
fn config_is_a_conffile_in_both_packages() {
    let manifest = read("Cargo.toml");
    // cargo-deb marks every file under /etc as a conffile.
    assert!(
        manifest.contains(r#"["config/config.toml", "etc/datasync-warden/config.toml", "644"]"#)
    );
    let spec = read("packaging/rpm/datasync-warden.spec");
    assert!(
        spec.lines()
            .any(|l| l == "%config(noreplace) /etc/datasync-warden/config.toml")
    );
}

/// The template's lines after the header comment: each with whether an `# Instance:` comment
/// marks it as changed from the main unit (the marking comment lines themselves are dropped).
fn template_lines() -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let (mut in_marker, mut marked) = (false, false);
    for line in body(&read("systemd/datasync-warden@.service")) {
        if line.starts_with("# Instance:") {
            (in_marker, marked) = (true, true);
            continue;
        }
        if in_marker && line.starts_with('#') {
            continue;
        }
        in_marker = false;
        out.push((line.to_string(), std::mem::take(&mut marked)));
    }
    out
}

/// A unit's lines from its first section on (the header comment says what the file is).
fn body(text: &str) -> Vec<&str> {
    text.lines().skip_while(|l| !l.starts_with('[')).collect()
}

/// The template is the main unit with only its marked lines changed, so no hardening line can be
/// missing from it or drift: a change to the main unit fails here until the template follows.
#[test]
fn template_unit_differs_from_the_main_unit_only_in_marked_lines() {
    let main = read("systemd/datasync-warden.service");
    let main = body(&main);
    let template = template_lines();
    assert_eq!(main.len(), template.len(), "the units have different lines");
    let mut changed = Vec::new();
    for (i, (m, (t, marked))) in main.iter().zip(&template).enumerate() {
        if !marked {
            assert_eq!(
                m, t,
                "line {i} after the header differs without an `# Instance:` mark"
            );
            continue;
        }
        let (mk, mv) = m.split_once('=').expect("a marked line is a setting");
        let (tk, tv) = t.split_once('=').expect("a marked line is a setting");
        assert_eq!(mk, tk, "a marked line changes the value, not the key");
        assert!(
            tv.contains("%i") && mv != tv,
            "{t}: marked but not per instance"
        );
        changed.push(tk.to_string());
    }
    assert_eq!(
        changed,
        [
            "Description",
            "ConditionPathExistsGlob",
            "ExecStart",
            "EnvironmentFile",
            "StateDirectory",
            "ConfigurationDirectory"
        ]
    );
}

/// The template's paths are the ones `--instance` uses: its condition is the instance's
/// fragment directory, its StateDirectory= the instance's default state dir.
#[test]
fn template_unit_paths_are_the_instance_defaults() {
    let text = read("systemd/datasync-warden@.service").replace("%i", "a");
    let get = |key: &str| -> String {
        let prefix = format!("{key}=");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {key}= in the template"))
            .to_string()
    };
    let a = config::Instance::parse("a").unwrap();
    let dir = a.config_path().parent().unwrap().to_path_buf();
    assert_eq!(
        get("ConditionPathExistsGlob"),
        format!("{}/{FRAGMENT_DIR}/*.toml", dir.display())
    );
    assert_eq!(Path::new("/etc").join(get("ConfigurationDirectory")), dir);
    assert_eq!(
        Path::new("/var/lib").join(get("StateDirectory")),
        a.state_dir()
    );
    assert_eq!(
        get("ExecStart"),
        "/usr/bin/datasync-warden --instance a run"
    );
    assert_eq!(
        get("EnvironmentFile"),
        format!("-{}/environment", dir.display())
    );
    // Both packages install the template and the monitoring files.
    let manifest = read("Cargo.toml");
    let spec = read("packaging/rpm/datasync-warden.spec");
    assert!(manifest.contains(r#"systemd-units = { unit-scripts = "systemd/""#));
    assert!(
        spec.lines()
            .any(|l| l == "/usr/lib/systemd/system/datasync-warden@.service")
    );
    for f in ["alerts.yml", "alerts_test.yml", "grafana-dashboard.json"] {
        assert!(manifest.contains(&format!(
            r#"["packaging/monitoring/{f}", "usr/share/datasync-warden/monitoring/", "644"]"#
        )));
        assert!(
            spec.lines()
                .any(|l| l == format!("/usr/share/datasync-warden/monitoring/{f}"))
        );
    }
}
