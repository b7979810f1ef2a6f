//! Pure rule matching: which rule, if any, makes a journal entry alert?
//!
//! An entry alerts when at least one `[match]` rule holds and no `[ignore]`
//! rule holds; the alert belongs to the first `[match]` rule that holds, in
//! config order. A rule holds when all of its conditions hold. Fields are
//! fetched lazily through [`Fields`], so an entry costs only the lookups
//! its rules need, and evaluation stops at the first failing condition.
//!
//! A condition on a field the entry lacks does not hold, except the
//! negative ones: `!=` and `!~` hold when the field is missing. `<`, `<=`,
//! `>` and `>=` hold only for a decimal integer that fits in 64 bits
//! (optional `-`, leading zeros allowed); any other value is "not a
//! number" and the condition does not hold.

use crate::prescreen::Prescreen;
use regex_lite::Regex;
use std::cmp::Ordering;
use std::rc::Rc;

/// Where a rule reads an entry's fields from (the journal, or a test map).
pub trait Fields {
    /// The value of `name` in the current entry, without the `NAME=` prefix.
    fn field(&mut self, name: &str) -> Option<&[u8]>;

    /// The current entry's cursor, for what must hold it (the journal's;
    /// a test map has none).
    fn cursor(&mut self) -> String {
        String::new()
    }

    /// `each(i, value)` for every field `set.names[i]` the entry has: what
    /// [`Fields::field`] gives for each name, in one go (the journal reads
    /// them in one walk over the entry's items).
    fn values(&mut self, set: &FieldSet, each: &mut dyn FnMut(usize, &[u8])) {
        for (i, name) in set.names.iter().enumerate() {
            if let Some(v) = self.field(name) {
                each(i, v);
            }
        }
    }
}

/// Field names read together ([`Fields::values`]), with a quick test of
/// whether a journal item (`NAME=value`) is one of them.
#[derive(Debug, Default)]
pub struct FieldSet {
    pub names: Vec<String>,
    /// Per bucket of the first two bytes of `NAME=` ([`pair`]): where its
    /// names start in `candidates` (the next bucket's start ends them).
    /// Most items of an entry are no field asked for; their bucket is
    /// empty, and the few that share one are told apart by `head`.
    starts: Vec<u32>,
    /// Per name in bucket order: `NAME=`'s first 8 bytes and its next 8
    /// (0-padded), their masks, and the name's index.
    candidates: Vec<Candidate>,
}

#[derive(Debug)]
struct Candidate {
    heads: [(u64, u64); 2],
    index: usize,
}

/// `s`'s bytes `at..at + 8` (0-padded) and the mask of those it has.
#[inline(always)]
fn masked_head(s: &[u8], at: usize) -> (u64, u64) {
    let rest = s.get(at..).unwrap_or_default();
    let mask = match rest.len() {
        0..8 => (1u64 << (8 * rest.len())) - 1,
        _ => u64::MAX,
    };
    (head(rest) & mask, mask)
}

const BUCKETS: usize = 1024;

#[inline(always)]
fn pair(b0: u8, b1: u8) -> usize {
    ((b0 as usize) << 5 ^ b1 as usize) % BUCKETS
}

/// The first 8 bytes of `s`, 0-padded.
#[inline(always)]
pub fn head(s: &[u8]) -> u64 {
    match s.first_chunk::<8>() {
        Some(b) => u64::from_le_bytes(*b),
        None => s.iter().rev().fold(0, |h, &b| (h << 8) | u64::from(b)),
    }
}

