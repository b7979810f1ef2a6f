//! Pure mail composition: subject, body and headers of an alert mail.
//!
//! Nothing from a log entry may add, break or disguise a header: header
//! values lose their control characters, invisible formatting characters
//! (bidi overrides, zero-width marks) become U+FFFD, and text that is not
//! plain ASCII or holds `=?` is RFC 2047 encoded whole, so no encoded-word
//! lookalike from a log entry decodes to something else. Long headers are
//! folded before blanks (the address list of `To:` between addresses) so
//! lines stay within 78 characters where the words allow.
//!
//! Body lines show control, formatting and backslash characters as escapes
//! (`\n`, `\x1b`, `\u{202e}`, `\\`) and are cut to stay below the 998-byte
//! line limit of RFC 5322, shortening host and unit before the message, so
//! the time (or count) and the start of the text always survive.

use crate::batch::{Alert, Overflow, Pending};
use crate::expect::{Kind, Notice};
use crate::sys::LocalTime;

/// Longest body line we write (RFC 5322 allows 998 bytes plus CRLF).
pub const MAX_LINE: usize = 990;
/// Subjects are cut to about this many characters before encoding.
pub const MAX_SUBJECT: usize = 200;
/// Header lines are folded to stay within this where the words allow
/// (RFC 5322 2.1.1 "SHOULD").
const FOLD_AT: usize = 78;
/// Host and unit names are cut to this many bytes when a line is too long.
const SHORT_NAME: usize = 40;
/// Context lines stand under their alert, indented so.
const CONTEXT_INDENT: &str = "    ";
/// The headers after the addressing ones, and the blank line: every
/// mail logmon writes is plain UTF-8 text, marked as sent by a machine.
const BODY_HEADERS: &str = "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
    Content-Transfer-Encoding: 8bit\nAuto-Submitted: auto-generated\n\n";
/// Marks a message cut short on a body line.
const CUT: &str = " [cut]";

/// Turns a journal timestamp (µs since the epoch) into display text.
pub type TimeFormat<'a> = &'a dyn Fn(u64) -> String;

/// What a `[match]` rule looks like in a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// `name`, else FILE:LINE.
    pub label: String,
    /// FILE:LINE of its section header.
    pub origin: String,
    pub tag: Option<String>,
}

/// What a mail says besides the alerts: the rules (an alert's `rule` is
/// an index into it) and the config, for the footer's commands.
pub struct Context<'a> {
    pub rules: &'a [RuleInfo],
    pub config: &'a str,
}

/// The whole message as handed to sendmail.
pub fn compose(
    pending: &Pending,
    from: &str,
    to: &[String],
    date: &str,
    time: TimeFormat,
    context: &Context,
) -> String {
    let fired = fired_rules(pending);
    let mut m = address_header("From", &[from]);
    m.push_str(&address_header("To", to));
    m.push_str(&header("Subject", &subject(pending, context)));
    m.push_str(&format!("Date: {date}\n"));
    if !fired.is_empty() {
        let labels: Vec<&str> = fired.iter().map(|&r| label(context, r)).collect();
        m.push_str(&header("X-Logmon-Rules", &labels.join(", ")));
    }
    m.push_str(BODY_HEADERS);
    m.push_str(&body(pending, time, context));
    m
}

/// The rules with alerts in this mail, in the order of their first alert.
fn fired_rules(pending: &Pending) -> Vec<usize> {
    let mut fired = Vec::new();
    let rules = pending
        .lines()
        .iter()
        .map(|l| l.first.rule)
        .chain(pending.overflow().iter().map(|o| o.first.rule));
    for rule in rules {
        if !fired.contains(&rule) {
            fired.push(rule);
        }
    }
    fired
}

fn label<'a>(context: &'a Context, rule: usize) -> &'a str {
    context.rules.get(rule).map_or("?", |r| r.label.as_str())
}

/// `[ALERT TAG]` when every rule in the mail has that tag, else `[ALERT]`.
fn alert_prefix(fired: &[usize], context: &Context) -> String {
    let tags: Vec<Option<&str>> = fired
        .iter()
        .map(|&r| context.rules.get(r).and_then(|i| i.tag.as_deref()))
        .collect();
    match tags.first() {
        Some(Some(tag)) if tags.iter().all(|t| *t == Some(tag)) => format!("[ALERT {tag}]"),
        _ => "[ALERT]".to_string(),
    }
}

/// The script's subject for one alert; a count and the units for more.
pub fn subject(pending: &Pending, context: &Context) -> String {
    if pending.total == 0 {
        let first = pending.notices().first().map_or("", |(t, _)| t.as_str());
        return cut_chars(&format!("[logmon] {first}"), MAX_SUBJECT);
    }
    let prefix = alert_prefix(&fired_rules(pending), context);
    let (hosts, units) = pending.hosts_and_units();
    let on = hosts.join(", ");
    let s = if pending.total == 1 {
        format!("{prefix} Error detected in {} on {}", units.join(""), on)
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
        format!("{prefix} {} errors in {} on {}", pending.total, listed, on)
    };
    cut_chars(&s, MAX_SUBJECT)
}

