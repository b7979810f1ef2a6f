//! The man pages against the code: every config key, section, value word
//! and operator the parser accepts is documented in logmon.conf(5), every
//! command-line option in logmon(8), and both pages are clean under
//! `mandoc -T lint`.
//!
//! The lists come from the source, not from this file: the string and char
//! literals in the match-arm patterns of the config parser (src/config.rs,
//! or src/config/*.rs once it is split) and of src/cli.rs, every literal
//! made only of operator characters in the parser, and the options in
//! cli.rs's USAGE. A key the parser learns without a line in the man page
//! fails here. The direction is parser -> man only: the pages may describe
//! more (version 2 keys the parser has not caught up with yet).
//!
//! "Documented" is judged on the mdoc source, by markup: a key is the head
//! of a list item (`.It Ic key ...`), a value word is marked `Ic` or `Cm`,
//! a section is marked `Ic [name]`, an operator heads a list item, and an
//! option heads one as `Fl` in logmon(8). So a key that only happens to be
//! an English word ("to", "by") somewhere in the text does not count.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const CONF_PAGE: &str = "man/logmon.conf.5";
const CLI_PAGE: &str = "man/logmon.8";

/// One match arm of the Rust source: its pattern (guard removed), the text
/// after `=>` on its line, what its `match` looks at, and where it is.
#[derive(Debug)]
struct Arm {
    pattern: String,
    rhs: String,
    scrutinee: String,
    at: String,
}

/// The source before its `#[cfg(test)]` module: test fixtures are not
/// what the parser accepts.
fn code_of(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The match arms of rustfmt-formatted code: a line with `=>`, together
/// with the lines before it that continue its pattern (starting with `|`),
/// each with the scrutinee of the innermost `match ... {` around it
/// (braces counted outside literals).
fn match_arms(name: &str, code: &str) -> Vec<Arm> {
    let lines: Vec<&str> = code.lines().collect();
    let mut arms = Vec::new();
    // (scrutinee, brace depth inside its block)
    let mut matches: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    for (i, line) in lines.iter().enumerate() {
        let bare = without_literals(line);
        if let Some(pos) = bare.find("=>") {
            let mut pattern = line[..pos].to_string();
            let mut j = i;
            while j > 0 && pattern.trim_start().starts_with('|') {
                j -= 1;
                pattern = format!("{}\n{pattern}", lines[j]);
            }
            if let Some(guard) = pattern.find(" if ") {
                pattern.truncate(guard);
            }
            arms.push(Arm {
                pattern,
                rhs: line[pos + 2..].trim().to_string(),
                scrutinee: matches.last().map_or(String::new(), |m| m.0.clone()),
                at: format!("{name}:{}", i + 1),
            });
        }
        for (k, c) in bare.char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    if let Some(m) = bare[..k].rfind("match ") {
                        let scrutinee = bare[m + 6..k].trim();
                        if !scrutinee.contains('{') && !scrutinee.contains('}') {
                            matches.push((scrutinee.to_string(), depth));
                        }
                    }
                }
                '}' => {
                    while matches.last().is_some_and(|m| m.1 >= depth) {
                        matches.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
        }
    }
    arms
}

/// `line` with the insides of its string and char literals blanked, so
/// that braces and `=>` in them do not count (same length, same offsets).
fn without_literals(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    out.push(' ');
                    if let Some(n) = chars.next() {
                        out.push_str(&" ".repeat(n.len_utf8()));
                    }
                }
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                c => out.push_str(&" ".repeat(c.len_utf8())),
            }
        } else if c == '"' {
            in_str = true;
            out.push('"');
        } else if let Some(n) = (c == '\'')
            .then(|| char_literal_len(chars.clone()))
            .flatten()
        {
            // 'x' or '\x': blanked whole, so '"' and '{' are no quote or brace.
            out.push(' ');
            for _ in 0..n {
                if let Some(c) = chars.next() {
                    out.push_str(&" ".repeat(c.len_utf8()));
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// After an opening `'`: how many more chars make a char literal (`x'` or
/// `\x'`), if this is one and not a lifetime.
fn char_literal_len(mut rest: std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    match rest.next()? {
        '\\' => {
            rest.next()?;
            (rest.next()? == '\'').then_some(3)
        }
        _ => (rest.next()? == '\'').then_some(2),
    }
}

/// The contents of the string and char literals in `text`, escapes kept
/// as written (keys, options and operators hold none).
fn literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let mut end = i + 1;
                while end < b.len() && b[end] != b'"' {
                    end += if b[end] == b'\\' { 2 } else { 1 };
                }
                out.push(text[i + 1..end.min(b.len())].to_string());
                i = end + 1;
            }
            // A char literal, not a lifetime: 'x' with the quote after it.
            b'\'' if i + 2 < b.len() && b[i + 2] == b'\'' => {
                out.push(text[i + 1..i + 2].to_string());
                i += 3;
            }
            _ => i += 1,
        }
    }
    out
}