impl FieldSet {
    pub fn new(names: Vec<String>) -> FieldSet {
        // The bucket of `NAME=`'s first two bytes.
        let bucket = |name: &str| match name.as_bytes() {
            [] => pair(b'=', 0),
            [a] => pair(*a, b'='),
            [a, b, ..] => pair(*a, *b),
        };
        // Bucket by bucket: a set has few names, and no sort is linked in.
        let mut starts = vec![0u32; BUCKETS + 1];
        let mut candidates = Vec::new();
        for (b, start) in starts.iter_mut().enumerate().take(BUCKETS) {
            *start = candidates.len() as u32;
            for (index, name) in names.iter().enumerate().filter(|(_, n)| bucket(n) == b) {
                let prefix = format!("{name}=");
                let p = prefix.as_bytes();
                candidates.push(Candidate {
                    heads: [masked_head(p, 0), masked_head(p, 8)],
                    index,
                });
            }
        }
        starts[BUCKETS] = candidates.len() as u32;
        FieldSet {
            names,
            starts,
            candidates,
        }
    }

    /// The index of the name `item` is a field of (`NAME=value`), if any,
    /// and where its value starts.
    #[inline(always)]
    pub fn find(&self, item: &[u8]) -> Option<(usize, usize)> {
        let (&b0, rest) = item.split_first()?;
        let bucket = pair(b0, *rest.first()?);
        let starts: &[u32] = &self.starts;
        let (from, to) = (starts[bucket] as usize, starts[bucket + 1] as usize);
        if from == to {
            return None;
        }
        let h = head(item);
        let h2 = head(item.get(8..).unwrap_or_default());
        let candidates: &[Candidate] = &self.candidates;
        candidates[from..to].iter().find_map(|c| {
            let [(want, mask), (want2, mask2)] = c.heads;
            if h & mask != want || h2 & mask2 != want2 {
                return None;
            }
            // Up to 16 bytes of `NAME=` compared; a longer one's rest.
            let name = self.names[c.index].as_bytes();
            let matches = name.len() < 16
                || (item.len() > name.len()
                    && item[16..name.len()] == name[16..]
                    && item[name.len()] == b'=');
            matches.then_some((c.index, name.len() + 1))
        })
    }
}

#[derive(Debug)]
pub enum Test {
    /// `FIELD = text`: the value contains `text` (case-sensitive bytes).
    Contains(Vec<u8>),
    /// `FIELD == text`: the value is exactly `text`.
    Equals(Vec<u8>),
    /// `FIELD != text`: missing, or not exactly `text`.
    NotEquals(Vec<u8>),
    /// `FIELD ~ regex`: regex-lite search on the value (lossy UTF-8),
    /// with a literal pre-screen when the pattern allows one.
    Regex(Regex, Option<Box<Prescreen>>),
    /// `FIELD !~ regex`: missing, or the regex does not match.
    NotRegex(Regex, Option<Box<Prescreen>>),
    /// `FIELD < N` and friends: the value is a number and compares so;
    /// the orderings it may have with N.
    Compare(i64, &'static [Ordering]),
}

#[derive(Debug)]
pub struct Condition {
    pub field: String,
    pub test: Test,
}

/// Where a rule was written: the file logmon read and the line of its
/// section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Rc<str>,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// `threshold = N within DURATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub count: u32,
    pub within_usec: u64,
}

#[derive(Debug)]
pub struct Rule {
    pub origin: Origin,
    /// `name =`; mails and `--stats` show [`Rule::label`].
    pub name: Option<String>,
    /// `tag =`: the subject says `[ALERT TAG]`.
    pub tag: Option<String>,
    pub threshold: Option<Threshold>,
    /// `by =`: with a threshold, count per value of this field.
    pub by: Option<String>,
    /// `to =`: recipients instead of `[mail] to` (sorted).
    pub to: Option<Vec<String>>,
    /// The index of its recipient set in `Config::routes` (0: `[mail] to`).
    pub route: usize,
    /// `context = N`: lines of the same unit run shown before the alert.
    pub context: u8,
    /// `[expect]`'s `within =`: how long it may go unseen.
    pub within_usec: Option<u64>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Default)]