/// The alerts grouped by rule, each group under `== RULE`, one line per
/// (folded) alert, then what overflowed, counted; below `-- `, catalog
/// texts and how to see why it fired and how to silence it.
pub fn body(pending: &Pending, time: TimeFormat, context: &Context) -> String {
    let fired = &fired_rules(pending);
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
    for (i, &rule) in fired.iter().enumerate() {
        if i > 0 {
            b.push('\n');
        }
        b.push_str(&group_header(context, rule));
        for line in pending.lines().iter().filter(|l| l.first.rule == rule) {
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
            // `context = N`: what the same unit run logged just before.
            for c in &line.first.context {
                let shown = body_line(c, &time(c.time_usec), "");
                let cut = visible_cut(&shown, MAX_LINE - CONTEXT_INDENT.len(), CUT);
                b.push_str(CONTEXT_INDENT);
                b.push_str(&cut);
                b.push('\n');
            }
        }
    }
    if !pending.overflow().is_empty() || pending.uncounted_groups > 0 {
        b.push_str("\nMore alerts than one mail lists line by line; these were counted:\n");
    }
    for o in pending.overflow() {
        b.push_str(&format!("\n{}\n", summary_line(o)));
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
    if pending.total > 0 {
        b.push_str(&footer(pending, time, fired, context));
    }
    b
}

/// `== LABEL (FILE:LINE)`: where a group of alerts begins.
fn group_header(context: &Context, rule: usize) -> String {
    let text = match context.rules.get(rule) {
        Some(r) if r.label != r.origin => format!("{} ({})", r.label, r.origin),
        Some(r) => r.label.clone(),
        None => "?".into(),
    };
    format!("== {}\n", visible_cut(&text, MAX_LINE - 3, CUT))
}

/// After the signature delimiter: the catalog texts of the entries'
/// MESSAGE_IDs, once each, and what to do about the mail.
fn footer(pending: &Pending, time: TimeFormat, fired: &[usize], context: &Context) -> String {
    let mut f = String::from("\n-- \n");
    for (id, text) in pending.catalogs() {
        f.push_str(&visible_cut(
            &format!("About MESSAGE_ID {id}:"),
            MAX_LINE,
            CUT,
        ));
        f.push('\n');
        for line in text.lines() {
            f.push_str(&visible_cut(line, MAX_LINE, CUT));
            f.push('\n');
        }
        f.push('\n');
    }
    let since = pending
        .lines()
        .iter()
        .map(|l| l.first.time_usec)
        .chain(pending.overflow().iter().map(|o| o.first.time_usec))
        .min()
        .unwrap_or(0);
    let config = visible_cut(context.config, 400, "...");
    let lines = [
        format!(
            "Why it fired: logmon --stats -c {config} --since '{}'",
            time(since)
        ),
        format!(
            "To silence a kind of line: add the [ignore] block that command prints to {config} (or to a file it includes), then: systemctl reload logmon"
        ),
    ];
    for line in lines {
        f.push_str(&visible_cut(&line, MAX_LINE, CUT));
        f.push('\n');
    }
    for &rule in fired {
        if let Some(r) = context.rules.get(rule) {
            let line = rule_line(&r.label, &r.origin);
            f.push_str(&visible_cut(&line, MAX_LINE, CUT));
            f.push('\n');
        }
    }
    f
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
        let room = MAX_LINE.saturating_sub(2 + times.len());
        b.push_str(&format!("- {}{times}\n", visible_cut(text, room, " [cut]")));
    }
    b.push('\n');
    b
}

/// `TIME HOST UNIT[PID]: MESSAGE SUFFIX`, at most [`MAX_LINE`] bytes.
pub fn body_line(a: &Alert, time: &str, suffix: &str) -> String {
    let pid = if a.pid.is_empty() {
        String::new()
    } else {
        format!("[{}]", visible_cut(&a.pid, 20, "..."))
    };
    let line =
        |host: &str, unit: &str, msg: &str| format!("{time} {host} {unit}{pid}: {msg}{suffix}");
    // Escapes only lengthen text: what is too long raw needs no escaping
    // in full (a huge field then costs no more than a short one).
    if a.host.len() + a.unit.len() + a.message.len() <= MAX_LINE {
        let full = line(&visible(&a.host), &visible(&a.unit), &visible(&a.message));
        if full.len() <= MAX_LINE {
            return full;
        }
    }
    let (host, unit) = short_names(&a.host, &a.unit);
    let room = MAX_LINE.saturating_sub(line(&host, &unit, "").len());
    line(&host, &unit, &visible_cut(&a.message, room, CUT))
}

/// `N more from UNIT on HOST, first and last:`, at most [`MAX_LINE`] bytes.
fn summary_line(o: &Overflow) -> String {
    let line =
        |unit: &str, host: &str| format!("{} more from {unit} on {host}, first and last:", o.count);
    if o.unit.len() + o.host.len() <= MAX_LINE {
        let full = line(&visible(&o.unit), &visible(&o.host));
        if full.len() <= MAX_LINE {
            return full;
        }
    }
    let (host, unit) = short_names(&o.host, &o.unit);
    line(&unit, &host)
}

/// Host and unit made visible and cut to [`SHORT_NAME`] bytes.
fn short_names(host: &str, unit: &str) -> (String, String) {
    (
        visible_cut(host, SHORT_NAME, "..."),
        visible_cut(unit, SHORT_NAME, "..."),
    )
}

/// Control characters, line separators, invisible formatting characters and
/// backslashes made visible, so hostile text cannot fake extra lines,
/// reorder or hide what is shown, and every shown escape means one thing.
pub fn visible(s: &str) -> String {
    // Most log text is printable ASCII, which shows as it is.
    if s.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    out
}

