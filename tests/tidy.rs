//! The shape of the runtime, checked (as rust-analyzer's `tidy.rs` does):
//! `ARCHITECTURE.md` says what each layer is for; this test keeps the code
//! in it.
//!
//! - Every file of `signal-slot/src` belongs to one layer of [`LAYERS`]; a
//!   file imports from its own layer and those below, never from above.
//! - The only import cycles are the declared knots ([`KNOTS`]), each within
//!   one layer and among the modules it names.
//! - A runtime file is at most [`MAX_LINES`] lines long, its unit tests
//!   apart (they may move to a `tests.rs` beside it).
//! - `unsafe` appears only in `sys/`.
//! - The library ships nothing for the benchmark program.
//!
//! Each rule is also run on made-up files that break it (the tests at the
//! end), so that a rule that stops finding what it looks for fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom to top, and the files of each (a path, or a folder
/// ending in `/`; the longest match wins).
const LAYERS: &[(&str, &[&str])] = &[
    // Words every layer uses: errors, how a loop ended, small helpers, and
    // the buffer arguments are encoded into.
    (
        "base",
        &["error.rs", "status.rs", "util.rs", "codec/encoder.rs"],
    ),
    // Everything `unsafe`: the platform, shared memory, the futex, rings,
    // buffer pools, inline arguments.
    ("sys", &["sys/"]),
    // MessagePack arguments.
    ("codec", &["codec/"]),
    // The vocabulary processes speak: ids, receivers, deliveries, commands,
    // and their frames on the wire; the numbers loops keep about
    // themselves, and what a process says about itself to the topology.
    (
        "protocol",
        &[
            "protocol.rs",
            "command.rs",
            "wire/",
            "stats/",
            "topology/info.rs",
        ],
    ),
    // Moving messages to a loop: its inbox and what the inbox carries,
    // doorbells, links (rings, the network's), the process tree's routes
    // and messages, the table of loops and objects by name, the count of
    // what did not arrive; arguments as they travel, the shared buffers
    // they may name, and the table of calls waiting for a reply.
    (
        "transport",
        &["transport/", "payload.rs", "pool/", "call.rs"],
    ),
    // The object model: loops, their handles, objects and their handles,
    // signals, slots, connections, timers, what travels. One knot, as
    // QObject and QThread are one in Qt.
    (
        "objects",
        &[
            "connection/",
            "context.rs",
            "event_loop/",
            "interrupt.rs",
            "keep.rs",
            "object/",
            "serial.rs",
            "signal/",
            "signature.rs",
            "timer.rs",
            "travel.rs",
        ],
    ),
    // Services built on the object model: threads, child processes and
    // the agent that answers for a process, the network.
    (
        "services",
        &[
            "thread.rs",
            "process/",
            "network/",
            "metrics.rs",
            "topology/",
        ],
    ),
    // The front door: what the crate exports.
    ("front", &["lib.rs", "guide.rs"]),
];

/// The declared knots: a layer, and the modules of it whose files may
/// import each other in cycles (a folder counts as one module: splitting a
/// file into a module of several does not grow a knot). A cycle through
/// any other module is a finding, though it stays within the layer.
const KNOTS: &[(&str, &[&str])] = &[(
    "objects",
    &[
        "connection",
        "context.rs",
        "event_loop",
        "object",
        "signal",
        "travel.rs",
    ],
)];

/// The most lines of a runtime file, its unit tests apart.
const MAX_LINES: usize = 600;

/// Files allowed to be longer than [`MAX_LINES`], each with the length it
/// may not pass (a ratchet while a file waits to be split; none today). A
/// file leaves the list once split (the test says so).
const LONG_FILES: &[(&str, usize)] = &[];

/// A rule broken: where, and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    file: String,
    line: usize,
    what: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "signal-slot/src/{}:{}: {}",
            self.file, self.line, self.what
        )
    }
}

