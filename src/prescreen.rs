//! A fast literal pre-screen for regex rules.
//!
//! regex-lite has no literal optimisations, so a keyword rule such as
//! `(?i)(fail|error|alarm|problem|emerg)` would run the regex engine over
//! every message. [`required_literals`] reads a pattern for literals that
//! every match must contain, one of a small set: for the keyword rule the
//! five words, for `^pam_unix\(sshd:auth\): authentication failure; .*` the
//! longest fixed run. A byte scan for those is much faster than the regex.
//! The pre-screen is only a necessary condition: a candidate still goes
//! through the real regex, so results are exactly the regex's.
//!
//! regex-lite folds case for ASCII only, so an ASCII-case-insensitive scan is
//! exact. Literals are ASCII, and lossy UTF-8 decoding (what the regex sees)
//! keeps every ASCII byte, so scanning the raw bytes is exact too.

#[derive(Debug, Clone)]
pub struct Prescreen {
    /// Lower-cased when `fold_case`.
    literals: Vec<Vec<u8>>,
    fold_case: bool,
    /// Per byte value: 0, or 1 + an index into `anchored`.
    table: [u8; 256],
    /// (literal index, offset of its anchor byte) lists, one per anchor.
    anchored: Vec<Vec<(usize, usize)>>,
}

/// English letters from most to least frequent: a literal is anchored on
/// its rarest byte, so the scan stops at as few places as possible.
const LETTERS_BY_FREQUENCY: &[u8] = b"etaoinshrdlcumwfgypbvkjxqz";

pub fn rarity(b: u8) -> usize {
    match LETTERS_BY_FREQUENCY
        .iter()
        .position(|&l| l == b.to_ascii_lowercase())
    {
        Some(i) => i,
        None if b == b' ' => 0,
        None => 30, // digits and punctuation are rarer than letters in logs
    }
}

/// The offset of the byte a literal is anchored on: its rarest.
pub fn anchor(lit: &[u8]) -> Option<usize> {
    (0..lit.len()).max_by_key(|&i| rarity(lit[i]))
}

impl Prescreen {
    /// The pre-screen for `pattern`, or `None` when no required literal is
    /// known (then the regex alone decides).
    pub fn from_pattern(pattern: &str) -> Option<Prescreen> {
        let (literals, fold_case) = required_literals(pattern)?;
        Prescreen::new(literals, fold_case)
    }

    /// A screen for "one of `literals` occurs" (lower-cased when
    /// `fold_case`); `None` for an empty set or an empty literal.
    pub fn new(literals: Vec<Vec<u8>>, fold_case: bool) -> Option<Prescreen> {
        if literals.is_empty() {
            return None;
        }
        let mut table = [0u8; 256];
        let mut anchored: Vec<Vec<(usize, usize)>> = Vec::new();
        for (index, lit) in literals.iter().enumerate() {
            let offset = anchor(lit)?;
            let byte = lit[offset];
            let variants = if fold_case {
                vec![byte.to_ascii_lowercase(), byte.to_ascii_uppercase()]
            } else {
                vec![byte]
            };
            for b in variants {
                if table[b as usize] == 0 {
                    anchored.push(Vec::new());
                    // At most 2 x 256 anchors; more literals would not fit a u8.
                    table[b as usize] = u8::try_from(anchored.len()).ok()?;
                }
                let list = &mut anchored[table[b as usize] as usize - 1];
                if !list.contains(&(index, offset)) {
                    list.push((index, offset));
                }
            }
        }
        Some(Prescreen {
            literals,
            fold_case,
            table,
            anchored,
        })
    }

