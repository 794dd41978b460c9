//! ARCHITECTURE.md's crate graph ("## The shape") is the workspace's real
//! one: every crate is listed once, every edge it names is a dependency in
//! `cargo metadata`, and every dependency between workspace crates (normal
//! or build, not dev) is named. Crates are named by their directory under
//! `crates/`.
//!
//! The graph is the first fenced block of the section, one crate a line:
//! `crate -> dep dep ...` (nothing after `->` for a crate without workspace
//! dependencies). A line that starts with a space continues the previous
//! crate's list; `#` starts a comment; blank lines are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The heading whose first fenced block is the crate graph.
const SECTION: &str = "## The shape";
/// Opens and closes a fenced block.
const FENCE: &str = "```";
/// Separates a crate from its dependencies.
const ARROW: &str = "->";
/// Where the workspace's crates live, relative to its root.
const CRATES_DIR: &str = "crates";

/// Crate → the workspace crates it depends on.
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn architecture_diagram_matches_the_crate_graph() {
    let root = workspace_root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let drawn = parse_graph(&graph_block(&text));
    let real = cargo_graph(&root);
    let problems = differences(&drawn, &real);
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's crate graph is out of date:\n{}",
        problems.join("\n")
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The lines of the first fenced block after [`SECTION`].
fn graph_block(text: &str) -> Vec<&str> {
    let section = text
        .split_once(&format!("\n{SECTION}\n"))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no {SECTION:?} section"));
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with(FENCE))
        .skip(1);
    let block: Vec<&str> = lines
        .by_ref()
        .take_while(|l| !l.starts_with(FENCE))
        .collect();
    assert!(!block.is_empty(), "no fenced block under {SECTION:?}");
    block
}

/// Parses `crate -> deps` lines (see the module documentation).
fn parse_graph(lines: &[&str]) -> Graph {
    let mut graph = Graph::new();
    let mut current: Option<String> = None;
    for raw in lines {
        let line = raw.split('#').next().unwrap_or("");
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let name = current
                .as_ref()
                .expect("a continuation line needs a crate line");
            add_deps(&mut graph, name, line);
            continue;
        }
        let (name, deps) = line
            .split_once(ARROW)
            .unwrap_or_else(|| panic!("{raw:?}: expected `crate {ARROW} deps`"));
        let name = name.trim().to_owned();
        assert!(
            graph.insert(name.clone(), BTreeSet::new()).is_none(),
            "{name} is listed twice"
        );
        add_deps(&mut graph, &name, deps);
        current = Some(name);
    }
    graph
}

fn add_deps(graph: &mut Graph, name: &str, deps: &str) {
    let set = graph.get_mut(name).expect("crate listed");
    for dep in deps.split_whitespace() {
        assert!(
            set.insert(dep.to_owned()),
            "{name} -> {dep} is listed twice"
        );
    }
}

/// The workspace's crate graph from `cargo metadata`, by directory name.
fn cargo_graph(root: &Path) -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().expect("packages");
    let dirs: BTreeMap<&str, String> = packages
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), crate_dir(p)))
        .collect();
    packages
        .iter()
        .map(|p| (crate_dir(p), workspace_deps(p, &dirs)))
        .collect()
}

/// The directory under `crates/` that holds a package's manifest.
fn crate_dir(package: &serde_json::Value) -> String {
    let manifest = Path::new(package["manifest_path"].as_str().unwrap());
    let dir = manifest.parent().unwrap();
    let parent = dir.parent().and_then(Path::file_name);
    assert_eq!(
        parent.and_then(|p| p.to_str()),
        Some(CRATES_DIR),
        "{} is not under {CRATES_DIR}/",
        manifest.display()
    );
    dir.file_name().unwrap().to_str().unwrap().to_owned()
}

/// The workspace crates a package depends on (normal and build
/// dependencies; dev-dependencies are the tests' business).
fn workspace_deps(package: &serde_json::Value, dirs: &BTreeMap<&str, String>) -> BTreeSet<String> {
    package["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| d["kind"].as_str() != Some("dev"))
        .filter_map(|d| dirs.get(d["name"].as_str().unwrap()).cloned())
        .collect()
}

/// Every way the drawn graph and the real one differ, one line each.
fn differences(drawn: &Graph, real: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    let none = BTreeSet::new();
    for name in drawn.keys().chain(real.keys()).collect::<BTreeSet<_>>() {
        match (drawn.get(name), real.get(name)) {
            (None, _) => problems.push(format!("crate {name} is not listed")),
            (_, None) => problems.push(format!("{name} is not a workspace crate")),
            _ => {}
        }
        let (d, r) = (
            drawn.get(name).unwrap_or(&none),
            real.get(name).unwrap_or(&none),
        );
        for dep in d.difference(r) {
            problems.push(format!("{name} -> {dep} is drawn but not a dependency"));
        }
        for dep in r.difference(d) {
            problems.push(format!("{name} -> {dep} is a dependency but not drawn"));
        }
    }
    problems
}
