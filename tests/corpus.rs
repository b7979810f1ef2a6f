//! The real-daemon corpus (tests/corpus/README.md) against the rules: the
//! real binary reads the corpus as a real journal file and its mails are
//! mapped back, line by line, to the corpus entries and their labels.
//!
//! Measured here, for the shipped packs (logmon.d/) and for the version 1
//! rules (the script's keyword rule and its two exceptions): alerting
//! entries, false alerts (noise and normal entries that alert) and missed
//! problem incidents. The packs must alert on every incident, stay below one
//! false alert in twenty, silence each daemon pack's noise, and every pack
//! file must earn its place (without it, its noise alerts or an incident is
//! missed). Run with `--nocapture` to see the table.
//!
//! Mapping: every entry's `_PID` is rewritten to `PID_BASE + index` before
//! the journal file is written, so the `UNIT[PID]` of a mail line names its
//! entry; no rule matches on `_PID`. Lines folded by logmon ("repeated N
//! times") count N entries with the same text, which all carry the same
//! label (checked).

mod common;

use common::*;
use regex_lite::Regex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const LOGMON: &str = env!("CARGO_BIN_EXE_logmon");
const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// Above any real pid (pid_max is at most 2^22) and above logmon's own.
const PID_BASE: usize = 10_000_000;

/// The version 1 rules, as the version 1 logmon.conf shipped them.
const V1_RULES: &str = "\
[match]
MESSAGE ~ (?i)(fail|error|alarm|problem|emerg)

[ignore]
_SYSTEMD_UNIT = postfix.service
MESSAGE       = SSL_accept error from unknown

[ignore]
_SYSTEMD_UNIT = dovecot.service
MESSAGE       = TLS handshaking: SSL_accept() failed
";

// ---------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------

type Fields = Vec<(String, Vec<u8>)>;

/// The export stream (`journalctl -o export`): entries end at a blank line,
/// a field is `NAME=value\n` or `NAME\n<le64 length><bytes>\n`.
fn read_export(data: &[u8]) -> Vec<Fields> {
    let mut entries = Vec::new();
    let mut fields = Fields::new();
    let mut i = 0;
    while i < data.len() {
        let nl = i + data[i..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("export: no newline");
        let line = &data[i..nl];
        if line.is_empty() {
            if !fields.is_empty() {
                entries.push(std::mem::take(&mut fields));
            }
            i = nl + 1;
        } else if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let name = String::from_utf8(line[..eq].to_vec()).expect("export: field name");
            fields.push((name, line[eq + 1..].to_vec()));
            i = nl + 1;
        } else {
            let len = u64::from_le_bytes(data[nl + 1..nl + 9].try_into().unwrap()) as usize;
            let name = String::from_utf8(line.to_vec()).expect("export: field name");
            fields.push((name, data[nl + 9..nl + 9 + len].to_vec()));
            i = nl + 9 + len + 1;
        }
    }
    if !fields.is_empty() {
        entries.push(fields);
    }
    entries
}

/// The first value of a field, as `sd_journal_get_data` returns it.
fn get<'a>(e: &'a Fields, name: &str) -> Option<&'a [u8]> {
    e.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_slice())
}

fn text(e: &Fields, name: &str) -> String {
    String::from_utf8_lossy(get(e, name).unwrap_or_default()).into_owned()
}

fn load_corpus() -> Vec<Fields> {
    let path = format!("{REPO}/tests/corpus/corpus.export.xz");
    let out = run_ok(Command::new("xz").args(["-dc", &path]));
    let entries = read_export(&out.stdout);
    assert!(
        entries.len() > 1000,
        "{path}: only {} entries",
        entries.len()
    );
    entries
}

// ---------------------------------------------------------------------------
// Conditions, shared by labels.conf and the prototype semantics of SPEC.md
// ---------------------------------------------------------------------------

