//! `--instance NAME` (several daemons on one host, the template unit datasync-warden@.service):
//! the binary's side. The unit itself, two instances at once under a real systemd, is in
//! scripts/lib/instances.sh (the container test).

mod common;

use common::daemon::*;
use common::*;

#[tokio::test]
async fn an_instance_name_that_is_not_safe_as_a_path_is_a_usage_error() {
    let h = Harness::new().await;
    for bad in ["../etc", "a/b", "-x", "", "a b"] {
        h.run(&["status", &format!("--instance={bad}")])
            .await
            .assert_failed_with(2, &["--instance", "letters, digits, '_' or '-'"]);
    }
}

#[tokio::test]
async fn an_instance_without_its_own_health_port_does_not_start() {
    // The harness's configuration sets no health.listen: fine for the main unit (9417), not
    // for an instance, which would collide with it.
    let h = Harness::new().await;
    let r = h.run(&["run", "--instance", "a"]).await;
    r.assert_failed_with(
        2,
        &[
            "health.listen is not set in",
            "config.toml",
            "own health port",
            "127.0.0.1:9418",
        ],
    );
    assert!(h.sim.agents().is_empty(), "nothing activated");
}

#[tokio::test]
async fn status_of_an_instance_reads_the_instance_state_dir() {
    let h = Harness::new().await;
    // No state.dir: the instance default applies.
    std::fs::write(
        h.config(),
        format!("{OFFLINE_CONFIG}[health]\nlisten = \"127.0.0.1:1\"\n"),
    )
    .unwrap();
    let r = h
        .run(&["status", "--format", "json", "--instance", "zz-test"])
        .await;
    r.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["instance"], "zz-test", "{v}");
    assert_eq!(v["state_dir"], "/var/lib/datasync-warden-zz-test", "{v}");
    let text = h.run(&["status", "--instance", "zz-test"]).await;
    assert!(
        text.stdout.contains("instance:      zz-test\n"),
        "{}",
        text.stdout
    );
    // Without --instance, the main unit's.
    let r = h.run(&["status", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["instance"], serde_json::Value::Null, "{v}");
    assert_eq!(v["state_dir"], "/var/lib/datasync-warden", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_daemon_names_itself_to_systemd_and_keeps_its_defaults_on_reload() {
    let h = Harness::new().await;
    let d = Running::start_args(&h, false, &[], &["run", "--instance", "a"]).await;
    d.wait_phase_text("monitoring agent-").await;
    let statuses = d.notify.statuses();
    assert!(
        statuses.iter().all(|s| s.starts_with("instance a: ")),
        "every STATUS= names the instance: {statuses:?}"
    );
    // Reloaded as an instance: had SIGHUP read the file without the instance, health.listen
    // would still be set (by the harness) but nothing else would tell; remove it to see the
    // instance rule applied on reload too.
    std::fs::remove_file(h.dir.path().join("config.d/60-health.toml")).unwrap();
    unsafe_kill(d.child.id().unwrap() as i32, "HUP");
    eventually(
        LIMIT,
        "reload refused for the missing health.listen",
        async || {
            d.status().await["reload_error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("health.listen is not set"))
        },
    )
    .await;
    let (code, _, _) = d.stop().await;
    assert_eq!(code, 0);
}