/// [`visible`] text of at most `max` bytes; when cut (never inside an
/// escape), it ends in `mark`.
fn visible_cut(s: &str, max: usize, mark: &str) -> String {
    let mut out = String::new();
    let mut fits = 0;
    for c in s.chars() {
        push_visible(&mut out, c);
        if out.len() > max {
            out.truncate(fits);
            out.push_str(mark);
            break;
        }
        if out.len() + mark.len() <= max {
            fits = out.len();
        }
    }
    out
}

fn push_visible(out: &mut String, c: char) {
    match c {
        '\t' => out.push(c),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() || is_invisible(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// Characters that draw nothing themselves but change or hide what is
/// around them: bidi embeddings, overrides, isolates and marks, zero-width
/// spaces and joiners, the byte order mark, line and paragraph separators,
/// interlinear annotations and tag characters (which can smuggle text).
/// Zero-width joiners are legitimate in some scripts and emoji; a log line
/// loses little by showing them as escapes, a spoofed name would gain much.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}'
        | '\u{061c}'
        | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}')
}

/// `NAME: VALUE` as header lines: the value cleaned, encoded when needed
/// and folded. For unstructured text such as `Subject:`.
pub fn header(name: &str, value: &str) -> String {
    fold(name, &header_value(value))
}

/// An address header. Addresses come validated from the config (no
/// blanks, commas or controls), so folding between them is safe; they are
/// never encoded, as RFC 2047 (section 5) forbids encoded words in an
/// address: a non-ASCII address stays UTF-8 (RFC 6532).
fn address_header(name: &str, addrs: &[impl AsRef<str>]) -> String {
    let list: Vec<String> = addrs.iter().map(|a| header_text(a.as_ref())).collect();
    fold(name, &list.join(", "))
}

/// `NAME: VALUE\n`, a fold (newline) put before a blank wherever the line
/// would pass [`FOLD_AT`] otherwise. A word longer than that stays whole,
/// and no line is ever only blanks (RFC 5322 3.2.2).
fn fold(name: &str, value: &str) -> String {
    let mut out = format!("{name}:");
    let mut line = out.len();
    let spaced = format!(" {value}");
    for word in words(&spaced) {
        let has_text = !word.trim_start().is_empty();
        if line + word.len() > FOLD_AT && line > name.len() + 1 && has_text {
            out.push('\n');
            line = 0;
        }
        out.push_str(word);
        line += word.len();
    }
    out.push('\n');
    out
}

/// `s` split before each run of blanks: every piece but the first starts
/// with blanks and ends before the next run.
fn words(s: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_blank = true;
    for (i, c) in s.char_indices() {
        let blank = c == ' ';
        if blank && !prev_blank {
            pieces.push(&s[start..i]);
            start = i;
        }
        prev_blank = blank;
    }
    pieces.push(&s[start..]);
    pieces
}

/// A header value, unfolded: [`header_text`], then RFC 2047 encoded whole
/// when it is not plain ASCII or could be read as holding an encoded word.
/// Encoding it all keeps it simple to show that decoding gives back exactly
/// this text: readers drop the blanks between adjacent encoded words.
fn header_value(s: &str) -> String {
    let clean = header_text(s);
    if clean.is_ascii() && !clean.contains("=?") {
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
    words.join(" ")
}

/// What a header may show of `s`: control characters (C0, DEL, C1) and
/// line separators become blanks, so nothing can start a new header line;
/// invisible formatting characters become U+FFFD, so a subject cannot be
/// reordered or hide text, and the reader sees that something was there.
fn header_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{2028}' | '\u{2029}' => ' ',
            c if c.is_control() => ' ',
            c if is_invisible(c) => '\u{fffd}',
            c => c,
        })
        .collect()
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

/// An `[expect]` mail: `[ALERT] missing: NAME on HOST` when the expected
/// entries stopped, `[RESOLVED] NAME on HOST` (a reply to it, for mail
/// clients' threads) when one came back.
pub fn compose_expect(
    notice: &Notice,
    from: &str,
    to: &[String],
    date: &str,
    time: TimeFormat,
    config: &str,
) -> String {
    let on = format!("{} on {}", notice.label, notice.host);
    let subject = match (&notice.kind, &notice.tag) {
        (Kind::Missing, Some(tag)) => format!("[ALERT {tag}] missing: {on}"),
        (Kind::Missing, None) => format!("[ALERT] missing: {on}"),
        (Kind::Resolved { .. }, _) => format!("[RESOLVED] {on}"),
    };
    let mut m = address_header("From", &[from]);
    m.push_str(&address_header("To", to));
    m.push_str(&header("Subject", &cut_chars(&subject, MAX_SUBJECT)));
    m.push_str(&format!("Date: {date}\n"));
    m.push_str(&format!("Message-ID: {}\n", notice.message_id));
    if let Kind::Resolved { reply_to } = &notice.kind {
        m.push_str(&format!("In-Reply-To: {reply_to}\n"));
        m.push_str(&format!("References: {reply_to}\n"));
    }
    m.push_str(&header("X-Logmon-Rules", &notice.label));
    m.push_str(BODY_HEADERS);
    let within = duration(notice.within_usec);
    let last = if notice.seen {
        format!("the last one was at {}", time(notice.since_usec))
    } else {
        format!(
            "none was seen since logmon began watching at {}",
            time(notice.since_usec)
        )
    };
    // One string per body line: a name holding a newline shows as `\n`.
    let mut lines = match &notice.kind {
        Kind::Missing => vec![
            format!("No entry matched {on} for {within}: {last}."),
            String::new(),
            format!("logmon mails \"[RESOLVED] {on}\" when one arrives."),
        ],
        Kind::Resolved { .. } => {
            let gap = duration(notice.at_usec.saturating_sub(notice.since_usec));
            let previous = if notice.seen {
                time(notice.since_usec)
            } else {
                format!(
                    "none since logmon began watching at {}",
                    time(notice.since_usec)
                )
            };
            vec![format!(
                "A matching entry for {on} arrived at {}, {gap} after the previous one ({previous}).",
                time(notice.at_usec)
            )]
        }
    };
    let mut body = String::new();
    for line in lines.drain(..) {
        body.push_str(&visible_cut(&line, MAX_LINE, CUT));
        body.push('\n');
    }
    if let Some(a) = &notice.entry {
        body.push('\n');
        body.push_str(&body_line(a, &time(a.time_usec), ""));
        body.push('\n');
    }
    m.push_str(&body);
    m.push_str("\n-- \n");
    let config = visible_cut(config, 400, "...");
    let rule = rule_line(&notice.label, &notice.origin);
    for line in [
        rule,
        format!("To change it: edit 'within' or remove the [expect] block, then: logmon --check -c {config} && systemctl reload logmon"),
    ] {
        m.push_str(&visible_cut(&line, MAX_LINE, CUT));
        m.push('\n');
    }
    m
}