fn is_word(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_operator(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b"=!~<>".contains(&b))
}

fn is_option(s: &str) -> bool {
    let name = s.strip_prefix("--").or_else(|| s.strip_prefix('-'));
    name.is_some_and(|n| {
        n.starts_with(|c: char| c.is_ascii_alphabetic())
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// Names the code accepts, each with where it says so (`FILE:LINE`).
type Found = Vec<(String, String)>;

/// What the config parser accepts.
#[derive(Debug, Default)]
struct Accepted {
    /// Arms of `(Section::..., "key")` or of a `match` on `key`: list
    /// heads.
    keys: Found,
    /// Arms that yield a `Section::`: `[name]`.
    sections: Found,
    /// Every other lower-case word in an arm pattern (`current`, `warn`,
    /// `ms`): marked as a term somewhere.
    words: Found,
    /// Literals made only of `=!~<>`.
    operators: Found,
}

fn config_sources() -> Vec<PathBuf> {
    let src = Path::new(REPO).join("src");
    let mut files = vec![];
    if src.join("config.rs").exists() {
        files.push(src.join("config.rs"));
    }
    if let Ok(dir) = fs::read_dir(src.join("config")) {
        let mut more: Vec<PathBuf> = dir
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect();
        more.sort();
        files.extend(more);
    }
    assert!(
        !files.is_empty(),
        "no config parser source in {}",
        src.display()
    );
    files
}

fn scan_config(files: &[PathBuf]) -> Accepted {
    let mut acc = Accepted::default();
    for path in files {
        let name = path
            .strip_prefix(REPO)
            .unwrap_or(path)
            .display()
            .to_string();
        let code = code_of(path);
        scan_config_code(&name, &code, &mut acc);
    }
    acc
}

fn scan_config_code(name: &str, code: &str, acc: &mut Accepted) {
    for arm in match_arms(name, code) {
        // `match (section, key)`, `match key`: the arms are keys.
        let on_key = arm
            .scrutinee
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w == "key");
        for lit in literals(&arm.pattern).into_iter().filter(|l| is_word(l)) {
            let entry = (lit, arm.at.clone());
            if arm.rhs.starts_with("Section::") {
                acc.sections.push(entry);
            } else if arm.pattern.contains("Section::") || on_key {
                acc.keys.push(entry);
            } else {
                acc.words.push(entry);
            }
        }
    }
    for (n, line) in code.lines().enumerate() {
        for lit in literals(line) {
            if is_operator(&lit) {
                acc.operators.push((lit, format!("{name}:{}", n + 1)));
            }
        }
    }
}

/// What src/cli.rs accepts: options (from the arms and USAGE) and the
/// lower-case words of its arms (`--since tail`).
fn scan_cli() -> (Found, Found) {
    let path = Path::new(REPO).join("src/cli.rs");
    let code = code_of(&path);
    let mut options = Vec::new();
    let mut words = Vec::new();
    for arm in match_arms("src/cli.rs", &code) {
        for lit in literals(&arm.pattern) {
            if is_option(&lit) {
                options.push((lit, arm.at.clone()));
            } else if is_word(&lit) {
                words.push((lit, arm.at.clone()));
            }
        }
    }
    let usage_start = code.find("pub const USAGE").expect("src/cli.rs has USAGE");
    let usage_end = usage_start + code[usage_start..].find("\";").expect("USAGE ends");
    for token in code[usage_start..usage_end]
        .split(|c: char| c.is_whitespace() || "[]|,=".contains(c))
        .filter(|t| is_option(t))
    {
        options.push((token.to_string(), "src/cli.rs USAGE".into()));
    }
    (options, words)
}

/// The terms an mdoc page marks with `macro` (e.g. `Ic`): the arguments
/// after it up to the next macro, delimiters skipped; with `heads_only`,
/// only on `.It` lines. `Fl` terms get their `-`.
fn terms(page: &str, macro_name: &str, heads_only: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in page.lines() {
        let Some(body) = line.strip_prefix('.') else {
            continue;
        };
        let tokens = mdoc_tokens(body);
        if heads_only && tokens.first().map(String::as_str) != Some("It") {
            continue;
        }
        let mut inside = false;
        for t in &tokens {
            if is_macro(t) {
                inside = t == macro_name;
                continue;
            }
            if inside && !is_delimiter(t) {
                let term = if macro_name == "Fl" {
                    format!("-{t}")
                } else {
                    t.clone()
                };
                out.insert(term);
            }
        }
    }
    out
}

/// A macro line's words: blank separated, `"..."` one word, escapes
/// `\-`, `\&`, `\e` and `\(dq` resolved.
fn mdoc_tokens(body: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            '\\' => match chars.next() {
                Some('-') => cur.push('-'),
                Some('&') => {}
                Some('e') => cur.push('\\'),
                Some('(') => {
                    let name: String = chars.by_ref().take(2).collect();
                    cur.push(if name == "dq" { '"' } else { '?' });
                }
                Some(other) => {
                    cur.push('\\');
                    cur.push(other);
                }
                None => {}
            },
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

/// mdoc macro names are two or three letters, the first upper case.
fn is_macro(t: &str) -> bool {
    let b = t.as_bytes();
    (2..=3).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b[1..].iter().all(|c| c.is_ascii_lowercase())
}

fn is_delimiter(t: &str) -> bool {
    matches!(
        t,
        "," | "." | ";" | ":" | "|" | "(" | ")" | "[" | "]" | "?" | "!"
    )
}

fn page(rel: &str) -> String {
    fs::read_to_string(Path::new(REPO).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The items of `want` whose name `documented` rejects, one line each.
fn missing(what: &str, want: &Found, documented: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = BTreeSet::new();
    want.iter()
        .filter(|(name, _)| seen.insert(name.clone()) && !documented(name))
        .map(|(name, at)| format!("{what} '{name}' ({at})"))
        .collect()
}

fn names(list: &Found) -> BTreeSet<&str> {
    list.iter().map(|(n, _)| n.as_str()).collect()
}

/// Every key, section, value word and operator the config parser accepts
/// is documented in logmon.conf(5).
#[test]
fn every_config_key_is_in_logmon_conf_5() {
    let acc = scan_config(&config_sources());
    // The scanner itself: what today's parser certainly accepts.
    for key in ["priority", "boot", "state_file", "sendmail", "max_per_hour"] {
        assert!(
            names(&acc.keys).contains(key),
            "no key {key} found: {acc:#?}"
        );
    }
    for section in ["mail", "match", "ignore"] {
        assert!(names(&acc.sections).contains(section), "{acc:#?}");
    }
    for op in ["=", "~"] {
        assert!(names(&acc.operators).contains(op), "{acc:#?}");
    }
    assert!(names(&acc.words).contains("current"), "{acc:#?}");

    let text = page(CONF_PAGE);
    let heads = terms(&text, "Ic", true);
    let marked: BTreeSet<String> = terms(&text, "Ic", false)
        .union(&terms(&text, "Cm", false))
        .cloned()
        .collect();
    let mut problems = missing("key", &acc.keys, |k| heads.contains(k));
    problems.extend(missing("section", &acc.sections, |s| {
        marked.contains(&format!("[{s}]"))
    }));
    problems.extend(missing("value", &acc.words, |w| marked.contains(w)));
    problems.extend(missing("operator", &acc.operators, |o| heads.contains(o)));
    assert!(
        problems.is_empty(),
        "accepted by the parser but not documented in {CONF_PAGE} \
         (a key as `.It Ic KEY`, a section as `Ic [NAME]`, a value as `Cm`, \
         an operator as `.It Ic OP`):\n  {}",
        problems.join("\n  ")
    );
}

/// Every option src/cli.rs accepts or USAGE names heads an item of
/// logmon(8)'s lists, and every word it accepts (`--since tail`) is there.
#[test]
fn every_option_is_in_logmon_8() {
    let (options, words) = scan_cli();
    for opt in ["-c", "--config", "--check", "--since", "-h", "--help"] {
        assert!(
            names(&options).contains(opt),
            "no option {opt}: {options:?}"
        );
    }
    assert!(names(&words).contains("tail"), "{words:?}");
    let text = page(CLI_PAGE);
    let heads = terms(&text, "Fl", true);
    let marked = terms(&text, "Cm", false);
    let mut problems = missing("option", &options, |o| heads.contains(o));
    problems.extend(missing("word", &words, |w| marked.contains(w)));
    assert!(
        problems.is_empty(),
        "accepted by src/cli.rs but not documented in {CLI_PAGE} \
         (an option as `.It Fl NAME`, a word as `Cm`):\n  {}",
        problems.join("\n  ")
    );
}

/// The scanner finds what a new parser arm adds, so the tests above fail
/// for a key added without documentation.
#[test]
fn a_new_undocumented_key_is_caught() {
    let code = r#"
impl Parser {
    fn setting(&mut self, n: usize, section: Section, key: &str, value: &str) {
        let result = match (section, key) {
            (Section::Global, "priority") => parse_priority(value),
            (Section::Mail | Section::Match, "frobnicate") => Ok(()),
            (Section::Global, "boot") => match value {
                "current" => set(&mut c.boot, Boot::Current),
                "sometimes"
                | "often" => Ok(()),
                _ => Err("no".into()),
            },
            _ => Err(format!("unknown key '{key}'")),
        };
    }
    fn rule_option(&mut self, key: &str, value: &str) {
        match key {
            "name" => self.name = value.into(),
            "tag" | "label" => self.tag = value.into(),
            _ => {}
        }
    }
    fn section(name: &str) -> Section {
        match name {
            "mail" => Section::Mail,
            "expect" => Section::Expect,
        }
    }
    fn op(s: &str) -> Op {
        match s { "!~" => Op::NotRegex, _ => Op::Eq }
    }
}
"#;
    let mut acc = Accepted::default();
    scan_config_code("x.rs", code, &mut acc);
    let keys = names(&acc.keys);
    assert_eq!(
        keys,
        ["boot", "frobnicate", "label", "name", "priority", "tag"].into(),
        "{acc:#?}"
    );
    assert_eq!(names(&acc.sections), ["expect", "mail"].into());
    assert_eq!(names(&acc.words), ["current", "often", "sometimes"].into());
    assert_eq!(names(&acc.operators), ["!~"].into());
    let documented = terms(&page(CONF_PAGE), "Ic", true);
    let gaps = missing("key", &acc.keys, |k| documented.contains(k));
    assert_eq!(
        gaps,
        ["key 'frobnicate' (x.rs:6)", "key 'label' (x.rs:19)"],
        "{documented:?}"
    );
}

/// mdoc markup as the scanner reads it.
#[test]
fn mdoc_terms() {
    let text = ".It Ic name No = Ar text\n.Cm emerg , alert ,\nprose Ic not\n\
                .It Fl c Ar file , Fl \\-config Ar file\n.It Ic < , <= , \\&!=\n";
    assert_eq!(
        terms(text, "Ic", true),
        ["<", "<=", "!=", "name"].map(String::from).into()
    );
    assert_eq!(
        terms(text, "Cm", false),
        ["alert", "emerg"].map(String::from).into()
    );
    assert_eq!(
        terms(text, "Fl", true),
        ["--config", "-c"].map(String::from).into()
    );
}

/// `mandoc -T lint` has nothing to say about either page, but for their
/// references to each other, which resolve once they are installed.
#[test]
fn man_pages_are_lint_clean() {
    let pages: Vec<String> = [CLI_PAGE, CONF_PAGE]
        .iter()
        .map(|p| format!("{REPO}/{p}"))
        .collect();
    let out = Command::new("mandoc")
        .args(["-T", "lint"])
        .args(&pages)
        .output()
        .unwrap_or_else(|e| panic!("running mandoc (apt-get install mandoc): {e}"));
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let problems: Vec<&str> = said
        .lines()
        // mandoc's own remarks about this machine's mandoc.db name no page.
        .filter(|l| pages.iter().any(|p| l.contains(p.as_str())))
        .filter(|l| {
            !(l.contains("referenced manual not found: Xr logmon 8")
                || l.contains("referenced manual not found: Xr logmon.conf 5"))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "mandoc -T lint:\n{}",
        problems.join("\n")
    );
    // The pages render, and say what they are.
    for (p, title) in [(CLI_PAGE, "LOGMON(8)"), (CONF_PAGE, "LOGMON.CONF(5)")] {
        let out = Command::new("mandoc")
            .args(["-T", "ascii", &format!("{REPO}/{p}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "mandoc -T ascii {p}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with(title), "{p} renders as:\n{text}");
    }
}
