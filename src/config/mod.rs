//! The `logmon.conf` reader: tiny, line based, strict.
//!
//! Each line is blank, a comment (first non-blank character `#`), a
//! `[section]` header, or `key OP value`, where OP is `=` or (in rules) `~`.
//! Values run to the end of the line, so a regex may contain `#`. Unknown
//! keys and sections, bad values and bad regexes are errors; every bad line is
//! reported, as `FILE:LINE: message`, so the admin fixes them all at once.
//! The file itself must be a regular file of sane size (a FIFO would hang
//! `--check` and a reload); what does not stop logmon, such as the default
//! sendmail not being installed yet, is a warning instead.

mod include;

use crate::rules::{Condition, Origin, Rule, Rules, Test, Threshold};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Which journal to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Local,
    Directory(PathBuf),
    Namespace(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    Current,
    All,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub to: Vec<String>,
    pub from: String,
    pub sendmail: PathBuf,
    /// Collect alerts this long after the first one (milliseconds).
    pub batch_ms: u64,
    pub max_per_hour: u32,
    /// Kill a sendmail that has not exited after this long (milliseconds).
    pub timeout_ms: u64,
    /// First retry delay after a failed delivery (milliseconds); doubles.
    pub retry_ms: u64,
}

#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub priority: u8,
    pub boot: Boot,
    pub state_file: Option<PathBuf>,
    pub source: Source,
    pub mail: MailConfig,
    pub rules: Rules,
    /// Recipient sets: route 0 is `[mail] to`, the others come from rules'
    /// `to =` (sorted, each set once). Each gets its own mails, window,
    /// hourly cap and backoff.
    pub routes: Vec<Vec<String>>,
    /// Problems that do not stop logmon, as `FILE[:LINE]: warning: ...`:
    /// `--check` prints them, the daemon logs them at start and reload.
    pub warnings: Vec<String>,
    /// The line of an explicit `sendmail =`, for its error message.
    sendmail_line: Option<usize>,
}

/// Reads the files an `include` names: each file with its contents, or
/// every problem, one line each.
pub type ReadInclude<'a> = dyn FnMut(&Path) -> Result<Vec<(PathBuf, Vec<u8>)>, Vec<String>> + 'a;

/// Far above any real config (the shipped one is 2 KiB); bounds what a
/// `-c /dev/zero`-like mistake can cost.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Where Debian's MTAs put sendmail. Missing there is only a warning, even
/// when the config spells it out (the shipped one does): an MTA may be
/// installed after logmon.
pub const DEFAULT_SENDMAIL: &str = "/usr/sbin/sendmail";

/// Regexes come from a file root may not have written alone; bound what a
/// hostile or careless pattern can cost (see regex-lite's builder docs).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_NEST_LIMIT: u32 = 64;

pub const PRIORITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Section {
    Global,
    Mail,
    Match,
    Ignore,
    Expect,
    /// After an unknown or broken header: its lines are skipped, not
    /// applied to some other section.
    Unknown,
}

impl Config {
    /// Read, check and parse the config file and the rule files it
    /// includes. Like sshd's StrictModes, a config, rule file or sendmail
    /// program that someone other than its owner or root can change, or one
    /// in such a directory, is refused: logmon runs the program it names.
    pub fn load(path: &Path) -> Result<Config, crate::error::Error> {
        use crate::error::Error;
        let text = read_config(path)?;
        let mut problems: Vec<String> = include::trusted(path).err().into_iter().collect();
        let mut read_include = |target: &Path| include::read(target);
        match Config::parse_with(path, &text, &mut read_include) {
            Ok(mut config) => {
                problems.extend(safe_to_trust(&config.mail.sendmail).err());
                problems.extend(config.check_sendmail(sendmail_problem).err());
                if problems.is_empty() {
                    Ok(config)
                } else {
                    Err(Error::Config(problems))
                }
            }
            Err(mut errors) => {
                problems.append(&mut errors);
                Err(Error::Config(problems))
            }
        }
    }

    /// Parse `text` (the contents of `path`) alone: an `include` reads
    /// nothing. On failure, every error line. (Tests and fuzz targets.)
    #[allow(dead_code)]
    pub fn parse(path: &Path, text: &[u8]) -> Result<Config, Vec<String>> {
        Config::parse_with(path, text, &mut |_| Ok(Vec::new()))
    }

    /// Parse `text`, and the files `read_include` returns for each
    /// `include` (resolved against the directory of `path`), in order.
    pub fn parse_with(
        path: &Path,
        text: &[u8],
        read_include: &mut ReadInclude,
    ) -> Result<Config, Vec<String>> {
        let mut p = Parser {
            errors: Vec::new(),
            seen: Vec::new(),
            includes: Vec::new(),
            config: Config::default_for(path),
        };
        p.parse_file(path, text, false);
        let base = path.parent().unwrap_or(Path::new("."));
        for (line, value) in std::mem::take(&mut p.includes) {
            let target = base.join(&value);
            match read_include(&target) {
                Ok(files) => {
                    for (file, text) in files {
                        p.parse_file(&file, &text, true);
                    }
                }
                Err(problems) => {
                    for why in problems {
                        p.errors
                            .push(format!("{}:{line}: include {value}: {why}", path.display()));
                    }
                }
            }
        }
        p.check_complete(path);
        p.config.finish_routes();
        if p.errors.is_empty() {
            Ok(p.config)
        } else {
            Err(p.errors)
        }
    }

    fn default_for(path: &Path) -> Config {
        Config {
            path: path.to_path_buf(),
            priority: 6,
            boot: Boot::Current,
            state_file: Some(PathBuf::from("/var/lib/logmon/cursor")),
            source: Source::Local,
            mail: MailConfig {
                to: vec!["root".into()],
                from: "logmon".into(),
                sendmail: PathBuf::from("/usr/sbin/sendmail"),
                batch_ms: 10_000,
                max_per_hour: 30,
                timeout_ms: 60_000,
                retry_ms: 30_000,
            },
            rules: Rules::default(),
            routes: Vec::new(),
            warnings: Vec::new(),
            sendmail_line: None,
        }
    }