    /// False only when no match of the pattern is possible in `hay`.
    pub fn may_match(&self, hay: &[u8]) -> bool {
        for (i, &b) in hay.iter().enumerate() {
            let slot = self.table[b as usize];
            if slot == 0 {
                continue;
            }
            for &(index, offset) in &self.anchored[slot as usize - 1] {
                let lit = &self.literals[index];
                let Some(start) = i.checked_sub(offset) else {
                    continue;
                };
                let Some(window) = hay.get(start..start + lit.len()) else {
                    continue;
                };
                let equal = if self.fold_case {
                    window.eq_ignore_ascii_case(lit)
                } else {
                    window == &lit[..]
                };
                if equal {
                    return true;
                }
            }
        }
        false
    }
}

/// At most this many literals in a set: beyond it, a screen costs more
/// than it saves.
const MAX_SET: usize = 64;
/// At most this many strings in an exact product (`(a|b)(c|d)` is 4).
const MAX_PRODUCT: usize = 16;

/// Literals every match of `pattern` contains one of (lower-cased when
/// the pattern starts with `(?i)`, the bool), or `None` when the pattern
/// uses syntax this reader does not know or gives no useful literal.
///
/// A deliberately small reader of regex-lite's syntax: literal characters
/// and escaped punctuation, groups `(...)`, `(?:...)` and named ones,
/// alternation, `[...]` classes, `.`, `\d`-style classes, zero-width
/// assertions, and the repetitions `* + ? {n} {n,} {n,m}` (lazy too). A
/// flag group other than a leading `(?i)`, an escaped letter it does not
/// know, a nested class or anything unexpected gives `None`, which only
/// costs speed. Parts it cannot read exactly (classes, non-ASCII
/// characters) count as "any text", which only weakens what it concludes.
pub fn required_literals(pattern: &str) -> Option<(Vec<Vec<u8>>, bool)> {
    let (fold_case, rest) = match pattern.strip_prefix("(?i)") {
        Some(r) => (true, r),
        None => (false, pattern),
    };
    let mut reader = PatternReader {
        p: rest.as_bytes(),
        at: 0,
        fold_case,
    };
    let info = reader.alternation()?;
    if reader.at != reader.p.len() {
        return None; // an unbalanced ')'
    }
    let set = info.any()?;
    useful(&set).then_some((set, fold_case))
}

/// What a piece of a pattern says about the text it matches.
#[derive(Clone)]
struct Info {
    /// The piece matches exactly one of these strings.
    exact: Option<Vec<Vec<u8>>>,
    /// Every text it matches contains one of these.
    required: Option<Vec<Vec<u8>>>,
}

impl Info {
    /// Matches anything, as far as we know.
    fn anything() -> Info {
        Info {
            exact: None,
            required: None,
        }
    }

    fn exactly(s: Vec<u8>) -> Info {
        Info {
            exact: Some(vec![s]),
            required: None,
        }
    }

    /// The best set one of which every match contains.
    fn any(&self) -> Option<Vec<Vec<u8>>> {
        self.exact
            .as_ref()
            .filter(|e| useful(e))
            .or(self.required.as_ref())
            .cloned()
    }
}

/// A set is a useful requirement when it is small and has no empty string
/// (which every text contains).
fn useful(set: &[Vec<u8>]) -> bool {
    !set.is_empty() && set.len() <= MAX_SET && set.iter().all(|s| !s.is_empty())
}

/// Higher is better: the shortest literal's length, then fewer literals.
fn score(set: &[Vec<u8>]) -> (usize, usize) {
    let shortest = set.iter().map(Vec::len).min().unwrap_or(0);
    (shortest, usize::MAX - set.len())
}

fn best(candidates: Vec<Vec<Vec<u8>>>) -> Option<Vec<Vec<u8>>> {
    candidates
        .into_iter()
        .filter(|c| useful(c))
        .max_by_key(|c| score(c))
}

fn dedup(mut set: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    set.sort();
    set.dedup();
    set
}

struct PatternReader<'a> {
    p: &'a [u8],
    at: usize,
    fold_case: bool,
}