/// The layer of `file` (its index in [`LAYERS`]): the longest match.
fn layer_of(file: &str, layers: &[(&str, &[&str])]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (index, (_, paths)) in layers.iter().enumerate() {
        for path in *paths {
            let matches = if path.ends_with('/') {
                file.starts_with(path)
            } else {
                file == *path
            };
            if matches && best.is_none_or(|(_, len)| path.len() > len) {
                best = Some((index, path.len()));
            }
        }
    }
    best.map(|(index, _)| index)
}

/// The module path of a file: `transport/inbox.rs` is `transport::inbox`,
/// `wire/mod.rs` is `wire`, `lib.rs` is the crate's root.
fn module_of(file: &str) -> String {
    let stem = file.trim_end_matches(".rs");
    let stem = stem
        .strip_suffix("/mod")
        .unwrap_or(if stem == "lib" { "" } else { stem });
    stem.replace('/', "::")
}

/// The lines of a file that are code: before its unit tests, comments and
/// doc comments left out, with their numbers.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut in_test_module = false;
    let mut cfg_test = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") || trimmed.starts_with("#[cfg(all(test") {
            cfg_test = true;
            continue;
        }
        if cfg_test && trimmed.starts_with("mod ") {
            in_test_module = true;
        }
        if !trimmed.starts_with("#[") {
            cfg_test = false;
        }
        if in_test_module {
            // A test module runs to the end of the file (the convention
            // here); what follows it is tests too.
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code = match trimmed.find("//") {
            Some(at) if !trimmed[..at].contains('"') => &trimmed[..at],
            _ => trimmed,
        };
        lines.push((number + 1, code));
    }
    lines
}

/// The length of a file's runtime part: every line before its unit tests.
fn runtime_len(text: &str) -> usize {
    let mut previous_is_cfg_test = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if previous_is_cfg_test && trimmed.starts_with("mod ") {
            return number - 1;
        }
        previous_is_cfg_test = trimmed.starts_with("#[cfg(test)]")
            || trimmed.starts_with("#[cfg(all(test")
            || (previous_is_cfg_test && trimmed.starts_with("#["));
    }
    text.lines().count()
}

/// How paths of the crate resolve to files: its modules (one per file),
/// and the names each module re-exports (`pub use child::Name`), followed
/// to the file that defines them.
struct Paths {
    modules: BTreeMap<String, String>,
    /// `module::Name` → the module path it is re-exported from.
    reexports: BTreeMap<String, String>,
}

impl Paths {
    fn new(files: &BTreeMap<String, String>) -> Paths {
        let modules: BTreeMap<String, String> = files
            .keys()
            .map(|file| (module_of(file), file.clone()))
            .collect();
        let mut paths = Paths {
            modules,
            reexports: BTreeMap::new(),
        };
        let mut reexports = BTreeMap::new();
        for (file, text) in files {
            let module = module_of(file);
            let children = children_of(text);
            for (_, code) in code_lines(text) {
                let code = code.trim();
                let Some(used) = ["pub use ", "pub(crate) use ", "pub(super) use "]
                    .iter()
                    .find_map(|prefix| code.strip_prefix(prefix))
                else {
                    continue;
                };
                let used = used.trim_end_matches(';');
                let (path, names) = match used.split_once("::{") {
                    Some((path, list)) => (
                        path,
                        list.trim_end_matches('}')
                            .split(',')
                            .map(|name| name.trim().split([' ', ':']).next().unwrap_or(""))
                            .filter(|name| !name.is_empty() && *name != "self")
                            .map(str::to_owned)
                            .collect::<Vec<_>>(),
                    ),
                    None => match used.rsplit_once("::") {
                        Some((path, name)) => (path, vec![name.to_owned()]),
                        None => continue,
                    },
                };
                let Some(source) = absolute(&module, path, &children) else {
                    continue;
                };
                for name in names {
                    let key = if module.is_empty() {
                        name.clone()
                    } else {
                        format!("{module}::{name}")
                    };
                    reexports.insert(key, source.clone());
                }
            }
        }
        paths.reexports = reexports;
        paths
    }

