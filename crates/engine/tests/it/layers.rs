//! The engine's modules in layers (docs/ARCHITECTURE.md, "The engine's layers"): each top-level
//! module of `crates/engine/src` uses only modules of lower layers, so none use each other around a
//! circle. Read from the source, as a reviewer would: the `crate::<module>` paths of its code (not
//! of comments, not of its tests).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules `lib.rs` declares.
fn modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|m| m.trim_end_matches(';').trim().to_string())
        .collect()
}

/// The files of `module` (`X.rs`, or every file under `X/`), without their tests.
fn code_of(module: &str) -> String {
    let mut files = vec![];
    let file = src().join(format!("{module}.rs"));
    if file.exists() {
        files.push(file);
    }
    let mut dirs = vec![src().join(module)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && p.file_name().is_some_and(|n| n != "tests.rs")
            {
                files.push(p);
            }
        }
    }
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            // comments may name any module
            code.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which modules each module uses.
fn uses(modules: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    modules
        .iter()
        .map(|m| {
            let code = code_of(m);
            let used = code
                .match_indices("crate::")
                .map(|(i, _)| {
                    code[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                        .collect::<String>()
                })
                .filter(|u| u != m && modules.contains(u))
                .collect();
            (m.clone(), used)
        })
        .collect()
}

/// The layers as docs/ARCHITECTURE.md lists them: module → layer number.
fn layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ARCHITECTURE.md"),
    )
    .unwrap();
    let list = doc
        .split("<!-- layers -->")
        .nth(1)
        .and_then(|s| s.split("<!-- /layers -->").next())
        .expect("docs/ARCHITECTURE.md lists the layers");
    let mut out = BTreeMap::new();
    for line in list.lines().filter(|l| !l.trim().is_empty()) {
        let (n, rest) = line
            .split_once(". ")
            .unwrap_or_else(|| panic!("a layer line is `N. \\`module\\`, …`: {line}"));
        let n: usize = n.trim().parse().unwrap();
        let names = rest.split(" — ").next().unwrap();
        for m in names.split(',').map(|m| m.trim().trim_matches('`')) {
            assert!(out.insert(m.to_string(), n).is_none(), "{m} is listed twice");
        }
    }
    out
}

#[test]
fn every_module_is_in_one_layer_of_the_architecture_doc() {
    let layers = layers();
    let modules = modules();
    let listed: BTreeSet<String> = layers.keys().cloned().collect();
    assert_eq!(listed, modules, "docs/ARCHITECTURE.md's layers list exactly lib.rs's modules");
}

#[test]
fn a_module_uses_only_modules_of_lower_layers_so_there_is_no_cycle() {
    let layers = layers();
    let mut wrong = vec![];
    for (m, used) in uses(&modules()) {
        for u in used {
            if layers[&u] >= layers[&m] {
                wrong.push(format!("{m} (layer {}) uses {u} (layer {})", layers[&m], layers[&u]));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "move the item to the lower module, or a leaf module both use:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_sees_a_use_it_must_refuse() {
    // the check itself can fail: stack uses kinds, so kinds may not use stack
    let used = uses(&modules());
    assert!(
        used["stack"].contains("kinds")
            && used["plan"].contains("state")
            && used["ops"].contains("exec"),
        "{used:?}"
    );
}
