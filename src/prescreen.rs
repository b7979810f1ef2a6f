//! A fast literal pre-screen for regex rules.
//!
//! regex-lite has no literal optimisations, so a keyword rule such as
//! `(?i)(fail|error|alarm|problem|emerg)` would run the regex engine over
//! every message. For patterns that are an alternation of plain literals
//! (optionally case-insensitive, optionally in one group), a match must
//! contain one of the literals, and a byte scan finds that much faster. The
//! pre-screen is only a necessary condition: a candidate still goes through
//! the real regex, so results are exactly the regex's.
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

fn rarity(b: u8) -> usize {
    match LETTERS_BY_FREQUENCY
        .iter()
        .position(|&l| l == b.to_ascii_lowercase())
    {
        Some(i) => i,
        None if b == b' ' => 0,
        None => 30, // digits and punctuation are rarer than letters in logs
    }
}

impl Prescreen {
    /// The pre-screen for `pattern`, or `None` when it is not a plain
    /// literal alternation (then the regex alone decides).
    pub fn from_pattern(pattern: &str) -> Option<Prescreen> {
        let (fold_case, rest) = match pattern.strip_prefix("(?i)") {
            Some(r) => (true, r),
            None => (false, pattern),
        };
        let inner = strip_group(rest);
        let mut literals = Vec::new();
        for alt in inner.split('|') {
            let lit = literal(alt)?;
            literals.push(if fold_case {
                lit.to_ascii_lowercase()
            } else {
                lit
            });
        }
        let mut table = [0u8; 256];
        let mut anchored: Vec<Vec<(usize, usize)>> = Vec::new();
        for (index, lit) in literals.iter().enumerate() {
            let offset = (0..lit.len()).max_by_key(|&i| rarity(lit[i]))?;
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

/// `(x)` or `(?:x)` around the whole pattern becomes `x`.
fn strip_group(p: &str) -> &str {
    let body = p
        .strip_prefix("(?:")
        .or_else(|| p.strip_prefix('('))
        .and_then(|b| b.strip_suffix(')'));
    match body {
        // A literal has no parentheses, so any left means it was not one group.
        Some(b) if !b.contains(['(', ')']) => b,
        _ => p,
    }
}

/// The bytes of `alt` if it is a non-empty run of plain characters and
/// escaped punctuation; `None` if it uses any other regex syntax. Only what
/// regex-lite itself reads as a literal counts (its `parse_escape`): after a
/// backslash, ASCII punctuation except `<` and `>`, which are the word
/// boundaries `\<` and `\>`. Escaped letters and digits are classes (`\d`),
/// assertions (`\b`, `\A`), code points (`\x41`) or errors: all refused,
/// even those that are literals (`\t`), since refusing only costs speed.
fn literal(alt: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = alt.chars();
    while let Some(c) = chars.next() {
        let byte = match c {
            '\\' => chars.next().filter(|&e| is_escaped_literal(e))?,
            // Outside a class, and with no `(?x)` possible (no group other
            // than one around it all), regex-lite reads these as themselves.
            c if c.is_ascii_alphanumeric() || " _-:,/=@%'\"<>!&;~`".contains(c) => c,
            _ => return None,
        };
        out.push(byte as u8);
    }
    (!out.is_empty()).then_some(out)
}

/// regex-lite's `is_escapable_character` for ASCII: punctuation, except the
/// two it gives a meaning of its own.
fn is_escaped_literal(e: char) -> bool {
    e.is_ascii_punctuation() && !matches!(e, '<' | '>')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;
    use regex_lite::Regex;

    #[test]
    fn recognises_literal_alternations_only() {
        assert!(Prescreen::from_pattern("(?i)(fail|error|alarm|problem|emerg)").is_some());
        assert!(Prescreen::from_pattern("error").is_some());
        assert!(Prescreen::from_pattern("(?:a\\.b|c-d)").is_some());
        assert!(Prescreen::from_pattern("a\\-\\#\\&\\~\\%\\_\\\\b").is_some());
        for p in [
            "err.r",
            "(a|b)(c)",
            "a|",
            "|a",
            "a||b",
            "(?x)a",
            "(?i)a+",
            "[ab]",
            "a\\d",
            "^a",
            "a$",
            "(?i)(a|(b))",
            "é",
            // Escapes that regex-lite reads as assertions or classes.
            "(?i)\\<error",
            "error\\>",
            "\\berror",
            "\\Berror",
            "\\Aerror",
            "error\\z",
            "\\b{start}error",
            "a\\w",
            "a\\s",
            "a\\pN",
            "a\\x41",
            "a\\t",
            "a#b",
        ] {
            assert!(Prescreen::from_pattern(p).is_none(), "{p}");
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
