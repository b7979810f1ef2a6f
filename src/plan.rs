//! The rules, arranged for speed: [`Plan::verdict`] gives exactly the
//! verdict of [`Rules::verdict`] (a property test below checks it on
//! random rules and entries), with less work per entry:
//!
//! - each field the rules read is fetched from the entry once and kept for
//!   the entry (the conditions name it by index, not by name);
//! - within a rule, cheap conditions (`==`, `!=`, numbers) come before
//!   substring tests and regexes: the conditions of a rule are an AND
//!   without side effects, so their order cannot change the outcome;
//! - the literals that `=` tests and regexes need ([`required_literals`])
//!   are merged per field into one [`Screen`]: one pass over MESSAGE tells
//!   for every rule at once which of its literals occur. A `=` test is
//!   answered by that alone; a regex whose literals are all absent cannot
//!   match and is not run; otherwise the regex decides, as it always does.
//!   `[ignore]` rules have screens of their own, read only for the few
//!   entries a `[match]` rule holds for;
//! - an entry tries only the `[match]` rules still open: a rule gated on a
//!   screen opens when the screen found one of its literals, a rule with a
//!   `==` condition when one lookup of that field's value finds it; the
//!   others are always tried.

use crate::prescreen::{anchor, rarity, required_literals};
use crate::rules::{Condition, FieldSet, Fields, Rule, Rules, Test, Verdict};

pub struct Plan {
    /// The fields the conditions read.
    fields: FieldSet,
    matches: Vec<Vec<Check>>,
    ignores: Vec<Vec<Check>>,
    /// `[expect]` rules, with screens of their own: they are asked for
    /// every entry, and must not scan the `[ignore]` rules' literals.
    expects: Vec<Vec<Check>>,
    /// A bit per `[match]` rule: those no screen or `==` lookup can rule
    /// out, to be tried for every entry. Each entry starts its open rules
    /// ([`Scratch::open`]) with these, adds what [`Plan::equals`] and
    /// [`Plan::screen_gates`] open, and tries only the open ones.
    always: Vec<u64>,
    /// Per screen that gates rules: the bits of the rules that can hold
    /// only if it found one of their literals (a `=` test, a `~` regex).
    screen_gates: Vec<(usize, Vec<u64>)>,
    /// Per field some `[match]` rule tests with `==`: the values those
    /// tests want, and their rules. One lookup of the entry's value opens
    /// the rules it equals; the others are passed over at once.
    equals: Vec<Equals>,
    screens: Vec<Screen>,
    /// Literals of all screens: one bit each per entry.
    literals: usize,
}

/// The index of the first item of `v` that `is`, else of `new()` pushed.
fn index_or_push<T>(v: &mut Vec<T>, is: impl Fn(&T) -> bool, new: impl FnOnce() -> T) -> usize {
    v.iter().position(is).unwrap_or_else(|| {
        v.push(new());
        v.len() - 1
    })
}

fn set_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

/// The lowest bit set in `bits` at `from` or above.
fn next_bit(bits: &[u64], from: usize) -> Option<usize> {
    let mut word = from / 64;
    let mut w = *bits.get(word)? & (u64::MAX << (from % 64));
    loop {
        if w != 0 {
            return Some(word * 64 + w.trailing_zeros() as usize);
        }
        word += 1;
        w = *bits.get(word)?;
    }
}

struct Equals {
    field: usize,
    /// (value, `[match]` rule), sorted.
    wanted: Vec<(Vec<u8>, usize)>,
}

/// One condition of a rule, as the plan evaluates it.
struct Check {
    /// Its index in the rule's conditions.
    condition: usize,
    /// Its index in [`Plan::fields`].
    field: usize,
    how: How,
}

enum How {
    /// `Test::holds` on the value.
    Plain,
    /// `FIELD = text`: holds exactly when the screen found the literal.
    Contains { screen: usize, bit: usize },
    /// `~` or `!~`: when the screen found none of these literals the regex
    /// cannot match; else `Test::holds` decides.
    Screened { screen: usize, bits: Vec<usize> },
}