    /// The file that defines what `path` (absolute, without `crate::`)
    /// names, if it is of this crate.
    fn resolve(&self, path: &str) -> Option<String> {
        self.resolve_at(path, 0)
    }

    fn resolve_at(&self, path: &str, depth: usize) -> Option<String> {
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        for end in (0..=segments.len()).rev() {
            let prefix = segments[..end].join("::");
            if end < segments.len() && depth < 8 {
                let key = if prefix.is_empty() {
                    segments[end].to_owned()
                } else {
                    format!("{prefix}::{}", segments[end])
                };
                if let Some(source) = self.reexports.get(&key) {
                    let rest = segments[end..].join("::");
                    let target = if source.is_empty() {
                        rest
                    } else {
                        format!("{source}::{rest}")
                    };
                    if let Some(file) = self.resolve_at(&target, depth + 1) {
                        return Some(file);
                    }
                }
            }
            if end > 0
                && let Some(file) = self.modules.get(&prefix)
            {
                return Some(file.clone());
            }
        }
        None
    }
}

/// The modules a file declares (`mod name;`), which its relative paths
/// may start with.
fn children_of(text: &str) -> BTreeSet<String> {
    code_lines(text)
        .into_iter()
        .filter_map(|(_, code)| {
            let code = code.trim();
            let rest = ["mod ", "pub mod ", "pub(crate) mod "]
                .iter()
                .find_map(|prefix| code.strip_prefix(prefix))?;
            let name = rest.strip_suffix(';')?;
            Some(name.trim().to_owned())
        })
        .collect()
}

/// The absolute module path of `path` as written in `module`: from the
/// crate's root (`crate::`), its parents (`super::`), itself (`self::`) or
/// one of its `children`; `None` for a path of another crate.
fn absolute(module: &str, path: &str, children: &BTreeSet<String>) -> Option<String> {
    let mut base: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    match segments.first().copied() {
        Some("crate" | "$crate") => {
            base.clear();
            segments.remove(0);
        }
        Some("super") => {
            while segments.first() == Some(&"super") {
                base.pop();
                segments.remove(0);
            }
        }
        Some("self") => {
            segments.remove(0);
        }
        Some(first) if children.contains(first) => {}
        _ => return None,
    }
    Some(
        base.iter()
            .chain(segments.iter())
            .copied()
            .collect::<Vec<_>>()
            .join("::"),
    )
}

/// Every import of `file`: the line, the path as written, and the file it
/// names. Paths start with `crate::`, `super::` (repeated), `self::` or a
/// module the file declares; a `{..}` list is followed to each of its
/// names.
fn imports(file: &str, text: &str, paths: &Paths) -> Vec<(usize, String, String)> {
    let module = module_of(file);
    let children = children_of(text);
    let is_path_char = |c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '$';
    let mut starts: Vec<String> = vec!["crate::".into(), "super::".into(), "self::".into()];
    starts.extend(children.iter().map(|child| format!("{child}::")));
    let mut found = Vec::new();
    for (line, code) in code_lines(text) {
        let mut rest = code;
        while let Some(at) = starts
            .iter()
            .filter_map(|start| rest.find(start.as_str()))
            .min()
        {
            let preceded = rest[..at].ends_with(is_path_char);
            let tail = &rest[at..];
            let written: String = tail.chars().take_while(|c| is_path_char(*c)).collect();
            rest = &tail[written.len()..];
            if preceded {
                continue;
            }
            let Some(head) = absolute(&module, written.trim_end_matches(':'), &children) else {
                continue;
            };
            let mut targets = vec![head.clone()];
            if let Some(list) = rest.strip_prefix('{') {
                let inner = list.split('}').next().unwrap_or("");
                let names: Vec<String> = inner
                    .split(',')
                    .map(|item| item.trim().split([' ', ':']).next().unwrap_or(""))
                    .filter(|item| !item.is_empty() && *item != "self")
                    .map(|item| {
                        if head.is_empty() {
                            item.to_owned()
                        } else {
                            format!("{head}::{item}")
                        }
                    })
                    .collect();
                if !names.is_empty() {
                    targets = names;
                }
            }
            for target in targets {
                if let Some(target) = paths.resolve(&target)
                    && target != file
                {
                    found.push((line, written.trim_end_matches(':').to_owned(), target));
                }
            }
        }
    }
    found
}

