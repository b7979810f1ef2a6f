//! The properties the fuzz targets in `fuzz/` check, as plain functions of
//! the fuzzer's bytes: each one panics when its property fails. They live
//! here, not in the fuzz crate, so that `cargo test` replays every input a
//! fuzzer ever found (`fuzz/regressions/TARGET/`) and the seeds
//! (`fuzz/seeds/TARGET/`) through the very same check, with no fuzzer.
//! The binary compiles this file for tests only; the fuzz crate compiles it
//! and the modules it needs straight from `src/` (`fuzz/src/lib.rs`).
//!
//! Where a target needs several values, they are cut from the bytes at
//! 0xFF, a byte that never occurs in UTF-8 text, so every field can still
//! hold any text (or, decoded lossily as journal fields are, any bytes).

use crate::batch::{Alert, Pending};
use crate::cli::{self, Since};
use crate::config::Config;
use crate::prescreen::Prescreen;
use crate::rules::Test;
use crate::state::{self, Position, State};
use crate::sys::LocalTime;
use std::path::Path;

/// A property of the fuzzer's bytes: returns, or panics.
pub type Check = fn(&[u8]);

/// Every target, by the name of its fuzz target and directories.
pub const TARGETS: [(&str, Check); 5] = [
    ("config", config),
    ("mail", mail),
    ("prescreen", prescreen),
    ("state", state),
    ("since", since),
];

const CONFIG_PATH: &str = "fuzz.conf";
/// RFC 5322 2.1.1: a line is at most 998 characters, CRLF excluded.
const MAX_MAIL_LINE: usize = 998;
/// RFC 2047 2: an encoded word is at most 75 characters.
const MAX_ENCODED_WORD: usize = 75;
/// Alerts in one fuzzed mail: enough for folding and a many-unit subject.
const MAX_ALERTS: usize = 24;

fn fields(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == 0xff)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Any bytes as `logmon.conf`: no panic; on failure every error reads
/// `FILE:LINE: message` on one line, LINE within the input. The one error
/// about the whole file, a config without any `[match]` rule, has no line
/// to name and comes only when nothing else is wrong.
pub fn config(data: &[u8]) {
    let lines = data.split(|&b| b == b'\n').count();
    let errors = match Config::parse(Path::new(CONFIG_PATH), data) {
        Ok(c) => {
            assert!(
                !c.rules.matches.is_empty(),
                "a config without [match] parsed"
            );
            let _ = c.summary();
            return;
        }
        Err(errors) => errors,
    };
    assert!(!errors.is_empty(), "failed without an error");
    for e in &errors {
        assert!(!e.contains('\n'), "error spans lines: {e:?}");
        let rest = e
            .strip_prefix(CONFIG_PATH)
            .and_then(|r| r.strip_prefix(':'))
            .unwrap_or_else(|| panic!("error does not start with the file: {e:?}"));
        if rest == " no [match] or [expect] rule: logmon would never alert" {
            assert_eq!(errors.len(), 1, "{errors:?}");
            continue;
        }
        let (n, msg) = rest
            .split_once(": ")
            .unwrap_or_else(|| panic!("error without 'LINE: ': {e:?}"));
        let n: usize = n
            .parse()
            .unwrap_or_else(|_| panic!("error without a line number: {e:?}"));
        assert!((1..=lines).contains(&n), "line {n} of {lines}: {e:?}");
        assert!(!msg.is_empty(), "empty message: {e:?}");
    }
}