    /// An explicit sendmail that cannot run is an error: every alert would
    /// fail. The default one is a warning (see [`DEFAULT_SENDMAIL`]).
    /// `problem` says why a path cannot run; tests pass a fake one.
    fn check_sendmail(&mut self, problem: impl Fn(&Path) -> Option<String>) -> Result<(), String> {
        let sendmail = &self.mail.sendmail;
        let Some(why) = problem(sendmail) else {
            return Ok(());
        };
        let file = self.path.display();
        match self.sendmail_line {
            Some(n) if sendmail != Path::new(DEFAULT_SENDMAIL) => {
                Err(format!("{file}:{n}: sendmail {} {why}", sendmail.display()))
            }
            line => {
                let at = line.map_or(String::new(), |n| format!(":{n}"));
                self.warnings.push(format!(
                    "{file}{at}: warning: sendmail {} {why}: no alert can be mailed until a mail transfer agent (e.g. Postfix) is installed",
                    sendmail.display()
                ));
                Ok(())
            }
        }
    }

    /// The route of recipient set `to` (sorted): route 0 is `[mail] to`,
    /// fixed only once the whole config is read, so rules' routes count
    /// from 1.
    fn route_for(&mut self, to: &[String]) -> usize {
        match self.routes.iter().position(|r| r == to) {
            Some(i) => i + 1,
            None => {
                self.routes.push(to.to_vec());
                self.routes.len()
            }
        }
    }

    /// Route 0 is `[mail] to`; a rule whose `to` is that same set shares
    /// it.
    fn finish_routes(&mut self) {
        let mut main = self.mail.to.clone();
        main.sort();
        main.dedup();
        let mut routes = vec![self.mail.to.clone()];
        let mut map = vec![0];
        for to in &self.routes {
            if *to == main {
                map.push(0);
            } else {
                map.push(routes.len());
                routes.push(to.clone());
            }
        }
        for rule in self.rules.matches.iter_mut().chain(&mut self.rules.expects) {
            rule.route = map[rule.route];
        }
        self.routes = routes;
    }

    /// The short summary `--check` prints.
    pub fn summary(&self) -> String {
        let source = match &self.source {
            Source::Local => "local journal".to_string(),
            Source::Directory(d) => format!("journal files in {}", d.display()),
            Source::Namespace(ns) => format!("journal namespace {ns}"),
        };
        let boot = match self.boot {
            Boot::Current => "current",
            Boot::All => "all",
        };
        let state = match &self.state_file {
            Some(p) => p.display().to_string(),
            None => "none (always start at the end)".into(),
        };
        let m = &self.mail;
        format!(
            "{}: OK\n  source:   {source}, priority <= {}, boot = {boot}\n  rules:    {} match, {} ignore, {} expect\n  mail:     to {} from {} via {}\n  batching: {} ms, at most {} mails/hour\n  state:    {state}\n",
            self.path.display(),
            PRIORITY_NAMES[self.priority as usize],
            self.rules.matches.len(),
            self.rules.ignores.len(),
            self.rules.expects.len(),
            m.to.join(", "),
            m.from,
            m.sendmail.display(),
            m.batch_ms,
            m.max_per_hour,
        )
    }
}

/// A rule being read: its section, the rule, and whether one of its lines
/// was bad (then an "empty rule" error would only repeat that one).
struct Pending {
    section: Section,
    rule: Rule,
    bad: bool,
}

struct Parser {
    errors: Vec<String>,
    /// Settings already given, to catch duplicates.
    seen: Vec<String>,
    /// `include =` lines of the main file: (line, value).
    includes: Vec<(usize, String)>,
    config: Config,
}

