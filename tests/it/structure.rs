//! The architecture as a test: every `crate::` edge between the library's
//! modules points down the layer order docs/architecture.md documents, no files
//! import each other in a circle, and no file in src/ grows past 600 lines
//! unless docs/architecture.md says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file longer than this needs a reason in docs/architecture.md.
const MAX_LINES: usize = 600;
/// The heading of docs/architecture.md's list of long files and their reasons.
const LONG_FILES_HEADING: &str = "## Long files";

/// One source file of the library.
struct Source {
    /// Relative to src/, with `/` separators.
    path: String,
    /// Its module path: `poller/state.rs` is `[poller, state]`, `poller/mod.rs` is `[poller]`.
    module: Vec<String>,
    /// The code with comments, strings and character literals blanked out.
    code: String,
    lines: usize,
}

/// A path a file names, resolved against its module, with what it was written as.
struct Reference {
    segments: Vec<String>,
    written: String,
    reexport: Option<String>,
    /// For a re-export: the file also names it in its own code, so it depends on
    /// what it re-exports (a bare re-export is only a name handed on).
    used_here: bool,
    /// Written in a `#[cfg(test)]` module: checked against the layers, but not a
    /// dependency of the code itself, so no part of a circle.
    test: bool,
}

fn module_of(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = path
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code without comments, string and character literals, each replaced by
/// spaces so that positions and line numbers stay where they were.
fn blank(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && starts_word(&chars[..i]) {
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = chars[j + 1..].iter().collect();
            let end = rest.find(&close).map_or(chars.len(), |at| {
                j + 1 + rest[..at].chars().count() + close.chars().count()
            });
            for &c in &chars[i..end] {
                out.push(keep(c));
            }
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(keep(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A character literal; a lifetime ('a) has no closing quote.
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(' ');
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether a token starting after `before` starts a word: nothing word-like
/// precedes it, or only the `b` or `c` of a byte or C raw string (`br"..."`).
fn starts_word(before: &[char]) -> bool {
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    match before {
        [.., p] if !word(p) => true,
        [] => true,
        [rest @ .., 'b' | 'c'] => !rest.last().is_some_and(word),
        _ => false,
    }
}

fn segments(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Splits `a, b::{c, d}, e` at its top-level commas.
fn split_top(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&list[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// Every path a use tree names, with the name it is imported as.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    let mut path = prefix.to_vec();
    if let (Some(open), Some(close)) = (tree.find('{'), tree.rfind('}')) {
        path.extend(segments(&tree[..open]));
        for part in split_top(&tree[open + 1..close]) {
            expand(&path, part, out);
        }
        return;
    }
    let mut words = tree.split_whitespace();
    let written = words.next().unwrap_or_default();
    let alias = match (words.next(), words.next()) {
        (Some("as"), Some(alias)) => Some(alias.to_owned()),
        _ => None,
    };
    path.extend(segments(written));
    if path.last().is_some_and(|s| s == "self" || s == "*") {
        path.pop();
    }
    let name = alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
    out.push((path, name));
}

/// The inline `mod name {` blocks of a file: name, byte range, and whether it is `#[cfg(test)]`.
fn inline_modules(code: &str) -> Vec<(String, usize, usize, bool)> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut search = 0;
    while let Some(at) = code[search..].find("mod ") {
        let start = search + at;
        search = start + 4;
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let rest = &code[start + 4..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after = rest.trim_start()[name.len()..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        let mut depth = 0;
        let mut end = code.len();
        for (offset, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + offset;
                        break;
                    }
                }
                _ => {}
            }
        }
        let test = code[..start].trim_end().ends_with("#[cfg(test)]");
        found.push((name, open, end, test));
    }
    found
}

/// The module a position of `source` is in, inline modules included.
fn module_at(
    source: &Source,
    inline: &[(String, usize, usize, bool)],
    at: usize,
) -> (Vec<String>, bool) {
    let mut module = source.module.clone();
    let mut test = false;
    for (name, start, end, is_test) in inline {
        if *start < at && at < *end {
            module.push(name.clone());
            test |= is_test;
        }
    }
    (module, test)
}

/// Every path `source` names: its use declarations (re-exports marked) and
/// the `crate::`/`super::` paths written inline.
fn references(source: &Source, modules: &BTreeSet<Vec<String>>) -> Vec<Reference> {
    let code = &source.code;
    let inline = inline_modules(code);
    let mut found = Vec::new();
    let mut covered: Vec<(usize, usize)> = Vec::new();
    let mut search = 0;
    while let Some(at) = code[search..].find("use ") {
        let start = search + at;
        search = start + 4;
        let before = code[..start].trim_end();
        let is_word_start = start == 0 || !code.as_bytes()[start - 1].is_ascii_alphanumeric();
        let at_statement = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with(']')
            || before.ends_with("pub")
            || before.ends_with(')');
        if !is_word_start || !at_statement {
            continue;
        }
        let Some(length) = code[start..].find(';') else {
            continue;
        };
        let end = start + length;
        covered.push((start, end));
        let public = before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
        let (module, test) = module_at(source, &inline, start);
        let mut paths = Vec::new();
        expand(&[], &code[start + 4..end], &mut paths);
        for (path, name) in paths {
            if let Some(segments) = absolute(&module, &path, modules) {
                found.push(Reference {
                    segments,
                    written: path.join("::"),
                    reexport: public.then_some(name),
                    used_here: false,
                    test,
                });
            }
        }
    }
    let bytes = code.as_bytes();
    let mut search = 0;
    while let Some(at) = code[search..].find("::") {
        let colons = search + at;
        search = colons + 2;
        let start = code[..colons]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |p| p + 1);
        let preceded_by_path = code[..start].ends_with("::");
        // `pub(in crate::a::b)` restricts visibility; it imports nothing.
        let in_visibility = code[..start].trim_end().ends_with("pub(in");
        if start == colons
            || preceded_by_path
            || in_visibility
            || covered.iter().any(|(s, e)| *s <= start && start < *e)
            || bytes[start].is_ascii_digit()
        {
            continue;
        }
        let written: String = code[start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let path: Vec<String> = segments(&written).collect();
        let (module, test) = module_at(source, &inline, start);
        if let Some(segments) = absolute(&module, &path, modules) {
            found.push(Reference {
                segments,
                written,
                reexport: None,
                used_here: false,
                test,
            });
        }
    }
    for reference in &mut found {
        if let Some(name) = &reference.reexport {
            reference.used_here = names(code, name, &covered);
        }
    }
    found
}

/// Whether `code` names `name` outside the `covered` use declarations, as a
/// word of its own: not a path's later segment, a field, or a `mod` declaration.
fn names(code: &str, name: &str, covered: &[(usize, usize)]) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].trim_end();
        let after = code[at + name.len()..].chars().next();
        !code[..at].ends_with(word)
            && !after.is_some_and(word)
            && !before.ends_with("::")
            && !before.ends_with('.')
            && before
                .strip_suffix("mod")
                .is_none_or(|rest| rest.ends_with(word))
            && !covered.iter().any(|(s, e)| *s <= at && at < *e)
    })
}

/// `path` as written in `module`, from the crate root; `None` for other crates.
fn absolute(
    module: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut base = module.to_vec();
    let mut rest = path;
    match first.as_str() {
        "crate" => {
            base.clear();
            rest = &path[1..];
        }
        "self" => rest = &path[1..],
        "super" => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        child => {
            // Outside `use`, only a child module's own name is a path into the crate
            // (an inline `Type::method` or `std::...` is not).
            let mut candidate = module.to_vec();
            candidate.push(child.to_owned());
            if !modules.contains(&candidate) {
                return None;
            }
        }
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file a resolved path lands in: its deepest module that is a file,
/// followed through the re-exports of that module's file.
fn target(
    segments: &[String],
    files: &BTreeMap<Vec<String>, usize>,
    reexports: &BTreeMap<(usize, String), Vec<String>>,
    hops: usize,
) -> Option<usize> {
    let mut found = None;
    let mut depth = 0;
    for end in 0..=segments.len() {
        if let Some(&file) = files.get(&segments[..end].to_vec()) {
            found = Some(file);
            depth = end;
        }
    }
    let file = found?;
    if hops < 8
        && let Some(name) = segments.get(depth)
        && let Some(next) = reexports.get(&(file, name.clone()))
    {
        let mut followed = next.clone();
        followed.extend(segments[depth + 1..].iter().cloned());
        return target(&followed, files, reexports, hops + 1).or(Some(file));
    }
    Some(file)
}

/// The documented layers, bottom first: rows `| 1 | `env`, `yaml` | ... |`.
fn layers(doc: &str) -> BTreeMap<String, usize> {
    let mut layers = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(level) = cells.get(1).and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        for name in cells.get(2).unwrap_or(&"").split('`').skip(1).step_by(2) {
            layers.insert(name.to_owned(), level);
        }
    }
    layers
}

/// The files docs/architecture.md allows to be long: list items under [`LONG_FILES_HEADING`].
fn allowed_long(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .skip_while(|l| l.trim() != LONG_FILES_HEADING)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.trim_start().starts_with("- "))
        .filter_map(|l| l.split('`').nth(1))
        .map(|p| p.trim_start_matches("src/").to_owned())
        .collect()
}

/// Every way `sources` break the structure `doc` documents.
fn problems(sources: &[Source], doc: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let layer = layers(doc);
    let files: BTreeMap<Vec<String>, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.module.clone(), i))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.keys().cloned().collect();
    let top_modules: BTreeSet<&String> = sources.iter().filter_map(|s| s.module.first()).collect();
    for top in &top_modules {
        if !layer.contains_key(*top) {
            problems.push(format!(
                "module `{top}` is in no layer of docs/architecture.md: add it to the layer table"
            ));
        }
    }
    for name in layer.keys() {
        if !top_modules.contains(name) {
            problems.push(format!(
                "docs/architecture.md's layer table names `{name}`, which is not a module of src/"
            ));
        }
    }

    let all: Vec<Vec<Reference>> = sources.iter().map(|s| references(s, &modules)).collect();
    let mut reexports = BTreeMap::new();
    for (file, refs) in all.iter().enumerate() {
        for reference in refs {
            if let Some(name) = &reference.reexport {
                reexports.insert((file, name.clone()), reference.segments.clone());
            }
        }
    }
    let mut edges: BTreeMap<usize, BTreeMap<usize, String>> = BTreeMap::new();
    for (file, refs) in all.iter().enumerate() {
        let source = &sources[file];
        for reference in refs {
            let Some(to) = target(&reference.segments, &files, &reexports, 0) else {
                continue;
            };
            let (Some(from_top), Some(to_top)) =
                (source.module.first(), sources[to].module.first())
            else {
                continue;
            };
            if from_top != to_top
                && let (Some(from_level), Some(to_level)) = (layer.get(from_top), layer.get(to_top))
                && to_level >= from_level
            {
                problems.push(format!(
                    "src/{} uses `{}`: `{from_top}` (layer {from_level}) may only use lower layers, and `{to_top}` is layer {to_level}; move the shared part down or document a new order",
                    source.path, reference.written
                ));
            }
            if to != file
                && (reference.reexport.is_none() || reference.used_here)
                && !reference.test
            {
                edges
                    .entry(file)
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| reference.written.clone());
            }
        }
    }
    for mut cycle in cycles(sources.len(), &edges) {
        cycle.sort_by(|a, b| sources[*a].path.cmp(&sources[*b].path));
        let named: Vec<String> = cycle
            .iter()
            .map(|f| format!("src/{}", sources[*f].path))
            .collect();
        let mut how = Vec::new();
        for &from in &cycle {
            for (to, written) in edges.get(&from).into_iter().flatten() {
                if cycle.contains(to) {
                    how.push(format!(
                        "src/{} uses `{written}` (src/{})",
                        sources[from].path, sources[*to].path
                    ));
                }
            }
        }
        problems.push(format!(
            "files import each other in a circle: {}; {}",
            named.join(", "),
            how.join("; ")
        ));
    }

    let allowed = allowed_long(doc);
    for source in sources {
        let long = source.lines > MAX_LINES;
        match (long, allowed.contains(&source.path)) {
            (true, false) => problems.push(format!(
                "src/{} has {} lines, over {MAX_LINES}: split it by concern, or say why not under `{LONG_FILES_HEADING}` in docs/architecture.md",
                source.path, source.lines
            )),
            (false, true) => problems.push(format!(
                "docs/architecture.md lists src/{} under `{LONG_FILES_HEADING}`, but it has {} lines: remove it from the list",
                source.path, source.lines
            )),
            _ => {}
        }
    }
    for path in &allowed {
        if !sources.iter().any(|s| &s.path == path) {
            problems.push(format!(
                "docs/architecture.md lists src/{path} under `{LONG_FILES_HEADING}`, which does not exist"
            ));
        }
    }
    problems
}

