//! The dependency rule of ARCHITECTURE.md, checked: each layer of `src/` names only the layers
//! below it (`crate::<module>` paths). A new `use` that points upward fails here, with the
//! file and line, before it becomes a cycle.

use std::fs;
use std::path::Path;

/// The layers of `src/`, bottom-up: a layer may name (besides itself) the modules of the
/// levels before its own, not those of its own level. The ground floor is the parsers
/// crate's re-exports and `support`.
const LEVELS: &[&[&str]] = &[
    &["config", "ids", "cidr", "redact", "host", "cli", "support"],
    &["aws", "agent"],
    &["preflight"],
    &["activation"],
    &["daemon"],
    &["commands"],
];

/// The folders of `src/` and what each may name.
fn layers() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out = Vec::new();
    for (i, level) in LEVELS.iter().enumerate() {
        let below: Vec<&str> = LEVELS[..i].iter().flat_map(|l| l.iter().copied()).collect();
        for layer in level.iter().filter(|l| **l == "support" || i > 0) {
            out.push((*layer, below.clone()));
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::<module>` named on a line, comments included (a doc link upward is a
/// dependency of the reader's model too), also inside a `crate::{a, b::c}` group. A
/// `super::super` path is reported as the module `super::super`: across folders, the rule
/// wants `crate::` paths it can read.
fn named_modules(line: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            out.extend(inner.split(',').map(ident).filter(|n| !n.is_empty()));
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    if line.contains("super::super") {
        out.push("super::super".into());
    }
    out
}

#[test]
fn every_layer_names_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut seen = Vec::new();
    for (layer, allowed) in layers() {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer}/ holds no Rust file");
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for m in named_modules(line) {
                    if m != layer && !allowed.contains(&m.as_str()) {
                        violations.push(format!(
                            "{}:{}: {layer} names crate::{m}",
                            file.strip_prefix(&src).unwrap().display(),
                            n + 1
                        ));
                    }
                }
            }
        }
        seen.push(layer);
    }
    assert!(
        violations.is_empty(),
        "upward dependencies:\n{}",
        violations.join("\n")
    );
    // A folder added to src/ must get a place in the table.
    for entry in fs::read_dir(&src).unwrap().flatten() {
        if entry.path().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                seen.contains(&name.as_str()),
                "src/{name}/ has no layer in LEVELS"
            );
        }
    }
}

#[test]
fn logging_names_only_the_ground_floor() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/logging.rs");
    let text = fs::read_to_string(path).unwrap();
    for (n, line) in text.lines().enumerate() {
        for m in named_modules(line) {
            assert!(
                LEVELS[0].contains(&m.as_str()),
                "logging.rs:{}: names crate::{m}",
                n + 1
            );
        }
    }
}

#[test]
fn groups_and_relative_paths_are_read() {
    assert_eq!(
        named_modules("use crate::{aws, daemon::status}; // crate::ids"),
        ["aws", "daemon", "ids"]
    );
    assert_eq!(named_modules("use super::super::x;"), ["super::super"]);
}

#[test]
fn the_root_of_src_holds_only_the_entry_points() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<String> = fs::read_dir(&src)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["lib.rs", "logging.rs", "main.rs"]);
}