/// Literals looked for in one field's value, all in one pass.
struct Screen {
    field: usize,
    /// (literal, lower-cased when folding; fold case; its bit).
    literals: Vec<(Vec<u8>, bool, usize)>,
    /// A bit per pair of bytes: those some literal is anchored on (in
    /// every case, for a folded literal). Most pairs of a value are none
    /// of them, and one bit test tells so.
    pairs: Box<[u64; 1024]>,
    /// (lower-cased pair, index in `literals`, offset of the pair in the
    /// literal), sorted by pair.
    anchored: Vec<(u16, usize, usize)>,
    /// Where the pairs of each first byte start in `anchored` (257).
    by_first: Vec<u32>,
    /// Literals of one byte (indexes in `literals`): no pair to anchor on.
    singles: Vec<usize>,
    /// Every pair (1), every other (2)...: see [`Screen::finish`].
    stride: usize,
}

#[inline(always)]
fn pair_key(a: u8, b: u8) -> usize {
    (LOWER[a as usize] as usize) << 8 | LOWER[b as usize] as usize
}

/// `to_ascii_lowercase` by table: the scan's inner loop stays a few
/// instructions per byte even at `opt-level = "z"`.
static LOWER: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).to_ascii_lowercase();
        i += 1;
    }
    t
};

/// Per-entry state: the values read and the screens' findings. Kept from
/// entry to entry so that its buffers are reused.
#[derive(Default)]
pub struct Scratch {
    bytes: Vec<u8>,
    values: Vec<Value>,
    screened: Vec<bool>,
    /// Per screen: how many of its literals it found.
    hits: Vec<u32>,
    found: Vec<u64>,
    /// A bit per `[match]` rule: those to try for this entry (see
    /// [`Plan::always`]).
    open: Vec<u64>,
}

/// `v` as `n` times `x`, without giving up its buffer.
fn reset<T: Copy>(v: &mut Vec<T>, n: usize, x: T) {
    if v.len() == n {
        v.fill(x);
    } else {
        v.clear();
        v.resize(n, x);
    }
}

#[derive(Clone, Copy)]
enum Value {
    Missing,
    At(usize, usize),
}

/// Cheapest first (a stable sort keeps the written order among equals).
fn cost(test: &Test) -> u8 {
    match test {
        Test::Equals(_) | Test::NotEquals(_) | Test::Compare(..) => 0,
        Test::Contains(_) => 1,
        Test::Regex(..) | Test::NotRegex(..) => 2,
    }
}

/// The most pairs a screen passes over between two it looks at: more
/// means fewer looks but more anchors, and so more false hits.
const MAX_STRIDE: usize = 2;

/// Which rules a screen serves: each kind is asked at its own time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Match,
    Ignore,
    Expect,
}

/// Builds the screens: per (field, class of rules) one.
struct Builder {
    fields: Vec<String>,
    screens: Vec<Screen>,
    /// (field, class) of each screen.
    keys: Vec<(usize, Class)>,
    literals: usize,
}

impl Builder {
    fn field(&mut self, name: &str) -> usize {
        index_or_push(&mut self.fields, |f| f == name, || name.to_string())
    }

    /// The bit of `literal` in the screen of (field, class), added if new.
    fn literal(
        &mut self,
        field: usize,
        class: Class,
        literal: &[u8],
        fold: bool,
    ) -> (usize, usize) {
        let screen = match self.keys.iter().position(|&k| k == (field, class)) {
            Some(s) => s,
            None => {
                self.keys.push((field, class));
                self.screens.push(Screen {
                    field,
                    literals: Vec::new(),
                    pairs: Box::new([0; 1024]),
                    anchored: Vec::new(),
                    by_first: Vec::new(),
                    singles: Vec::new(),
                    stride: 1,
                });
                self.screens.len() - 1
            }
        };
        let s = &mut self.screens[screen];
        if let Some(l) = s.literals.iter().find(|l| l.0 == literal && l.1 == fold) {
            return (screen, l.2);
        }
        let bit = self.literals;
        self.literals += 1;
        s.literals.push((literal.to_vec(), fold, bit));
        (screen, bit)
    }