/// The strongly connected groups of more than one file (Tarjan's algorithm).
fn cycles(count: usize, edges: &BTreeMap<usize, BTreeMap<usize, String>>) -> Vec<Vec<usize>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<usize, BTreeMap<usize, String>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(walk: &mut Walk, node: usize) {
        walk.index[node] = Some(walk.next);
        walk.low[node] = walk.next;
        walk.next += 1;
        walk.stack.push(node);
        walk.on_stack[node] = true;
        let targets: Vec<usize> = walk
            .edges
            .get(&node)
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default();
        for to in targets {
            match walk.index[to] {
                None => {
                    visit(walk, to);
                    walk.low[node] = walk.low[node].min(walk.low[to]);
                }
                Some(index) if walk.on_stack[to] => walk.low[node] = walk.low[node].min(index),
                Some(_) => {}
            }
        }
        if Some(walk.low[node]) == walk.index[node] {
            let mut group = Vec::new();
            while let Some(member) = walk.stack.pop() {
                walk.on_stack[member] = false;
                group.push(member);
                if member == node {
                    break;
                }
            }
            if group.len() > 1 {
                walk.found.push(group);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: vec![None; count],
        low: vec![0; count],
        on_stack: vec![false; count],
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in 0..count {
        if walk.index[node].is_none() {
            visit(&mut walk, node);
        }
    }
    walk.found
}

fn source(path: &str, text: &str) -> Source {
    Source {
        path: path.to_owned(),
        module: module_of(path),
        code: blank(text),
        lines: text.lines().count(),
    }
}

fn read_sources(dir: &Path, root: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            // The binary is its own crate: its `crate::` is not the library's.
            if relative != "main.rs" {
                out.push(source(&relative, &std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
}

#[test]
fn the_library_follows_the_documented_layers_without_cycles_or_long_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut sources = Vec::new();
    read_sources(&root.join("src"), &root.join("src"), &mut sources);
    assert!(sources.len() > 20, "found only {} files", sources.len());
    assert!(
        layers(&doc).len() > 10,
        "docs/architecture.md has no layer table"
    );
    let problems = problems(&sources, &doc);
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// The checks above, on small made-up crates: each kind of problem is found.
mod checker {
    use super::*;

    const DOC: &str = "| Layer | Modules |\n|---|---|\n| 1 | `low` |\n| 2 | `high`, `side` |\n\n## Long files\n- `src/high/big.rs`: one table\n\n## Next\n- `src/low.rs`\n";

    fn check(files: &[(&str, &str)]) -> Vec<String> {
        let sources: Vec<Source> = files.iter().map(|(p, t)| source(p, t)).collect();
        problems(&sources, DOC)
    }

    fn big() -> String {
        "fn f() {}\n".repeat(MAX_LINES + 1)
    }

    #[test]
    fn a_downward_edge_passes() {
        assert_eq!(
            check(&[
                ("lib.rs", "pub mod low;\npub mod high;\npub mod side;"),
                ("low.rs", "pub struct L;"),
                ("high/mod.rs", "use crate::low::L;\nmod big;"),
                ("high/big.rs", &big()),
                (
                    "side.rs",
                    "use crate::{low::L};\npub(in crate::side) fn f() {}"
                ),
            ]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_upward_edge_is_found_in_use_trees_inline_paths_and_tests() {
        let found = check(&[
            ("low.rs", "use crate::{high::{H, self}};"),
            ("high/mod.rs", "pub struct H;"),
            ("high/big.rs", &big()),
            (
                "side.rs",
                "fn f() { let _ = \"crate::low::L\"; } // crate::high",
            ),
        ]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("src/low.rs uses `crate::high::H`"),
            "{found:?}"
        );
        let inline = check(&[
            (
                "low.rs",
                "#[cfg(test)]\nmod tests {\n    fn f() { crate::high::H; }\n}",
            ),
            ("high/mod.rs", "pub struct H;"),
            ("high/big.rs", &big()),
            ("side.rs", ""),
        ]);
        assert_eq!(inline.len(), 1, "{inline:?}");
        let same_layer = check(&[
            ("low.rs", ""),
            ("high/mod.rs", "use crate::side::S;"),
            ("high/big.rs", &big()),
            ("side.rs", "pub struct S;"),
        ]);
        assert_eq!(same_layer.len(), 1, "{same_layer:?}");
    }

    #[test]
    fn a_cycle_between_files_is_found_through_super_and_reexports() {
        let found = check(&[
            ("low.rs", ""),
            (
                "high/mod.rs",
                "mod a;\nmod big;\npub use a::A;\npub struct M;\nfn f() { let _ = big::B; }",
            ),
            ("high/a.rs", "use super::M;\npub struct A;"),
            (
                "high/big.rs",
                &format!("use crate::high::A;\npub struct B;\n{}", big()),
            ),
            ("side.rs", ""),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "files import each other in a circle: src/high/a.rs, src/high/big.rs, src/high/mod.rs"
            ),
            "{found:?}"
        );
        let tests_only = check(&[
            ("low.rs", ""),
            (
                "high/mod.rs",
                "pub struct M;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}",
            ),
            ("high/big.rs", &big()),
            ("side.rs", ""),
        ]);
        assert_eq!(
            tests_only,
            Vec::<String>::new(),
            "a file's own tests are no cycle"
        );
    }

    #[test]
    fn a_front_file_using_what_it_reexports_depends_on_it() {
        let circle = |front: &str| {
            check(&[
                ("low.rs", ""),
                ("high/mod.rs", front),
                ("high/a.rs", "use super::M;\npub struct A;"),
                ("high/big.rs", &big()),
                ("side.rs", ""),
            ])
        };
        let used = circle("mod a;\nmod big;\npub use a::A;\npub struct M;\nfn f() -> A { A }");
        assert_eq!(used.len(), 1, "{used:?}");
        assert!(
            used[0].contains("src/high/mod.rs uses `a::A` (src/high/a.rs)"),
            "{used:?}"
        );
        let handed_on =
            circle("mod a;\nmod big;\npub use a::{A, a};\npub struct M;\nfn f() -> x::A { big.A }");
        assert_eq!(
            handed_on,
            Vec::<String>::new(),
            "a re-export alone is no edge"
        );
    }

    #[test]
    fn raw_byte_strings_neither_hide_nor_invent_imports() {
        let hidden = check(&[
            ("low.rs", "const A: &[u8] = br\"\\\";\nuse crate::high::H;"),
            ("high/mod.rs", "pub struct H;"),
            ("high/big.rs", &big()),
            ("side.rs", "const B: &[u8] = br#\"a\"b crate::high::H \"#;"),
        ]);
        assert_eq!(hidden.len(), 1, "{hidden:?}");
        assert!(
            hidden[0].contains("src/low.rs uses `crate::high::H`"),
            "{hidden:?}"
        );
    }

    #[test]
    fn long_files_and_the_layer_table_are_kept_true() {
        let found = check(&[
            ("low.rs", &big()),
            ("high/mod.rs", ""),
            ("high/big.rs", "fn small() {}"),
            ("extra.rs", ""),
        ]);
        assert_eq!(
            found,
            [
                "module `extra` is in no layer of docs/architecture.md: add it to the layer table"
                    .to_owned(),
                "docs/architecture.md's layer table names `side`, which is not a module of src/"
                    .to_owned(),
                format!(
                    "src/low.rs has {} lines, over {MAX_LINES}: split it by concern, or say why not under `{LONG_FILES_HEADING}` in docs/architecture.md",
                    MAX_LINES + 1
                ),
                format!(
                    "docs/architecture.md lists src/high/big.rs under `{LONG_FILES_HEADING}`, but it has 1 lines: remove it from the list"
                ),
            ]
        );
    }

    #[test]
    fn blanking_keeps_lines_and_hides_literals() {
        let text = "let a = \"crate::x\"; // crate::y\nlet b = r#\"crate::z\"#; let c = '\"'; fn f<'a>() {}\n/* crate::w /* nested */ */ crate::v";
        let blanked = blank(text);
        assert_eq!(blanked.lines().count(), text.lines().count());
        assert_eq!(blanked.matches("crate::").count(), 1, "{blanked}");
        assert!(blanked.contains("fn f<'a>()"), "{blanked}");
    }
}