pub struct Rules {
    pub matches: Vec<Rule>,
    pub ignores: Vec<Rule>,
    /// `[expect]`: entries that must keep coming.
    pub expects: Vec<Rule>,
}

/// What the rules say about an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No `[match]` rule holds.
    Pass,
    /// These `[match]` rules hold, the first of each route, and no
    /// `[ignore]` rule does.
    Alert(Vec<usize>),
    /// `[match]` rule `matched` (the first) holds, but `[ignore]` rule
    /// `ignore` too.
    Ignored { matched: usize, ignore: usize },
}

impl Test {
    pub fn regex(re: Regex) -> Test {
        let prescreen = Prescreen::from_pattern(re.as_str()).map(Box::new);
        Test::Regex(re, prescreen)
    }

    pub fn not_regex(re: Regex) -> Test {
        match Test::regex(re) {
            Test::Regex(re, p) => Test::NotRegex(re, p),
            other => other,
        }
    }

    /// `<`, `<=`, `>`, `>=` against `n`.
    pub fn compare(op: &str, n: i64) -> Option<Test> {
        use Ordering::*;
        let orderings: &'static [Ordering] = match op {
            "<" => &[Less],
            "<=" => &[Less, Equal],
            ">" => &[Greater],
            ">=" => &[Greater, Equal],
            _ => return None,
        };
        Some(Test::Compare(n, orderings))
    }

    /// Whether the test holds for a field's value (`None`: missing).
    pub fn holds(&self, value: Option<&[u8]>) -> bool {
        match (self, value) {
            (Test::NotEquals(text), v) => v != Some(text.as_slice()),
            (Test::NotRegex(re, prescreen), v) => !v.is_some_and(|v| matches(re, prescreen, v)),
            (_, None) => false,
            (Test::Contains(needle), Some(v)) => contains(v, needle),
            (Test::Equals(text), Some(v)) => v == text.as_slice(),
            (Test::Regex(re, prescreen), Some(v)) => matches(re, prescreen, v),
            (Test::Compare(n, orderings), Some(v)) => {
                number(v).is_some_and(|x| orderings.contains(&x.cmp(n)))
            }
        }
    }
}

fn matches(re: &Regex, prescreen: &Option<Box<Prescreen>>, value: &[u8]) -> bool {
    prescreen.as_ref().is_none_or(|p| p.may_match(value))
        && re.is_match(&String::from_utf8_lossy(value))
}

/// A decimal integer that fits in 64 bits signed: optional `-`, digits,
/// leading zeros allowed; nothing else (no `+`, blanks or `0x`).
pub fn number(v: &[u8]) -> Option<i64> {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // PRIORITY and most numbers are one digit: the answer without a parse.
    if let [d] = v {
        return Some(i64::from(d - b'0'));
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

impl Rule {
    /// A rule written at `origin`, with no options set.
    pub fn new(origin: Origin, conditions: Vec<Condition>) -> Rule {
        Rule {
            origin,
            name: None,
            tag: None,
            threshold: None,
            by: None,
            to: None,
            route: 0,
            context: 0,
            within_usec: None,
            conditions,
        }
    }

    /// The plain evaluation, condition by condition in written order (the
    /// daemon uses [`crate::plan::Plan`], which tests compare with this).
    #[cfg(test)]
    pub fn holds(&self, entry: &mut dyn Fields) -> bool {
        self.conditions
            .iter()
            .all(|c| c.test.holds(entry.field(&c.field)))
    }

    /// `name`, else where the rule was written.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self.origin.to_string(),
        }
    }
}

