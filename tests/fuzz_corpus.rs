//! Replays every committed fuzz seed (fuzz/corpus/<target>/*) through the fuzz targets' own
//! assertions (the parsers crate's `oracle`), on stable, so `cargo test` checks the corpus too.

use std::path::{Path, PathBuf};

use datasync_warden::agent::activation_key;
use datasync_warden::config;
use datasync_warden_parsers::oracle;

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{}: too few seeds", dir.display());
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    for f in seeds(target) {
        // Shown with the panic when this seed fails.
        eprintln!("replaying {}", f.display());
        check(&std::fs::read(&f).unwrap());
    }
}

#[test]
fn config_corpus() {
    replay("config", oracle::check_config);
}

#[test]
fn activation_response_corpus() {
    replay("activation_response", oracle::check_activation_response);
}

#[test]
fn corpus_seeds_mean_what_their_names_say() {
    // A seed set that no longer exercises the success paths would fuzz only the error paths.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let every_key = std::fs::read_to_string(dir.join("config/every-key.toml")).unwrap();
    config::from_str(Path::new("every-key.toml"), &every_key).expect("every-key.toml is valid");
    let ip = oracle::ENDPOINT_IP;
    for (seed, valid) in [
        ("location-console", true),
        ("location-relative", true),
        ("location-two-keys", false),
        ("location-wrong-shape", false),
    ] {
        let text = std::fs::read_to_string(dir.join("activation_response").join(seed)).unwrap();
        assert_eq!(
            activation_key::parse_location(&text, ip).is_ok(),
            valid,
            "{seed}"
        );
    }
    let body = std::fs::read_to_string(dir.join("activation_response/body-key-crlf")).unwrap();
    assert!(activation_key::parse_body(body.trim(), ip).is_ok());
}
