//! Pure rule matching: does a journal entry alert?
//!
//! An entry alerts when at least one `[match]` rule holds and no `[ignore]`
//! rule holds. A rule holds when all of its conditions hold; a condition on a
//! field the entry lacks does not hold. Fields are fetched lazily through
//! [`Fields`], so an entry costs only the lookups its rules actually need,
//! and evaluation stops at the first failing condition.

use crate::prescreen::Prescreen;
use regex_lite::Regex;

/// Where a rule reads an entry's fields from (the journal, or a test map).
pub trait Fields {
    /// The value of `name` in the current entry, without the `NAME=` prefix.
    fn field(&mut self, name: &str) -> Option<&[u8]>;
}

#[derive(Debug)]
pub enum Test {
    /// `FIELD = text`: the value contains `text` (case-sensitive bytes).
    Contains(Vec<u8>),
    /// `FIELD ~ regex`: regex-lite search on the value (lossy UTF-8),
    /// with a literal pre-screen when the pattern allows one.
    Regex(Regex, Option<Box<Prescreen>>),
}

#[derive(Debug)]
pub struct Condition {
    pub field: String,
    pub test: Test,
}

#[derive(Debug)]
pub struct Rule {
    /// Config line of the `[match]`/`[ignore]` header, for messages.
    pub line: usize,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Default)]
pub struct Rules {
    pub matches: Vec<Rule>,
    pub ignores: Vec<Rule>,
}

impl Test {
    pub fn regex(re: Regex) -> Test {
        let prescreen = Prescreen::from_pattern(re.as_str()).map(Box::new);
        Test::Regex(re, prescreen)
    }

    pub fn holds(&self, value: &[u8]) -> bool {
        match self {
            Test::Contains(needle) => contains(value, needle),
            Test::Regex(re, prescreen) => {
                prescreen.as_ref().is_none_or(|p| p.may_match(value))
                    && re.is_match(&String::from_utf8_lossy(value))
            }
        }
    }
}

impl Rule {
    pub fn holds(&self, entry: &mut dyn Fields) -> bool {
        self.conditions
            .iter()
            .all(|c| entry.field(&c.field).is_some_and(|v| c.test.holds(v)))
    }
}

impl Rules {
    pub fn alerts(&self, entry: &mut dyn Fields) -> bool {
        self.matches.iter().any(|r| r.holds(entry)) && !self.ignores.iter().any(|r| r.holds(entry))
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

    fn rule(conditions: Vec<Condition>) -> Rule {
        Rule {
            line: 1,
            conditions,
        }
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
        assert!(Test::Contains(b"\x00\x01".to_vec()).holds(b"a\x00\x01b"));
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
}