impl Parser {
    /// One file's lines. `rules_only`: an included file, which holds rule
    /// sections only.
    fn parse_file(&mut self, path: &Path, text: &[u8], rules_only: bool) {
        let file: Rc<str> = path.display().to_string().into();
        let mut section = Section::Global;
        let mut rule: Option<Pending> = None;
        for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
            let n = index + 1;
            let error = |p: &mut Parser, msg: String| p.errors.push(format!("{file}:{n}: {msg}"));
            let line = match std::str::from_utf8(raw) {
                Err(_) => Err("not valid UTF-8"),
                // No path, address or pattern can hold one: exec(2) and
                // open(2) would fail on it only when the value is used.
                Ok(l) if l.contains('\0') => Err("holds a NUL byte"),
                Ok(l) => Ok(l.trim()),
            };
            let line = match line {
                Ok(l) => l,
                Err(msg) => {
                    error(self, msg.into());
                    if let Some(r) = rule.as_mut() {
                        r.bad = true;
                    }
                    continue;
                }
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                self.finish_rule(rule.take());
                section = match name.strip_suffix(']').map(str::trim) {
                    Some("mail") => Section::Mail,
                    Some("match") => Section::Match,
                    Some("ignore") => Section::Ignore,
                    Some("expect") => Section::Expect,
                    Some(other) => {
                        error(self, format!("unknown section [{other}]"));
                        Section::Unknown
                    }
                    None => {
                        error(self, "section header without closing ']'".into());
                        Section::Unknown
                    }
                };
                if rules_only && section == Section::Mail {
                    error(
                        self,
                        "an included file holds rule sections only ([match], [ignore], [expect])"
                            .into(),
                    );
                    section = Section::Unknown;
                }
                if matches!(section, Section::Match | Section::Ignore | Section::Expect) {
                    rule = Some(Pending {
                        section,
                        rule: Rule::new(
                            Origin {
                                file: file.clone(),
                                line: n,
                            },
                            Vec::new(),
                        ),
                        bad: false,
                    });
                }
                continue;
            }
            if section == Section::Unknown {
                // Skip its keys quietly (one error per mistake), and never
                // apply them as globals.
                continue;
            }
            let Some((key, op, value)) = split_line(line) else {
                error(self, format!("expected 'key = value', got '{line}'"));
                if let Some(r) = rule.as_mut() {
                    r.bad = true;
                }
                continue;
            };
            match (section, rule.as_mut()) {
                (Section::Global, _) if rules_only => error(
                    self,
                    format!(
                        "'{key}': an included file holds rule sections only ([match], [ignore])"
                    ),
                ),
                (Section::Global | Section::Mail, _) if op != "=" => {
                    error(self, format!("'{key}' takes '=', not '{op}'"))
                }
                (Section::Global, _) if key == "include" => {
                    self.includes.push((n, value.to_string()));
                    if value.is_empty() {
                        error(self, "include needs a file or directory".into());
                    }
                }
                (Section::Global | Section::Mail, _) => {
                    if let Err(msg) = self.setting(n, section, key, value) {
                        error(self, msg);
                    }
                }
                (_, Some(r)) => {
                    let result = if key.starts_with(|c: char| c.is_ascii_lowercase()) {
                        rule_option(&mut r.rule, r.section, key, op, value)
                    } else {
                        condition(key, op, value).map(|c| r.rule.conditions.push(c))
                    };
                    if let Err(msg) = result {
                        r.bad = true;
                        error(self, msg);
                    }
                }
                (_, None) => {}
            }
        }
        self.finish_rule(rule.take());
    }

    fn setting(
        &mut self,
        n: usize,
        section: Section,
        key: &str,
        value: &str,
    ) -> Result<(), String> {
        let qualified = if section == Section::Mail {
            format!("mail.{key}")
        } else {
            key.to_string()
        };
        if self.seen.contains(&qualified) {
            return Err(format!("'{key}' given twice"));
        }
        self.seen.push(qualified);
        let c = &mut self.config;
        let result = match (section, key) {
            (Section::Global, "priority") => parse_priority(value).map(|p| c.priority = p),
            (Section::Global, "boot") => match value {
                "current" => set(&mut c.boot, Boot::Current),
                "all" => set(&mut c.boot, Boot::All),
                _ => Err("boot must be 'current' or 'all'".into()),
            },
            (Section::Global, "state_file") => {
                c.state_file = (!value.is_empty()).then(|| PathBuf::from(value));
                match &c.state_file {
                    Some(p) if !p.is_absolute() => {
                        Err("state_file must be an absolute path".into())
                    }
                    _ => Ok(()),
                }
            }
            (Section::Global, "directory") => {
                self.set_source(value, |v| Source::Directory(v.into()))
            }
            (Section::Global, "namespace") => match validate_namespace(value) {
                Ok(()) => self.set_source(value, |v| Source::Namespace(v.into())),
                Err(e) => Err(e),
            },
            (Section::Mail, "to") => parse_recipients(value).map(|to| c.mail.to = to),
            (Section::Mail, "from") => validate_address(value).map(|()| c.mail.from = value.into()),
            (Section::Mail, "sendmail") => {
                if value.starts_with('/') {
                    c.sendmail_line = Some(n);
                    set(&mut c.mail.sendmail, PathBuf::from(value))
                } else {
                    Err("sendmail must be an absolute path".into())
                }
            }
            (Section::Mail, "batch") => parse_duration_ms(value).map(|d| c.mail.batch_ms = d),
            (Section::Mail, "max_per_hour") => match value.parse::<u32>() {
                Ok(n) if n >= 1 => set(&mut c.mail.max_per_hour, n),
                _ => Err("max_per_hour must be a whole number of at least 1".into()),
            },
            (Section::Mail, "timeout") => match parse_duration_ms(value) {
                Ok(d) if d >= 1000 => set(&mut c.mail.timeout_ms, d),
                Ok(_) => Err("timeout must be at least 1s".into()),
                Err(e) => Err(e),
            },
            (Section::Mail, "retry") => match parse_duration_ms(value) {
                Ok(d) if d >= 100 => set(&mut c.mail.retry_ms, d),
                Ok(_) => Err("retry must be at least 100ms".into()),
                Err(e) => Err(e),
            },
            (Section::Global, _) => Err(format!("unknown key '{key}'")),
            _ => Err(format!("unknown key '{key}' in [mail]")),
        };
        result
    }

    fn set_source(&mut self, value: &str, make: impl Fn(&str) -> Source) -> Result<(), String> {
        if value.is_empty() {
            return Ok(());
        }
        if self.config.source != Source::Local {
            return Err("give only one of 'directory' and 'namespace'".into());
        }
        self.config.source = make(value);
        Ok(())
    }

    fn finish_rule(&mut self, pending: Option<Pending>) {
        let Some(Pending { section, rule, bad }) = pending else {
            return;
        };
        if bad {
            return;
        }
        let at = rule.origin.clone();
        let problem = if rule.conditions.is_empty() {
            Some("empty rule: a [match], [ignore] or [expect] needs at least one condition")
        } else if section == Section::Expect && rule.within_usec.is_none() {
            Some("an [expect] needs 'within = DURATION': how long it may go unseen")
        } else if rule.by.is_some() && rule.threshold.is_none() {
            Some("'by' counts per value for a 'threshold': give one, or drop 'by'")
        } else {
            None
        };
        if let Some(msg) = problem {
            self.errors.push(format!("{at}: {msg}"));
            return;
        }
        // The state file keeps an [expect]'s clock under its label.
        let label = rule.label();
        if section == Section::Expect {
            if let Some(other) = self
                .config
                .rules
                .expects
                .iter()
                .find(|r| r.label() == label)
            {
                self.errors.push(format!(
                    "{at}: another [expect] at {} is named '{label}' too: each needs its own name (the state file keeps its last match under it)",
                    other.origin
                ));
                return;
            }
        }
        let mut rule = rule;
        if let Some(to) = &rule.to {
            rule.route = self.config.route_for(to);
        }
        match section {
            Section::Match => self.config.rules.matches.push(rule),
            Section::Expect => self.config.rules.expects.push(rule),
            _ => self.config.rules.ignores.push(rule),
        }
    }

    fn check_complete(&mut self, path: &Path) {
        let rules = &self.config.rules;
        if self.errors.is_empty() && rules.matches.is_empty() && rules.expects.is_empty() {
            self.errors.push(format!(
                "{}: no [match] or [expect] rule: logmon would never alert",
                path.display()
            ));
        }
    }
}

/// `FIELD OP VALUE` in a rule section.
fn condition(key: &str, op: &str, value: &str) -> Result<Condition, String> {
    check_field_name(key)?;
    if value.is_empty() {
        return Err(format!("empty value for {key}"));
    }
    let regex = || {
        regex_lite::RegexBuilder::new(value)
            .size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(REGEX_NEST_LIMIT)
            .build()
            // regex-lite errors span lines; keep the report one line each.
            .map_err(|e| format!("bad regex: {}", e.to_string().replace('\n', " ")))
    };
    if op == "=" && value.starts_with('~') {
        // Perl's and awk's `=~`: surely meant as a regex, not "contains ~".
        return Err("'=~' is not an operator: a regex is 'FIELD ~ REGEX'".into());
    }
    let test = match op {
        "=" => Test::Contains(value.as_bytes().to_vec()),
        "==" => Test::Equals(value.as_bytes().to_vec()),
        "!=" => Test::NotEquals(value.as_bytes().to_vec()),
        "~" => Test::regex(regex()?),
        "!~" => Test::not_regex(regex()?),
        _ => {
            let n = crate::rules::number(value.as_bytes()).ok_or_else(|| {
                format!("'{op}' compares numbers: '{value}' is not a decimal integer")
            })?;
            Test::compare(op, n).ok_or_else(|| format!("unknown operator '{op}'"))?
        }
    };
    Ok(Condition {
        field: key.to_string(),
        test,
    })
}

/// Most lines of `context` a mail shows per alert.
pub const MAX_CONTEXT: u8 = 50;