/// `Rule FILE:LINE`, or `Rule NAME: FILE:LINE` for a named rule.
fn rule_line(label: &str, origin: &str) -> String {
    if label == origin {
        format!("Rule {origin}")
    } else {
        format!("Rule {label}: {origin}")
    }
}

/// `1d 2h`, `26h`, `3s`: the two largest units.
pub fn duration(usec: u64) -> String {
    let mut secs = usec / 1_000_000;
    if secs == 0 {
        return "0s".into();
    }
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size && parts.len() < 2 {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        } else if !parts.is_empty() {
            // Units below the first two, or a zero between: stop there.
            break;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::{Kind, Notice};
    use crate::testing::Rng;

    /// One rule, as an unnamed rule of t.conf shows.
    fn ctx() -> Context<'static> {
        static RULES: std::sync::OnceLock<Vec<RuleInfo>> = std::sync::OnceLock::new();
        Context {
            rules: RULES.get_or_init(|| {
                vec![RuleInfo {
                    label: "t.conf:1".into(),
                    origin: "t.conf:1".into(),
                    tag: None,
                }]
            }),
            config: "/etc/logmon.conf",
        }
    }

    fn alert(host: &str, unit: &str, message: &str) -> Alert {
        Alert {
            time_usec: 1_700_000_000_000_000,
            host: host.into(),
            unit: unit.into(),
            pid: "42".into(),
            message: message.into(),
            rule: 0,
            message_id: None,
            context: Vec::new(),
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
            &ctx(),
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
            "X-Logmon-Rules: t.conf:1",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "Auto-Submitted: auto-generated",
        ];
        assert_eq!(headers.lines().collect::<Vec<_>>(), expect);
        assert_eq!(
            body,
            "== t.conf:1\n\
             T1700000000 web1 sshd.service[42]: auth failure\n\
             \n\
             -- \n\
             Why it fired: logmon --stats -c /etc/logmon.conf --since 'T1700000000'\n\
             To silence a kind of line: add the [ignore] block that command prints to /etc/logmon.conf (or to a file it includes), then: systemctl reload logmon\n\
             Rule t.conf:1\n"
        );
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
            subject(&p, &ctx()),
            "[ALERT] 3 errors in sshd.service, nginx.service on web1"
        );
        let b = body(&p, &utc, &ctx());
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
        let s = subject(&p, &ctx());
        assert!(s.chars().count() <= MAX_SUBJECT, "{s}");
        assert!(s.starts_with("[ALERT] 100 errors in unit-number-0.service, "));
        assert!(s.contains(" more on web1"), "{s}");
        let s = subject(&one(alert("h", &"u".repeat(5000), "x")), &ctx());
        assert_eq!(s.chars().count(), MAX_SUBJECT);
    }

    #[test]
    fn header_injection_through_unit_or_identifier_is_impossible() {
        let evil = "x.service\r\nBcc: victim@example.org\nX-Evil: 1";
        let m = mail(&one(alert("web1\nTo: other", evil, "error")));
        let (headers, _) = split(&m);
        let names: Vec<String> = parse_headers(headers)
            .unwrap()
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(names, HEADER_NAMES, "{headers}");
        for line in headers.lines() {
            assert!(
                !line.starts_with("Bcc")
                    && !line.starts_with("X-Evil")
                    && !line.starts_with("To: other")
            );
        }
        // Folded (it is longer than 78), so read unfolded.
        assert!(headers.replace("\n ", " ").contains("Subject: [ALERT] Error detected in x.service  Bcc: victim@example.org X-Evil: 1 on web1 To: other"));
        assert!(!m.contains('\r'));
    }

    #[test]
    fn context_lines_are_indented_under_their_alert() {
        let mut a = alert("h", "x.service", "x.service: Failed");
        let mut before = alert("h", "x.service", "out of disk space writing /var/x");
        before.time_usec -= 1_000_000;
        a.context = vec![before, alert("h", "x.service", &"y".repeat(5000))];
        let b = body(&one(a), &utc, &ctx());
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[1], "T1700000000 h x.service[42]: x.service: Failed");
        assert_eq!(
            lines[2],
            "    T1699999999 h x.service[42]: out of disk space writing /var/x"
        );
        assert!(
            lines[3].starts_with("    T1700000000 h x.service[42]: yyy")
                && lines[3].len() <= MAX_LINE
        );
    }

    #[test]
    fn alerts_are_grouped_by_rule_with_names_tags_and_catalog() {
        let rules = [
            RuleInfo {
                label: "unit failed".into(),
                origin: "/etc/logmon.d/00-systemd.conf:3".into(),
                tag: Some("ops".into()),
            },
            RuleInfo {
                label: "errors".into(),
                origin: "/etc/logmon.d/10-priority.conf:1".into(),
                tag: Some("ops".into()),
            },
        ];
        let context = Context {
            rules: &rules,
            config: "/etc/logmon.conf",
        };
        let mut p = Pending::default();
        let mut a = alert(
            "h",
            "x.service",
            "x.service: Failed with result 'exit-code'.",
        );
        a.rule = 1;
        p.add(a.clone());
        a.rule = 0;
        a.message = "y.service: Failed".into();
        a.unit = "y.service".into();
        p.add(a.clone());
        a.rule = 1;
        a.message = "disk full".into();
        p.add(a);
        p.add_catalog(
            "d9b373ed55a64feb8242e02dbe79a49c",
            "Subject: A unit failed\n\nThe unit @UNIT@ has failed.".into(),
        );
        let m = compose(&p, "logmon", &["root".into()], "D", &utc, &context);
        let (headers, body) = split(&m);
        assert!(
            headers.contains("\nSubject: [ALERT ops] 3 errors in x.service, y.service on h\n"),
            "{headers}"
        );
        assert!(
            headers.contains("\nX-Logmon-Rules: errors, unit failed\n"),
            "{headers}"
        );
        let groups: Vec<&str> = body.lines().filter(|l| l.starts_with("== ")).collect();
        assert_eq!(
            groups,
            [
                "== errors (/etc/logmon.d/10-priority.conf:1)",
                "== unit failed (/etc/logmon.d/00-systemd.conf:3)"
            ]
        );
        let errors_group = body
            .split("== errors")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        assert!(
            errors_group.contains("exit-code") && errors_group.contains("disk full"),
            "{body}"
        );
        let (alerts, footer) = body.split_once("\n-- \n").expect("a signature line");
        assert!(!alerts.contains("About MESSAGE_ID"));
        assert!(
            footer.starts_with(
                "About MESSAGE_ID d9b373ed55a64feb8242e02dbe79a49c:\nSubject: A unit failed\n"
            ),
            "{footer}"
        );
        assert!(footer.contains("Rule errors: /etc/logmon.d/10-priority.conf:1\n"));
        // Mixed tags: plain [ALERT].
        let mut mixed = rules.clone();
        mixed[1].tag = None;
        let context = Context {
            rules: &mixed,
            config: "c",
        };
        assert!(subject(&p, &context).starts_with("[ALERT] 3 errors"));
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
        let b = body(&p, &utc, &ctx());
        assert!(
            b.starts_with("== t.conf:1\nT1700000000 h u[42]: .\n\n-- \n"),
            "{b}"
        );
        assert!(b.lines().all(|l| l != "."));
    }

    #[test]
    fn overflow_is_counted_in_the_body() {
        let mut p = Pending::default();
        for i in 0..crate::batch::MAX_LINES + 10 {
            p.add(alert("h", "u.service", &format!("error {i}")));
        }
        let b = body(&p, &utc, &ctx());
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
        assert_eq!(subject(&p, &ctx()), "[logmon] 12 journal entries vanished");
        assert_eq!(
            body(&p, &utc, &ctx()),
            "logmon itself has a problem:\n- 12 journal entries vanished (2 times)\n\n"
        );
        p.add(alert("h", "u", "disk error"));
        assert_eq!(subject(&p, &ctx()), "[ALERT] Error detected in u on h");
        let b = body(&p, &utc, &ctx());
        assert!(
            b.starts_with("logmon itself has a problem:\n- 12 journal entries vanished (2 times)\n\n== t.conf:1\nT1700000000 h u[42]: disk error\n\n-- \n"),
            "{b}"
        );
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

    const HEADER_NAMES: [&str; 9] = [
        "From",
        "To",
        "Subject",
        "Date",
        "X-Logmon-Rules",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Auto-Submitted",
    ];

    /// (name, unfolded value) of each header; an error for a line that is
    /// neither `Name: value` nor a continuation starting with a blank.
    fn parse_headers(block: &str) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in block.split('\n') {
            if line.trim().is_empty() {
                return Err(format!("a header line of only blanks: {line:?}"));
            }
            if line.starts_with([' ', '\t']) {
                let last = out.last_mut().ok_or("a continuation before any header")?;
                last.1.push_str(line);
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("not a header line: {line:?}"))?;
            if !name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("bad header name: {name:?}"));
            }
            let value = value.strip_prefix(' ').unwrap_or(value);
            out.push((name.to_string(), value.to_string()));
        }
        Ok(out)
    }

    /// An unstructured header value as a mail reader shows it (RFC 2047
    /// 6.2): encoded words, B or Q in any charset, decoded as UTF-8, and
    /// the blanks between adjacent encoded words dropped.
    fn decode_2047(value: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut after_word = false;
        for piece in words(value) {
            let token = piece.trim_start_matches(' ');
            match decode_word(token) {
                Some(text) => {
                    if !after_word {
                        out.push_str(&piece[..piece.len() - token.len()]);
                    }
                    out.push_str(&text?);
                    after_word = true;
                }
                None => {
                    out.push_str(piece);
                    after_word = false;
                }
            }
        }
        Ok(out)
    }

    /// `None`: not an encoded word; an error: one that is not valid.
    fn decode_word(token: &str) -> Option<Result<String, String>> {
        let inner = token.strip_prefix("=?")?.strip_suffix("?=")?;
        let mut parts = inner.splitn(3, '?');
        let (_charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
        let bytes = match encoding {
            "B" | "b" => {
                let alphabet = |b: u8| b.is_ascii_alphanumeric() || b"+/=".contains(&b);
                if text.len() % 4 != 0 || !text.bytes().all(alphabet) {
                    return Some(Err(format!("bad base64 in {token}")));
                }
                unbase64(text)
            }
            "Q" | "q" => unquote(text),
            _ => return None,
        };
        Some(String::from_utf8(bytes).map_err(|e| format!("{token}: {e}")))
    }

    fn unquote(text: &str) -> Vec<u8> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'=', Some(byte)) => {
                    out.push(byte);
                    i += 2;
                }
                (b'_', _) => out.push(b' '),
                (c, _) => out.push(c),
            }
            i += 1;
        }
        out
    }

    /// The named header of a composed mail, unfolded.
    fn header_of(m: &str, name: &str) -> String {
        let headers = parse_headers(split(m).0).unwrap();
        headers.into_iter().find(|h| h.0 == name).unwrap().1
    }

    fn notice(kind: Kind, label: &str, host: &str) -> Notice {
        Notice {
            kind,
            label: label.into(),
            origin: "/etc/logmon.d/backup.conf:1".into(),
            tag: None,
            route: 0,
            within_usec: 26 * 3600 * 1_000_000,
            host: host.into(),
            message_id: "<logmon.1.2.3@web1>".into(),
            since_usec: 1_700_000_000_000_000,
            seen: true,
            at_usec: 1_700_100_000_000_000,
            entry: None,
            mark: None,
        }
    }

    fn expect_mail(n: &Notice) -> String {
        compose_expect(
            n,
            "logmon",
            &["ops@example.org".into()],
            "Thu, 1 Jan 2026 00:00:00 +0000",
            &utc,
            "/etc/logmon.conf",
        )
    }

    #[test]
    fn expect_mails_say_missing_then_resolved_in_one_thread() {
        let mut missing = notice(Kind::Missing, "nightly backup", "web1");
        missing.tag = Some("BACKUP".into());
        let m = expect_mail(&missing);
        assert_eq!(
            header_of(&m, "Subject"),
            "[ALERT BACKUP] missing: nightly backup on web1"
        );
        assert_eq!(header_of(&m, "Message-ID"), "<logmon.1.2.3@web1>");
        assert_eq!(header_of(&m, "X-Logmon-Rules"), "nightly backup");
        assert_eq!(header_of(&m, "To"), "ops@example.org");
        assert!(!m.contains("In-Reply-To"), "{m}");
        let body = split(&m).1;
        assert!(
            body.starts_with("No entry matched nightly backup on web1 for 1d 2h: the last one was at T1700000000.\n"),
            "{body}"
        );
        assert!(
            body.contains("\n-- \nRule nightly backup: /etc/logmon.d/backup.conf:1\n"),
            "{body}"
        );

        let mut resolved = notice(
            Kind::Resolved {
                reply_to: "<logmon.1.2.3@web1>".into(),
            },
            "nightly backup",
            "web1",
        );
        resolved.message_id = "<logmon.1.2.4@web1>".into();
        resolved.tag = Some("BACKUP".into());
        let mut line = alert("web1", "backup.service", "backup done");
        line.time_usec = resolved.at_usec;
        resolved.entry = Some(line);
        let m = expect_mail(&resolved);
        assert_eq!(
            header_of(&m, "Subject"),
            "[RESOLVED] nightly backup on web1"
        );
        assert_eq!(header_of(&m, "Message-ID"), "<logmon.1.2.4@web1>");
        assert_eq!(header_of(&m, "In-Reply-To"), "<logmon.1.2.3@web1>");
        assert_eq!(header_of(&m, "References"), "<logmon.1.2.3@web1>");
        let body = split(&m).1;
        assert!(
            body.starts_with("A matching entry for nightly backup on web1 arrived at T1700100000, 1d 3h after the previous one (T1700000000).\n"),
            "{body}"
        );
        assert!(
            body.contains("\nT1700100000 web1 backup.service[42]: backup done\n"),
            "{body}"
        );
    }

    #[test]
    fn expect_mails_keep_hostile_names_out_of_headers_and_lines_short() {
        let evil = format!("x\nBcc: a@b =?utf-8?q?hi?= {}", "y".repeat(3000));
        let mut n = notice(Kind::Missing, &evil, &evil);
        n.seen = false;
        let m = expect_mail(&n);
        let headers = parse_headers(split(&m).0).expect("well-formed headers");
        assert!(!headers.iter().any(|h| h.0 == "Bcc"), "{m}");
        assert!(m.lines().all(|l| l.len() < 998), "a line is too long");
        assert!(
            split(&m).1.starts_with("No entry matched x\\nBcc: a@b"),
            "{m}"
        );
        let mut n = notice(Kind::Missing, "backup", "web1");
        n.seen = false;
        let body = expect_mail(&n);
        assert!(body.contains(": none was seen since logmon began watching at T1700000000."));
    }

    #[test]
    fn durations_show_two_units() {
        let s = 1_000_000;
        for (usec, text) in [
            (0, "0s"),
            (3 * s, "3s"),
            (90 * s, "1m 30s"),
            (26 * 3600 * s, "1d 2h"),
            (3600 * s + 5 * s, "1h"),
            (7 * 86_400 * s, "7d"),
        ] {
            assert_eq!(duration(usec), text);
        }
    }

    #[test]
    fn encoded_word_lookalikes_are_encoded_and_decode_back_exactly() {
        let unit = "=?UTF-8?B?QmNjOiB4QHku?=";
        let host = "=?iso-8859-1?q?Bcc:_x@y?= web1";
        let m = mail(&one(alert(host, unit, "x")));
        assert!(split(&m).0.is_ascii());
        let subject = header_of(&m, "Subject");
        assert!(subject.starts_with("=?UTF-8?B?"), "{subject}");
        assert_eq!(
            decode_2047(&subject).unwrap(),
            format!("[ALERT] Error detected in {unit} on {host}")
        );
        let plain = header_of(&mail(&one(alert("web1", "a=b?.service", "x"))), "Subject");
        assert_eq!(plain, "[ALERT] Error detected in a=b?.service on web1");
    }

    #[test]
    fn to_and_long_subjects_are_folded_between_words() {
        let to: Vec<String> = (0..100).map(|i| format!("admin{i}@example.org")).collect();
        let mut p = Pending::default();
        for i in 0..100 {
            p.add(alert("web1", &format!("unit-number-{i}.service"), "x"));
        }
        let m = compose(
            &p,
            "logmon",
            &to,
            "Thu, 1 Jan 2026 00:00:00 +0000",
            &utc,
            &ctx(),
        );
        let (headers, _) = split(&m);
        assert!(headers.lines().all(|l| l.len() <= FOLD_AT), "{headers}");
        assert!(headers.lines().filter(|l| l.starts_with(' ')).count() > 20);
        let listed = header_of(&m, "To");
        assert_eq!(listed.split(',').map(str::trim).collect::<Vec<_>>(), to);
        assert_eq!(header_of(&m, "Subject"), subject(&p, &ctx()));
    }

    #[test]
    fn a_huge_summary_line_is_cut_keeping_count_and_start() {
        let mut p = Pending::default();
        for i in 0..crate::batch::MAX_LINES {
            p.add(alert("h", "u", &format!("e{i}")));
        }
        let unit = format!("START\\{}", "ü".repeat(8000));
        for _ in 0..2 {
            p.add(alert(&"h".repeat(9000), &unit, "boom"));
        }
        let b = body(&p, &utc, &ctx());
        assert!(b.split('\n').all(|l| l.len() <= MAX_LINE));
        let line = b.lines().find(|l| l.starts_with("2 more ")).unwrap();
        assert!(line.starts_with("2 more from START\\\\üü"), "{line}");
        assert!(line.ends_with("hhh..., first and last:"), "{line}");
        assert!(line.len() <= 2 * SHORT_NAME + 40, "{line}");
    }

    #[test]
    fn invisible_formatting_characters_never_reach_headers() {
        let tricky: Vec<char> = "\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\
             \u{2069}\u{200e}\u{200f}\u{61c}\u{200b}\u{200c}\u{200d}\u{feff}"
            .chars()
            .collect();
        let c1 = ['\u{80}', '\u{85}', '\u{9b}', '\u{9f}'];
        let unit: String = tricky.iter().chain(&c1).map(|c| format!("{c}x")).collect();
        let m = mail(&one(alert("web1", &unit, "msg")));
        let shown = decode_2047(&header_of(&m, "Subject")).unwrap();
        let names = format!(
            "{}{}",
            "\u{fffd}x".repeat(tricky.len()),
            " x".repeat(c1.len())
        );
        assert_eq!(shown, format!("[ALERT] Error detected in {names} on web1"));
        let (_, body) = split(&m);
        for c in tricky.iter().chain(&c1) {
            assert!(
                body.contains(&format!("\\u{{{:x}}}x", *c as u32)),
                "{c:?}: {body}"
            );
        }
    }

    #[test]
    fn a_backslash_is_shown_doubled_so_escapes_are_unambiguous() {
        let literal = body_line(&alert("h", "u", "a\\nb \\x1b"), "T", "");
        let real = body_line(&alert("h", "u", "a\nb \x1b"), "T", "");
        assert_eq!(literal, "T h u[42]: a\\\\nb \\\\x1b");
        assert_eq!(real, "T h u[42]: a\\nb \\x1b");
    }

    #[test]
    fn cuts_never_split_an_escape() {
        assert_eq!(visible_cut("ab\x1bcd", 5, "..."), "ab...");
        assert_eq!(visible_cut("ab\x1bcd", 8, "..."), "ab\\x1bcd");
        assert_eq!(visible_cut("\\\\\\", 5, "."), "\\\\\\\\.");
        let line = body_line(&alert("h", "u", &"\u{202e}".repeat(5000)), "T", "");
        assert!(
            line.ends_with("\\u{202e} [cut]") && line.len() <= MAX_LINE,
            "{line}"
        );
    }

    const PIECES: &[&str] = &[
        "error",
        "sshd.service",
        "web1",
        " ",
        "  ",
        "=",
        "?",
        "=?",
        "?=",
        "=?UTF-8?B?QmNjOiB4QHku?=",
        "=?utf-8?q?Bcc:_x@y?=",
        "\r\n",
        "\n",
        "\r",
        "\nBcc: x@y\n",
        "\t",
        "\\",
        "\\n",
        "\u{202e}",
        "\u{2066}",
        "\u{200e}",
        "\u{61c}",
        "\u{200b}",
        "\u{feff}",
        "\u{85}",
        "\u{9b}",
        "\x1b[2J",
        "\0",
        "\x7f",
        "é",
        "日本語",
        "😀",
        "\u{2028}",
        "\u{fffd}",
        "\u{e0041}",
        "From ",
        ".",
    ];

    /// A few pieces, now and then one repeated into a huge field.
    fn random_text(rng: &mut Rng) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(8) {
            let piece = *rng.pick(PIECES);
            let times = if rng.below(12) == 0 {
                1 + rng.below(20_000)
            } else {
                1
            };
            s.push_str(&piece.repeat(times));
        }
        s
    }

    fn random_recipients(rng: &mut Rng) -> Vec<String> {
        const CHARS: &[u8] = b"abcxyz019+_=?-";
        let count = 1 + rng.below(150);
        let to: Vec<String> = (0..count)
            .map(|_| {
                let len = 1 + rng.below(40);
                let a: String = (0..len).map(|_| *rng.pick(CHARS) as char).collect();
                let at = if rng.below(2) == 0 { "" } else { "@x.example" };
                format!("r.{a}{at}")
            })
            .collect();
        assert!(to
            .iter()
            .all(|a| crate::config::validate_address(a).is_ok()));
        to
    }

    /// Sometimes a full batch first, so summaries and uncounted groups show.
    fn random_pending(rng: &mut Rng) -> Pending {
        let mut p = Pending::default();
        if rng.below(6) == 0 {
            for i in 0..crate::batch::MAX_LINES {
                p.add(alert("h", "u", &format!("filler {i}")));
            }
        }
        let hosts: Vec<String> = (0..1 + rng.below(4)).map(|_| random_text(rng)).collect();
        let units: Vec<String> = (0..1 + rng.below(150)).map(|_| random_text(rng)).collect();
        let count = 1 + rng.below(if p.is_full() { 300 } else { 30 });
        for _ in 0..count {
            let pid = match rng.below(3) {
                0 => String::new(),
                1 => rng.below(1 << 22).to_string(),
                _ => random_text(rng),
            };
            p.add(Alert {
                time_usec: rng.next() >> 12,
                host: rng.pick(&hosts).clone(),
                unit: rng.pick(&units).clone(),
                pid,
                message: random_text(rng),
                rule: 0,
                message_id: None,
                context: Vec::new(),
            });
        }
        p
    }

    fn check_mail(m: &str, to: &[String], p: &Pending) -> Result<(), String> {
        if let Some(l) = m.split('\n').find(|l| l.len() >= 998) {
            return Err(format!("a line of {} bytes: {l:.100}", l.len()));
        }
        if m.contains('\r') {
            return Err("a CR in the mail".into());
        }
        let (block, _) = m
            .split_once("\n\n")
            .ok_or("no blank line after the headers")?;
        if !block.is_ascii() {
            return Err(format!("non-ASCII headers: {block}"));
        }
        let headers = parse_headers(block)?;
        let names: Vec<&str> = headers.iter().map(|h| h.0.as_str()).collect();
        if names != HEADER_NAMES {
            return Err(format!("headers {names:?}"));
        }
        let listed: Vec<&str> = headers[1].1.split(',').map(str::trim).collect();
        if listed != to {
            return Err(format!("To: {listed:?} for {to:?}"));
        }
        check_encoded_words(&headers[2].1)?;
        let shown = decode_2047(&headers[2].1)?;
        if let Some(c) = shown.chars().find(|&c| c.is_control() || is_invisible(c)) {
            return Err(format!("{c:?} in the subject {shown:?}"));
        }
        if shown != header_text(&subject(p, &ctx())) {
            return Err(format!("subject shown as {shown:?}"));
        }
        Ok(())
    }

    /// Every token that holds `=?` is one whole, well-formed encoded word.
    fn check_encoded_words(value: &str) -> Result<(), String> {
        for token in value.split([' ', '\t']).filter(|t| t.contains("=?")) {
            let ok = token.len() <= 75
                && token.starts_with("=?UTF-8?B?")
                && matches!(decode_word(token), Some(Ok(_)));
            if !ok {
                return Err(format!("{token:?} is not a valid encoded word of ours"));
            }
        }
        Ok(())
    }

    #[test]
    fn every_mail_is_well_formed_whatever_the_entries() {
        let seed = crate::testing::seed("mail property test");
        let mut rng = Rng::new(seed);
        for case in 0..200 {
            let to = random_recipients(&mut rng);
            let p = random_pending(&mut rng);
            let m = compose(
                &p,
                "logmon@example.org",
                &to,
                "Thu, 1 Jan 2026",
                &utc,
                &ctx(),
            );
            if let Err(e) = check_mail(&m, &to, &p) {
                panic!("seed {seed}, case {case}: {e}");
            }
        }
    }
}