    fn checks(&mut self, rule: &Rule, class: Class) -> Vec<Check> {
        let mut checks: Vec<Check> = rule
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| self.check(i, c, class))
            .collect();
        checks.sort_by_key(|c| cost(&rule.conditions[c.condition].test));
        checks
    }

    fn check(&mut self, condition: usize, c: &Condition, class: Class) -> Check {
        let field = self.field(&c.field);
        let how = match &c.test {
            Test::Contains(text) if !text.is_empty() && anchor(text).is_some() => {
                let (screen, bit) = self.literal(field, class, text, false);
                How::Contains { screen, bit }
            }
            Test::Regex(re, _) | Test::NotRegex(re, _) => match required_literals(re.as_str()) {
                Some((literals, fold)) => {
                    let mut screen = 0;
                    let bits = literals
                        .iter()
                        .map(|l| {
                            let (s, bit) = self.literal(field, class, l, fold);
                            screen = s;
                            bit
                        })
                        .collect();
                    How::Screened { screen, bits }
                }
                None => How::Plain,
            },
            _ => How::Plain,
        };
        Check {
            condition,
            field,
            how,
        }
    }
}

impl Screen {
    /// Anchor each literal on its rarest pair of bytes and the pairs next
    /// to it, `stride` pairs in a row: of `stride` neighbouring pairs one
    /// starts at a multiple of `stride`, so the scan looks at every
    /// `stride`th pair only. The shortest literal sets the stride (a
    /// literal of two bytes has one pair: the scan then looks at all).
    fn finish(&mut self) {
        let pairs_of = |lit: &Vec<u8>| lit.len() - 1;
        self.stride = self
            .literals
            .iter()
            .filter(|l| l.0.len() >= 2)
            .map(|l| pairs_of(&l.0))
            .min()
            .unwrap_or(1)
            .min(MAX_STRIDE);
        for (index, (lit, fold, _)) in self.literals.iter().enumerate() {
            if lit.len() < 2 {
                self.singles.push(index);
                continue;
            }
            let rarest = (0..lit.len() - 1)
                .max_by_key(|&o| rarity(lit[o]) + rarity(lit[o + 1]))
                .unwrap_or(0);
            let first = rarest
                .saturating_sub(self.stride / 2)
                .min(pairs_of(lit) - self.stride);
            for offset in first..first + self.stride {
                let (a, b) = (lit[offset], lit[offset + 1]);
                // The table is looked up with the value's bytes as they
                // are: a folded literal sets the bit of every case of its
                // pair.
                let cases = |c: u8| match fold {
                    true => [c, c.to_ascii_uppercase()],
                    false => [c, c],
                };
                for x in cases(a) {
                    for y in cases(b) {
                        let key = (x as usize) << 8 | y as usize;
                        self.pairs[key / 64] |= 1 << (key % 64);
                    }
                }
                self.anchored.push((pair_key(a, b) as u16, index, offset));
            }
        }
        self.anchored.sort_unstable();
        self.by_first = vec![0; 257];
        for &(k, ..) in &self.anchored {
            self.by_first[(k >> 8) as usize + 1] += 1;
        }
        for b in 0..256 {
            self.by_first[b + 1] += self.by_first[b];
        }
    }

    /// Mark literal `index` found; 1 if it was not yet.
    fn set(&self, index: usize, found: &mut [u64]) -> u32 {
        let bit = self.literals[index].2;
        let new = found[bit / 64] & (1 << (bit % 64)) == 0;
        found[bit / 64] |= 1 << (bit % 64);
        u32::from(new)
    }

    /// Whether literal `index` occurs at `start` of `hay`.
    fn at(&self, index: usize, hay: &[u8], start: usize) -> bool {
        let (lit, fold, _) = &self.literals[index];
        match hay.get(start..start + lit.len()) {
            Some(w) if *fold => w.eq_ignore_ascii_case(lit),
            Some(w) => w == &lit[..],
            None => false,
        }
    }

    /// Set the bit of every literal anchored on the pair at `hay[i..]`
    /// that occurs there; how many were not found before.
    fn anchored_at(&self, hay: &[u8], i: usize, found: &mut [u64]) -> u32 {
        let key = pair_key(hay[i], hay[i + 1]);
        let by_first: &[u32] = &self.by_first;
        let (from, to) = (
            by_first[key >> 8] as usize,
            by_first[(key >> 8) + 1] as usize,
        );
        let anchored: &[(u16, usize, usize)] = &self.anchored;
        let mut hits = 0;
        for &(k, index, offset) in &anchored[from..to] {
            if k as usize != key {
                continue;
            }
            if let Some(start) = i.checked_sub(offset) {
                if self.at(index, hay, start) {
                    hits += self.set(index, found);
                }
            }
        }
        hits
    }

