//! The core's modules form layers: no module imports from a module that imports it back
//! (`crate::a` in `b` and `crate::b` in `a`, tests aside). A circle means two modules are one
//! concern split badly, or a definition lives on the wrong side; this test names the pair.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `crate::<module>` references in `text` before its first `#[cfg(test)]`.
fn references(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let name: String = code[i + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn walk(dir: &Path, top: Option<&str>, graph: &mut BTreeMap<String, BTreeSet<String>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let module = top.map_or(name.clone(), str::to_string);
        if path.is_dir() {
            walk(&path, Some(&module), graph);
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "tests" {
            let text = std::fs::read_to_string(&path).unwrap();
            let refs = references(&text);
            graph
                .entry(module.clone())
                .or_default()
                .extend(refs.into_iter().filter(|m| *m != module));
        }
    }
}

#[test]
fn no_two_modules_import_each_other() {
    let mut graph = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        None,
        &mut graph,
    );
    assert!(graph.len() > 15, "read {} modules", graph.len());
    let circles: Vec<(String, String)> = graph
        .iter()
        .flat_map(|(a, refs)| refs.iter().map(move |b| (a.clone(), b.clone())))
        .filter(|(a, b)| a < b && graph.get(b).is_some_and(|r| r.contains(a)))
        .collect();
    assert!(
        circles.is_empty(),
        "modules importing each other: {circles:?}"
    );
}