/// A mail from arbitrary alert fields. Fields: `to` and `from` as the
/// config's `[mail]` values (what the grammar refuses leaves the default),
/// a notice (none when empty), then unit, host, message, pid per alert.
/// The message must be a header block of exactly logmon's headers, in its
/// order, with the configured addresses, a subject that decodes (RFC 2047,
/// each word whole UTF-8) to the composed one, a body of one line per
/// alert, no line over 998 bytes, and no control character but LF and TAB.
pub fn mail(data: &[u8]) {
    let mut f = fields(data);
    let to = lossy(f.next().unwrap_or_default());
    let from = lossy(f.next().unwrap_or_default());
    let (to, from) = mail_addresses(&to, &from);
    let mut pending = Pending::default();
    let notice = lossy(f.next().unwrap_or_default());
    if !notice.is_empty() {
        pending.add_notice(notice);
    }
    let rest: Vec<&[u8]> = f.collect();
    for (i, a) in rest.chunks(4).take(MAX_ALERTS).enumerate() {
        let field = |k: usize| lossy(a.get(k).copied().unwrap_or_default());
        pending.add(Alert {
            time_usec: i as u64 * 1_000_000,
            unit: field(0),
            host: field(1),
            message: field(2),
            pid: field(3),
            rule: 0,
            message_id: None,
            context: Vec::new(),
        });
    }
    if pending.is_empty() {
        pending.add(Alert {
            time_usec: 0,
            unit: "x.service".into(),
            host: "h".into(),
            message: "m".into(),
            pid: String::new(),
            rule: 0,
            message_id: None,
            context: Vec::new(),
        });
    }
    let date = "Thu, 1 Jan 1970 00:00:00 +0000";
    let time = |usec: u64| format!("1970-01-01 00:00:{:02}", usec / 1_000_000 % 60);
    let message = crate::mail::compose(&pending, &from, &to, date, &time, &context());
    check_message(&message, &pending, &to, &from, date, &time);
    check_mbox(&message);
}

/// The one rule the fuzzed alerts belong to.
const RULE: &str = "fuzz rule";

fn context() -> crate::mail::Context<'static> {
    static RULES: std::sync::OnceLock<Vec<crate::mail::RuleInfo>> = std::sync::OnceLock::new();
    crate::mail::Context {
        rules: RULES.get_or_init(|| {
            vec![crate::mail::RuleInfo {
                label: RULE.into(),
                origin: "fuzz.conf:1".into(),
                tag: None,
            }]
        }),
        config: "/etc/logmon.conf",
    }
}

/// The recipients and sender a config with these `[mail]` values has.
fn mail_addresses(to: &str, from: &str) -> (Vec<String>, String) {
    let text = format!("[mail]\nto = {to}\nfrom = {from}\n[match]\nMESSAGE = x\n");
    match Config::parse(Path::new(CONFIG_PATH), text.as_bytes()) {
        Ok(c) => (c.mail.to, c.mail.from),
        Err(_) => (vec!["root".into()], "logmon".into()),
    }
}

fn check_message(
    m: &str,
    pending: &Pending,
    to: &[String],
    from: &str,
    date: &str,
    time: &dyn Fn(u64) -> String,
) {
    assert!(m.ends_with('\n'), "no final newline");
    for line in m.split_terminator('\n') {
        assert!(line.len() <= MAX_MAIL_LINE, "line of {} bytes", line.len());
    }
    if let Some(c) = m
        .chars()
        .find(|&c| c.is_control() && c != '\n' && c != '\t')
    {
        panic!("control character {c:?} in the message");
    }
    let (head, body) = m
        .split_once("\n\n")
        .expect("no blank line after the headers");
    let headers = unfold(head);
    let mut names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    // X-Logmon-Rules (after Date) comes with alerts, from the config's
    // rule names only: checked, then set aside.
    if pending.total > 0 {
        assert_eq!(names.get(4), Some(&"X-Logmon-Rules"), "headers {names:?}");
        assert_eq!(headers[4].1, format!(" {RULE}"), "X-Logmon-Rules:");
        names.remove(4);
    }
    let headers: Vec<(String, String)> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| pending.total == 0 || *i != 4)
        .map(|(_, h)| h.clone())
        .collect();
    assert_eq!(
        names,
        [
            "From",
            "To",
            "Subject",
            "Date",
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding",
            "Auto-Submitted"
        ],
        "headers"
    );
    let value = |i: usize| {
        let v = &headers[i].1;
        v.strip_prefix(' ')
            .unwrap_or_else(|| panic!("no blank after {}:", headers[i].0))
    };
    assert_eq!(value(0), from, "From:");
    assert!(is_addr_spec(from), "From: {from:?} reads as something else");
    let listed: Vec<&str> = value(1).split(',').map(str::trim).collect();
    assert_eq!(listed, to, "To:");
    for a in to {
        assert!(is_addr_spec(a), "To: {a:?} reads as something else");
    }
    check_subject(value(2), &crate::mail::subject(pending, &context()));
    assert_eq!(value(3), date);
    assert_eq!(value(4), "1.0");
    assert_eq!(value(5), "text/plain; charset=utf-8");
    assert_eq!(value(6), "8bit");
    assert_eq!(value(7), "auto-generated");
    check_body(body, pending, time);
}

