//! The layering the module docs promise, checked: a test reads every
//! source file of a layer and fails when it names a module that layer must
//! not know. Data flows one way (SIP events → routing decision → dialog
//! events → time tracking → store); the SIP side knows nothing of SQL and
//! the store nothing of SIP.
//!
//! The SIP side needs no such reading: it is its own crate
//! (crates/protocall-sip), and a crate can only name what it depends on, so
//! the compiler keeps it from the store, routing, tracking and HTTP. What
//! is left to check for it is that it never depends on `protocall` itself.

use std::path::{Path, PathBuf};

/// A layer (a module directory and its `mod.rs`/`<name>.rs`) and the
/// top-level modules it must never name with `crate::`.
struct Forbidden {
    module: &'static str,
    never: &'static [&'static str],
}

const NEVER: &[Forbidden] = &[
    Forbidden {
        module: "store",
        never: &["sip", "routing", "http", "server", "app", "cluster"],
    },
    Forbidden {
        module: "routing",
        never: &["store", "http", "server", "app", "tracking", "reports"],
    },
];

fn sources(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join(format!("{module}.rs"))];
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.retain(|p| p.exists());
    files
}

/// Every `crate::name` in `text`, with its line.
fn named(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = rest.get(i + 7..).unwrap_or_default();
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push((n + 1, name));
            rest = after;
        }
    }
    out
}

#[test]
fn each_layer_names_only_what_it_may() {
    let mut broken = Vec::new();
    for layer in NEVER {
        let files = sources(layer.module);
        assert!(!files.is_empty(), "no sources for {}", layer.module);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for (line, name) in named(&text) {
                if layer.never.contains(&name.as_str()) {
                    broken.push(format!("{}:{line}: crate::{name}", f.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

/// The lines of a Cargo.toml that make its package depend on `protocall`
/// (`protocall = …`, `protocall.workspace = …`, `[dependencies.protocall]`,
/// or another name with `package = "protocall"`), with their numbers.
fn depends_on_protocall(manifest: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (n, line) in manifest.lines().enumerate() {
        let line = line.trim();
        let key = line
            .trim_start_matches('[')
            .split(['=', ']', ' '])
            .next()
            .unwrap_or_default();
        let names_it = key == "protocall"
            || key.starts_with("protocall.")
            || key.ends_with(".protocall")
            || key.contains(".protocall.");
        let renames_it = line.contains("package = \"protocall\"");
        if !line.starts_with('#') && (names_it || renames_it) {
            out.push(n + 1);
        }
    }
    out
}

#[test]
fn the_sip_crate_does_not_depend_on_protocall() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/protocall-sip/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap_or_default();
    assert!(
        text.contains("name = \"protocall-sip\""),
        "{} not read",
        manifest.display()
    );
    let lines = depends_on_protocall(&text);
    assert!(
        lines.is_empty(),
        "{} depends on protocall (lines {lines:?}): the SIP side would see the store, routing, tracking and HTTP",
        manifest.display()
    );
}

#[test]
fn the_check_sees_a_dependency_on_protocall() {
    let manifest = "[package]\nname = \"protocall-sip\"\n[dependencies]\nbytes = \"1\"\n\
                    protocall = { path = \"../..\" }\n[dev-dependencies.protocall]\n\
                    desk = { package = \"protocall\", path = \"../..\" }\n\
                    protocall.workspace = true\n# protocall = no\n";
    assert_eq!(depends_on_protocall(manifest), [5, 6, 7, 8]);
}

#[test]
fn the_check_sees_a_forbidden_name() {
    let found = named("use crate::store::Store;\nlet x = crate::sip::parse(y);");
    assert_eq!(found, [(1, "store".to_string()), (2, "sip".to_string())]);
}
