//! `--stats`: what the rules make of a stretch of the journal, to tune
//! them on history.
//!
//! Alerts are counted by template: their message with numbers, hex, IPv4
//! addresses, UUIDs and quoted strings masked, per unit. For each of the
//! most frequent templates the report prints an `[ignore]` block that
//! silences exactly that template: the unit with `==` and MESSAGE with an
//! anchored regex in which each masked token matches only a token of its
//! own kind. Tokens are maximal runs of letters and digits, so a masked
//! class can never swallow part of a neighbouring word.

use crate::engine::UNIT_FIELDS;
use crate::rules::{Fields, Rules};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Distinct templates counted; the rest are counted together.
const MAX_TEMPLATES: usize = 10_000;
/// Templates the report lists.
pub const TOP: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mask {
    Number,
    Hex,
    Ipv4,
    /// Dash-joined hex words: UUIDs, dates, ids.
    HexId,
    /// A quoted string; the quote character.
    Quoted(char),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Piece {
    Text(String),
    Masked(Mask),
}

/// A message with its variable parts masked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// The field the unit name came from, and its value.
    unit_field: &'static str,
    unit: String,
    template: Template,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub entries: u64,
    pub first_usec: Option<u64>,
    pub last_usec: Option<u64>,
    counts: HashMap<Key, u64>,
    /// Alerts beyond [`MAX_TEMPLATES`] distinct templates.
    uncounted: u64,
    /// Per `[expect]` rule: entries it matched, the last one's time and
    /// the longest gap between two (what `within` must exceed).
    expects: Vec<Heard>,
}

#[derive(Debug, Default, Clone)]
struct Heard {
    matched: u64,
    last_usec: Option<u64>,
    longest_gap_usec: u64,
}

impl Stats {
    pub fn entry(&mut self, usec: u64) {
        self.entries += 1;
        self.first_usec.get_or_insert(usec);
        self.last_usec = Some(usec);
    }

    /// An alerting entry.
    pub fn alert(&mut self, entry: &mut dyn Fields) {
        let (unit_field, unit) = UNIT_FIELDS
            .iter()
            .find_map(|&f| {
                entry
                    .field(f)
                    .map(|v| (f, String::from_utf8_lossy(v).into_owned()))
            })
            .unwrap_or(("_COMM", String::new()));
        let message = entry
            .field("MESSAGE")
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_default();
        let key = Key {
            unit_field,
            unit,
            template: template(&message),
        };
        if let Some(n) = self.counts.get_mut(&key) {
            *n += 1;
        } else if self.counts.len() < MAX_TEMPLATES {
            self.counts.insert(key, 1);
        } else {
            self.uncounted += 1;
        }
    }

    /// The report; `hits` and `silenced` per rule as the engine counted.
    /// An entry at `usec` matched `[expect]` rule `rule`.
    pub fn expected(&mut self, rule: usize, usec: u64) {
        if self.expects.len() <= rule {
            self.expects.resize(rule + 1, Heard::default());
        }
        let h = &mut self.expects[rule];
        h.matched += 1;
        if let Some(last) = h.last_usec {
            h.longest_gap_usec = h.longest_gap_usec.max(usec.saturating_sub(last));
        }
        h.last_usec = Some(h.last_usec.map_or(usec, |l| l.max(usec)));
    }