/// Checks `files` (path under `src/` → text) against `layers` and `knots`.
fn check(
    files: &BTreeMap<String, String>,
    layers: &[(&str, &[&str])],
    knots: &[(&str, &[&str])],
    long_files: &[(&str, usize)],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let paths = Paths::new(files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in files {
        let Some(layer) = layer_of(file, layers) else {
            findings.push(Finding {
                file: file.clone(),
                line: 1,
                what: "belongs to no layer: add it to LAYERS (and to ARCHITECTURE.md)".to_owned(),
            });
            continue;
        };
        for (line, path, target) in imports(file, text, &paths) {
            graph
                .entry(file.clone())
                .or_default()
                .insert(target.clone());
            let Some(target_layer) = layer_of(&target, layers) else {
                continue;
            };
            if target_layer > layer {
                findings.push(Finding {
                    file: file.clone(),
                    line,
                    what: format!(
                        "imports `{path}` ({target}, layer `{}`) from above its own layer `{}`",
                        layers[target_layer].0, layers[layer].0
                    ),
                });
            }
        }
        let len = runtime_len(text);
        let allowed = long_files
            .iter()
            .find(|(long, _)| *long == file)
            .map_or(MAX_LINES, |(_, max)| *max);
        if len > allowed {
            findings.push(Finding {
                file: file.clone(),
                line: allowed + 1,
                what: format!(
                    "{len} lines before its tests, over {allowed}: two concepts, or tests to \
                     move to a `tests.rs` beside it"
                ),
            });
        } else if allowed > MAX_LINES && len <= MAX_LINES {
            findings.push(Finding {
                file: file.clone(),
                line: 1,
                what: format!("{len} lines now: take it off LONG_FILES"),
            });
        }
        if !file.starts_with("sys/") {
            for (line, code) in code_lines(text) {
                let unsafe_word = code.split(|c: char| !(c.is_alphanumeric() || c == '_'));
                if unsafe_word.clone().any(|word| word == "unsafe") && !code.contains("unsafe_code")
                {
                    findings.push(Finding {
                        file: file.clone(),
                        line,
                        what: "`unsafe` outside `sys/`".to_owned(),
                    });
                }
            }
        }
        for line in bench_hooks(text) {
            findings.push(Finding {
                file: file.clone(),
                line,
                what: "an item for the benchmark program: the library ships none".to_owned(),
            });
        }
    }
    for (listed, _) in long_files {
        if !files.contains_key(*listed) {
            findings.push(Finding {
                file: (*listed).to_owned(),
                line: 1,
                what: "on LONG_FILES, but there is no such file now: take it off".to_owned(),
            });
        }
    }
    for cycle in cycles(&graph) {
        if within_one_module(&cycle) {
            continue;
        }
        let layer_names: BTreeSet<&str> = cycle
            .iter()
            .filter_map(|file| layer_of(file, layers).map(|layer| layers[layer].0))
            .collect();
        let knot = (layer_names.len() == 1)
            .then(|| layer_names.iter().next().copied())
            .flatten()
            .and_then(|name| knots.iter().find(|(knot, _)| *knot == name));
        let modules = modules_in(&cycle);
        let what = match knot {
            Some((_, declared)) if modules.iter().all(|module| declared.contains(module)) => {
                continue;
            }
            Some((name, declared)) => {
                let outside: Vec<&str> = modules
                    .iter()
                    .copied()
                    .filter(|module| !declared.contains(module))
                    .collect();
                format!(
                    "an import cycle through {outside:?}, outside the knot `{name}` \
                     ({declared:?}): {cycle:?}"
                )
            }
            None => format!(
                "an import cycle outside the declared knots (layers {layer_names:?}): {cycle:?}"
            ),
        };
        findings.push(Finding {
            file: cycle[0].clone(),
            line: 1,
            what,
        });
    }
    findings.sort();
    findings.dedup();
    findings
}

/// The lines of public items whose docs say they are there for a
/// benchmark.
fn bench_hooks(text: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut docs_mention_bench = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(doc) = trimmed.strip_prefix("///") {
            docs_mention_bench |= doc.to_lowercase().contains("bench");
            continue;
        }
        if trimmed.starts_with("#[") {
            continue;
        }
        let public = [
            "pub mod ",
            "pub fn ",
            "pub struct ",
            "pub enum ",
            "pub trait ",
        ]
        .iter()
        .any(|item| trimmed.starts_with(item));
        if public && docs_mention_bench {
            found.push(number + 1);
        }
        docs_mention_bench = false;
    }
    found
}