/// Header lines as (name, value), continuation lines joined (RFC 5322
/// 2.2.3: unfolding removes the line break only).
fn unfold(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split('\n') {
        if line.starts_with([' ', '\t']) {
            assert!(!line.trim().is_empty(), "a header line of only blanks");
            let last = headers.last_mut().expect("a continuation line first");
            last.1.push_str(line);
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("not a header line: {line:?}"));
        // RFC 5322 2.2: printable US-ASCII except the colon.
        assert!(
            !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b)),
            "bad header name {name:?}"
        );
        headers.push((name.to_string(), value.to_string()));
    }
    headers
}

/// Whether a reader of the header takes `a` for exactly this one address:
/// an RFC 5322 dot-atom, optionally `@` another (3.4.1 addr-spec without
/// quoted strings or domain literals; the domain may be left to the MTA).
/// Anything else (`a(b)`, `x:`, `a..b`, `a@b@c`) parses as a comment, a
/// group or not at all. Non-ASCII is atext too (RFC 6532), except what the
/// header cannot show (blanks, controls, invisible characters).
fn is_addr_spec(a: &str) -> bool {
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~".contains(c)
            || !(c.is_ascii()
                || c.is_whitespace()
                || c.is_control()
                || crate::mail::is_invisible(c))
    };
    let dot_atom = |s: &str| s.split('.').all(|w| !w.is_empty() && w.chars().all(atext));
    let parts: Vec<&str> = a.split('@').collect();
    parts.len() <= 2 && parts.iter().all(|p| dot_atom(p))
}

