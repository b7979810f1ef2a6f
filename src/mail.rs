//! Pure mail composition: subject, body and headers of an alert mail.
//!
//! Nothing from a log entry may add or break a header: header values lose
//! their control characters and non-ASCII is RFC 2047 encoded. Body lines
//! show control characters visibly (`\n`, `\x1b`) and are cut to stay below
//! the 998-byte line limit of RFC 5322, shortening host and unit before the
//! message, so the time and the start of the message always survive.

use crate::batch::{Alert, Pending};
use crate::sys::LocalTime;

/// Longest body line we write (RFC 5322 allows 998 bytes plus CRLF).
pub const MAX_LINE: usize = 990;
/// Subjects are cut to about this many characters before encoding.
pub const MAX_SUBJECT: usize = 200;
/// Host and unit names are cut to this many bytes when a line is too long.
const SHORT_NAME: usize = 40;

/// Turns a journal timestamp (µs since the epoch) into display text.
pub type TimeFormat<'a> = &'a dyn Fn(u64) -> String;

/// The whole message as handed to sendmail.
pub fn compose(
    pending: &Pending,
    from: &str,
    to: &[String],
    date: &str,
    time: TimeFormat,
) -> String {
    let mut m = String::new();
    m.push_str(&format!("From: {}\n", header_value(from)));
    m.push_str(&format!("To: {}\n", header_value(&to.join(", "))));
    m.push_str(&format!("Subject: {}\n", header_value(&subject(pending))));
    m.push_str(&format!("Date: {date}\n"));
    m.push_str("MIME-Version: 1.0\n");
    m.push_str("Content-Type: text/plain; charset=utf-8\n");
    m.push_str("Content-Transfer-Encoding: 8bit\n");
    m.push_str("Auto-Submitted: auto-generated\n\n");
    m.push_str(&body(pending, time));
    m
}

/// The script's subject for one alert; a count and the units for more.
pub fn subject(pending: &Pending) -> String {
    if pending.total == 0 {
        let first = pending.notices().first().map_or("", |(t, _)| t.as_str());
        return cut_chars(&format!("[logmon] {first}"), MAX_SUBJECT);
    }
    let (hosts, units) = pending.hosts_and_units();
    let on = hosts.join(", ");
    let s = if pending.total == 1 {
        format!("[ALERT] Error detected in {} on {}", units.join(""), on)
    } else {
        let mut listed = String::new();
        for (i, unit) in units.iter().enumerate() {
            let more = format!(" and {} more", units.len() - i);
            if !listed.is_empty()
                && listed.len() + unit.len() + more.len() + on.len() > MAX_SUBJECT - 30
            {
                listed.push_str(&more);
                break;
            }
            if !listed.is_empty() {
                listed.push_str(", ");
            }
            listed.push_str(unit);
        }
        format!("[ALERT] {} errors in {} on {}", pending.total, listed, on)
    };
    cut_chars(&s, MAX_SUBJECT)
}

/// One line per (folded) alert, then what overflowed, counted.
pub fn body(pending: &Pending, time: TimeFormat) -> String {
    let mut b = notices(pending);
    if pending.total > 1 {
        b.push_str(&format!("This mail reports {} alerts", pending.total));
        if pending.folded() > 0 {
            b.push_str(&format!(
                "; {} of them are folded into the lines below (repeats and summaries)",
                pending.folded()
            ));
        }
        b.push_str(".\n\n");
    }
    for line in pending.lines() {
        let suffix = if line.count > 1 {
            format!(
                " (repeated {} times, last at {})",
                line.count,
                time(line.last_usec)
            )
        } else {
            String::new()
        };
        b.push_str(&body_line(
            &line.first,
            &time(line.first.time_usec),
            &suffix,
        ));
        b.push('\n');
    }
    if !pending.overflow().is_empty() || pending.uncounted_groups > 0 {
        b.push_str("\nMore alerts than one mail lists line by line; these were counted:\n");
    }
    for o in pending.overflow() {
        b.push_str(&format!(
            "\n{} more from {} on {}, first and last:\n",
            o.count,
            visible(&o.unit),
            visible(&o.host)
        ));
        for a in [&o.first, &o.last] {
            b.push_str(&body_line(a, &time(a.time_usec), ""));
            b.push('\n');
        }
    }
    if pending.uncounted_groups > 0 {
        b.push_str(&format!(
            "\n{} more alerts from further units, not itemised.\n",
            pending.uncounted_groups
        ));
    }
    b
}