/// The modules of a cycle: a folder counts once (a module split into
/// files is still one module), a file at the root once.
fn modules_in(cycle: &[String]) -> BTreeSet<&str> {
    cycle
        .iter()
        .map(|file| {
            file.split_once('/')
                .map_or(file.as_str(), |(folder, _)| folder)
        })
        .collect()
}

/// True if every file of `cycle` lies in one folder: a module and its
/// files, which may use each other as the parts of one thing.
fn within_one_module(cycle: &[String]) -> bool {
    let folder = |file: &str| file.rsplit_once('/').map(|(folder, _)| folder.to_owned());
    let first = folder(&cycle[0]);
    first.is_some() && cycle.iter().all(|file| folder(file) == first)
}

/// The strongly connected parts of `graph` with more than one file.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, without recursion.
    let nodes: BTreeSet<&String> = graph
        .keys()
        .chain(graph.values().flat_map(|targets| targets.iter()))
        .collect();
    let mut index: BTreeMap<&String, usize> = BTreeMap::new();
    let mut low: BTreeMap<&String, usize> = BTreeMap::new();
    let mut on_stack: BTreeSet<&String> = BTreeSet::new();
    let mut stack: Vec<&String> = Vec::new();
    let mut found = Vec::new();
    let empty = BTreeSet::new();
    for start in &nodes {
        if index.contains_key(start) {
            continue;
        }
        let mut work: Vec<(&String, Vec<&String>)> = Vec::new();
        let next = index.len();
        index.insert(start, next);
        low.insert(start, next);
        stack.push(start);
        on_stack.insert(start);
        work.push((start, graph.get(*start).unwrap_or(&empty).iter().collect()));
        while let Some((node, pending)) = work.last_mut() {
            let node = *node;
            if let Some(target) = pending.pop() {
                if !index.contains_key(target) {
                    let next = index.len();
                    index.insert(target, next);
                    low.insert(target, next);
                    stack.push(target);
                    on_stack.insert(target);
                    work.push((target, graph.get(target).unwrap_or(&empty).iter().collect()));
                } else if on_stack.contains(target) {
                    let target_index = index[target];
                    let entry = low.get_mut(node).expect("visited");
                    *entry = (*entry).min(target_index);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _)) = work.last() {
                let node_low = low[node];
                let entry = low.get_mut(*parent).expect("visited");
                *entry = (*entry).min(node_low);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack.remove(member);
                    component.push(member.clone());
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    found.push(component);
                }
            }
        }
    }
    found
}

fn read_sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("signal-slot/src");
    let mut files = BTreeMap::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("the runtime's sources") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let name = path
                    .strip_prefix(&root)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                files.insert(name, std::fs::read_to_string(&path).expect("a source file"));
            }
        }
    }
    files
}

