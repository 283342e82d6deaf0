//! Data flows one way: kernel -> probe -> model -> views (tui, export, cmd).
//! This reads the crate's sources and fails when a module imports from a
//! module it must not see: the model from anything that does I/O or draws,
//! the probe from the views or the drivers above it, one view from another.
//! It resolves `crate::`, `super::` chains and `use` groups, so
//! `super::super::probe` and `use crate::{model::x, probe::y}` count too.

use std::path::{Path, PathBuf};

/// Top-level modules each module must not import from.
const RULES: &[(&str, &[&str])] = &[
    (
        "model",
        &["probe", "tui", "export", "cmd", "live", "replay"],
    ),
    ("probe", &["tui", "export", "cmd", "live", "replay"]),
    ("tui", &["export", "cmd"]),
    ("export", &["tui", "cmd"]),
];

/// One path into the crate that a source file names.
#[derive(Debug, PartialEq, Eq)]
struct Import {
    line: usize,
    /// The crate's top-level module it reaches (first segment after `crate`).
    top: String,
}

/// The module path of a source file relative to src/ ("model/mod.rs" is
/// `model`, "model/lruvec.rs" is `model::lruvec`, "lib.rs" the root).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

/// The text with comments and string literals blanked out (line structure
/// kept, so offsets still give line numbers).
fn strip_comments(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut out = String::with_capacity(src.len());
    let (mut in_block, mut in_str) = (false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if in_block {
            if c == '*' && next == Some('/') {
                in_block = false;
                out.push_str("  ");
                i += 2;
                continue;
            }
            out.push(blank(c));
        } else if in_str {
            if c == '\\' {
                out.push(' ');
                if let Some(n) = next {
                    out.push(blank(n));
                }
                i += 2;
                continue;
            }
            in_str = c != '"';
            out.push(blank(c));
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '/' && next == Some('*') {
            in_block = true;
            out.push_str("  ");
            i += 2;
            continue;
        } else if c == '\'' && next == Some('"') && chars.get(i + 2) == Some(&'\'') {
            // The char literal '"' opens no string.
            out.push_str("   ");
            i += 3;
            continue;
        } else if c == '"' {
            in_str = true;
            out.push(' ');
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn ident_at(s: &str, at: usize) -> &str {
    let end = s[at..]
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(s.len(), |e| at + e);
    &s[at..end]
}

/// The names at the top level of the `{...}` group that opens at `open`,
/// with their offsets.
fn group_names(s: &str, open: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect_name = true;
    for (i, c) in s[open..].char_indices() {
        let at = open + i;
        match c {
            '{' => {
                depth += 1;
                expect_name = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_name = true,
            c if depth == 1 && expect_name && (c.is_alphabetic() || c == '_') => {
                out.push((at, ident_at(s, at).to_owned()));
                expect_name = false;
            }
            _ => {}
        }
    }
    out
}

/// Every path into the crate (`crate::`, `super::`) in `src`, resolved from
/// the module `module`.
fn imports(src: &str, module: &[String]) -> Vec<Import> {
    let s = strip_comments(src);
    let line_of = |at: usize| s[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let boundary =
            i == 0 || !s[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
        let start = if rest.starts_with("crate::") {
            Some(0)
        } else if rest.starts_with("super::") {
            Some(1)
        } else {
            None
        };
        let (Some(kind), true) = (start, boundary) else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        // Resolve `crate::` or `super::super::...` to a base module path.
        let mut at = i + if kind == 0 { "crate::".len() } else { 0 };
        let mut base: Vec<String> = if kind == 0 { vec![] } else { module.to_vec() };
        while kind == 1 && s[at..].starts_with("super::") {
            base.pop();
            at += "super::".len();
        }
        let names = if s[at..].starts_with('{') {
            group_names(&s, at)
        } else {
            vec![(at, ident_at(&s, at).to_owned())]
        };
        for (pos, name) in names {
            let top = base.first().cloned().unwrap_or(name);
            out.push(Import {
                line: line_of(pos),
                top,
            });
        }
        i = at.max(i + 1);
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every import that breaks a rule, as "file:line: ..." lines.
fn violations(src_dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src_dir, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src_dir).expect("under src");
        let module = module_path(rel);
        let Some((_, forbidden)) = RULES
            .iter()
            .find(|(m, _)| module.first().map(String::as_str) == Some(*m))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&f).expect("read source");
        for imp in imports(&text, &module) {
            if forbidden.contains(&imp.top.as_str()) {
                bad.push(format!(
                    "src/{}:{}: {} imports from crate::{} (data flows kernel -> probe -> model -> views)",
                    rel.display(),
                    imp.line,
                    module.join("::"),
                    imp.top
                ));
            }
        }
    }
    bad
}

#[test]
fn modules_import_only_in_the_direction_data_flows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(
        bad.is_empty(),
        "imports against the data flow:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scanner_sees_every_form_of_import() {
    let model = vec!["model".to_owned(), "lruvec".to_owned()];
    let src = "use super::{counters, hist::X};\n\
               use crate::{\n    model::input::Sample,\n    probe::loader,\n};\n\
               // use crate::tui::App; in a comment\n\
               fn f() { super::super::export::go(); let s = \"crate::cmd\"; }\n\
               use super::super::{cmd::x, model::y};\n";
    let tops: Vec<(usize, String)> = imports(src, &model)
        .into_iter()
        .map(|i| (i.line, i.top))
        .collect();
    let want = [
        (1, "model"),
        (1, "model"),
        (3, "model"),
        (4, "probe"),
        (7, "export"),
        (8, "cmd"),
        (8, "model"),
    ];
    assert_eq!(tops, want.map(|(l, t)| (l, t.to_owned())).to_vec());
    assert_eq!(module_path(Path::new("model/mod.rs")), vec!["model"]);
    let from_mod = imports("use super::export::record;", &["tui".to_owned()]);
    assert_eq!(
        from_mod,
        vec![Import {
            line: 1,
            top: "export".into()
        }],
        "super:: of tui/mod.rs is the crate root"
    );
}