/// logmon's own problems (entries lost, a position it cannot save), first.
fn notices(pending: &Pending) -> String {
    let mut b = String::new();
    if pending.notices().is_empty() {
        return b;
    }
    b.push_str("logmon itself has a problem:\n");
    for (text, count) in pending.notices() {
        let times = if *count > 1 {
            format!(" ({count} times)")
        } else {
            String::new()
        };
        let line = format!("- {}{times}", visible(text));
        b.push_str(&line[..floor_char_boundary(&line, MAX_LINE)]);
        b.push('\n');
    }
    b.push('\n');
    b
}

/// `TIME HOST UNIT[PID]: MESSAGE SUFFIX`, at most [`MAX_LINE`] bytes.
pub fn body_line(a: &Alert, time: &str, suffix: &str) -> String {
    let mut host = visible(&a.host);
    let mut unit = visible(&a.unit);
    let pid = if a.pid.is_empty() {
        String::new()
    } else {
        format!("[{}]", cut_bytes(&visible(&a.pid), 20))
    };
    let message = visible(&a.message);
    let line =
        |host: &str, unit: &str, msg: &str| format!("{time} {host} {unit}{pid}: {msg}{suffix}");
    let full = line(&host, &unit, &message);
    if full.len() <= MAX_LINE {
        return full;
    }
    host = cut_bytes(&host, SHORT_NAME);
    unit = cut_bytes(&unit, SHORT_NAME);
    let fixed = line(&host, &unit, "").len();
    const MARK: &str = " [cut]";
    let room = MAX_LINE.saturating_sub(fixed + MARK.len());
    let cut = floor_char_boundary(&message, room);
    line(&host, &unit, &format!("{}{}", &message[..cut], MARK))
}

/// Control characters, line separators and bidi overrides made visible,
/// so hostile text cannot fake extra lines or reorder what is shown.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push('\\'),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            '\u{80}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A header value: control characters become blanks (nothing can start a
/// new header line) and non-ASCII text is RFC 2047 encoded, folded.
pub fn header_value(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    if clean.is_ascii() {
        return clean;
    }
    // 39 bytes of UTF-8 make 52 base64 characters: each encoded word stays
    // within RFC 2047's 75 characters and a folded line within 78.
    let mut words = Vec::new();
    let mut rest = clean.as_str();
    while !rest.is_empty() {
        let cut = floor_char_boundary(rest, 39).max(rest.chars().next().map_or(1, char::len_utf8));
        words.push(format!("=?UTF-8?B?{}?=", base64(&rest.as_bytes()[..cut])));
        rest = &rest[cut..];
    }
    words.join("\n ")
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// At most `max` bytes, with `...` when shortened.
fn cut_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    format!("{}...", &s[..floor_char_boundary(s, max.saturating_sub(3))])
}

fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(3)) {
        Some((i, _)) if s.chars().count() > max => format!("{}...", &s[..i]),
        _ => s.to_string(),
    }
}

/// `2026-11-26 22:34:29`: the time on a body line.
pub fn format_time(t: &LocalTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 5322 `Date:` value, e.g. `Thu, 26 Nov 2026 22:34:29 +0100`.
pub fn rfc5322_date(t: &LocalTime) -> String {
    let off = t.utc_offset / 60;
    let sign = if off < 0 { '-' } else { '+' };
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {}{:02}{:02}",
        DAYS[t.weekday as usize % 7],
        t.day,
        MONTHS[(t.month as usize + 11) % 12],
        t.year,
        t.hour,
        t.minute,
        t.second,
        sign,
        off.abs() / 60,
        off.abs() % 60
    )
}