#[test]
fn the_runtime_keeps_its_shape() {
    let findings = check(&read_sources(), LAYERS, KNOTS, LONG_FILES);
    let report: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        findings.is_empty(),
        "{} findings (see ARCHITECTURE.md):\n{}",
        findings.len(),
        report.join("\n")
    );
}

#[test]
fn every_layer_of_the_table_is_in_architecture_md() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md at the root");
    for (layer, paths) in LAYERS {
        assert!(
            text.contains(&format!("`{layer}`")),
            "layer `{layer}` is not described"
        );
        for path in *paths {
            assert!(
                text.contains(path),
                "`{path}` ({layer}) is not in the code map"
            );
        }
    }
}

#[test]
fn the_python_bindings_keep_unsafe_in_one_module_and_their_files_short() {
    // `signal-slot-py` calls the interpreter's own fork preparations and
    // lends a shared buffer's memory to Python, and nothing else unsafe:
    // in its `sys/` alone.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("signal-slot-py/src");
    let mut seen = 0;
    let mut unsafe_in_sys = 0;
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("signal-slot-py/src") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let name = path
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            seen += 1;
            assert!(
                runtime_len(&text) <= MAX_LINES,
                "signal-slot-py/src/{name}: over {MAX_LINES} lines"
            );
            for (line, code) in code_lines(&text) {
                let mut words = code.split(|c: char| !(c.is_alphanumeric() || c == '_'));
                if !words.any(|word| word == "unsafe") || code.contains("unsafe_code") {
                    continue;
                }
                assert!(
                    name.starts_with("sys/"),
                    "signal-slot-py/src/{name}:{line}: `unsafe` outside sys/"
                );
                unsafe_in_sys += 1;
            }
        }
    }
    assert!(seen >= 8, "the bindings' files were not found");
    assert!(unsafe_in_sys > 0, "sys/ is where the bindings' `unsafe` is");
}

// ---- The rules, on made-up files that break them ----

fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(file, text)| ((*file).to_owned(), (*text).to_owned()))
        .collect()
}

const TOY_LAYERS: &[(&str, &[&str])] = &[
    ("low", &["low.rs", "deep/"]),
    ("high", &["high.rs", "knot/", "tangle/"]),
    ("front", &["lib.rs"]),
];

#[test]
fn an_import_from_above_is_found_with_file_line_and_name() {
    let findings = check(
        &files(&[
            ("lib.rs", "mod low;\nmod high;\n"),
            ("high.rs", "use crate::low::Word;\n"),
            (
                "low.rs",
                "//! Low.\n\nuse std::fmt;\nuse crate::high::Thing;\n",
            ),
        ]),
        TOY_LAYERS,
        &[],
        &[],
    );
    // The import from above, and the cycle it closes.
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert!(
        findings[0]
            .what
            .contains("cycle outside the declared knots"),
        "{findings:?}"
    );
    assert_eq!(findings[1].file, "low.rs");
    assert_eq!(findings[1].line, 4);
    assert!(
        findings[1].what.contains("crate::high::Thing"),
        "{}",
        findings[1].what
    );
}

#[test]
fn imports_through_super_lists_and_paths_in_code_are_followed() {
    let findings = check(
        &files(&[
            ("lib.rs", ""),
            ("high.rs", ""),
            (
                "deep/mod.rs",
                "mod inner;\nfn f() { let _ = crate::high::g(); }\n",
            ),
            (
                "deep/inner.rs",
                "use super::super::high;\nuse crate::{low, high::H};\n",
            ),
            ("low.rs", "// crate::high in a comment is no import\n"),
        ]),
        TOY_LAYERS,
        &[],
        &[],
    );
    let places: Vec<(&str, usize)> = findings
        .iter()
        .map(|finding| (finding.file.as_str(), finding.line))
        .collect();
    assert_eq!(
        places,
        [
            ("deep/inner.rs", 1),
            ("deep/inner.rs", 2),
            ("deep/mod.rs", 2)
        ],
        "{findings:?}"
    );
}