    pub fn report(
        &self,
        rules: &Rules,
        hits: &[u64],
        silenced: &[u64],
        time: &dyn Fn(u64) -> String,
    ) -> String {
        let mut r = String::new();
        let span = match (self.first_usec, self.last_usec) {
            (Some(a), Some(b)) => format!(", from {} to {}", time(a), time(b)),
            _ => String::new(),
        };
        let _ = writeln!(r, "entries read: {}{span}", self.entries);
        let _ = writeln!(r, "\n[match] rules, entries each one held:");
        for (rule, n) in rules.matches.iter().zip(hits) {
            let _ = writeln!(r, "{n:>10}  {}", shown(rule));
        }
        let _ = writeln!(r, "\n[ignore] rules, alerts each one silenced:");
        for (rule, n) in rules.ignores.iter().zip(silenced) {
            let _ = writeln!(r, "{n:>10}  {}", shown(rule));
        }
        let heard = |i: usize| self.expects.get(i).cloned().unwrap_or_default();
        if !rules.expects.is_empty() {
            let _ = writeln!(
                r,
                "\n[expect] rules, entries each one matched, the longest gap between two, the last:"
            );
            for (i, rule) in rules.expects.iter().enumerate() {
                let h = heard(i);
                let last = h.last_usec.map_or("never".to_string(), time);
                let _ = writeln!(
                    r,
                    "{:>10}  {}: longest gap {}, last {last}",
                    h.matched,
                    shown(rule),
                    crate::mail::duration(h.longest_gap_usec)
                );
            }
        }
        let expect_counts: Vec<u64> = (0..rules.expects.len()).map(|i| heard(i).matched).collect();
        let never: Vec<String> = (rules.matches.iter().zip(hits))
            .chain(rules.ignores.iter().zip(silenced))
            .chain(rules.expects.iter().zip(&expect_counts))
            .filter(|(_, &n)| n == 0)
            .map(|(rule, _)| shown(rule))
            .collect();
        let _ = writeln!(r, "\nrules that never held ({}; a typo?):", never.len());
        for rule in never {
            let _ = writeln!(r, "  {rule}");
        }
        let mut top: Vec<(&Key, &u64)> = self.counts.iter().collect();
        // By count, then by text: the same journal gives the same report.
        top.sort_unstable_by(|a, b| {
            b.1.cmp(a.1)
                .then_with(|| a.0.unit.cmp(&b.0.unit))
                .then_with(|| shown_template(&a.0.template).cmp(&shown_template(&b.0.template)))
        });
        let alerts: u64 = self.counts.values().sum::<u64>() + self.uncounted;
        let _ = writeln!(
            r,
            "\nalerts: {alerts}, in {} templates; the {} most frequent, each with an [ignore] block that silences exactly it:",
            self.counts.len(),
            top.len().min(TOP)
        );
        for (key, n) in top.into_iter().take(TOP) {
            let _ = writeln!(
                r,
                "\n# {n} alerts from {}: {}",
                crate::mail::visible(&key.unit),
                crate::mail::visible(&shown_template(&key.template))
            );
            r.push_str(&ignore_block(key));
            r.push('\n');
        }
        r
    }
}

fn shown(rule: &crate::rules::Rule) -> String {
    match &rule.name {
        Some(name) => format!("{name} ({})", rule.origin),
        None => rule.origin.to_string(),
    }
}

/// `[ignore]` lines, ending in a blank line.
fn ignore_block(key: &Key) -> String {
    let unit = if needs_regex(&key.unit) {
        format!("{} ~ ^{}$", key.unit_field, escape(&key.unit))
    } else {
        format!("{} == {}", key.unit_field, key.unit)
    };
    format!(
        "[ignore]\n{unit}\nMESSAGE ~ ^{}$\n",
        template_regex(&key.template)
    )
}

/// A value that `==` cannot carry on a config line: blanks at its ends
/// (values are trimmed), control characters, a NUL.
fn needs_regex(v: &str) -> bool {
    v.is_empty() || v.trim() != v || v.chars().any(char::is_control)
}

/// The message with its variable parts masked.
pub fn template(message: &str) -> Template {
    let chars: Vec<char> = message.chars().collect();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        // Tokens start where a word does: never inside one.
        let starts_token = i == 0 || !is_word(chars[i - 1]);
        if starts_token {
            if let Some((mask, len)) = token_at(&chars[i..], i > 0 && chars[i - 1] == '.') {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Masked(mask));
                i += len;
                continue;
            }
        }
        // A word that is not masked is copied whole, a non-word char alone.
        let end = if is_word(chars[i]) {
            i + chars[i..].iter().take_while(|c| is_word(**c)).count()
        } else {
            i + 1
        };
        text.extend(&chars[i..end]);
        i = end;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Template(pieces)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

/// The masked token at the start of `s` and its length in chars, if one
/// is there. `after_dot`: the char before is a `.` (no IPv4 address then:
/// it would be the tail of a longer dotted number).
fn token_at(s: &[char], after_dot: bool) -> Option<(Mask, usize)> {
    let c = *s.first()?;
    if c == '"' || c == '\'' {
        let end = s[1..].iter().position(|&x| x == c)? + 2;
        return s
            .get(end)
            .is_none_or(|&n| !is_word(n))
            .then_some((Mask::Quoted(c), end));
    }
    if let Some(len) = hex_id_len(s) {
        return Some((Mask::HexId, len));
    }
    if let Some(len) = ipv4_len(s).filter(|_| !after_dot) {
        return Some((Mask::Ipv4, len));
    }
    let end = s.iter().take_while(|c| is_word(**c)).count();
    let word = &s[..end];
    if !word.is_empty() && word.iter().all(char::is_ascii_digit) {
        return Some((Mask::Number, end));
    }
    is_hex(word).then_some((Mask::Hex, end))
}