    /// Set the bit of every literal that occurs in `hay`; how many do.
    fn scan(&self, hay: &[u8], found: &mut [u64]) -> u32 {
        let mut hits = 0;
        for &index in &self.singles {
            let (lit, fold, _) = &self.literals[index];
            let b = lit[0];
            let occurs = match fold {
                true => hay.iter().any(|&h| LOWER[h as usize] == b),
                false => hay.contains(&b),
            };
            if occurs {
                hits += self.set(index, found);
            }
        }
        let pairs: &[u64; 1024] = &self.pairs;
        let (mut i, stride) = (0, self.stride);
        while i + 1 < hay.len() {
            let key = (hay[i] as usize) << 8 | hay[i + 1] as usize;
            if pairs[key / 64] & (1 << (key % 64)) != 0 {
                hits += self.anchored_at(hay, i, found);
            }
            i += stride;
        }
        hits
    }
}

impl Plan {
    pub fn new(rules: &Rules) -> Plan {
        let mut b = Builder {
            fields: Vec::new(),
            screens: Vec::new(),
            keys: Vec::new(),
            literals: 0,
        };
        let matches: Vec<Vec<Check>> = rules
            .matches
            .iter()
            .map(|r| b.checks(r, Class::Match))
            .collect();
        // What tells cheaply that a rule cannot hold: a `==` check (one
        // lookup per field opens it), else a check that holds only if a
        // screen found one of its literals (a `=` test, a `~` regex), else
        // nothing (always tried).
        let words = rules.matches.len().div_ceil(64);
        let mut always = vec![0; words];
        let mut screen_gates: Vec<(usize, Vec<u64>)> = Vec::new();
        let mut equals: Vec<Equals> = Vec::new();
        for (i, (checks, r)) in matches.iter().zip(&rules.matches).enumerate() {
            let test = |c: &Check| &r.conditions[c.condition].test;
            if let Some((c, Test::Equals(value))) = checks
                .iter()
                .map(|c| (c, test(c)))
                .find(|(_, t)| matches!(t, Test::Equals(_)))
            {
                let e = index_or_push(
                    &mut equals,
                    |e| e.field == c.field,
                    || Equals {
                        field: c.field,
                        wanted: Vec::new(),
                    },
                );
                // Kept sorted as it grows.
                let wanted = &mut equals[e].wanted;
                let at = wanted.partition_point(|(w, _)| w <= value);
                wanted.insert(at, (value.clone(), i));
                continue;
            }
            let gate = checks.iter().find_map(|c| match &c.how {
                How::Contains { screen, .. } => Some(*screen),
                How::Screened { screen, .. } => {
                    matches!(test(c), Test::Regex(..)).then_some(*screen)
                }
                How::Plain => None,
            });
            match gate {
                Some(screen) => {
                    let g = index_or_push(
                        &mut screen_gates,
                        |g| g.0 == screen,
                        || (screen, vec![0; words]),
                    );
                    set_bit(&mut screen_gates[g].1, i);
                }
                None => set_bit(&mut always, i),
            }
        }
        let ignores = rules
            .ignores
            .iter()
            .map(|r| b.checks(r, Class::Ignore))
            .collect();
        let expects = rules
            .expects
            .iter()
            .map(|r| b.checks(r, Class::Expect))
            .collect();
        for s in &mut b.screens {
            s.finish();
        }
        Plan {
            fields: FieldSet::new(b.fields),
            matches,
            ignores,
            expects,
            always,
            screen_gates,
            equals,
            screens: b.screens,
            literals: b.literals,
        }
    }