#[test]
fn cycles_are_allowed_only_among_the_modules_of_a_declared_knot() {
    let knotted = files(&[
        ("lib.rs", ""),
        ("low.rs", ""),
        ("knot/a.rs", "use crate::tangle::b::B;\n"),
        ("tangle/b.rs", "use crate::knot::c::C;\n"),
        ("knot/c.rs", "use crate::knot::a::A;\n"),
    ]);
    // Three files in two modules (`knot/` counts once).
    assert!(check(&knotted, TOY_LAYERS, &[("high", &["knot", "tangle"])], &[]).is_empty());
    let too_big = check(&knotted, TOY_LAYERS, &[("high", &["knot"])], &[]);
    assert_eq!(too_big.len(), 1);
    assert!(
        too_big[0].what.contains("through [\"tangle\"]"),
        "{}",
        too_big[0].what
    );
    let undeclared = check(&knotted, TOY_LAYERS, &[], &[]);
    assert!(undeclared[0].what.contains("outside the declared knots"));
    // A module and its own files may use each other.
    let module = files(&[
        ("lib.rs", ""),
        (
            "deep/mod.rs",
            "mod inner;\npub(crate) use inner::Thing;\nfn f() {}\n",
        ),
        ("deep/inner.rs", "use super::f;\npub struct Thing;\n"),
    ]);
    assert!(check(&module, TOY_LAYERS, &[], &[]).is_empty());
}

#[test]
fn long_files_unsafe_code_and_bench_hooks_are_found() {
    let long: String = "fn f() {}\n".repeat(MAX_LINES + 1);
    let tested = format!(
        "{}#[cfg(test)]\nmod tests {{\n{}}}\n",
        "fn f() {}\n".repeat(10),
        "fn t() {}\n".repeat(2 * MAX_LINES)
    );
    let findings = check(
        &files(&[
            ("lib.rs", "/// For `bench --floor`.\npub mod hooks {}\n"),
            ("low.rs", &long),
            ("high.rs", &tested),
            (
                "deep/x.rs",
                "#![deny(unsafe_code)]\nfn f() { unsafe { g() } }\n",
            ),
        ]),
        TOY_LAYERS,
        &[],
        &[],
    );
    let whats: Vec<String> = findings
        .iter()
        .map(|finding| format!("{}:{}", finding.file, finding.what))
        .collect();
    assert_eq!(findings.len(), 3, "{whats:#?}");
    assert!(whats[0].starts_with("deep/x.rs:`unsafe`"), "{whats:#?}");
    assert!(
        whats[1].starts_with("lib.rs:an item for the benchmark"),
        "{whats:#?}"
    );
    assert!(
        whats[2].starts_with(&format!("low.rs:{} lines", MAX_LINES + 1)),
        "{whats:#?}"
    );
}

#[test]
fn a_long_file_may_not_grow_and_leaves_the_list_once_split() {
    let lines = |count: usize| "fn f() {}\n".repeat(count);
    let listed = [
        ("low.rs", MAX_LINES + 50),
        ("high.rs", MAX_LINES + 50),
        ("gone.rs", MAX_LINES + 50),
    ];
    let findings = check(
        &files(&[
            ("lib.rs", ""),
            ("low.rs", &lines(MAX_LINES + 51)),
            ("high.rs", &lines(MAX_LINES - 1)),
        ]),
        TOY_LAYERS,
        &[],
        &listed,
    );
    let whats: Vec<String> = findings
        .iter()
        .map(|finding| format!("{}:{}", finding.file, finding.what))
        .collect();
    assert_eq!(whats.len(), 3, "{whats:#?}");
    assert!(
        whats[0].starts_with("gone.rs:on LONG_FILES, but there is no such file"),
        "{whats:#?}"
    );
    assert!(
        whats[1].starts_with("high.rs:599 lines now: take it off"),
        "{whats:#?}"
    );
    assert!(
        whats[2].starts_with(&format!("low.rs:{} lines", MAX_LINES + 51)),
        "{whats:#?}"
    );
}
