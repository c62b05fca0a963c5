//! Architecture invariant: the domain performs no I/O, so it may not depend on an async
//! runtime, an RPC framework or a database crate. This test fails if its manifest gains one.

const FORBIDDEN: &[&str] = &[
    "tokio",
    "async-std",
    "futures",
    "tonic",
    "prost",
    "hyper",
    "reqwest",
    "sea-orm",
    "sea-orm-migration",
    "sqlx",
    "rusqlite",
    "postgres",
    "getrandom",
    "pin-proto",
    "pin-store",
    "pin-server",
];

#[test]
fn the_domain_depends_on_no_io_crate() {
    let manifest = include_str!("../Cargo.toml");
    let mut section = "";
    let mut offending = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let in_dependencies = section.ends_with("dependencies]") && !section.contains("dev-");
        let name = line
            .split(['=', '.', ' '])
            .next()
            .unwrap_or("")
            .trim_matches('"');
        if in_dependencies && FORBIDDEN.contains(&name) {
            offending.push(name.to_owned());
        }
    }
    assert!(
        offending.is_empty(),
        "pin-domain must stay pure, but depends on {offending:?}"
    );
}

#[test]
fn the_rule_recognises_a_forbidden_dependency() {
    // Guards the guard: the parsing above must see a dependency written either way.
    for line in [
        "tokio = \"1\"",
        "tokio.workspace = true",
        "sea-orm = { version = \"2\" }",
    ] {
        let name = line
            .split(['=', '.', ' '])
            .next()
            .unwrap_or("")
            .trim_matches('"');
        assert!(FORBIDDEN.contains(&name), "{line}");
    }
}
