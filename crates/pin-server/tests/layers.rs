//! The layering of the server, checked by reading its sources (as rust-analyzer keeps its
//! own boundaries): a rule written only in ARCHITECTURE.md would drift.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn sources(folder: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(folder);
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path, text));
        }
    }
    assert!(!found.is_empty(), "no sources under {folder}");
    found
}

/// Lines of code (not comments) that mention `word` as a path segment.
fn uses(text: &str, word: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| {
            line.match_indices(word).any(|(at, _)| {
                let before = line[..at].chars().last();
                let after = line[at + word.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn handlers_never_touch_the_store() {
    for (path, text) in sources("services") {
        let found = uses(&text, "pin_store");
        assert!(
            found.is_empty(),
            "{} uses the store: {found:?}",
            path.display()
        );
    }
}

#[test]
fn use_cases_never_see_protobuf_or_tonic() {
    for (path, text) in sources("usecase") {
        for word in ["tonic", "prost", "prost_types", "pin_proto"] {
            let found = uses(&text, word);
            assert!(
                found.is_empty(),
                "{} uses {word}: {found:?}",
                path.display()
            );
        }
    }
}

#[test]
fn only_the_error_module_builds_a_status() {
    for (path, text) in sources("") {
        if path.ends_with("error.rs") {
            continue;
        }
        let built: Vec<&str> = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .filter(|line| {
                [
                    "Status::new",
                    "Status::with_",
                    "Status::internal",
                    "Status::unauthenticated",
                ]
                .iter()
                .any(|constructor| line.contains(constructor))
                    || line.contains("Status::invalid_argument")
                    || line.contains("Status::permission_denied")
                    || line.contains("Status::not_found")
                    || line.contains("Status::failed_precondition")
                    || line.contains("Status::unavailable")
            })
            .collect();
        assert!(
            built.is_empty(),
            "{} builds a Status: {built:?}",
            path.display()
        );
    }
}

#[test]
fn only_the_convert_module_reads_messages() {
    // Handlers destructure their request and hand the fields to `convert`; nothing else
    // in the crate builds or reads a protobuf message.
    for (path, text) in sources("") {
        let inside = |folder: &str| path.components().any(|c| c.as_os_str() == folder);
        if inside("convert") || inside("services") {
            continue;
        }
        let found = uses(&text, "pin_proto");
        let allowed = path.ends_with("app.rs") || path.ends_with("auth.rs");
        assert!(
            found.is_empty() || allowed,
            "{} reads protobuf messages: {found:?}",
            path.display()
        );
    }
}
