//! The layers of ARCHITECTURE.md, enforced: reads every `use crate::…` / `use super::…` (and
//! every `crate::…` path) in `src/`, and fails when a layer imports one it may not, when a
//! route module imports another route module, or when modules import each other in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the top-level modules it may import (itself always).
const LAYERS: &[(&str, &[&str])] = &[
    ("config", &[]),
    ("domain", &[]),
    ("metrics", &[]),
    ("render", &[]),
    ("body", &["domain"]),
    ("signing", &["domain"]),
    ("templates", &["domain"]),
    ("store", &["domain", "body"]),
    (
        "service",
        &[
            "domain",
            "render",
            "signing",
            "store",
            "templates",
            "config",
            "body",
            "metrics",
        ],
    ),
    ("pages", &["domain", "templates"]),
    (
        "issuance",
        &[
            "app",
            "config",
            "domain",
            "error",
            "render",
            "signing",
            "templates",
        ],
    ),
    (
        "routes",
        &["service", "domain", "pages", "body", "config", "metrics"],
    ),
    ("offline", &["service", "domain", "render", "signing"]),
    (
        "cli",
        &["service", "domain", "config", "offline", "server", "store"],
    ),
    (
        "server",
        &[
            "service",
            "routes",
            "pages",
            "config",
            "store",
            "render",
            "signing",
            "templates",
            "metrics",
        ],
    ),
];

/// Route modules every route module may use: extractors, the error shapes, the state.
const ROUTE_SUPPORT: &[&str] = &[
    "json",
    "bodies",
    "html",
    "error",
    "state",
    "caller",
    "multipart",
    "files",
    "verdict",
    "limits",
    "observe",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/domain/submission/create.rs` → `["domain", "submission", "create"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Paths written after `crate::` or `super::` in `source`, as segment lists; a brace group
/// (`crate::domain::{a, b::C}`) gives one path per item.
fn referenced_paths(source: &str, module: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let code: String = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", parent_of(module, is_mod_file)),
    ] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            let preceded = rest[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            rest = &rest[at + prefix.len()..];
            if preceded {
                continue;
            }
            let mut path = base.clone();
            collect(rest, &mut path, &mut paths);
        }
    }
    paths
}

fn parent_of(module: &[String], is_mod_file: bool) -> Vec<String> {
    let mut parent = module.to_vec();
    if !is_mod_file {
        parent.pop();
    }
    parent
}

fn ident(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

fn collect(text: &str, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut text = text;
    loop {
        let (name, rest) = ident(text);
        if name.is_empty() {
            if let Some(group) = text.strip_prefix('{') {
                for item in split_group(group) {
                    let mut inner = path.clone();
                    collect(item.trim(), &mut inner, out);
                }
                return;
            }
            break;
        }
        if name == "super" {
            path.pop();
        } else if name != "self" {
            path.push(name.to_owned());
        }
        match rest.strip_prefix("::") {
            Some(more) => text = more,
            None => break,
        }
    }
    out.push(path.clone());
}

/// The top-level items of a brace group, up to its closing brace.
fn split_group(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// The unit a path lands in: its top-level module and, if it names one, the submodule.
fn unit_of(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let top = path.first()?;
    let top = vec![top.clone()];
    if !modules.contains(&top) {
        return None;
    }
    match path.get(1) {
        Some(sub) if modules.contains(&vec![top[0].clone(), sub.clone()]) => {
            Some(vec![top[0].clone(), sub.clone()])
        }
        _ => Some(top),
    }
}

#[test]
fn layers_import_only_what_architecture_md_allows_and_nothing_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(&src, f))
        .flat_map(|m| (1..=m.len()).map(move |n| m[..n].to_vec()))
        .collect();
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        if module.len() == 1 && ["lib", "main"].contains(&module[0].as_str()) {
            continue;
        }
        let is_mod_file = file.file_name().is_some_and(|n| n == "mod.rs");
        let source = std::fs::read_to_string(file).unwrap();
        let from = unit_of(&module, &modules).unwrap();
        let allowed = layers
            .get(module[0].as_str())
            .unwrap_or_else(|| panic!("{} is in no layer of LAYERS", module[0]));
        for path in referenced_paths(&source, &module, is_mod_file) {
            let Some(to) = unit_of(&path, &modules) else {
                continue;
            };
            if to[0] != from[0] && !allowed.contains(&to[0].as_str()) {
                problems.push(format!(
                    "{} imports {} (layer {} may not import {})",
                    file.display(),
                    path.join("::"),
                    from[0],
                    to[0]
                ));
            }
            let route_to_route = from[0] == "routes"
                && to[0] == "routes"
                && to.len() == 2
                && from.get(1) != to.get(1)
                && !ROUTE_SUPPORT.contains(&to[1].as_str());
            if route_to_route {
                problems.push(format!(
                    "{} imports the route module {} (share through service/ or a support module)",
                    file.display(),
                    path.join("::")
                ));
            }
            if to != from && !from.starts_with(&to) && !to.starts_with(&from) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    for cycle in cycles(&edges) {
        problems.push(format!("import cycle: {}", cycle.join(" → ")));
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// One cycle through each strongly connected group of units (depth-first search).
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut done: BTreeSet<Vec<String>> = BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.join("::")])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = trail.clone();
                    cycle.push(start.join("::"));
                    if !done.contains(start) {
                        found.push(cycle);
                        done.extend(
                            edges
                                .keys()
                                .filter(|k| trail.contains(&k.join("::")))
                                .cloned(),
                        );
                    }
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.join("::"));
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
}

/// Paths served as pages (HTML for people) rather than as the API: the only ones a route
/// module may register with axum's own `.route(…)`, and so the only ones the document may
/// leave out.
fn is_page(path: &str) -> bool {
    path == "/"
        || ["/console", "/guide", "/verify", "/static/", "/api/docs"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// An API route registered with axum's `.route("/…")` would be served without being in the
/// document: API routes go through utoipa-axum's `routes!`, which documents them.
#[test]
fn only_pages_are_routed_outside_the_document() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes"),
        &mut files,
    );
    let mut undocumented = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (at, _) in text.match_indices(".route(") {
            let rest = text[at + ".route(".len()..].trim_start();
            let path: Option<String> = rest
                .strip_prefix('"')
                .map(|p| p.chars().take_while(|c| *c != '"').collect());
            match path {
                Some(path) if is_page(&path) => {}
                // The metrics listener's own route: the document has `/metrics` already, as
                // the main address serves it (for an admin token).
                Some(path) if path == "/metrics" && text.contains("pub fn metrics_listener") => {}
                Some(path) => undocumented.push(format!("{}: {path}", file.display())),
                None => {
                    undocumented.push(format!("{}: a path that is not a literal", file.display()))
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "routes served outside the OpenAPI document (register them with utoipa-axum's routes!): {undocumented:#?}"
    );
}