/// Most repeats a `threshold` counts: each is kept until the window closes.
pub const MAX_THRESHOLD: u32 = 1000;
/// `tag` and `name` lengths: they go into subjects and headers.
const MAX_TAG: usize = 32;
const MAX_NAME: usize = 100;

/// A lower-case key in a rule section: an option of the rule.
fn rule_option(
    rule: &mut Rule,
    section: Section,
    key: &str,
    op: &str,
    value: &str,
) -> Result<(), String> {
    if op != "=" {
        return Err(format!("'{key}' takes '=', not '{op}'"));
    }
    let given = match key {
        "name" => rule.name.is_some(),
        "tag" => rule.tag.is_some(),
        "threshold" => rule.threshold.is_some(),
        "by" => rule.by.is_some(),
        "to" => rule.to.is_some(),
        "context" => rule.context > 0,
        "within" => rule.within_usec.is_some(),
        _ => false,
    };
    if given {
        return Err(format!("'{key}' given twice in this rule"));
    }
    let in_match = section == Section::Match;
    let in_expect = section == Section::Expect;
    match key {
        "name" => {
            if value.is_empty() || value.chars().count() > MAX_NAME || value.contains(',') {
                return Err(format!(
                    "name must be 1 to {MAX_NAME} characters without ','"
                ));
            }
            rule.name = Some(value.to_string());
        }
        "tag" if in_match || in_expect => {
            let word = value.len() <= MAX_TAG
                && !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !word {
                return Err(format!(
                    "tag must be one word of up to {MAX_TAG} letters, digits, '-', '_', '.'"
                ));
            }
            rule.tag = Some(value.to_string());
        }
        "threshold" if in_match => rule.threshold = Some(parse_threshold(value)?),
        "by" if in_match => {
            check_field_name(value)?;
            rule.by = Some(value.to_string());
        }
        "to" if in_match || in_expect => {
            let mut to = parse_recipients(value)?;
            to.sort();
            to.dedup();
            rule.to = Some(to);
        }
        "context" if in_match => match value.parse::<u8>() {
            Ok(n) if n <= MAX_CONTEXT => rule.context = n,
            _ => {
                return Err(format!(
                    "context must be a number of lines from 0 to {MAX_CONTEXT}"
                ))
            }
        },
        "within" if in_expect => {
            let ms = parse_duration_up_to(value, 30 * 86_400_000)?;
            if ms < 1000 {
                return Err("within must be at least 1s".into());
            }
            rule.within_usec = Some(ms * 1000);
        }
        "tag" | "to" => {
            return Err(format!(
                "'{key}' is an option of [match] and [expect] rules"
            ))
        }
        "threshold" | "by" | "context" => {
            return Err(format!("'{key}' is an option of [match] rules only"))
        }
        "within" => return Err("'within' is an option of [expect] rules only".into()),
        _ => {
            return Err(format!(
                "unknown rule option '{key}' (field names are upper case)"
            ))
        }
    }
    Ok(())
}

/// `N within DURATION`.
fn parse_threshold(value: &str) -> Result<Threshold, String> {
    let bad = || {
        format!("threshold must be 'N within DURATION', N 1 to {MAX_THRESHOLD}, e.g. '3 within 5m'")
    };
    let (count, within) = value.split_once(" within ").ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    if !(1..=MAX_THRESHOLD).contains(&count) {
        return Err(bad());
    }
    let ms = parse_duration_ms(within.trim())?;
    if ms == 0 {
        return Err(bad());
    }
    Ok(Threshold {
        count,
        within_usec: ms * 1000,
    })
}

/// The bytes of the config file. A FIFO, device or huge file is a config
/// mistake (exit 2), not a hang; a missing or unreadable file stays an I/O
/// error (exit 1). read_regular's own refusals (not a regular file, too
/// large) are the errors without an OS error code.
fn read_config(path: &Path) -> Result<Vec<u8>, crate::error::Error> {
    use crate::error::Error;
    crate::files::read_regular(path, MAX_CONFIG_BYTES).map_err(|e| match e.raw_os_error() {
        None => Error::Config(vec![format!(
            "{}: {e}: a config must be a regular file of at most {MAX_CONFIG_BYTES} bytes",
            path.display()
        )]),
        Some(_) => Error::io(format!("reading {}", path.display()), e),
    })
}

/// Why `path` cannot be run as sendmail, if it cannot. For root, execve(2)
/// needs at least one x bit; for others the kernel is asked (access(2)).
pub fn sendmail_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some("does not exist".into()),
        Err(e) => return Some(format!("cannot be examined: {e}")),
    };
    if !meta.is_file() {
        return Some("is not a regular file".into());
    }
    let runnable = if crate::sys::geteuid() == 0 {
        meta.permissions().mode() & 0o111 != 0
    } else {
        crate::sys::can_execute(path)
    };
    (!runnable).then(|| "is not executable".into())
}

/// A file logmon trusts must be owned by root or by logmon's own user, and
/// not writable by group or others. A missing file passes here: whether
/// sendmail can run is [`sendmail_problem`]'s question.
pub fn safe_to_trust(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let me = crate::sys::geteuid();
    let shown = path.display();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "{shown}: refusing a file owned by uid {} (not root or this user): chown root {shown}",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{shown}: refusing a file that group or others can write (mode {:o}): chmod go-w {shown}",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

fn set<T>(slot: &mut T, value: T) -> Result<(), String> {
    *slot = value;
    Ok(())
}

/// Split `key OP value`; the key is a run of letters, digits and `_`, OP
/// one of `=`, `==`, `!=`, `~`, `!~`, `<`, `<=`, `>`, `>=`.
fn split_line(line: &str) -> Option<(&str, &str, &str)> {
    let key_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    let key = &line[..key_end];
    let rest = line[key_end..].trim_start();
    let op = ["==", "!=", "!~", "<=", ">=", "=", "~", "<", ">"]
        .into_iter()
        .find(|op| rest.starts_with(op))?;
    if key.is_empty() {
        return None;
    }
    Some((key, op, rest[op.len()..].trim()))
}

/// journald's rule for field names (`journal_field_valid`): `[A-Z0-9_]`, not
/// starting with a digit, at most 64 bytes. `__CURSOR` and the other
/// `__`-fields are addresses, not data an entry holds: a condition on one
/// could never hold.
fn check_field_name(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.starts_with(|c: char| c.is_ascii_digit())
        || !s
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "'{s}' is not a journal field name (upper case letters, digits, '_')"
        ));
    }
    if s.starts_with("__") {
        return Err(format!(
            "'{s}' is an address field ('__' prefix), not a field entries hold"
        ));
    }
    if s.len() > 64 {
        return Err(format!(
            "field name '{s}' is {} bytes long; journal field names have at most 64",
            s.len()
        ));
    }
    Ok(())
}