/// `raw` is plain ASCII without `=?`, or encoded words only, each whole
/// UTF-8; what it shows is `composed` with controls as blanks and at most
/// invisible characters replaced by U+FFFD.
fn check_subject(raw: &str, composed: &str) {
    assert!(raw.is_ascii(), "8-bit Subject: {raw:?}");
    let shown = if raw.contains("=?") {
        let mut text = String::new();
        for word in raw.split([' ', '\t']).filter(|w| !w.is_empty()) {
            assert!(word.len() <= MAX_ENCODED_WORD, "encoded word too long");
            let b64 = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap_or_else(|| panic!("not an encoded word: {word:?} in {raw:?}"));
            let bytes = base64_decode(b64).unwrap_or_else(|| panic!("bad base64 {b64:?}"));
            let part = std::str::from_utf8(&bytes)
                .unwrap_or_else(|_| panic!("encoded word {word:?} is not whole UTF-8"));
            text.push_str(part);
        }
        text
    } else {
        raw.to_string()
    };
    let (s, c): (Vec<char>, Vec<char>) = (shown.chars().collect(), composed.chars().collect());
    assert_eq!(s.len(), c.len(), "Subject {shown:?} is not {composed:?}");
    for (&s, &c) in s.iter().zip(&c) {
        let ok = s == c
            || (s == ' ' && (c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')))
            || (s == '\u{fffd}' && !c.is_ascii());
        assert!(
            ok,
            "Subject shows {s:?} for {c:?}: {shown:?} vs {composed:?}"
        );
    }
}

/// Notices, the count line, then one line per alert line, each starting
/// with its time: a field can neither add a line nor hide one.
fn check_body(body: &str, pending: &Pending, time: &dyn Fn(u64) -> String) {
    let lines: Vec<&str> = body.split_terminator('\n').collect();
    let mut expected = 0;
    if !pending.notices().is_empty() {
        assert_eq!(lines[0], "logmon itself has a problem:");
        expected += pending.notices().len() + 2;
    }
    if pending.total > 1 {
        expected += 2;
    }
    assert!(pending.overflow().is_empty(), "fuzzed mails stay small");
    // With alerts: one `== RULE` group header before them, and the footer
    // after them (a blank line, `-- `, two lines of advice, the rule).
    let (header, footer) = if pending.total > 0 { (1, 5) } else { (0, 0) };
    if header > 0 {
        assert_eq!(
            lines.get(expected).copied(),
            Some("== fuzz rule (fuzz.conf:1)"),
            "{body:?}"
        );
    }
    expected += header;
    let alert_lines = &lines[expected.min(lines.len())..];
    assert_eq!(
        lines.len(),
        expected + pending.lines().len() + footer,
        "body lines: {body:?}"
    );
    if footer > 0 {
        assert_eq!(lines[lines.len() - 4], "-- ", "{body:?}");
    }
    for (shown, line) in alert_lines.iter().zip(pending.lines()) {
        let t = time(line.first.time_usec);
        assert!(shown.starts_with(&format!("{t} ")), "line {shown:?}");
    }
}

/// The `--dry-run` form: only the envelope line starts with `From `.
fn check_mbox(message: &str) {
    let t = LocalTime {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        weekday: 4,
        utc_offset: 0,
    };
    let entry = crate::mail::mbox_entry(message, &t);
    let starts = entry.lines().filter(|l| l.starts_with("From ")).count();
    assert_eq!(starts, 1, "mbox entry: {entry:?}");
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if s.len() % 4 != 0 {
        return None;
    }
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for b in body.bytes() {
        let v = ALPHABET.iter().position(|&a| a == b)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero, or two texts would share an encoding.
    (acc == 0).then_some(out)
}

/// A pattern regex-lite accepts and a haystack, cut at the first 0xFF:
/// where the regex matches, the prescreen (alone, and in the rule test
/// the config builds) never says no.
pub fn prescreen(data: &[u8]) {
    let cut = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let Ok(pattern) = std::str::from_utf8(&data[..cut]) else {
        return;
    };
    let hay = data.get(cut + 1..).unwrap_or_default();
    let Ok(re) = regex_lite::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .nest_limit(64)
        .build()
    else {
        return;
    };
    let truth = re.is_match(&String::from_utf8_lossy(hay));
    if let Some(p) = Prescreen::from_pattern(pattern) {
        assert!(
            !truth || p.may_match(hay),
            "prescreen of {pattern:?} says no, the regex matches {:?}",
            String::from_utf8_lossy(hay)
        );
        // A random haystack rarely matches: also try the pattern's own
        // words put into it, plainly and in upper case. The regex decides
        // which of them match; a wrong guess here only tests less.
        for word in pattern_words(pattern) {
            for word in [word.clone(), word.to_ascii_uppercase()] {
                let mid = hay.len() / 2;
                let with = [&hay[..mid], word.as_bytes(), &hay[mid..]].concat();
                if re.is_match(&String::from_utf8_lossy(&with)) {
                    assert!(
                        p.may_match(&with),
                        "prescreen of {pattern:?} misses {with:?}"
                    );
                }
            }
        }
    }
    assert_eq!(
        Test::regex(re).holds(Some(hay)),
        truth,
        "rule test of {pattern:?}"
    );
}

/// The alternatives of a pattern without its groups, flags and escapes:
/// what a literal alternation matches.
fn pattern_words(pattern: &str) -> Vec<String> {
    let rest = pattern.strip_prefix("(?i)").unwrap_or(pattern);
    let rest = rest.strip_prefix("(?:").unwrap_or(rest);
    let mut words = vec![String::new()];
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        let Some(word) = words.last_mut() else {
            break;
        };
        match c {
            '\\' => word.extend(chars.next()),
            '|' => words.push(String::new()),
            '(' | ')' => {}
            c => word.push(c),
        }
    }
    words
}

/// The state file format, both ways. Bytes that decode encode to a text
/// that decodes to the same state (encode(decode(x)) == x holds only for
/// the canonical text: format 1, unknown line types, leading zeros and
/// line order all decode too). And the bytes read as a state (first byte:
/// position kind and whether a time follows; then 8 bytes of time; the rest
/// a cursor) encode exactly when the cursor is one, and decode back to it.
pub fn state(data: &[u8]) {
    if let Ok(s) = state::decode(data) {
        let text =
            state::encode(&s).unwrap_or_else(|e| panic!("decoded {s:?} does not encode: {e}"));
        assert_eq!(state::decode(text.as_bytes()), Ok(s.clone()), "{text:?}");
    }
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let (usec, rest) = match rest.split_first_chunk::<8>() {
        Some((t, rest)) if kind & 4 != 0 => (Some(u64::from_le_bytes(*t)), rest),
        _ => (None, rest),
    };
    let cursor = lossy(rest);
    let is_cursor = state::is_cursor(&cursor);
    // An [expect] clock named by the same bytes: labels and host names
    // are anything a config or a journal holds.
    let expects = if kind & 8 != 0 {
        vec![crate::expect::Clock {
            rule: cursor.clone(),
            host: cursor.chars().rev().collect(),
            since_usec: usec.unwrap_or(0),
            seen: kind & 16 != 0,
            missing: None,
        }]
    } else {
        Vec::new()
    };
    let position = match kind % 4 {
        0 => Position::Head,
        1 => Position::At(cursor),
        _ => Position::After(cursor),
    };
    let needs_cursor = position != Position::Head;
    let s = State {
        position,
        position_usec: usec,
        expects,
    };
    match state::encode(&s) {
        Ok(text) => {
            assert!(!needs_cursor || is_cursor, "encoded a non-cursor: {text:?}");
            assert_eq!(state::decode(text.as_bytes()), Ok(s), "{text:?}");
        }
        Err(e) => assert!(needs_cursor && !is_cursor, "refused {s:?}: {e}"),
    }
}

/// `--since` text: no panic; what parses prints (in its plainest form)
/// to a text that parses to the same. The bytes cut at NUL as a whole
/// command line: no panic.
pub fn since(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(when) = cli::parse_since(text) {
            let shown = since_text(&when);
            assert_eq!(cli::parse_since(&shown), Ok(when), "{text:?} as {shown:?}");
        }
    }
    let args = data.split(|&b| b == 0).map(lossy);
    let _ = cli::parse(args);
}

fn since_text(when: &Since) -> String {
    match when {
        Since::Tail => "tail".into(),
        Since::Cursor => "cursor".into(),
        Since::Boot => "boot".into(),
        Since::Ago(secs) => format!("-{secs}s"),
        Since::At(y, mo, d, h, mi, s) => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::panic::catch_unwind;
    use std::path::PathBuf;

    fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind)
            .join(target);
        let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(d) => d.map(|e| e.expect("reading fuzz inputs").path()).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    }

    /// Every input the fuzzers found (and every seed) passes its check
    /// now; a failure names the file.
    #[test]
    fn replay_fuzz_regressions_and_seeds() {
        let mut failed = Vec::new();
        let mut replayed = 0;
        for (target, check) in TARGETS {
            for kind in ["regressions", "seeds"] {
                for file in inputs(kind, target) {
                    let data = fs::read(&file).expect("reading a fuzz input");
                    if catch_unwind(|| check(&data)).is_err() {
                        failed.push(file.display().to_string());
                    }
                    replayed += 1;
                }
            }
        }
        assert!(failed.is_empty(), "fuzz inputs that fail: {failed:?}");
        assert!(replayed > 0, "no fuzz inputs found under fuzz/");
    }

    /// The checks catch what they are for (each would pass vacuously if
    /// they could not).
    #[test]
    fn the_checks_can_fail() {
        assert!(catch_unwind(|| check_subject("=?UTF-8?B?w6k?=", "x")).is_err());
        assert!(catch_unwind(|| check_subject("=?UTF-8?B?ww==?=", "\u{e9}")).is_err());
        check_subject("=?UTF-8?B?w6k=?=", "\u{e9}");
        check_subject("a  b", "a\n\rb");
        assert!(catch_unwind(|| unfold("From: a\n \nTo: b")).is_err());
        assert!(catch_unwind(|| unfold("From: a\nX-Injected")).is_err());
        assert_eq!(unfold("A: b\n c").len(), 1);
        assert_eq!(base64_decode("w6k="), Some(vec![0xc3, 0xa9]));
        assert_eq!(base64_decode("w6l="), None);
        assert_eq!(pattern_words("(?i)(a\\.b|c)"), ["a.b", "c"]);
        for good in [
            "root",
            "a.b+c@example.org",
            "j\u{e9}r\u{f4}me@h\u{f4}te",
            "=?x?=",
        ] {
            assert!(is_addr_spec(good), "{good}");
        }
        for bad in [
            "a(b)",
            "x:",
            "a..b",
            ".a",
            "a.",
            "a@b@c",
            "@b",
            "a@",
            "[a]",
            "a\u{202e}",
        ] {
            assert!(!is_addr_spec(bad), "{bad}");
        }
        let message = "From: a\nTo: b\n\nFrom x\n";
        assert!(catch_unwind(|| check_mbox(message)).is_ok());
        assert_eq!(
            since_text(&Since::At(2026, 2, 3, 4, 5, 6)),
            "2026-02-03 04:05:06"
        );
    }
}