/// `0x` and hex digits, or lower-case hex digits with at least one digit
/// and one letter (`a` to `f`): a pointer, a hash, an id.
fn is_hex(w: &[char]) -> bool {
    if let (Some('0'), Some('x' | 'X')) = (w.first(), w.get(1)) {
        return w.len() > 2 && w[2..].iter().all(char::is_ascii_hexdigit);
    }
    w.iter()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(c))
        && w.iter().any(char::is_ascii_digit)
        && w.iter().any(|c| c.is_ascii_alphabetic())
}

/// Two or more words of hex digits joined by `-`: a UUID, a date, an id.
/// One class for all of them: a UUID's regex would also match the
/// dashed ids around it, and then a block would silence more than its
/// own template.
fn hex_id_len(s: &[char]) -> Option<usize> {
    // A whole word of hex digits, `0x` allowed: no letter or digit after.
    let group = |at: usize| {
        let rest = s.get(at..)?;
        let prefix = match rest {
            ['0', 'x' | 'X', ..] => 2,
            _ => 0,
        };
        let n = rest[prefix..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        let end = at + prefix + n;
        (n > 0 && s.get(end).is_none_or(|&c| !is_word(c))).then_some(prefix + n)
    };
    let mut at = group(0)?;
    let mut groups = 1;
    while s.get(at) == Some(&'-') {
        let Some(n) = group(at + 1) else { break };
        at += 1 + n;
        groups += 1;
    }
    (groups >= 2).then_some(at)
}

/// Four runs of digits joined by dots, a whole word, not followed by a
/// further `.digit` (then it is some longer dotted number) or a `-`.
fn ipv4_len(s: &[char]) -> Option<usize> {
    let mut at = 0;
    for i in 0..4 {
        if i > 0 {
            (s.get(at) == Some(&'.')).then_some(())?;
            at += 1;
        }
        let digits = s
            .get(at..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        (digits > 0).then_some(())?;
        at += digits;
    }
    // Nor followed by `-`: `1.2.3.4-ab` ends in a dashed id.
    let longer = s.get(at) == Some(&'-')
        || s.get(at) == Some(&'.') && s.get(at + 1).is_some_and(char::is_ascii_digit);
    (s.get(at).is_none_or(|&c| !is_word(c)) && !longer).then_some(at)
}

/// The template as a person reads it: `<N>`, `<HEX>`, `<IP>`, `<ID>`
/// (UUIDs, dates and other dashed hex ids), `"<Q>"`.
pub fn shown_template(t: &Template) -> String {
    let mut s = String::new();
    for piece in &t.0 {
        match piece {
            Piece::Text(text) => s.push_str(text),
            Piece::Masked(Mask::Number) => s.push_str("<N>"),
            Piece::Masked(Mask::Hex) => s.push_str("<HEX>"),
            Piece::Masked(Mask::Ipv4) => s.push_str("<IP>"),
            Piece::Masked(Mask::HexId) => s.push_str("<ID>"),
            Piece::Masked(Mask::Quoted(q)) => {
                s.push(*q);
                s.push_str("<Q>");
                s.push(*q);
            }
        }
    }
    s
}

/// A regex (without anchors) that matches exactly the messages of this
/// template. Each class matches only what [`template`] masks as it, and
/// (whole tokens being masked) never a part of a longer word.
pub fn template_regex(t: &Template) -> String {
    let mut r = String::new();
    for piece in &t.0 {
        match piece {
            Piece::Text(text) => r.push_str(&escape(text)),
            Piece::Masked(Mask::Number) => r.push_str("[0-9]+"),
            Piece::Masked(Mask::Hex) => r.push_str(
                "(?:0[xX][0-9a-fA-F]+|[0-9a-f]*(?:[0-9][0-9a-f]*[a-f]|[a-f][0-9a-f]*[0-9])[0-9a-f]*)",
            ),
            Piece::Masked(Mask::Ipv4) => r.push_str("[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+"),
            Piece::Masked(Mask::HexId) => {
                r.push_str("(?:0[xX])?[0-9a-fA-F]+(?:-(?:0[xX])?[0-9a-fA-F]+)+")
            }
            Piece::Masked(Mask::Quoted(q)) => {
                let q = escape(&q.to_string());
                let _ = write!(r, "{q}[^{q}]*{q}");
            }
        }
    }
    r
}

/// `text` as a regex-lite literal on one config line: its meta characters
/// escaped (not `<` and `>`, which `\` would turn into word boundaries),
/// control characters as `\x{..}`.
fn escape(text: &str) -> String {
    let mut r = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            r.push('\\');
            r.push(c);
        } else if c.is_control() {
            let _ = write!(r, "\\x{{{:x}}}", c as u32);
        } else {
            r.push(c);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_lite::Regex;

    fn t(s: &str) -> String {
        shown_template(&template(s))
    }

    #[test]
    fn variable_parts_are_masked() {
        assert_eq!(
            t("Failed password for root from 10.0.0.7 port 50522 ssh2"),
            "Failed password for root from <IP> port <N> ssh2"
        );
        assert_eq!(
            t("session 1a2b3c4d opened, id 0xDEADbeef, uuid 0f8fad5b-d9cb-469f-a165-70867728950e"),
            "session <HEX> opened, id <HEX>, uuid <ID>"
        );
        assert_eq!(
            t("can't open 'x y' or \"z\""),
            "can't open '<Q>' or \"<Q>\""
        );
        assert_eq!(
            t("sda1 ext4 face dead1 1.2.3.4.5 1234.1.1.1"),
            "sda1 ext4 face <HEX> <N>.<N>.<N>.<N>.<N> <IP>"
        );
        assert_eq!(t("v1.2.3 at 12:30:01"), "v1.<N>.<N> at <N>:<N>:<N>");
        assert_eq!(t(""), "");
    }

    /// The property `--stats` promises: the block's regex matches a
    /// message exactly when its template is this one.
    #[test]
    fn a_template_regex_matches_exactly_its_own_template() {
        let seed = crate::testing::seed("template test");
        let mut rng = crate::testing::Rng::new(seed);
        let pieces = [
            "a",
            "b1",
            "12",
            "ab12",
            "0x1F",
            "dead",
            "beef9",
            " ",
            ".",
            ":",
            "-",
            "-",
            "'",
            "\"",
            "x y",
            "g",
            "10.0.0.1",
            "1.2.3",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "é",
            "[",
            "(",
            "+",
            "\t",
            "<",
        ];
        let messages: Vec<String> = (0..3000)
            .map(|_| (0..rng.below(8)).map(|_| *rng.pick(&pieces)).collect())
            .collect();
        let templates: Vec<Template> = messages.iter().map(|m| template(m)).collect();
        for (i, tpl) in templates.iter().enumerate().take(300) {
            let re = Regex::new(&format!("^{}$", template_regex(tpl))).unwrap();
            for (m, other) in messages.iter().zip(&templates) {
                assert_eq!(
                    re.is_match(m),
                    other == tpl,
                    "seed {seed}: template {:?} of {:?} vs message {m:?} ({:?})",
                    shown_template(tpl),
                    messages[i],
                    shown_template(other)
                );
            }
        }
    }

    #[test]
    fn ignore_blocks_use_the_unit_field_and_survive_a_config_line() {
        let key = Key {
            unit_field: "_SYSTEMD_UNIT",
            unit: "ssh.service".into(),
            template: template("Failed password for root from 10.0.0.7 port 22 # x\\y"),
        };
        let block = ignore_block(&key);
        assert_eq!(
            block,
            "[ignore]\n_SYSTEMD_UNIT == ssh.service\nMESSAGE ~ ^Failed password for root from [0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+ port [0-9]+ \\# x\\\\y$\n"
        );
        let text = format!("[match]\nMESSAGE = x\n{block}");
        let c = crate::config::Config::parse(std::path::Path::new("t.conf"), text.as_bytes())
            .expect("the block parses");
        assert_eq!(c.rules.ignores.len(), 1);
        let odd = Key {
            unit_field: "SYSLOG_IDENTIFIER",
            unit: " odd\n".into(),
            template: template("x"),
        };
        assert!(ignore_block(&odd).contains("SYSLOG_IDENTIFIER ~ ^ odd\\x{a}$"));
    }

    #[test]
    fn expect_rules_report_matches_their_longest_gap_and_never() {
        let c = crate::config::Config::parse(
            std::path::Path::new("t.conf"),
            b"[expect]\nname = backup\nMESSAGE = done\nwithin = 1d\n[expect]\nname = typo\nMESSAGE = dnoe\nwithin = 1d\n",
        )
        .expect("valid");
        let mut s = Stats::default();
        let h = 3_600_000_000;
        for t in [0, 24 * h, 49 * h, 73 * h] {
            s.entry(t);
            s.expected(0, t);
        }
        let report = s.report(&c.rules, &[], &[], &|t| format!("T{}", t / h));
        assert!(
            report.contains("         4  backup (t.conf:1): longest gap 1d 1h, last T73\n"),
            "{report}"
        );
        assert!(
            report.contains("         0  typo (t.conf:5): longest gap 0s, last never\n"),
            "{report}"
        );
        assert!(
            report.contains("rules that never held (1; a typo?):\n  typo (t.conf:5)\n"),
            "{report}"
        );
    }
}