pub fn parse_priority(value: &str) -> Result<u8, String> {
    let v = value.to_ascii_lowercase();
    let p = match v.as_str() {
        "error" => Some(3),
        "warn" => Some(4),
        _ => PRIORITY_NAMES
            .iter()
            .position(|&n| n == v)
            .map(|i| i as u8)
            .or_else(|| v.parse::<u8>().ok().filter(|&p| p <= 7)),
    };
    p.ok_or_else(|| format!("bad priority '{value}': use emerg, alert, crit, err, warning, notice, info, debug or 0-7"))
}

/// `0`, `10` (seconds), `500ms`, `10s`, `5m`, `2h`, `1d` to milliseconds.
pub fn parse_duration_ms(value: &str) -> Result<u64, String> {
    parse_duration_up_to(value, 86_400_000)
}

/// A duration of at most `max_ms`.
pub fn parse_duration_up_to(value: &str, max_ms: u64) -> Result<u64, String> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (num, unit) = value.split_at(split);
    let factor = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "bad duration '{value}': use e.g. 0, 500ms, 10s, 5m, 1h"
            ))
        }
    };
    // Larger values are mistakes, and keep time sums small.
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|&ms| ms <= max_ms)
        .ok_or_else(|| {
            format!(
                "bad duration '{value}': use e.g. 0, 500ms, 10s, 5m, 1h (at most {}d)",
                max_ms / 86_400_000
            )
        })
}

fn parse_recipients(value: &str) -> Result<Vec<String>, String> {
    let to: Vec<String> = value.split(',').map(|s| s.trim().to_string()).collect();
    for r in &to {
        validate_address(r)?;
    }
    Ok(to)
}

/// RFC 5321 4.5.3.1.3: a path is at most 256 octets, angle brackets included.
const MAX_ADDRESS: usize = 254;

/// A recipient goes on sendmail's command line (after `--`) and into a
/// header: it must not look like an option, and must read as exactly this
/// one address in `To:`: `NAME` or `NAME@DOMAIN`, each dot-separated
/// words of RFC 5322 atext (3.2.3; non-ASCII too, RFC 6532). Anything else
/// (`a(b)`, `x:`, `]`, `a..b`) is a comment, a group or garbage to a mail
/// reader (found by fuzzing).
pub fn validate_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("empty mail address".into());
    }
    // Longer cannot be delivered, nor fit a header line (found by fuzzing).
    if addr.len() > MAX_ADDRESS {
        return Err(format!(
            "mail address of {} bytes: at most {MAX_ADDRESS}",
            addr.len()
        ));
    }
    if addr.starts_with('-') {
        return Err(format!("mail address '{addr}' must not start with '-'"));
    }
    if let Some(c) = addr.chars().find(|&c| !is_atext(c) && c != '.' && c != '@') {
        return Err(format!(
            "mail address '{}' holds a forbidden character {:?}",
            addr, c
        ));
    }
    let parts: Vec<&str> = addr.split('@').collect();
    let words_ok = parts
        .iter()
        .all(|p| p.split('.').all(|word| !word.is_empty()));
    if parts.len() > 2 || !words_ok {
        return Err(format!(
            "mail address '{addr}' is not NAME or NAME@DOMAIN (words joined by single dots)"
        ));
    }
    Ok(())
}

/// RFC 5322 atext, and non-ASCII but for blanks, controls and invisible
/// characters (the header would show U+FFFD for those, mail.rs).
fn is_atext(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
    } else {
        !c.is_whitespace() && !c.is_control() && !crate::mail::is_invisible(c)
    }
}

