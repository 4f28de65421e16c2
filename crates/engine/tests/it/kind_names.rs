//! A kind is named once, in its `kind!` declaration (`crates/engine/src/kinds/`): everywhere else
//! code names it through the declaration (`rds::INSTANCE.kind`, or the typed struct's `spec`), so
//! a renamed or misspelt kind does not compile. The one other place a kind's name may be written is
//! the Terraform plan representation (`plan/terraform/`: the mapping and its tests), whose type
//! names are Terraform's, not ours.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Where a kind's name may be written as a string.
fn may_name_kinds(file: &Path) -> bool {
    let f = file.to_string_lossy().replace('\\', "/");
    f.contains("/src/kinds/") || f.contains("/src/plan/terraform/")
}

#[test]
fn no_kind_name_is_written_as_a_string_outside_its_declaration() {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    rust_files(&engine.join("src"), &mut files);
    rust_files(&engine.join("../../src"), &mut files);
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut found = vec![];
    for file in files.iter().filter(|f| !may_name_kinds(f)) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for schema in empi_engine::kinds::ALL {
                if code.contains(&format!("\"{}\"", schema.kind)) {
                    found.push(format!("{}:{}: \"{}\"", file.display(), n + 1, schema.kind));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "kind names written as strings (use the declaration's `.kind`):\n{}",
        found.join("\n")
    );
}