enum Op {
    Contains(Vec<u8>),
    Equals(Vec<u8>),
    Regex(Regex),
    NotEquals(Vec<u8>),
    NotRegex(Regex),
    Compare(&'static str, i64),
}

struct Cond {
    field: String,
    op: Op,
}

fn number(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Cond {
    fn parse(line: &str, at: &str) -> Option<Cond> {
        let re = Regex::new(r"^([A-Z0-9_]+)\s*(==|!=|!~|<=|>=|=|~|<|>)\s*(.*?)\s*$").unwrap();
        let c = re.captures(line)?;
        let value = c[3].to_string();
        let regex = || Regex::new(&value).unwrap_or_else(|e| panic!("{at}: {e}"));
        let cmp = |op| {
            let n = number(value.as_bytes()).unwrap_or_else(|| panic!("{at}: not a number"));
            Op::Compare(op, n)
        };
        let op = match &c[2] {
            "=" => Op::Contains(value.clone().into_bytes()),
            "==" => Op::Equals(value.clone().into_bytes()),
            "~" => Op::Regex(regex()),
            "!=" => Op::NotEquals(value.clone().into_bytes()),
            "!~" => Op::NotRegex(regex()),
            "<" => cmp("<"),
            "<=" => cmp("<="),
            ">" => cmp(">"),
            _ => cmp(">="),
        };
        Some(Cond {
            field: c[1].to_string(),
            op,
        })
    }

    fn holds(&self, e: &Fields) -> bool {
        let v = get(e, &self.field);
        let lossy = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        match (&self.op, v) {
            (Op::NotEquals(x), v) => v != Some(x.as_slice()),
            (Op::NotRegex(re), v) => !v.is_some_and(|v| re.is_match(&lossy(v))),
            (_, None) => false,
            (Op::Contains(x), Some(v)) => v.windows(x.len().max(1)).any(|w| w == x.as_slice()),
            (Op::Equals(x), Some(v)) => v == x.as_slice(),
            (Op::Regex(re), Some(v)) => re.is_match(&lossy(v)),
            (Op::Compare(op, n), Some(v)) => number(v).is_some_and(|x| match *op {
                "<" => x < *n,
                "<=" => x <= *n,
                ">" => x > *n,
                _ => x >= *n,
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------

struct Label {
    at: String,
    class: String,
    incident: String,
    pack: String,
    synthetic: bool,
    conds: Vec<Cond>,
}

impl Label {
    fn holds(&self, e: &Fields) -> bool {
        self.conds.iter().all(|c| c.holds(e))
    }
    fn key(&self) -> String {
        format!("{}/{}", self.class, self.incident)
    }
}

fn load_labels() -> Vec<Label> {
    let path = format!("{REPO}/tests/corpus/labels.conf");
    let body = fs::read_to_string(&path).unwrap();
    let mut labels: Vec<Label> = Vec::new();
    for (n, raw) in body.lines().enumerate() {
        let line = raw.trim();
        let at = format!("labels.conf:{}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "[label]" {
            labels.push(Label {
                at,
                class: String::new(),
                incident: String::new(),
                pack: String::new(),
                synthetic: false,
                conds: Vec::new(),
            });
            continue;
        }
        let l = labels
            .last_mut()
            .unwrap_or_else(|| panic!("{at}: outside [label]"));
        if let Some((k, v)) = line.split_once('=').filter(|(k, _)| {
            let k = k.trim();
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        }) {
            let v = v.trim().to_string();
            match k.trim() {
                "class" => l.class = v,
                "incident" => l.incident = v,
                "pack" => l.pack = v,
                "origin" => l.synthetic = v == "synthetic",
                "note" => {}
                other => panic!("{at}: unknown label option {other}"),
            }
        } else {
            let c = Cond::parse(line, &at).unwrap_or_else(|| panic!("{at}: not FIELD OP VALUE"));
            l.conds.push(c);
        }
    }
    for l in &labels {
        assert!(
            ["problem", "noise", "normal"].contains(&l.class.as_str()),
            "{}: class must be problem, noise or normal",
            l.at
        );
        assert_eq!(
            l.class == "problem",
            !l.incident.is_empty(),
            "{}: a problem, and only a problem, names its incident",
            l.at
        );
        assert!(
            l.class != "noise" || !l.pack.is_empty(),
            "{}: noise names the pack that silences it",
            l.at
        );
    }
    labels
}

struct Corpus {
    entries: Vec<Fields>,
    labels: Vec<Label>,
    /// Index into `labels` of each entry's label (the first that holds).
    of: Vec<usize>,
}

fn corpus() -> Corpus {
    let entries = load_corpus();
    let labels = load_labels();
    let mut unlabeled = Vec::new();
    let of = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            labels.iter().position(|l| l.holds(e)).unwrap_or_else(|| {
                unlabeled.push(format!(
                    "  #{i} {}: {}",
                    text(e, "SYSLOG_IDENTIFIER"),
                    text(e, "MESSAGE")
                ));
                0
            })
        })
        .collect();
    assert!(
        unlabeled.is_empty(),
        "{} corpus entries have no label:\n{}",
        unlabeled.len(),
        unlabeled.join("\n")
    );
    Corpus {
        entries,
        labels,
        of,
    }
}

impl Corpus {
    fn label(&self, i: usize) -> &Label {
        &self.labels[self.of[i]]
    }

    fn incidents(&self, pack: Option<&str>) -> BTreeSet<String> {
        self.labels
            .iter()
            .filter(|l| l.class == "problem" && pack.is_none_or(|p| l.pack == p))
            .map(|l| l.incident.clone())
            .collect()
    }

    /// The corpus as a real journal file in `dir`, each `_PID` naming its
    /// entry (see the file comment).
    fn journal(&self, dir: &Path) -> PathBuf {
        let entries: Vec<Entry> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut out: Entry = e
                    .iter()
                    .filter(|(k, _)| k != "_PID")
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                out.push(("_PID", (PID_BASE + i).to_string().into_bytes()));
                out
            })
            .collect();
        fixture_journal(dir, &entries);
        dir.to_path_buf()
    }
}

// ---------------------------------------------------------------------------
// Running logmon and reading its mails
// ---------------------------------------------------------------------------

/// The repo's logmon.conf without its rule sections, reading `rules`
/// (an `include =` line or rule sections), with no state and no batching.
fn config(dir: &Path, name: &str, rules: &str) -> PathBuf {
    let shipped = fs::read_to_string(format!("{REPO}/logmon.conf")).unwrap();
    let mut global = String::from("state_file =\nboot = all\n");
    let mut rest = String::new();
    let mut section = String::new();
    for line in shipped.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_string();
            if section == "[mail]" {
                rest.push_str("[mail]\nbatch = 0s\n");
            }
            continue;
        }
        if ["[match]", "[ignore]", "[expect]"].contains(&section.as_str()) {
            continue;
        }
        let key = t.split(|c: char| c == '=' || c.is_whitespace()).next();
        let dropped = [
            "state_file",
            "boot",
            "include",
            "directory",
            "namespace",
            "batch",
        ];
        if key.is_some_and(|k| dropped.contains(&k)) {
            continue;
        }
        if section.is_empty() {
            global.push_str(line);
            global.push('\n');
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    let (include, sections) = if rules.starts_with("include") {
        (format!("{rules}\n"), String::new())
    } else {
        (String::new(), rules.to_string())
    };
    write_file(dir, name, format!("{global}{include}{rest}\n{sections}"))
}

/// A copy of logmon.d in `dir` without the files in `without`.
fn packs(dir: &Path, name: &str, without: &[&str]) -> PathBuf {
    let to = dir.join(name);
    fs::create_dir(&to).unwrap();
    for f in pack_files() {
        if !without.contains(&f.as_str()) {
            fs::copy(format!("{REPO}/logmon.d/{f}"), to.join(&f)).unwrap();
        }
    }
    to
}

fn pack_files() -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(format!("{REPO}/logmon.d"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    files.sort();
    files
}

/// `labels.conf`'s pack name of a pack file: `50-sshd.conf` -> `sshd`.
fn pack_name(file: &str) -> &str {
    let stem = file.strip_suffix(".conf").unwrap();
    stem.split_once('-').map_or(stem, |(_, rest)| rest)
}

/// What one run of logmon alerted: per entry index, how many entries its
/// mail line stands for (1, or N for a line folded N times).
struct Alerts {
    lines: BTreeMap<usize, u64>,
    total: u64,
}

fn run_logmon(conf: &Path, journal: &Path) -> Alerts {
    let out = run(Command::new(LOGMON).args([
        "-c",
        conf.to_str().unwrap(),
        "--once",
        "--dry-run",
        "--since",
        "2000-01-01",
        "--directory",
        journal.to_str().unwrap(),
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "logmon -c {} failed: {stderr}",
        conf.display()
    );
    let alerts = parse_mbox(&String::from_utf8_lossy(&out.stdout));
    // logmon's own count, when it says it, must agree with the mails.
    let said = Regex::new(r"read \d+ entries, (\d+) alerts").unwrap();
    if let Some(c) = said.captures(&stderr) {
        assert_eq!(c[1].parse::<u64>().unwrap(), alerts.total, "{stderr}");
    }
    alerts
}

/// Body lines `TIME HOST UNIT[PID]: MESSAGE`, possibly with
/// ` (repeated N times, last at TIME)`; group headers (`== `), context
/// lines (indented) and everything after the `-- ` line are not alerts.
fn parse_mbox(mbox: &str) -> Alerts {
    let pid = Regex::new(r"\[(\d{8,})\]: ").unwrap();
    let folded = Regex::new(r" \(repeated (\d+) times, last at [^)]*\)$").unwrap();
    let overflow = Regex::new(r"^\d+ more from .* first and last:$").unwrap();
    let mut alerts = Alerts {
        lines: BTreeMap::new(),
        total: 0,
    };
    let mut in_body = false;
    let mut after_footer = false;
    let mut prev_blank = true;
    for line in mbox.lines() {
        let blank = line.is_empty();
        // An mbox entry starts with a `From ` line after a blank one.
        if prev_blank && line.starts_with("From ") {
            in_body = false;
            after_footer = false;
            prev_blank = blank;
            continue;
        }
        prev_blank = blank;
        if !in_body {
            in_body = blank;
            continue;
        }
        if line == "-- " {
            after_footer = true;
        }
        if after_footer || line.starts_with(char::is_whitespace) || line.starts_with("== ") {
            continue;
        }
        assert!(
            !overflow.is_match(line),
            "a mail summarised lines; the test cannot map them: {line}"
        );
        let Some(c) = pid.captures(line) else {
            continue;
        };
        let index = c[1].parse::<usize>().unwrap() - PID_BASE;
        let n = folded
            .captures(line)
            .map_or(1, |c| c[1].parse::<u64>().unwrap());
        *alerts.lines.entry(index).or_default() += n;
        alerts.total += n;
    }
    alerts
}

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Measure {
    alerting: u64,
    false_alerts: u64,
    hit: BTreeSet<String>,
    missed: BTreeSet<String>,
    /// Alerting entries per label key (class/incident) and per pack.
    by_pack: BTreeMap<String, (u64, u64)>,
    /// Noise and normal entries that alerted, label and message, for the
    /// failure messages.
    false_examples: Vec<String>,
    noise_alerting_by_pack: BTreeMap<String, u64>,
}

fn measure(c: &Corpus, a: &Alerts) -> Measure {
    let mut m = Measure::default();
    for (&i, &n) in &a.lines {
        assert!(
            i < c.entries.len(),
            "a mail names entry #{i}: no such entry"
        );
        let l = c.label(i);
        m.alerting += n;
        if l.class == "problem" {
            m.hit.insert(l.incident.clone());
            m.by_pack.entry(l.pack.clone()).or_default().0 += n;
        } else {
            m.false_alerts += n;
            m.by_pack.entry(l.pack.clone()).or_default().1 += n;
            if l.class == "noise" {
                *m.noise_alerting_by_pack.entry(l.pack.clone()).or_default() += n;
            }
            m.false_examples.push(format!(
                "  {} x{n} [{}] {}: {}",
                l.at,
                l.class,
                text(&c.entries[i], "SYSLOG_IDENTIFIER"),
                text(&c.entries[i], "MESSAGE").lines().next().unwrap_or("")
            ));
        }
    }
    m.missed = c.incidents(None).difference(&m.hit).cloned().collect();
    m
}

fn row(name: &str, c: &Corpus, m: &Measure) -> String {
    let total = c.incidents(None).len();
    format!(
        "{name:<6} {:>8} {:>6} {:>6.1} % {:>5}/{total:<3} {}",
        m.alerting,
        m.false_alerts,
        100.0 * m.false_alerts as f64 / m.alerting.max(1) as f64,
        m.hit.len(),
        if m.missed.is_empty() {
            "-".to_string()
        } else {
            m.missed.iter().cloned().collect::<Vec<_>>().join(" ")
        }
    )
}

fn summary(c: &Corpus) -> String {
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut synthetic = 0;
    for i in 0..c.entries.len() {
        *classes.entry(c.label(i).class.as_str()).or_default() += 1;
        synthetic += usize::from(c.label(i).synthetic);
    }
    format!(
        "corpus: {} entries ({} real, {synthetic} synthetic): {}; {} incidents",
        c.entries.len(),
        c.entries.len() - synthetic,
        classes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        c.incidents(None).len()
    )
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn every_corpus_entry_has_a_label_and_every_label_an_entry() {
    let c = corpus(); // panics on an unlabeled entry
    let used: BTreeSet<usize> = c.of.iter().copied().collect();
    let unused: Vec<&str> = c
        .labels
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, l)| l.at.as_str())
        .collect();
    assert!(unused.is_empty(), "labels that hold no entry: {unused:?}");
    // Folding in a mail keeps only the first entry of identical texts, so
    // the entries sharing a host and a text must share a label.
    let mut seen: HashMap<(Vec<u8>, Vec<u8>), String> = HashMap::new();
    for i in 0..c.entries.len() {
        let e = &c.entries[i];
        let key = (
            get(e, "_HOSTNAME").unwrap_or_default().to_vec(),
            get(e, "MESSAGE").unwrap_or_default().to_vec(),
        );
        let k = c.label(i).key();
        let first = seen.entry(key).or_insert_with(|| k.clone());
        assert_eq!(
            *first,
            k,
            "#{i} {}: one text, two labels",
            text(e, "MESSAGE")
        );
    }
    assert!(c.incidents(None).len() >= 20, "{}", c.incidents(None).len());
    eprintln!("{}", summary(&c));
}

#[test]
fn version_1_rules_on_the_corpus() {
    let c = corpus();
    let tmp = TempDir::new("corpus-v1");
    let journal = c.journal(&tmp.path().join("j").tap_mkdir());
    let v1 = measure(
        &c,
        &run_logmon(&config(tmp.path(), "v1.conf", V1_RULES), &journal),
    );
    eprintln!("{}\n{}", summary(&c), row("v1", &c, &v1));
    // What version 2 is for: the version 1 rules mail mostly noise and miss
    // trouble without a keyword.
    assert!(
        v1.false_alerts * 2 > v1.alerting,
        "v1: {} false of {}",
        v1.false_alerts,
        v1.alerting
    );
    assert!(
        v1.missed.contains("bounce") && v1.missed.contains("flapping"),
        "v1 missed {:?}",
        v1.missed
    );
}

#[test]
fn shipped_packs_alert_on_every_incident_and_rarely_on_noise() {
    let c = corpus();
    let tmp = TempDir::new("corpus-v2");
    let journal = c.journal(&tmp.path().join("j").tap_mkdir());
    let dir = packs(tmp.path(), "logmon.d", &[]);
    let include = format!("include = {}", dir.display());
    let v2 = measure(
        &c,
        &run_logmon(&config(tmp.path(), "packs.conf", &include), &journal),
    );
    let v1 = measure(
        &c,
        &run_logmon(&config(tmp.path(), "v1.conf", V1_RULES), &journal),
    );
    eprintln!(
        "{}\nrules  alerting  false  false %  incidents  missed\n{}\n{}",
        summary(&c),
        row("v1", &c, &v1),
        row("packs", &c, &v2)
    );
    eprintln!("per pack (packs): problem entries alerting, false alerts");
    for (pack, (p, f)) in &v2.by_pack {
        eprintln!("  {pack:<22} {p:>5} {f:>5}");
    }
    assert!(
        v2.missed.is_empty(),
        "incidents without an alert: {:?}",
        v2.missed
    );
    assert!(
        v2.false_alerts * 20 < v2.alerting,
        "{} false alerts of {} alerting entries:\n{}",
        v2.false_alerts,
        v2.alerting,
        v2.false_examples.join("\n")
    );
    // Each daemon pack silences all of its noise.
    assert!(
        v2.noise_alerting_by_pack.is_empty(),
        "noise that its pack should silence:\n{}",
        v2.false_examples
            .iter()
            .filter(|l| l.contains("[noise]"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // And each daemon's real failures still alert (a subset of the above,
    // said per pack so a failure names the pack).
    for pack in c
        .labels
        .iter()
        .map(|l| l.pack.as_str())
        .collect::<BTreeSet<_>>()
    {
        let missed: Vec<_> = c
            .incidents(Some(pack))
            .difference(&v2.hit)
            .cloned()
            .collect();
        assert!(
            missed.is_empty(),
            "pack {pack}: incidents missed: {missed:?}"
        );
    }
}

#[test]
fn every_pack_file_earns_its_place() {
    let c = corpus();
    let tmp = TempDir::new("corpus-each");
    let journal = c.journal(&tmp.path().join("j").tap_mkdir());
    let all = packs(tmp.path(), "all", &[]);
    let full = measure(
        &c,
        &run_logmon(
            &config(
                tmp.path(),
                "all.conf",
                &format!("include = {}", all.display()),
            ),
            &journal,
        ),
    );
    for file in pack_files() {
        let name = pack_name(&file);
        let dir = packs(tmp.path(), &format!("without-{name}"), &[&file]);
        let conf = config(
            tmp.path(),
            &format!("without-{name}.conf"),
            &format!("include = {}", dir.display()),
        );
        let m = measure(&c, &run_logmon(&conf, &journal));
        let body = fs::read_to_string(format!("{REPO}/logmon.d/{file}")).unwrap();
        let has = |s: &str| body.lines().any(|l| l.trim() == s);
        let lost: Vec<_> = m.missed.difference(&full.missed).cloned().collect();
        let noisier = m.noise_alerting_by_pack.get(name).copied().unwrap_or(0);
        eprintln!(
            "without {file:<28} incidents missed {:<40} its noise alerting {noisier}",
            format!("{lost:?}")
        );
        let has_noise = c
            .labels
            .iter()
            .any(|l| l.class == "noise" && l.pack == name);
        if has_noise {
            assert!(
                noisier > 0,
                "{file}: without it no noise of pack {name} alerts: its [ignore] blocks have no evidence"
            );
        } else if has("[match]") {
            assert!(
                !lost.is_empty() || m.alerting < full.alerting,
                "{file}: without it nothing changes"
            );
        } else {
            assert!(
                !has("[ignore]")
                    && body
                        .lines()
                        .all(|l| l.trim().is_empty() || l.trim().starts_with('#')),
                "{file}: [ignore] blocks without noise labelled \"pack = {name}\", or not only comments"
            );
        }
    }
}

/// `path.tap_mkdir()`: create the directory, hand the path on.
trait TapMkdir {
    fn tap_mkdir(self) -> PathBuf;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        fs::create_dir(&self).unwrap_or_else(|e| panic!("creating {}: {e}", self.display()));
        self
    }
}