fn validate_namespace(value: &str) -> Result<(), String> {
    if value.is_empty()
        || value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        Ok(())
    } else {
        Err(format!("bad namespace '{value}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests::MapEntry;

    fn parse(text: &str) -> Result<Config, Vec<String>> {
        Config::parse(Path::new("t.conf"), text.as_bytes())
    }

    fn errors(text: &[u8]) -> Vec<String> {
        Config::parse(Path::new("t.conf"), text).expect_err("config should be rejected")
    }

    #[test]
    fn shipped_config_loads_with_its_rule_packs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("logmon.conf");
        let c = Config::load(&path).expect("shipped logmon.conf and logmon.d are valid");
        assert_eq!(c.priority, 6);
        assert_eq!(c.boot, Boot::Current);
        assert_eq!(c.mail.to, vec!["root"]);
        assert!(c.rules.matches.len() >= 3, "{}", c.rules.matches.len());
        // The script's keyword rule still holds, and its exception for
        // Debian 12's Postfix unit silences what it should.
        let mut e = MapEntry::new(&[("MESSAGE", "Disk Problem"), ("PRIORITY", "6")]);
        assert!(c.rules.alerts(&mut e));
    }

    #[test]
    fn every_valid_form() {
        let c = parse(
            "# comment\n  \n   # indented comment\npriority = err\nboot=all\nstate_file =\n\
             namespace = app-1\n[mail]\nto = root, admin@example.org\nfrom = logmon@host\n\
             sendmail = /bin/true\nbatch = 0\nmax_per_hour = 5\ntimeout = 2m\nretry = 500ms\n\
             [match]\nMESSAGE ~ a#b\nPRIORITY = 3\n[match]\n_SYSTEMD_UNIT = x.service\n\
             [ignore]\nMESSAGE = y\r\n",
        )
        .unwrap();
        assert_eq!(c.priority, 3);
        assert_eq!(c.boot, Boot::All);
        assert_eq!(c.state_file, None);
        assert_eq!(c.source, Source::Namespace("app-1".into()));
        assert_eq!(c.mail.to, vec!["root", "admin@example.org"]);
        assert_eq!(c.mail.from, "logmon@host");
        assert_eq!(c.mail.sendmail, PathBuf::from("/bin/true"));
        assert_eq!(c.mail.batch_ms, 0);
        assert_eq!(c.mail.max_per_hour, 5);
        assert_eq!(c.mail.timeout_ms, 120_000);
        assert_eq!(c.mail.retry_ms, 500);
        assert_eq!(c.rules.matches.len(), 2);
        assert_eq!(c.rules.matches[0].conditions.len(), 2);
        assert_eq!(c.rules.ignores.len(), 1);
        // '#' belongs to the regex: no trailing comments.
        let mut e = MapEntry::new(&[("MESSAGE", "xa#by"), ("PRIORITY", "3")]);
        assert!(c.rules.matches[0].holds(&mut e));
        // CR of a CRLF line is trimmed.
        let mut e = MapEntry::new(&[("MESSAGE", "y")]);
        assert!(c.rules.ignores[0].holds(&mut e));
    }

    #[test]
    fn priority_names_and_numbers() {
        assert_eq!(parse_priority("emerg"), Ok(0));
        assert_eq!(parse_priority("WARNING"), Ok(4));
        assert_eq!(parse_priority("7"), Ok(7));
        assert!(parse_priority("8").is_err());
        assert!(parse_priority("loud").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert_eq!(parse_duration_ms("10"), Ok(10_000));
        assert_eq!(parse_duration_ms("10s"), Ok(10_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("5m"), Ok(300_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert!(parse_duration_ms("ten").is_err());
        assert!(parse_duration_ms("-1s").is_err());
        assert!(parse_duration_ms("99999999999999999999").is_err());
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert!(parse_duration_ms("2d").is_err());
        assert!(parse_duration_ms("18446744073709551s").is_err());
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let errs = errors(
            b"priority = loud\nfrobnicate = 1\n[mail]\nto = -oQ/tmp/x\nbatch = soon\n\
              [match]\nMESSAGE ~ (unclosed\nmessage = x\nMESSAGE ~\njust words\n[bogus]\n\
              [ignore]\n[match]\nPRIORITY = 3\n",
        );
        let expect = [
            "t.conf:1: bad priority",
            "t.conf:2: unknown key 'frobnicate'",
            "t.conf:4: mail address '-oQ/tmp/x' must not start with '-'",
            "t.conf:5: bad duration",
            "t.conf:7: bad regex",
            "t.conf:8: unknown rule option 'message'",
            "t.conf:9: empty value for MESSAGE",
            "t.conf:10: expected 'key = value'",
            "t.conf:11: unknown section [bogus]",
            "t.conf:12: empty rule",
        ];
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
        for (got, want) in errs.iter().zip(expect) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn invalid_utf8_is_an_error_on_its_line() {
        let errs = errors(b"[match]\nMESSAGE = ok\nMESSAGE = \xff\xfe\n");
        assert_eq!(errs, vec!["t.conf:3: not valid UTF-8"]);
    }

    #[test]
    fn more_error_classes() {
        let errs = errors(b"priority = 3\npriority = 4\n[mail]\nto = a b\nmax_per_hour = 0\nsendmail = sendmail\nbatch ~ 1\n[match]\nMESSAGE = x\n");
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs[0].starts_with("t.conf:2: 'priority' given twice"));
        assert!(errs[1].starts_with("t.conf:4: mail address 'a b'"));
        assert!(errs[2].starts_with("t.conf:5: max_per_hour"));
        assert!(errs[3].starts_with("t.conf:6: sendmail must be an absolute path"));
        assert!(errs[4].starts_with("t.conf:7: 'batch' takes '='"));
        let errs = errors(b"directory = /a\nnamespace = b\n[match]\nMESSAGE = x\n");
        assert!(errs[0].starts_with("t.conf:2: give only one"), "{errs:?}");
        let errs = errors(b"[mail]\nto = root\n");
        assert_eq!(
            errs,
            vec!["t.conf: no [match] or [expect] rule: logmon would never alert"]
        );
    }

    #[test]
    fn files_others_can_write_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("logmon-perm-{}.conf", std::process::id()));
        std::fs::write(&path, "[match]\nMESSAGE = x\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(safe_to_trust(&path).is_ok());
        assert!(Config::load(&path).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        let err = safe_to_trust(&path).unwrap_err();
        assert!(err.contains("chmod go-w"), "{err}");
        let Err(crate::error::Error::Config(lines)) = Config::load(&path) else {
            panic!("a group-writable config must be refused");
        };
        assert!(lines[0].contains("group or others can write"));
        std::fs::remove_file(&path).unwrap();
        assert!(safe_to_trust(Path::new("/nonexistent/sendmail")).is_ok());
    }

    #[test]
    fn hostile_regex_is_bounded() {
        let deep = format!(
            "[match]\nMESSAGE ~ {}a{}\n",
            "(".repeat(500),
            ")".repeat(500)
        );
        assert!(errors(deep.as_bytes())[0].starts_with("t.conf:2: bad regex"));
        let big = "[match]\nMESSAGE ~ (\\w{1000}){1000}\n";
        assert!(errors(big.as_bytes())[0].starts_with("t.conf:2: bad regex"));
    }

    /// A scratch directory for one test, removed on drop.
    struct Scratch(PathBuf);
    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("logmon-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).unwrap();
            Scratch(dir)
        }
        fn file(&self, name: &str, text: &[u8], mode: u32) -> PathBuf {
            use std::os::unix::fs::PermissionsExt;
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn load_errors(path: &Path) -> Vec<String> {
        match Config::load(path) {
            Err(crate::error::Error::Config(lines)) => lines,
            other => panic!("{} should be a config error: {other:?}", path.display()),
        }
    }

    #[test]
    fn nul_bytes_are_errors_wherever_they_are() {
        let errs = errors(
            b"state_file = /var/lib/x\x00y\n[mail]\nsendmail = /usr/sbin/send\x00mail\n\
              to = root\x00\n[match]\nMESSAGE = a\x00b\nMESSAGE = \xff\x00\n[match]\nMESSAGE = ok\n",
        );
        assert_eq!(
            errs,
            vec![
                "t.conf:1: holds a NUL byte",
                "t.conf:3: holds a NUL byte",
                "t.conf:4: holds a NUL byte",
                "t.conf:6: holds a NUL byte",
                "t.conf:7: not valid UTF-8",
            ]
        );
    }

    #[test]
    fn field_names_follow_journald() {
        let long = "A".repeat(65);
        let max = "B".repeat(64);
        let text = format!(
            "[match]\n__CURSOR = x\n{long} = x\n1ABC = x\nA-B = x\n__ = x\n_PID = 1\n{max} = x\nA1_ = x\n"
        );
        let errs = errors(text.as_bytes());
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs[0].starts_with("t.conf:2: '__CURSOR' is an address field"));
        assert!(errs[1].starts_with(&format!("t.conf:3: field name '{long}' is 65 bytes")));
        assert!(errs[2].starts_with("t.conf:4: '1ABC' is not a journal field name"));
        assert!(errs[3].starts_with("t.conf:5: expected 'key = value'"));
        assert!(errs[4].starts_with("t.conf:6: '__' is an address field"));
        let ok = format!("[match]\n_PID = 1\n{max} = x\nA1_ = x\n");
        assert_eq!(parse(&ok).unwrap().rules.matches[0].conditions.len(), 3);
    }

    #[test]
    fn keys_after_an_unknown_section_are_not_applied() {
        // Applied as globals, line 4 would be "given twice" and line 5 an
        // unknown key; [mail] after it is read as usual.
        let errs = errors(
            b"priority = 3\n[bogus]\n\xff\nfrobnicate = 1\npriority = 4\njust words\n\
              [mail\nstate_file = relative\n[mail]\nto = -x\n[match]\nMESSAGE = x\n",
        );
        assert_eq!(
            errs,
            vec![
                "t.conf:2: unknown section [bogus]",
                "t.conf:3: not valid UTF-8",
                "t.conf:7: section header without closing ']'",
                "t.conf:10: mail address '-x' must not start with '-'",
            ]
        );
    }

    #[test]
    fn word_boundary_regex_alerts() {
        let c = parse("[match]\nMESSAGE ~ (?i)\\<error\n").unwrap();
        assert!(c
            .rules
            .alerts(&mut MapEntry::new(&[("MESSAGE", "disk ERROR")])));
        assert!(!c.rules.alerts(&mut MapEntry::new(&[("MESSAGE", "terror")])));
    }

    #[test]
    fn explicit_sendmail_must_run_default_only_warns() {
        let broken = |_: &Path| Some("does not exist".to_string());
        let fine = |_: &Path| None;
        let explicit = |path: &str| {
            let text = format!("[mail]\nto = root\nsendmail = {path}\n[match]\nMESSAGE = x\n");
            parse(&text).unwrap()
        };
        let mut c = explicit("/opt/mta/sendmail");
        assert_eq!(
            c.check_sendmail(broken),
            Err("t.conf:3: sendmail /opt/mta/sendmail does not exist".into())
        );
        assert!(c.warnings.is_empty());
        assert_eq!(c.check_sendmail(fine), Ok(()));
        // The default, implied or spelled out: a warning, and it loads.
        let mut c = parse("[match]\nMESSAGE = x\n").unwrap();
        assert_eq!(c.check_sendmail(broken), Ok(()));
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0]
                .starts_with("t.conf: warning: sendmail /usr/sbin/sendmail does not exist: "),
            "{:?}",
            c.warnings
        );
        let mut c = explicit(DEFAULT_SENDMAIL);
        assert_eq!(c.check_sendmail(broken), Ok(()));
        assert!(c.warnings[0].starts_with("t.conf:3: warning: sendmail /usr/sbin/sendmail"));
        let mut c = explicit(DEFAULT_SENDMAIL);
        assert_eq!(c.check_sendmail(fine), Ok(()));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn sendmail_problems_on_real_files() {
        let dir = Scratch::new("sendmail");
        let script = dir.file("mta", b"#!/bin/sh\n", 0o755);
        let plain = dir.file("plain", b"#!/bin/sh\n", 0o644);
        let owner_only = dir.file("owner", b"#!/bin/sh\n", 0o700);
        assert_eq!(sendmail_problem(&script), None);
        assert_eq!(sendmail_problem(&owner_only), None);
        assert_eq!(sendmail_problem(&plain), Some("is not executable".into()));
        // The non-root path asks the kernel; as root it must agree.
        assert!(crate::sys::can_execute(&script) && !crate::sys::can_execute(&plain));
        assert_eq!(
            sendmail_problem(&dir.0),
            Some("is not a regular file".into())
        );
        assert_eq!(
            sendmail_problem(&dir.0.join("missing")),
            Some("does not exist".into())
        );
        // Through load: FILE:LINE of the `sendmail =` line.
        let conf = |name: &str, sendmail: &Path| {
            let text = format!(
                "[mail]\nsendmail = {}\n[match]\nMESSAGE = x\n",
                sendmail.display()
            );
            dir.file(name, text.as_bytes(), 0o644)
        };
        let good = conf("good.conf", &script);
        assert!(Config::load(&good).is_ok());
        let bad = conf("bad.conf", &plain);
        assert_eq!(
            load_errors(&bad),
            vec![format!(
                "{}:2: sendmail {} is not executable",
                bad.display(),
                plain.display()
            )]
        );
    }

    #[test]
    fn only_regular_config_files_of_sane_size() {
        // A FIFO and /dev/zero are in tests/check.rs, run with a deadline
        // and a memory limit: the old std::fs::read hung or ate memory.
        let dir = Scratch::new("conffiles");
        let errs = load_errors(&dir.0);
        assert_eq!(
            errs,
            vec![format!(
                "{}: not a regular file: a config must be a regular file of at most 1048576 bytes",
                dir.0.display()
            )]
        );
        let mut big = b"[match]\nMESSAGE = x\n".to_vec();
        big.resize(MAX_CONFIG_BYTES as usize + 1, b'\n');
        let big = dir.file("big.conf", &big, 0o644);
        assert!(load_errors(&big)[0].contains("larger than 1048576 bytes"));
        let missing = dir.0.join("missing.conf");
        assert!(matches!(
            Config::load(&missing),
            Err(crate::error::Error::Io { .. })
        ));
    }

    #[test]
    fn every_operator_and_option_parses() {
        let c = parse(
            "[match]\nname = unit failed\ntag = ops\nthreshold = 3 within 5m\nby = UNIT\n\
             MESSAGE_ID == 7d4958e842da4a758f6c1cdc7b36dcc5\nUNIT != init.scope\n\
             MESSAGE !~ ^Started\nPRIORITY <= 3\nERRNO > 0\nN < -5\nM >= 007\nX = y\nY ~ z\n\
             [ignore]\nname = noise\n_COMM == sshd\n",
        )
        .unwrap();
        let r = &c.rules.matches[0];
        assert_eq!(r.label(), "unit failed");
        assert_eq!(r.tag.as_deref(), Some("ops"));
        assert_eq!(
            r.threshold,
            Some(Threshold {
                count: 3,
                within_usec: 300_000_000
            })
        );
        assert_eq!(r.by.as_deref(), Some("UNIT"));
        assert_eq!(r.conditions.len(), 9);
        assert_eq!(r.origin.to_string(), "t.conf:1");
        assert_eq!(c.rules.ignores[0].label(), "noise");
        let holds = |fields: &[(&str, &str)]| r.holds(&mut MapEntry::new(fields));
        let base = [
            ("MESSAGE_ID", "7d4958e842da4a758f6c1cdc7b36dcc5"),
            ("MESSAGE", "x.service: Failed"),
            ("PRIORITY", "3"),
            ("ERRNO", "2"),
            ("N", "-6"),
            ("M", "7"),
            ("X", "xyx"),
            ("Y", "z"),
        ];
        assert!(holds(&base), "UNIT missing: != holds");
        let mut other = base.to_vec();
        other.push(("UNIT", "init.scope"));
        assert!(!holds(&other));
        let mut started = base.to_vec();
        started[1] = ("MESSAGE", "Started x");
        assert!(!holds(&started));
        let mut nan = base.to_vec();
        nan[2] = ("PRIORITY", "3x");
        assert!(!holds(&nan), "not a number: < does not hold");
    }

    #[test]
    fn expect_rules_parse_with_their_options_and_alone() {
        let c = parse(
            "[mail]\nto = root\n[expect]\nname = nightly backup\nSYSLOG_IDENTIFIER == backup\n\
             MESSAGE = backup done\nwithin = 26h\ntag = BACKUP\nto = ops@example.org\n\
             [expect]\n_HOSTNAME == db1\nwithin = 1h\n",
        )
        .expect("an [expect]-only config is valid");
        assert!(c.rules.matches.is_empty());
        let labels: Vec<String> = c.rules.expects.iter().map(|r| r.label()).collect();
        assert_eq!(labels, ["nightly backup", "t.conf:10"]);
        let backup = &c.rules.expects[0];
        assert_eq!(backup.within_usec, Some(26 * 3600 * 1_000_000));
        assert_eq!(backup.tag.as_deref(), Some("BACKUP"));
        assert_eq!(c.routes[backup.route], ["ops@example.org"]);
        assert_eq!(c.rules.expects[1].route, 0);
        assert!(
            c.summary().contains("0 match, 0 ignore, 2 expect"),
            "{}",
            c.summary()
        );
    }

    #[test]
    fn expect_rules_need_within_and_a_name_of_their_own() {
        let errs = errors(
            b"[expect]\nMESSAGE = a\n[expect]\nname = x\nMESSAGE = b\nwithin = 1h\n\
              [expect]\nname = x\nMESSAGE = c\nwithin = 2h\n[expect]\nMESSAGE = d\nwithin = 0s\n\
              context = 3\n",
        );
        let expect = [
            "t.conf:1: an [expect] needs 'within = DURATION'",
            "t.conf:7: another [expect] at t.conf:3 is named 'x' too",
            "t.conf:13: within must be at least 1s",
            "t.conf:14: 'context' is an option of [match] rules only",
        ];
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
        for (got, want) in errs.iter().zip(expect) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn bad_operators_and_options_are_errors_on_their_line() {
        let errs = errors(
            b"[match]\nPRIORITY <= three\nMESSAGE =~ x\nname =\ntag = two words\n\
              threshold = 3\nthreshold = 0 within 1m\n[match]\nby = UNIT\nMESSAGE = x\n\
              [ignore]\ntag = x\nthreshold = 2 within 1m\nMESSAGE = y\nfoo = 1\n\
              [match]\nname = a\nname = b\nMESSAGE = z\nbogus ~ 1\nA == \n",
        );
        let expect = [
            "t.conf:2: '<=' compares numbers: 'three' is not a decimal integer",
            "t.conf:3: '=~' is not an operator",
            "t.conf:4: name must be",
            "t.conf:5: tag must be one word",
            "t.conf:6: threshold must be 'N within DURATION'",
            "t.conf:7: threshold must be",
            "t.conf:8: 'by' counts per value for a 'threshold'",
            "t.conf:12: 'tag' is an option of [match] and [expect] rules",
            "t.conf:13: 'threshold' is an option of [match] rules only",
            "t.conf:15: unknown rule option 'foo'",
            "t.conf:18: 'name' given twice in this rule",
            "t.conf:20: 'bogus' takes '=', not '~'",
            "t.conf:21: empty value for A",
        ];
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
        for (got, want) in errs.iter().zip(expect) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn includes_are_read_in_order_and_name_their_own_files() {
        let dir = Scratch::new("include");
        let d = dir.0.join("logmon.d");
        std::fs::create_dir(&d).unwrap();
        let file = |name: &str, text: &str| dir.file(name, text.as_bytes(), 0o644);
        file("logmon.d/20-b.conf", "[match]\nname = b\nMESSAGE = b\n");
        file(
            "logmon.d/10-a.conf",
            "# a\n[match]\nname = a\nMESSAGE = a\n[ignore]\nMESSAGE = noise\n",
        );
        file("logmon.d/README", "not a rule file\n");
        file("extra.conf", "[match]\nname = extra\nMESSAGE = e\n");
        let main = file(
            "main.conf",
            "include = logmon.d\ninclude = extra.conf\ninclude = missing.d\n[mail]\nsendmail = /bin/true\n",
        );
        let c = Config::load(&main).unwrap();
        let names: Vec<String> = c.rules.matches.iter().map(|r| r.label()).collect();
        assert_eq!(names, ["a", "b", "extra"]);
        assert_eq!(
            c.rules.ignores[0].origin.to_string(),
            format!("{}/10-a.conf:5", d.display())
        );
        // An included file holds rule sections only; errors name it.
        file(
            "logmon.d/30-bad.conf",
            "priority = err\n[mail]\nto = x\n[match]\nMESSAGE ~ (\n",
        );
        let errs = load_errors(&main);
        let bad = format!("{}/30-bad.conf", d.display());
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(errs[0].starts_with(&format!(
            "{bad}:1: 'priority': an included file holds rule sections only"
        )));
        assert!(errs[1].starts_with(&format!(
            "{bad}:2: an included file holds rule sections only"
        )));
        assert!(errs[2].starts_with(&format!("{bad}:5: bad regex")));
        std::fs::remove_file(d.join("30-bad.conf")).unwrap();
        // A missing file is an error; a group-writable one is refused.
        let main2 = file(
            "main2.conf",
            "include = nope.conf\n[match]\nMESSAGE = x\n[mail]\nsendmail = /bin/true\n",
        );
        assert_eq!(
            load_errors(&main2),
            vec![format!(
                "{}:1: include nope.conf: no such file",
                main2.display()
            )]
        );
        dir.file("logmon.d/40-open.conf", b"[match]\nMESSAGE = o\n", 0o666);
        let errs = load_errors(&main);
        assert!(
            errs[0].contains("40-open.conf: refusing a file that group or others can write"),
            "{errs:?}"
        );
        std::fs::remove_file(d.join("40-open.conf")).unwrap();
        // ... and so is a directory others may write.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let errs = load_errors(&main);
        assert!(
            errs[0].contains("refusing a directory that group or others can write"),
            "{errs:?}"
        );
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(Config::load(&main).is_ok());
    }
}