/// One mbox entry for `--dry-run`: a `From ` line, the message with body
/// lines that start with `From ` quoted (mboxrd), and a blank line.
pub fn mbox_entry(message: &str, t: &LocalTime) -> String {
    let mut out = format!(
        "From logmon {} {} {:2} {:02}:{:02}:{:02} {}\n",
        DAYS[t.weekday as usize % 7],
        MONTHS[(t.month as usize + 11) % 12],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    );
    for line in message.lines() {
        if line.trim_start_matches('>').starts_with("From ") {
            out.push('>');
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(host: &str, unit: &str, message: &str) -> Alert {
        Alert {
            time_usec: 1_700_000_000_000_000,
            host: host.into(),
            unit: unit.into(),
            pid: "42".into(),
            message: message.into(),
        }
    }

    fn utc(usec: u64) -> String {
        format!("T{}", usec / 1_000_000)
    }

    fn one(a: Alert) -> Pending {
        let mut p = Pending::default();
        p.add(a);
        p
    }

    fn mail(p: &Pending) -> String {
        compose(
            p,
            "logmon",
            &["root".into()],
            "Thu, 1 Jan 2026 00:00:00 +0000",
            &utc,
        )
    }

    /// (header block, body) of a composed mail.
    fn split(m: &str) -> (&str, &str) {
        m.split_once("\n\n").expect("headers end with a blank line")
    }

    #[test]
    fn single_alert_keeps_the_script_subject_and_all_headers() {
        let m = mail(&one(alert("web1", "sshd.service", "auth failure")));
        let (headers, body) = split(&m);
        let expect = [
            "From: logmon",
            "To: root",
            "Subject: [ALERT] Error detected in sshd.service on web1",
            "Date: Thu, 1 Jan 2026 00:00:00 +0000",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "Auto-Submitted: auto-generated",
        ];
        assert_eq!(headers.lines().collect::<Vec<_>>(), expect);
        assert_eq!(body, "T1700000000 web1 sshd.service[42]: auth failure\n");
    }

    #[test]
    fn batch_subject_counts_and_names_units() {
        let mut p = Pending::default();
        for (u, m) in [
            ("sshd.service", "a"),
            ("nginx.service", "b"),
            ("sshd.service", "a"),
        ] {
            p.add(alert("web1", u, m));
        }
        assert_eq!(
            subject(&p),
            "[ALERT] 3 errors in sshd.service, nginx.service on web1"
        );
        let b = body(&p, &utc);
        assert!(
            b.starts_with("This mail reports 3 alerts; 1 of them are folded"),
            "{b}"
        );
        assert!(b.contains("sshd.service[42]: a (repeated 2 times, last at T1700000000)\n"));
    }

    #[test]
    fn long_subjects_are_shortened() {
        let mut p = Pending::default();
        for i in 0..100 {
            p.add(alert("web1", &format!("unit-number-{i}.service"), "x"));
        }
        let s = subject(&p);
        assert!(s.chars().count() <= MAX_SUBJECT, "{s}");
        assert!(s.starts_with("[ALERT] 100 errors in unit-number-0.service, "));
        assert!(s.contains(" more on web1"), "{s}");
        let s = subject(&one(alert("h", &"u".repeat(5000), "x")));
        assert_eq!(s.chars().count(), MAX_SUBJECT);
    }

    #[test]
    fn header_injection_through_unit_or_identifier_is_impossible() {
        let evil = "x.service\r\nBcc: victim@example.org\nX-Evil: 1";
        let m = mail(&one(alert("web1\nTo: other", evil, "error")));
        let (headers, _) = split(&m);
        assert_eq!(headers.lines().count(), 8, "{headers}");
        for line in headers.lines() {
            assert!(
                !line.starts_with("Bcc")
                    && !line.starts_with("X-Evil")
                    && !line.starts_with("To: other")
            );
        }
        assert!(headers.contains("Subject: [ALERT] Error detected in x.service  Bcc: victim@example.org X-Evil: 1 on web1 To: other"));
        assert!(!m.contains('\r'));
    }

    #[test]
    fn non_ascii_subject_is_rfc2047_encoded() {
        let m = mail(&one(alert("hôte", "dämon.service", "Fehler")));
        let (headers, _) = split(&m);
        assert!(headers.is_ascii());
        let subject: Vec<&str> = headers
            .lines()
            .skip_while(|l| !l.starts_with("Subject:"))
            .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
            .collect();
        assert!(subject[0].starts_with("Subject: =?UTF-8?B?"));
        let mut decoded = Vec::new();
        for line in &subject {
            let word = line.trim_start_matches("Subject:").trim();
            assert!(word.len() <= 75 && line.len() <= 78, "{line}");
            decoded.extend(unbase64(
                word.strip_prefix("=?UTF-8?B?")
                    .unwrap()
                    .strip_suffix("?=")
                    .unwrap(),
            ));
        }
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "[ALERT] Error detected in dämon.service on hôte"
        );
    }

    fn unbase64(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let mut out = Vec::new();
        for chunk in s.as_bytes().chunks(4) {
            let n = chunk
                .iter()
                .take_while(|&&c| c != b'=')
                .fold((0u32, 0), |(acc, k), &c| {
                    (acc | (val(c) as u32) << (18 - 6 * k), k + 1)
                });
            let bytes = [(n.0 >> 16) as u8, (n.0 >> 8) as u8, n.0 as u8];
            out.extend_from_slice(&bytes[..n.1 - 1]);
        }
        out
    }

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn huge_message_is_cut_keeping_time_and_start() {
        let msg = format!("START {}", "é".repeat(50_000));
        let mut a = alert(&"h".repeat(600), &"u".repeat(600), &msg);
        a.time_usec = 0;
        let line = body_line(&a, "2026-01-01 00:00:00", " (repeated 2 times)");
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        assert!(line.starts_with("2026-01-01 00:00:00 hhhh"));
        assert!(line.contains("START éé"));
        assert!(line.ends_with(" [cut] (repeated 2 times)"));
        let m = mail(&one(alert("h", "u", &"x".repeat(100_000))));
        assert!(m.lines().all(|l| l.len() <= 998));
    }

    #[test]
    fn control_and_escape_characters_are_made_visible() {
        let line = body_line(
            &alert("h", "u", "a\x1b[31mred\x07\nFake: line\r\u{202e}x\u{85}"),
            "T",
            "",
        );
        assert_eq!(
            line,
            "T h u[42]: a\\x1b[31mred\\x07\\nFake: line\\r\\u{202e}x\\u{85}"
        );
        assert!(!line.contains('\x1b') && !line.contains('\n'));
    }

    #[test]
    fn a_lone_dot_line_is_just_text() {
        // With `sendmail -i` a line holding only "." does not end the input;
        // our body lines also never consist of a bare "." (they start with the time).
        let p = one(alert("h", "u", "."));
        let b = body(&p, &utc);
        assert_eq!(b, "T1700000000 h u[42]: .\n");
        assert!(b.lines().all(|l| l != "."));
    }

    #[test]
    fn overflow_is_counted_in_the_body() {
        let mut p = Pending::default();
        for i in 0..crate::batch::MAX_LINES + 10 {
            p.add(alert("h", "u.service", &format!("error {i}")));
        }
        let b = body(&p, &utc);
        assert!(b.contains(&format!(
            "This mail reports {} alerts; 10 of them are folded",
            crate::batch::MAX_LINES + 10
        )));
        assert!(b.contains("\n10 more from u.service on h, first and last:\n"));
        assert!(b.contains("error 1000\n") && b.contains("error 1009\n"));
    }

    #[test]
    fn notices_come_first_and_a_notice_only_mail_says_logmon() {
        let mut p = Pending::default();
        p.add_notice("12 journal entries vanished".into());
        p.add_notice("12 journal entries vanished".into());
        assert_eq!(subject(&p), "[logmon] 12 journal entries vanished");
        assert_eq!(
            body(&p, &utc),
            "logmon itself has a problem:\n- 12 journal entries vanished (2 times)\n\n"
        );
        p.add(alert("h", "u", "disk error"));
        assert_eq!(subject(&p), "[ALERT] Error detected in u on h");
        let b = body(&p, &utc);
        assert!(b.starts_with("logmon itself has a problem:\n- 12"), "{b}");
        assert!(b.ends_with("T1700000000 h u[42]: disk error\n"), "{b}");
    }

    #[test]
    fn dates() {
        let t = LocalTime {
            year: 2026,
            month: 11,
            day: 6,
            hour: 9,
            minute: 5,
            second: 3,
            weekday: 5,
            utc_offset: -5 * 3600 - 1800,
        };
        assert_eq!(rfc5322_date(&t), "Fri, 6 Nov 2026 09:05:03 -0530");
        assert_eq!(format_time(&t), "2026-11-06 09:05:03");
        let e = mbox_entry("Subject: x\n\nFrom here\n>From there\nok", &t);
        assert_eq!(
            e,
            "From logmon Fri Nov  6 09:05:03 2026\nSubject: x\n\n>From here\n>>From there\nok\n\n"
        );
    }
}
