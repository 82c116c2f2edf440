//! The module structure stays as DESIGN.md draws it: within each module folder of
//! `src/`, no file imports (`use super::...`) a file that imports it back, directly or
//! through others, and `connection/mod.rs` lists every file of its folder.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The sibling files each file of `dir` uses, by file stem (`mod` for mod.rs). Test
/// modules are left out; an item of mod.rs used from a child counts as a use of `mod`.
fn imports(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            files.insert(stem, code);
        }
    }
    let stems: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (stem, code) in &files {
        let mut uses = BTreeSet::new();
        for (i, _) in code.match_indices("super::") {
            let rest = &code[i + "super::".len()..];
            // `super::x::...` names x; `super::{x, y::Z}` names x and y.
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .collect(),
                None => vec![rest],
            };
            for name in names {
                let name: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if stems.contains(&name) && name != *stem {
                    uses.insert(name);
                } else if stem != "mod" && name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    uses.insert("mod".to_string()); // an item defined in mod.rs
                }
            }
        }
        if stem == "mod" {
            for line in code.lines() {
                let line = line.trim_start_matches("pub(crate) ");
                if let Some(rest) = line.strip_prefix("use ") {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if stems.contains(&name) {
                        uses.insert(name);
                    }
                }
            }
        }
        graph.insert(stem.clone(), uses);
    }
    graph
}

/// Every cycle of `graph`, as "a -> b -> a".
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        found: &mut BTreeSet<String>,
    ) {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flatten() {
            if let Some(i) = path.iter().position(|p| p == next) {
                let mut cycle = path[i..].to_vec();
                cycle.push(next.clone());
                found.insert(cycle.join(" -> "));
            } else if path.len() < graph.len() {
                path.push(next.clone());
                walk(graph, path, found);
                path.pop();
            }
        }
    }
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        walk(graph, &mut vec![start.clone()], &mut found);
    }
    found.into_iter().collect()
}

#[test]
fn no_module_folder_has_an_import_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for folder in ["connection", "frame", "transport", "client", "ffi"] {
        let graph = imports(&src.join(folder));
        assert!(graph.len() > 1, "src/{folder} has no files?");
        let found = cycles(&graph);
        assert!(
            found.is_empty(),
            "import circles in src/{folder}: {found:#?}"
        );
    }
}

#[test]
fn the_checker_sees_a_circle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(!cycles(&graph).is_empty());
}

#[test]
fn connection_mod_lists_every_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/connection");
    let listing = fs::read_to_string(dir.join("mod.rs")).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") && name != "mod.rs" {
            assert!(
                listing.contains(&format!("//! - `{name}`:")),
                "src/connection/mod.rs does not list {name}"
            );
        }
    }
}
