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
/// escaped punctuation; `None` if it uses any regex syntax.
fn literal(alt: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = alt.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e as u8),
                _ => return None,
            },
            c if c.is_ascii_alphanumeric() || " _-:,/=@%'\"<>!&;~`".contains(c) => {
                out.push(c as u8)
            }
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_lite::Regex;

    #[test]
    fn recognises_literal_alternations_only() {
        assert!(Prescreen::from_pattern("(?i)(fail|error|alarm|problem|emerg)").is_some());
        assert!(Prescreen::from_pattern("error").is_some());
        assert!(Prescreen::from_pattern("(?:a\\.b|c-d)").is_some());
        for p in [
            "err.r",
            "(a|b)(c)",
            "a|",
            "(?x)a",
            "(?i)a+",
            "[ab]",
            "a\\d",
            "^a",
            "a$",
            "(?i)(a|(b))",
            "é",
        ] {
            assert!(Prescreen::from_pattern(p).is_none(), "{p}");
        }
    }

    /// A small deterministic generator: no dev-dependency needed.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn prescreen_never_changes_a_result() {
        let patterns = [
            "(?i)(fail|error|alarm|problem|emerg)",
            "(fail|error)",
            "(?i)segfault",
            "(?:Out of memory|oom-kill)",
            "a\\.b",
        ];
        // Pieces that make near misses likely: partial words, case mixes,
        // invalid UTF-8, the Kelvin sign (not folded by regex-lite).
        let pieces: [&[u8]; 16] = [
            b"err",
            b"or",
            b"ERROR",
            b"Fail",
            b"fai",
            b"l",
            b"emerG",
            b"prob",
            b"lem",
            b"\xff",
            b"\xe2\x84\xaa",
            b" ",
            b"Out of ",
            b"memory",
            b"oom-",
            b"a.b",
        ];
        let mut rng = Lcg(42);
        for pattern in patterns {
            let re = Regex::new(pattern).unwrap();
            let pre = Prescreen::from_pattern(pattern).expect(pattern);
            for _ in 0..20_000 {
                let mut hay = Vec::new();
                for _ in 0..rng.next() % 8 {
                    hay.extend_from_slice(pieces[(rng.next() % pieces.len() as u64) as usize]);
                }
                let truth = re.is_match(&String::from_utf8_lossy(&hay));
                let screened = pre.may_match(&hay) && truth;
                assert_eq!(
                    truth,
                    screened,
                    "{pattern} on {:?}",
                    String::from_utf8_lossy(&hay)
                );
                if truth {
                    assert!(pre.may_match(&hay));
                }
            }
        }
    }
}