    /// [`Rules::verdict`] for `rules`, the rules this plan was made from.
    pub fn verdict(&self, rules: &Rules, entry: &mut dyn Fields, s: &mut Scratch) -> Verdict {
        reset(&mut s.values, self.fields.names.len(), Value::Missing);
        reset(&mut s.screened, self.screens.len(), false);
        reset(&mut s.hits, self.screens.len(), 0);
        reset(&mut s.found, self.literals.div_ceil(64), 0);
        s.open.clear();
        s.open.extend_from_slice(&self.always);
        s.bytes.clear();
        // The rules' fields, in one walk: nearly every entry needs some.
        let (bytes, values) = (&mut s.bytes, &mut s.values);
        if !self.fields.names.is_empty() {
            entry.values(&self.fields, &mut |i, v| {
                let start = bytes.len();
                bytes.extend_from_slice(v);
                values[i] = Value::At(start, bytes.len());
            });
        }
        for e in &self.equals {
            if let Some((a, b)) = self.value(e.field, s) {
                let value = &s.bytes[a..b];
                let from = e.wanted.partition_point(|(w, _)| w[..] < *value);
                for (w, rule) in &e.wanted[from..] {
                    if w[..] != *value {
                        break;
                    }
                    set_bit(&mut s.open, *rule);
                }
            }
        }
        for (screen, gated) in &self.screen_gates {
            if self.scan_once(*screen, s) > 0 {
                for (o, g) in s.open.iter_mut().zip(gated) {
                    *o |= g;
                }
            }
        }
        let holds = Plan::holds;
        let (checks, matches) = (self.matches.as_slice(), rules.matches.as_slice());
        let mut next = next_bit(&s.open, 0);
        let matched = loop {
            let Some(i) = next else {
                return Verdict::Pass;
            };
            if holds(self, &checks[i], &matches[i], s) {
                break i;
            }
            next = next_bit(&s.open, i + 1);
        };
        if let Some(ignore) =
            (0..rules.ignores.len()).find(|&i| holds(self, &self.ignores[i], &rules.ignores[i], s))
        {
            return Verdict::Ignored { matched, ignore };
        }
        // Past the first, one rule per route: the first of each that holds.
        let mut fired = vec![matched];
        let mut at = matched + 1;
        while let Some(i) = next_bit(&s.open, at) {
            at = i + 1;
            let route = matches[i].route;
            if !fired.iter().any(|&f| matches[f].route == route)
                && holds(self, &checks[i], &matches[i], s)
            {
                fired.push(i);
            }
        }
        Verdict::Alert(fired)
    }

    /// The `[expect]` rules that hold for the entry [`Plan::verdict`] was
    /// last asked about (its values are still in `s`).
    pub fn expected(&self, rules: &Rules, s: &mut Scratch) -> Vec<usize> {
        (0..rules.expects.len())
            .filter(|&i| Plan::holds(self, &self.expects[i], &rules.expects[i], s))
            .collect()
    }

    /// Whether all checks hold: first what the values and screens tell
    /// cheaply, then, if no check failed on that, the regexes.
    #[inline(always)]
    fn holds(&self, checks: &[Check], rule: &Rule, s: &mut Scratch) -> bool {
        let mut pending = false;
        for c in checks {
            match self.quick(c, rule, s) {
                Some(false) => return false,
                Some(true) => {}
                None => pending = true,
            }
        }
        !pending
            || checks.iter().all(|c| {
                self.quick(c, rule, s).is_some() || {
                    let v = self.value(c.field, s);
                    let test = &rule.conditions[c.condition].test;
                    test.holds(v.map(|(a, b)| &s.bytes[a..b]))
                }
            })
    }

    /// A check's outcome when it needs no regex, else `None`.
    #[inline(always)]
    fn quick(&self, check: &Check, rule: &Rule, s: &mut Scratch) -> Option<bool> {
        let value = self.value(check.field, s);
        let test = &rule.conditions.as_slice()[check.condition].test;
        match &check.how {
            How::Plain if matches!(test, Test::Regex(..) | Test::NotRegex(..)) => None,
            How::Plain => Some(test.holds(value.map(|(a, b)| &s.bytes[a..b]))),
            How::Contains { screen, bit } => Some(value.is_some() && self.found(*screen, *bit, s)),
            How::Screened { screen, bits } => {
                if value.is_none() {
                    Some(test.holds(None))
                } else if bits.iter().any(|&bit| self.found(*screen, bit, s)) {
                    None
                } else {
                    // No literal a match needs: the regex does not match.
                    Some(matches!(test, Test::NotRegex(..)))
                }
            }
        }
    }

    /// Where the value of field `f` is in the scratch bytes.
    #[inline(always)]
    fn value(&self, f: usize, s: &Scratch) -> Option<(usize, usize)> {
        match s.values.as_slice()[f] {
            Value::At(a, b) => Some((a, b)),
            Value::Missing => None,
        }
    }

