//! The module layering (issue 14, DEVELOPERS.md): every top-level module of `src/` has a place in
//! one order, bottom first, and may only use modules below it — so there is no import cycle and
//! no upward import. A new top-level module must be placed here.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom first. Core types; config and models; the stages in the flow's order; the published
/// contracts; publishing; the wiring.
const ORDER: [&str; 21] = [
    "base", "frame", "tls", "draw", // small core types, no crate imports but each other
    "config", "models", "metrics", // configuration, ONNX sessions, counters
    "ingest", "detect", "analyze", "track", "search",
    "cluster", // the stages; the camera pool
    "codes", "shapes",
    "messages", // published contracts: error codes, JSON shapes, MQTT payloads
    "publish",  // MQTT and JSON Lines out
    "history",  // the event history (a publish sink, queried by the API and CLI)
    "api", "daemon", "cli", // the wiring (the daemon's service runs the API)
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::name` references per top-level module: (from, to) → first place seen.
fn imports(src: &Path) -> BTreeMap<(String, String), String> {
    let mut files = vec![];
    rust_files(src, &mut files);
    let mut edges = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + 7..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    !rest.starts_with('{'),
                    "{}:{}: import modules one path at a time (`use crate::x::…`), so this check sees them",
                    rel.display(),
                    n + 1
                );
                if !name.is_empty() && name != top {
                    edges.entry((top.clone(), name)).or_insert(format!(
                        "{}:{}",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    edges
}

#[test]
fn modules_only_use_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank = |m: &str| ORDER.iter().position(|o| *o == m);
    let mut tops: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .filter(|n| n != "lib" && n != "main")
        .collect();
    tops.sort();
    tops.dedup();
    let unplaced: Vec<&String> = tops.iter().filter(|t| rank(t).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "place these modules in tests/layers.rs ORDER: {unplaced:?}"
    );
    let edges = imports(&src);
    assert!(
        edges.len() > 30,
        "the scan found only {} imports",
        edges.len()
    );
    // `cargo test --test layers -- --nocapture` prints the graph: each module and what it uses.
    let mut uses: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        uses.entry(from.as_str()).or_default().push(to.as_str());
    }
    for m in ORDER.iter().rev() {
        println!(
            "{m:>9} -> {}",
            uses.get(m).map(|v| v.join(", ")).unwrap_or_default()
        );
    }
    let upward: Vec<String> = edges
        .iter()
        .filter(|((from, to), _)| match (rank(from), rank(to)) {
            (Some(a), Some(b)) => b >= a,
            _ => false,
        })
        .map(|((from, to), at)| format!("{from} uses {to} ({at})"))
        .collect();
    assert!(
        upward.is_empty(),
        "imports that point up (or sideways) the layers:\n{}",
        upward.join("\n")
    );
}