impl Rules {
    /// The first `[match]` rule that holds, and the first `[ignore]` rule
    /// that silences it: what the rules mean, plainly (the daemon gets the
    /// same from [`crate::plan::Plan::verdict`], faster).
    #[cfg(test)]
    pub fn verdict(&self, entry: &mut dyn Fields) -> Verdict {
        let Some(matched) = self.matches.iter().position(|r| r.holds(entry)) else {
            return Verdict::Pass;
        };
        if let Some(ignore) = self.ignores.iter().position(|r| r.holds(entry)) {
            return Verdict::Ignored { matched, ignore };
        }
        let mut fired = vec![matched];
        // Other routes: their first rule that holds (most configs have one
        // route, and this loop finds nothing more to do).
        for (i, rule) in self.matches.iter().enumerate().skip(matched + 1) {
            let route = rule.route;
            if !fired.iter().any(|&f| self.matches[f].route == route) && rule.holds(entry) {
                fired.push(i);
            }
        }
        Verdict::Alert(fired)
    }

    #[cfg(test)]
    pub fn alerts(&self, entry: &mut dyn Fields) -> bool {
        matches!(self.verdict(entry), Verdict::Alert(_))
    }
}

/// Byte substring search; an empty needle is found everywhere.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut start = 0;
    while start + needle.len() <= haystack.len() {
        match haystack[start..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)
        {
            None => return false,
            Some(i) => {
                let at = start + i;
                if &haystack[at + 1..at + needle.len()] == rest {
                    return true;
                }
                start = at + 1;
            }
        }
    }
    false
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// [`FieldSet::find`] against the obvious reading, on names that share
    /// their first bytes and have the lengths where its compares change
    /// (8 and 16 bytes of `NAME=`), and items that nearly match.
    #[test]
    fn field_set_finds_what_a_plain_search_finds() {
        const POOL: &[&str] = &[
            "U",
            "UN",
            "UNIT",
            "UNIT_RESULT",
            "MESSAGE",
            "MESSAGE_ID",
            "PRIORITY",
            "PRIORITX",
            "_SYSTEMD_UNIT",
            "_SYSTEMD_USER_UNIT",
            "_SYSTEMD_CGROUP",
            "ABCDEFGHIJKLMN",
            "ABCDEFGHIJKLMNO",
            "ABCDEFGHIJKLMNOP",
            "ABCDEFGHIJKLMNOPQ",
            "SYSLOG_IDENTIFIER",
            "SYSLOG_IDENTIFIEX",
            "SYSLOG_PID",
            "_S",
            "S_",
        ];
        let seed = crate::testing::seed("field set");
        let mut rng = crate::testing::Rng::new(seed);
        let mut found = 0;
        for _ in 0..300 {
            let mut names: Vec<String> = Vec::new();
            for _ in 0..1 + rng.below(8) {
                let n = rng.pick(POOL).to_string();
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            let set = FieldSet::new(names.clone());
            for _ in 0..50 {
                let mut item = rng.pick(POOL).as_bytes().to_vec();
                match rng.below(5) {
                    0 => {}
                    1 => item.truncate(rng.below(item.len() + 1)),
                    _ => {
                        item.push(b'=');
                        let values: &[&[u8]] = &[b"", b"x", b"=", b"value 1"];
                        let value: &[u8] = rng.pick::<&[u8]>(values);
                        item.extend_from_slice(value);
                    }
                }
                let plain = names.iter().enumerate().find_map(|(i, n)| {
                    let n = n.as_bytes();
                    (item.len() > n.len() && item.starts_with(n) && item[n.len()] == b'=')
                        .then_some((i, n.len() + 1))
                });
                found += usize::from(plain.is_some());
                assert_eq!(
                    set.find(&item),
                    plain,
                    "LOGMON_TEST_SEED={seed}: {names:?}, item {:?}",
                    String::from_utf8_lossy(&item)
                );
            }
        }
        assert!(
            found > 1_000,
            "LOGMON_TEST_SEED={seed}: only {found} items found"
        );
    }
    use std::collections::HashMap;

    /// An entry for tests: a map of field name to raw value.
    #[derive(Default)]
    pub struct MapEntry(pub HashMap<String, Vec<u8>>);

    impl MapEntry {
        pub fn new(fields: &[(&str, &str)]) -> MapEntry {
            MapEntry(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                    .collect(),
            )
        }
    }

    impl Fields for MapEntry {
        fn field(&mut self, name: &str) -> Option<&[u8]> {
            self.0.get(name).map(|v| v.as_slice())
        }
    }

    fn cond(field: &str, test: Test) -> Condition {
        Condition {
            field: field.into(),
            test,
        }
    }

    pub fn rule(conditions: Vec<Condition>) -> Rule {
        Rule::new(
            Origin {
                file: "t.conf".into(),
                line: 1,
            },
            conditions,
        )
    }

    /// The original script's rules: one keyword regex, two false positives.
    fn script_rules() -> Rules {
        let re = Regex::new("(?i)(fail|error|alarm|problem|emerg)").unwrap();
        Rules {
            matches: vec![rule(vec![cond("MESSAGE", Test::regex(re))])],
            ignores: vec![
                rule(vec![
                    cond("_SYSTEMD_UNIT", Test::Contains(b"postfix.service".to_vec())),
                    cond(
                        "MESSAGE",
                        Test::Contains(b"SSL_accept error from unknown".to_vec()),
                    ),
                ]),
                rule(vec![
                    cond("_SYSTEMD_UNIT", Test::Contains(b"dovecot.service".to_vec())),
                    cond(
                        "MESSAGE",
                        Test::Contains(b"TLS handshaking: SSL_accept() failed".to_vec()),
                    ),
                ]),
            ],
            expects: vec![],
        }
    }

    fn alerts(fields: &[(&str, &str)]) -> bool {
        script_rules().alerts(&mut MapEntry::new(fields))
    }

    #[test]
    fn keyword_regex_ignores_case() {
        assert!(alerts(&[("MESSAGE", "disk FAILURE on sda")]));
        assert!(alerts(&[("MESSAGE", "Temperature Alarm")]));
        assert!(alerts(&[("MESSAGE", "kernel: EMERG")]));
        assert!(!alerts(&[("MESSAGE", "all good")]));
    }

    #[test]
    fn false_positives_stay_silent_only_for_their_unit() {
        let postfix = "SSL_accept error from unknown[1.2.3.4]: lost connection";
        assert!(!alerts(&[
            ("_SYSTEMD_UNIT", "postfix.service"),
            ("MESSAGE", postfix)
        ]));
        // Same text from another unit: the ignore rule is an AND, so it alerts.
        assert!(alerts(&[
            ("_SYSTEMD_UNIT", "nginx.service"),
            ("MESSAGE", postfix)
        ]));
        // Same unit, another error: alerts.
        assert!(alerts(&[
            ("_SYSTEMD_UNIT", "postfix.service"),
            ("MESSAGE", "fatal error")
        ]));
        let dovecot = "imap-login: TLS handshaking: SSL_accept() failed: x";
        assert!(!alerts(&[
            ("_SYSTEMD_UNIT", "dovecot.service"),
            ("MESSAGE", dovecot)
        ]));
    }

    #[test]
    fn missing_field_does_not_satisfy_a_condition() {
        // No MESSAGE: the match rule cannot hold.
        assert!(!alerts(&[("_SYSTEMD_UNIT", "x.service")]));
        // No _SYSTEMD_UNIT: the ignore rule cannot hold, so it alerts.
        assert!(alerts(&[("MESSAGE", "SSL_accept error from unknown")]));
    }

    #[test]
    fn all_conditions_of_a_rule_must_hold() {
        let rules = Rules {
            matches: vec![rule(vec![
                cond("A", Test::Contains(b"x".to_vec())),
                cond("B", Test::Contains(b"y".to_vec())),
            ])],
            ignores: vec![],
            expects: vec![],
        };
        assert!(rules.alerts(&mut MapEntry::new(&[("A", "x"), ("B", "y")])));
        assert!(!rules.alerts(&mut MapEntry::new(&[("A", "x"), ("B", "z")])));
        assert!(!rules.alerts(&mut MapEntry::new(&[("A", "x")])));
    }

    #[test]
    fn binary_values_are_matched_lossily_and_by_bytes() {
        let rules = script_rules();
        let mut entry = MapEntry::default();
        entry
            .0
            .insert("MESSAGE".into(), b"\xff\xfe error \x00\x01".to_vec());
        assert!(rules.alerts(&mut entry));
        assert!(Test::Contains(b"\x00\x01".to_vec()).holds(Some(b"a\x00\x01b")));
    }

    #[test]
    fn substring_search() {
        assert!(contains(b"hello", b""));
        assert!(contains(b"hello", b"hello"));
        assert!(contains(b"hello", b"llo"));
        assert!(contains(b"aab", b"ab"));
        assert!(!contains(b"hel", b"hello"));
        assert!(!contains(b"", b"a"));
        assert!(!contains(b"abab", b"abb"));
    }

    #[test]
    fn every_operator_as_the_spec_says() {
        let re = |p: &str| Regex::new(p).unwrap();
        let eq = Test::Equals(b"sshd".to_vec());
        assert!(eq.holds(Some(b"sshd")));
        assert!(!eq.holds(Some(b"sshd.service")) && !eq.holds(None));
        let ne = Test::NotEquals(b"sshd".to_vec());
        assert!(ne.holds(None) && ne.holds(Some(b"cron")) && !ne.holds(Some(b"sshd")));
        let nre = Test::not_regex(re("^ssh"));
        assert!(nre.holds(None) && nre.holds(Some(b"cron")) && !nre.holds(Some(b"sshd")));
        let le = Test::compare("<=", 3).unwrap();
        for (v, holds) in [
            (&b"3"[..], true),
            (b"03", true),
            (b"-7", true),
            (b"4", false),
            (b"3.0", false),
            (b"+3", false),
            (b" 3", false),
            (b"", false),
            (b"-", false),
            (b"99999999999999999999", false),
            (b"-9223372036854775808", true),
        ] {
            assert_eq!(le.holds(Some(v)), holds, "{:?}", String::from_utf8_lossy(v));
        }
        assert!(!le.holds(None));
        let gt = Test::compare(">", -1).unwrap();
        assert!(gt.holds(Some(b"0")) && !gt.holds(Some(b"-1")));
        let ge = Test::compare(">=", 10).unwrap();
        assert!(ge.holds(Some(b"10")) && !ge.holds(Some(b"9")));
        let lt = Test::compare("<", 10).unwrap();
        assert!(lt.holds(Some(b"9")) && !lt.holds(Some(b"10")));
        assert!(Test::compare("=<", 1).is_none());
    }

    #[test]
    fn the_verdict_names_the_first_matching_rule_and_the_silencing_ignore() {
        let rules = Rules {
            matches: vec![
                rule(vec![cond("A", Test::Contains(b"x".to_vec()))]),
                rule(vec![cond("B", Test::Contains(b"y".to_vec()))]),
            ],
            ignores: vec![
                rule(vec![cond("C", Test::Equals(b"1".to_vec()))]),
                rule(vec![cond("C", Test::Equals(b"2".to_vec()))]),
            ],
            expects: vec![],
        };
        let v = |f: &[(&str, &str)]| rules.verdict(&mut MapEntry::new(f));
        assert_eq!(v(&[("B", "y")]), Verdict::Alert(vec![1]));
        assert_eq!(v(&[("A", "x"), ("B", "y")]), Verdict::Alert(vec![0]));
        assert_eq!(
            v(&[("B", "y"), ("C", "2")]),
            Verdict::Ignored {
                matched: 1,
                ignore: 1
            }
        );
        assert_eq!(v(&[("C", "2")]), Verdict::Pass);
        assert_eq!(rules.matches[0].label(), "t.conf:1");
    }
}