    /// Whether the screen found literal `bit`, scanning on first use.
    #[inline(always)]
    fn found(&self, screen: usize, bit: usize, s: &mut Scratch) -> bool {
        self.scan_once(screen, s);
        s.found.as_slice()[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// How many literals the screen found in its field's value (none when
    /// the entry lacks it), scanning on first use.
    #[inline(always)]
    fn scan_once(&self, screen: usize, s: &mut Scratch) -> u32 {
        if !s.screened.as_slice()[screen] {
            s.screened.as_mut_slice()[screen] = true;
            let sc = &self.screens.as_slice()[screen];
            if let Value::At(a, b) = s.values.as_slice()[sc.field] {
                s.hits.as_mut_slice()[screen] = sc.scan(&s.bytes[a..b], &mut s.found);
            }
        }
        s.hits.as_slice()[screen]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::rules::tests::{rule, MapEntry};
    use crate::rules::Condition;
    use crate::testing::Rng;
    use regex_lite::Regex;
    use std::path::Path;

    fn shipped() -> Rules {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("logmon.conf");
        Config::load(&path).expect("shipped config loads").rules
    }

    /// The shipped packs: every regex on MESSAGE but the catch-alls has a
    /// screen, so most entries never reach the regex engine.
    #[test]
    fn shipped_message_regexes_are_screened() {
        let rules = shipped();
        let plan = Plan::new(&rules);
        let mut unscreened = Vec::new();
        for (group, plans, rs) in [
            ("match", &plan.matches, &rules.matches),
            ("ignore", &plan.ignores, &rules.ignores),
        ] {
            for (checks, r) in plans.iter().zip(rs) {
                for c in checks {
                    let cond = &r.conditions[c.condition];
                    let regex = matches!(cond.test, Test::Regex(..) | Test::NotRegex(..));
                    if regex && matches!(c.how, How::Plain) {
                        unscreened.push(format!(
                            "{group} {}: {} {:?}",
                            r.label(),
                            cond.field,
                            cond.test
                        ));
                    }
                }
            }
        }
        eprintln!(
            "{} unscreened regexes:\n{}",
            unscreened.len(),
            unscreened.join("\n")
        );
        assert!(
            unscreened.iter().all(|u| !u.contains(": MESSAGE ")),
            "{unscreened:#?}"
        );
    }

    fn cond(field: &str, test: Test) -> Condition {
        Condition {
            field: field.into(),
            test,
        }
    }

    const FIELDS: &[&str] = &["MESSAGE", "UNIT", "PRIORITY", "X"];
    /// Pieces of values: the literals and near misses of the tests below.
    const PIECES: &[&str] = &[
        "error",
        "ERROR",
        "Err",
        "fail",
        "failed",
        "ok",
        "sshd",
        "sshd.service",
        "3",
        "-7",
        "10",
        "x",
        " ",
        ": ",
        "port 22",
        "Killed process 12",
        "Out of memory",
        "a.b",
        "aXb",
        "(",
        ")",
        "\u{212a}",
        "k",
        "K",
        "timeout",
        "é",
    ];
    const PATTERNS: &[&str] = &[
        "(?i)(fail|error|alarm|problem|emerg)",
        "error",
        "^sshd$",
        "^(Out of memory|Memory cgroup out of memory): Killed process \\d+",
        "a\\.b",
        "(?i)k",
        "^(failed|timeout)$",
        ".",
        "ERR[a-z]*",
        "^$",
        "x( |:)+ok",
        "\\d+",
    ];

    fn text(rng: &mut Rng) -> String {
        (0..rng.below(4))
            .map(|_| *rng.pick::<&str>(PIECES))
            .collect()
    }

    fn test(rng: &mut Rng) -> Test {
        match rng.below(7) {
            0 => Test::Contains(text(rng).into_bytes()),
            1 => Test::Equals(text(rng).into_bytes()),
            2 => Test::NotEquals(text(rng).into_bytes()),
            3 => {
                let op = *rng.pick(&["<", "<=", ">", ">="]);
                Test::compare(op, rng.below(21) as i64 - 10).expect("an operator")
            }
            4 => Test::not_regex(Regex::new(rng.pick::<&str>(PATTERNS)).expect("valid")),
            _ => Test::regex(Regex::new(rng.pick::<&str>(PATTERNS)).expect("valid")),
        }
    }

    fn random_rule(rng: &mut Rng) -> Rule {
        let conditions = (0..1 + rng.below(3))
            .map(|_| cond(rng.pick::<&str>(FIELDS), test(rng)))
            .collect();
        let mut r = rule(conditions);
        r.route = rng.below(2);
        r
    }

    #[test]
    fn next_bit_finds_the_lowest_bit_at_or_above() {
        let bits = [1 << 3 | 1 << 63, 0, 1 << 5];
        assert_eq!(next_bit(&bits, 0), Some(3));
        assert_eq!(next_bit(&bits, 3), Some(3));
        assert_eq!(next_bit(&bits, 4), Some(63));
        assert_eq!(next_bit(&bits, 64), Some(133));
        assert_eq!(next_bit(&bits, 134), None);
        assert_eq!(next_bit(&bits, 500), None);
        assert_eq!(next_bit(&[], 0), None);
    }

    /// The property: the plan's verdict is the plain evaluation's, on
    /// random rule sets and entries (entries in a row share one scratch).
    #[test]
    fn plan_gives_the_plain_verdicts() {
        let seed = crate::testing::seed("plan vs plain");
        let mut rng = Rng::new(seed);
        let (mut alerts, mut ignored, mut passes, mut heard) = (0, 0, 0, 0);
        let mut scratch = Scratch::default();
        for _ in 0..2_000 {
            // Now and then more rules than one word of open bits holds.
            let n = match rng.below(20) {
                0 => 60 + rng.below(140),
                _ => 1 + rng.below(5),
            };
            let rules = Rules {
                matches: (0..n).map(|_| random_rule(&mut rng)).collect(),
                ignores: (0..rng.below(4)).map(|_| random_rule(&mut rng)).collect(),
                expects: (0..rng.below(3)).map(|_| random_rule(&mut rng)).collect(),
            };
            let plan = Plan::new(&rules);
            for _ in 0..50 {
                let mut fields = Vec::new();
                for f in FIELDS {
                    if rng.below(4) != 0 {
                        fields.push((*f, text(&mut rng)));
                    }
                }
                let pairs: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let plain = rules.verdict(&mut MapEntry::new(&pairs));
                let fast = plan.verdict(&rules, &mut MapEntry::new(&pairs), &mut scratch);
                assert_eq!(
                    fast, plain,
                    "LOGMON_TEST_SEED={seed}: entry {pairs:?}, rules {rules:#?}"
                );
                // [expect] rules, asked after the verdict of the same entry.
                let plain_heard: Vec<usize> = (0..rules.expects.len())
                    .filter(|&i| rules.expects[i].holds(&mut MapEntry::new(&pairs)))
                    .collect();
                let fast_heard = plan.expected(&rules, &mut scratch);
                assert_eq!(
                    fast_heard, plain_heard,
                    "LOGMON_TEST_SEED={seed}: [expect] on entry {pairs:?}, rules {rules:#?}"
                );
                heard += plain_heard.len();
                match plain {
                    Verdict::Alert(_) => alerts += 1,
                    Verdict::Ignored { .. } => ignored += 1,
                    Verdict::Pass => passes += 1,
                }
            }
        }
        eprintln!(
            "plan vs plain: {alerts} alerts, {ignored} ignored, {passes} passes, {heard} [expect] matches"
        );
        // Not vacuous: every outcome, often.
        assert!(
            alerts > 5_000 && ignored > 2_000 && passes > 5_000 && heard > 2_000,
            "seed {seed}"
        );
    }

    #[test]
    fn a_screen_finds_every_literal_in_one_pass() {
        let rules = Rules {
            matches: vec![
                rule(vec![cond("MESSAGE", Test::Contains(b"disk".to_vec()))]),
                rule(vec![cond(
                    "MESSAGE",
                    Test::regex(Regex::new("(?i)fail(ed)?").unwrap()),
                )]),
                rule(vec![cond("MESSAGE", Test::Contains(b"FAIL".to_vec()))]),
            ],
            ignores: vec![],
            expects: vec![],
        };
        let plan = Plan::new(&rules);
        assert_eq!(plan.screens.len(), 1);
        assert_eq!(plan.literals, 3);
        let mut s = Scratch::default();
        let mut v = |m: &str| plan.verdict(&rules, &mut MapEntry::new(&[("MESSAGE", m)]), &mut s);
        assert_eq!(v("a FAILED disk"), Verdict::Alert(vec![0]));
        assert_eq!(v("Failed"), Verdict::Alert(vec![1]));
        assert_eq!(v("FAIL"), Verdict::Alert(vec![1]));
        assert_eq!(v("dis k"), Verdict::Pass);
    }
}
