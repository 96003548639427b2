//! The layering the module docs promise, checked: a test reads every
//! source file of a layer and fails when it names a module that layer must
//! not know. Data flows one way (SIP events → routing decision → dialog
//! events → time tracking → store); the SIP side knows nothing of SQL and
//! the store nothing of SIP.

use std::path::{Path, PathBuf};

/// A layer (a module directory and its `mod.rs`/`<name>.rs`) and the
/// top-level modules it may name with `crate::`.
struct Layer {
    module: &'static str,
    allowed: &'static [&'static str],
}

/// A layer and the top-level modules it must never name.
struct Forbidden {
    module: &'static str,
    never: &'static [&'static str],
}

const ONLY: &[Layer] = &[Layer {
    module: "sip",
    allowed: &["sip", "config", "metrics", "mac", "net"],
}];

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
    for layer in ONLY {
        let files = sources(layer.module);
        assert!(!files.is_empty(), "no sources for {}", layer.module);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for (line, name) in named(&text) {
                if !layer.allowed.contains(&name.as_str()) {
                    broken.push(format!("{}:{line}: crate::{name}", f.display()));
                }
            }
        }
    }
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

#[test]
fn the_check_sees_a_forbidden_name() {
    let found = named("use crate::store::Store;\nlet x = crate::sip::parse(y);");
    assert_eq!(found, [(1, "store".to_string()), (2, "sip".to_string())]);
}