impl PatternReader<'_> {
    fn peek(&self) -> Option<u8> {
        self.p.get(self.at).copied()
    }

    fn eat(&mut self, s: &[u8]) -> bool {
        let found = self
            .p
            .get(self.at..)
            .is_some_and(|rest| rest.starts_with(s));
        if found {
            self.at += s.len();
        }
        found
    }

    /// `a|b|...` up to a `)` or the end.
    fn alternation(&mut self) -> Option<Info> {
        let mut branches = vec![self.concatenation()?];
        while self.eat(b"|") {
            branches.push(self.concatenation()?);
        }
        if branches.len() == 1 {
            return branches.pop();
        }
        let exact = branches
            .iter()
            .map(|b| b.exact.clone())
            .collect::<Option<Vec<_>>>()
            .map(|e| dedup(e.concat()))
            .filter(|e| e.len() <= MAX_SET);
        let required = branches
            .iter()
            .map(Info::any)
            .collect::<Option<Vec<_>>>()
            .map(|r| dedup(r.concat()))
            .filter(|r| useful(r));
        Some(Info { exact, required })
    }

    /// Pieces one after another, up to a `|`, a `)` or the end.
    fn concatenation(&mut self) -> Option<Info> {
        let mut candidates = Vec::new();
        // The exact strings of the run of exact pieces up to here.
        let mut run: Option<Vec<Vec<u8>>> = Some(vec![Vec::new()]);
        let mut all_exact = true;
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                break;
            }
            let piece = self.repetition()?;
            match (&mut run, piece.exact) {
                (Some(r), Some(e)) if r.len() * e.len() <= MAX_PRODUCT => {
                    *r = r
                        .iter()
                        .flat_map(|a| e.iter().map(move |b| [a.as_slice(), b].concat()))
                        .collect();
                }
                (r, Some(e)) => {
                    // Too many combinations: the run so far is one candidate,
                    // and a new run starts.
                    all_exact = false;
                    candidates.extend(r.take());
                    *r = Some(e);
                }
                (r, None) => {
                    all_exact = false;
                    candidates.extend(r.take());
                    *r = Some(vec![Vec::new()]);
                    candidates.extend(piece.required);
                }
            }
        }
        if all_exact {
            return Some(Info {
                exact: run,
                required: None,
            });
        }
        candidates.extend(run);
        Some(Info {
            exact: None,
            required: best(candidates),
        })
    }

    /// An atom and the repetitions after it.
    fn repetition(&mut self) -> Option<Info> {
        let mut info = self.atom()?;
        loop {
            let min = match self.peek() {
                Some(b'*') | Some(b'?') => {
                    self.at += 1;
                    0
                }
                Some(b'+') => {
                    self.at += 1;
                    1
                }
                Some(b'{') => self.counted()?,
                _ => return Some(info),
            };
            self.eat(b"?"); // lazy
            info = if min == 0 {
                Info::anything()
            } else {
                // At least once: what one copy needs, a match needs.
                Info {
                    exact: None,
                    required: info.any(),
                }
            };
        }
    }

    /// `{n}`, `{n,}` or `{n,m}`: n.
    fn counted(&mut self) -> Option<u32> {
        self.at += 1;
        let digits = |r: &mut Self| {
            let start = r.at;
            while r.peek().is_some_and(|c| c.is_ascii_digit()) {
                r.at += 1;
            }
            std::str::from_utf8(&r.p[start..r.at])
                .ok()?
                .parse::<u32>()
                .ok()
        };
        let min = digits(self)?;
        if self.eat(b",") && self.peek() != Some(b'}') {
            digits(self)?;
        }
        self.eat(b"}").then_some(min)
    }

    fn atom(&mut self) -> Option<Info> {
        let c = self.peek()?;
        self.at += 1;
        match c {
            b'(' => {
                if self.eat(b"?P<") || self.eat(b"?<") {
                    while self.peek()? != b'>' {
                        self.at += 1;
                    }
                    self.at += 1;
                } else if self.peek() == Some(b'?') && !self.eat(b"?:") {
                    return None; // flags: not read here
                }
                let inner = self.alternation()?;
                self.eat(b")").then_some(inner)
            }
            b'[' => {
                self.class()?;
                Some(Info::anything())
            }
            // Zero-width: they match the empty text.
            b'^' | b'$' => Some(Info::exactly(Vec::new())),
            b'\\' => {
                let e = self.peek()?;
                self.at += 1;
                match e {
                    b'<' | b'>' | b'A' | b'z' | b'B' => Some(Info::exactly(Vec::new())),
                    // `\b{start}` and friends are not read here.
                    b'b' if self.peek() == Some(b'{') => None,
                    b'b' => Some(Info::exactly(Vec::new())),
                    b'd' | b'D' | b'w' | b'W' | b's' | b'S' => Some(Info::anything()),
                    e if e.is_ascii_punctuation() => Some(self.literal(e)),
                    _ => None,
                }
            }
            b'*' | b'+' | b'?' | b'{' => None,
            c if c.is_ascii_alphanumeric() || b" _-:,/=@%'\"<>!&;~`".contains(&c) => {
                Some(self.literal(c))
            }
            // `.`, non-ASCII bytes and other punctuation: some character.
            _ => Some(Info::anything()),
        }
    }

    fn literal(&self, c: u8) -> Info {
        Info::exactly(vec![if self.fold_case {
            c.to_ascii_lowercase()
        } else {
            c
        }])
    }

    /// Past the `]` that ends a class whose `[` was just read.
    fn class(&mut self) -> Option<()> {
        self.eat(b"^");
        self.eat(b"]"); // a `]` first is a literal
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                // `[:alpha:]` and friends; other nested classes are not
                // read here.
                b'[' if self.p.get(self.at + 1) == Some(&b':') => {
                    let rest = self.p.get(self.at + 2..)?;
                    let end = rest.windows(2).position(|w| w == b":]")?;
                    self.at += 2 + end + 2;
                }
                b'[' => return None,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;
    use regex_lite::Regex;

    fn required(pattern: &str) -> Option<(Vec<String>, bool)> {
        required_literals(pattern).map(|(set, fold)| {
            let set = set
                .iter()
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect();
            (set, fold)
        })
    }

    #[test]
    fn reads_the_literals_a_match_needs() {
        let some = |p: &str, lits: &[&str], fold: bool| {
            let want: Vec<String> = lits.iter().map(|s| s.to_string()).collect();
            assert_eq!(required(p), Some((want, fold)), "{p}");
        };
        some(
            "(?i)(fail|error|alarm|problem|emerg)",
            &["alarm", "emerg", "error", "fail", "problem"],
            true,
        );
        some("error", &["error"], false);
        some("(?:a\\.b|c-d)", &["a.b", "c-d"], false);
        some("a\\-\\#\\&\\~\\%\\_\\\\b", &["a-#&~%_\\b"], false);
        // The longest fixed run, around classes, repetitions and anchors.
        some(
            "^pam_unix\\(sshd:auth\\): authentication failure; logname=\\S* uid=\\d+",
            &["pam_unix(sshd:auth): authentication failure; logname="],
            false,
        );
        some(
            ": Start request repeated too quickly\\.$",
            &[": Start request repeated too quickly."],
            false,
        );
        some(
            "^(Memory cgroup out of memory|Out of memory): Killed process \\d+",
            &[
                "Memory cgroup out of memory: Killed process ",
                "Out of memory: Killed process ",
            ],
            false,
        );
        some("^(ab|cd)(ef|gh)$", &["abef", "abgh", "cdef", "cdgh"], false);
        some("(?P<x>foo)+bar", &["bar"], false);
        some("x(foo){2,3}?", &["foo"], false);
        some(
            "^(Failed (password|none) for \\S+|PAM \\d+ more authentication failures?)",
            &[
                " more authentication failure",
                "Failed none for ",
                "Failed password for ",
            ],
            false,
        );
        some("err.r", &["err"], false);
        some("\\<error\\>", &["error"], false);
        some("(?i)ERR[a-z]+", &["err"], true);
        some("é-ok", &["-ok"], false);
        some("^[[:alpha:]]+ x[[:digit:]_-]{2}y$", &[" x"], false);
        some("^a[]b]c$", &["c"], false);
        // Nothing every match needs, or syntax not read here.
        for p in [
            "a|",
            "|a",
            "a||b",
            "(?x)a",
            "a(?i)b",
            "(?i:a)",
            "(?m)^a",
            "[ab]",
            "a?",
            "a*b?",
            "(a|\\d)",
            ".+",
            "^$",
            "é",
            "\\b{start}error",
            "a\\x41",
            "a\\pN",
            "a\\t",
            "[[a]]x",
            "a{2",
        ] {
            assert_eq!(required(p), None, "{p}");
        }
    }

    /// Issue 8: `\<` was taken for a literal `<`, so this never alerted.
    #[test]
    fn word_boundary_escapes_are_not_literals() {
        for (pattern, hay) in [
            ("(?i)\\<error", "disk ERROR"),
            ("error\\>", "an error."),
            ("(?i)(\\<fail|oops)", "fail"),
        ] {
            let re = Regex::new(pattern).unwrap();
            assert!(re.is_match(hay), "{pattern} on {hay}");
            if let Some(pre) = Prescreen::from_pattern(pattern) {
                assert!(pre.may_match(hay.as_bytes()), "{pattern} on {hay}");
            }
        }
    }

    /// Pattern pieces: literals, then every kind of syntax that is not one.
    const ATOMS: &[&str] = &[
        "a",
        "b",
        "A",
        "k",
        "s",
        "K",
        "S",
        "err",
        "or",
        "Fail",
        "1",
        "_",
        "-",
        ":",
        " ",
        "<",
        ">",
        "&",
        "~",
        "#",
        "%",
        "'",
        "\\.",
        "\\-",
        "\\\\",
        "\\#",
        "\\&",
        "\\~",
        "\\%",
        "\\_",
        "\\ ",
        "\\<",
        "\\>",
        "\\b",
        "\\B",
        "\\A",
        "\\z",
        "\\d",
        "\\D",
        "\\w",
        "\\W",
        "\\s",
        "\\S",
        "\\t",
        "\\n",
        "\\x61",
        "\\x{4B}",
        "\\u212A",
        "\\b{start}",
        "\\b{end}",
        "\\b{start-half}",
        "\\b{end-half}",
        "\\pN",
        "\\e",
        "\\1",
        "[a-c]",
        "[^a]",
        "[[:alpha:]]",
        "[k]",
        ".",
        "^",
        "$",
        "(?m)^",
        "(?i)",
        "(?-i)",
        "(?x)",
        "(?s)",
        "(?U)",
    ];
    const SUFFIXES: &[&str] = &["*", "+", "?", "{0}", "{1,2}", "*?", "{2}"];

    fn expression(rng: &mut Rng, depth: u32) -> String {
        let mut out = String::new();
        for _ in 0..1 + rng.below(4) {
            match rng.below(10) {
                0 if depth > 0 => {
                    let open = *rng.pick(&["(", "(?:", "(?i:", "(?-i:", "(?P<n>"]);
                    out.push_str(open);
                    out.push_str(&expression(rng, depth - 1));
                    out.push(')');
                }
                1 if depth > 0 => {
                    // Alternations, empty branches included.
                    let left = if rng.below(4) == 0 {
                        String::new()
                    } else {
                        expression(rng, depth - 1)
                    };
                    let right = if rng.below(4) == 0 {
                        String::new()
                    } else {
                        expression(rng, depth - 1)
                    };
                    out.push_str(&format!("{left}|{right}"));
                }
                2 => {
                    out.push_str(rng.pick::<&str>(ATOMS));
                    out.push_str(rng.pick::<&str>(SUFFIXES));
                }
                _ => out.push_str(rng.pick::<&str>(ATOMS)),
            }
        }
        out
    }

    /// Mostly the shapes the prescreen accepts, so that many are tested.
    fn pattern(rng: &mut Rng) -> String {
        let body = match rng.below(3) {
            0 => expression(rng, 2),
            _ => {
                let alts: Vec<String> = (0..1 + rng.below(3)).map(|_| expression(rng, 0)).collect();
                let alts = alts.join("|");
                match rng.below(3) {
                    0 => format!("({alts})"),
                    1 => format!("(?:{alts})"),
                    _ => alts,
                }
            }
        };
        if rng.below(2) == 0 {
            format!("(?i){body}")
        } else {
            body
        }
    }

    /// Haystack pieces: near misses, word and non-word neighbours, invalid
    /// UTF-8, and characters that Unicode (not regex-lite) folds to ASCII:
    /// the Kelvin sign (k), long s (s), dotted capital I (i).
    const HAY: &[&[u8]] = &[
        b"a",
        b"b",
        b"A",
        b"B",
        b"k",
        b"K",
        b"s",
        b"S",
        b"err",
        b"or",
        b"ERR",
        b"fail",
        b"1",
        b"_",
        b"-",
        b":",
        b" ",
        b"\t",
        b"\n",
        b"<",
        b">",
        b"&",
        b"~",
        b"#",
        b"%",
        b"'",
        b".",
        b"\\",
        b"\x00",
        b"\xff",
        b"\xe2\x84",
        b"\xc3",
        b"\xe2\x84\xaa",
        b"\xc5\xbf",
        b"\xc4\xb0",
        b"\xc3\xa9",
    ];

    fn haystack(rng: &mut Rng, pattern: &str) -> Vec<u8> {
        let mut hay = Vec::new();
        for _ in 0..rng.below(8) {
            if rng.below(4) == 0 && !pattern.is_empty() {
                // A slice of the pattern's own text: makes matches likely.
                let p = pattern.as_bytes();
                let start = rng.below(p.len());
                let end = start + 1 + rng.below((p.len() - start).min(6));
                hay.extend_from_slice(&p[start..end]);
            } else {
                hay.extend_from_slice(rng.pick::<&[u8]>(HAY));
            }
        }
        hay
    }

    /// The differential: for every pattern the prescreen accepts and any
    /// haystack, "no" from the prescreen means the regex does not match.
    #[test]
    fn prescreen_never_drops_a_match() {
        let seed = crate::testing::seed("prescreen differential");
        let mut rng = Rng::new(seed);
        let (mut accepted, mut escaped, mut matched, mut rejected_by_prescreen) = (0, 0, 0, 0);
        for _ in 0..30_000 {
            let pattern = pattern(&mut rng);
            let Ok(re) = Regex::new(&pattern) else {
                continue;
            };
            let Some(pre) = Prescreen::from_pattern(&pattern) else {
                continue;
            };
            accepted += 1;
            escaped += usize::from(pattern.contains('\\'));
            for _ in 0..60 {
                let hay = haystack(&mut rng, &pattern);
                let truth = re.is_match(&String::from_utf8_lossy(&hay));
                let maybe = pre.may_match(&hay);
                assert!(
                    maybe || !truth,
                    "LOGMON_TEST_SEED={seed}: prescreen of {pattern:?} drops a match in {:?}",
                    String::from_utf8_lossy(&hay)
                );
                matched += usize::from(truth);
                rejected_by_prescreen += usize::from(!maybe);
            }
        }
        eprintln!(
            "prescreen test: {accepted} patterns accepted ({escaped} with escapes), \
             {matched} matches, {rejected_by_prescreen} haystacks screened out"
        );
        // Not vacuous: many accepted patterns, with escapes, both outcomes.
        assert!(accepted > 1_000 && escaped > 200, "seed {seed}");
        assert!(
            matched > 10_000 && rejected_by_prescreen > 10_000,
            "seed {seed}"
        );
    }
}
