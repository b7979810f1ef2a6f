//! Benchmark journal generator (part of `make bench`, see benches/bench.sh).
//!
//! `gen N META [full|lean]` writes N synthetic entries in journal export format to
//! stdout (for `systemd-journal-remote --split-mode=none --output=X.journal -`)
//! and the expected figures to the file META as `key=value` lines.
//!
//! The entries look like a small mail/web server's journal: postfix,
//! dovecot, sshd, nginx, cron, postgresql, systemd and kernel lines of 60-200
//! bytes, priorities 3-7, about 1 % of them matching logmon's default rule
//! `MESSAGE ~ (?i)(fail|error|alarm|problem|emerg)` in varied case, some of
//! those the two false positives the shipped config ignores, and some at
//! priority 7, which the shipped `priority = info` never reads.
//!
//! Shape `full` (the default) gives each entry the ~20 fields journald
//! records for a syslog or stdout line of a service (_PID, _UID, _COMM, _EXE,
//! _SYSTEMD_CGROUP, _SYSTEMD_INVOCATION_ID, ...), about 700 bytes of journal
//! file per entry; `lean` only 9 (timestamps, boot, host, PRIORITY,
//! SYSLOG_IDENTIFIER, _PID, _SYSTEMD_UNIT, MESSAGE). Readers that walk every
//! field of an entry (`journalctl -o cat` does) slow down with the count.
//!
//! The expected alert count is computed here from the final text of each
//! entry with the shipped rules' semantics (case-insensitive substring for the
//! regex, case-sensitive substring for `FIELD = text`), so it stays exact
//! whatever the templates produce. Output is deterministic (fixed seed).
//!
//! `_PID` values are above Linux's PID_MAX_LIMIT (4194304): logmon drops
//! alerts whose `_PID` is its own, and a generated PID must never be one.

mod shared;
use shared::*;
use std::fs;
use std::io::{self, BufWriter, Write};

/// Changes whenever the output changes; bench.sh keys its cache on it too.
const FORMAT_VERSION: u32 = 1;

/// 2024-03-04 00:00:00 UTC.
const START_USEC: u64 = 1_709_510_400_000_000;
const BOOT_ID: &str = "5b1d2f0c9e8a4c3bb0a1d2e3f4a5b6c7";
const MACHINE_ID: &str = "0f3c8e2a6d1b4e7f9a0b1c2d3e4f5a6b";
const HOST: &str = "mx1";
/// Linux never hands out a PID at or above this (PID_MAX_LIMIT, 64-bit).
const PID_BASE: u64 = 4_194_304;

impl Rng {
    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability per_mille / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            s.push_str(&format!("{:016X}", self.next()));
        }
        s.truncate(len);
        s
    }
    fn ip(&mut self) -> String {
        let nets = ["192.0.2", "198.51.100", "203.0.113"];
        format!("{}.{}", self.pick(&nets), 1 + self.below(254))
    }
    /// A keyword in one of several spellings: lower, Capital, UPPER, mixed.
    fn case(&mut self, word: &str) -> String {
        match self.below(10) {
            0..=4 => word.to_string(),
            5..=7 => {
                let mut c = word.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
            8 => word.to_ascii_uppercase(),
            _ => word
                .chars()
                .map(|ch| {
                    if self.next() & 1 == 0 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    }
                })
                .collect(),
        }
    }
}

/// One kind of daemon: its trusted fields and its identifier(s).
struct Daemon {
    unit: Option<&'static str>,
    comm: &'static str,
    exe: &'static str,
    idents: &'static [&'static str],
    transport: &'static str,
    uid: u32,
    /// Relative share of normal traffic.
    weight: u64,
}

const DAEMONS: &[Daemon] = &[
    Daemon {
        unit: Some("postfix.service"),
        comm: "smtpd",
        exe: "/usr/lib/postfix/sbin/smtpd",
        idents: &[
            "postfix/smtpd",
            "postfix/qmgr",
            "postfix/cleanup",
            "postfix/smtp",
        ],
        transport: "syslog",
        uid: 107,
        weight: 30,
    },
    Daemon {
        unit: Some("dovecot.service"),
        comm: "imap-login",
        exe: "/usr/lib/dovecot/imap-login",
        idents: &["dovecot"],
        transport: "syslog",
        uid: 0,
        weight: 20,
    },
    Daemon {
        unit: Some("ssh.service"),
        comm: "sshd",
        exe: "/usr/sbin/sshd",
        idents: &["sshd"],
        transport: "syslog",
        uid: 0,
        weight: 10,
    },
    Daemon {
        unit: Some("nginx.service"),
        comm: "nginx",
        exe: "/usr/sbin/nginx",
        idents: &["nginx"],
        transport: "stdout",
        uid: 33,
        weight: 20,
    },
    Daemon {
        unit: Some("cron.service"),
        comm: "cron",
        exe: "/usr/sbin/cron",
        idents: &["CRON"],
        transport: "syslog",
        uid: 0,
        weight: 6,
    },
    Daemon {
        unit: Some("postgresql@15-main.service"),
        comm: "postgres",
        exe: "/usr/lib/postgresql/15/bin/postgres",
        idents: &["postgres"],
        transport: "stdout",
        uid: 112,
        weight: 8,
    },
    Daemon {
        unit: Some("init.scope"),
        comm: "systemd",
        exe: "/usr/lib/systemd/systemd",
        idents: &["systemd"],
        transport: "journal",
        uid: 0,
        weight: 5,
    },
    Daemon {
        unit: None,
        comm: "kernel",
        exe: "",
        idents: &["kernel"],
        transport: "kernel",
        uid: 0,
        weight: 1,
    },
];

fn user(r: &mut Rng) -> &'static str {
    r.pick(&[
        "alice", "bob", "carol", "dave", "erin", "frank", "deploy", "backup",
    ])
}

fn domain(r: &mut Rng) -> &'static str {
    r.pick(&[
        "example.org",
        "example.net",
        "example.com",
        "mail.example.org",
    ])
}

/// An everyday line of `d` (it may still match the rule by accident, which
/// the expectation accounts for).
fn normal(r: &mut Rng, d: usize) -> String {
    let qid = r.hex(11);
    match d {
        0 => match r.below(6) {
            0 => format!("connect from unknown[{}]", r.ip()),
            1 => format!(
                "disconnect from mail-{}.{}[{}] ehlo=1 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=6",
                r.hex(6).to_lowercase(),
                domain(r),
                r.ip()
            ),
            2 => format!("{qid}: message-id=<{}.{}@{}>", START_USEC / 1000 + r.below(1 << 30), r.below(99999), domain(r)),
            3 => format!("{qid}: from=<{}@{}>, size={}, nrcpt=1 (queue active)", user(r), domain(r), 800 + r.below(90000)),
            4 => format!(
                "{qid}: to=<{}@{}>, relay=mx.{}[{}]:25, delay=0.{}, delays=0.1/0/0.2/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
                user(r),
                domain(r),
                domain(r),
                r.ip(),
                r.below(99)
            ),
            _ => format!("{qid}: removed"),
        },
        1 => match r.below(3) {
            0 => format!(
                "imap-login: Login: user=<{}>, method=PLAIN, rip={}, lip=192.0.2.1, mpid={}, TLS, session=<{}>",
                user(r),
                r.ip(),
                1000 + r.below(30000),
                r.hex(16)
            ),
            1 => format!(
                "imap({})<{}><{}>: Logged out in={} out={} deleted=0 expunged=0 trashed=0",
                user(r),
                1000 + r.below(30000),
                r.hex(16),
                r.below(5000),
                r.below(900000)
            ),
            _ => format!("lmtp({}): msgid=<{}@{}>: saved mail to INBOX", user(r), r.hex(20), domain(r)),
        },
        2 => match r.below(3) {
            0 => format!(
                "Accepted publickey for {} from {} port {} ssh2: ED25519 SHA256:{}",
                user(r),
                r.ip(),
                1024 + r.below(60000),
                r.hex(43)
            ),
            1 => format!("Disconnected from user {} {} port {}", user(r), r.ip(), 1024 + r.below(60000)),
            _ => format!("pam_unix(sshd:session): session opened for user {}(uid=1000) by (uid=0)", user(r)),
        },
        3 => {
            let paths = ["/", "/index.html", "/api/v1/items", "/static/app.js", "/login", "/favicon.ico", "/robots.txt"];
            let agents = [
                "curl/7.88.1",
                "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
                "Go-http-client/1.1",
            ];
            format!(
                "{} - - \"GET {}?page={} HTTP/1.1\" {} {} \"-\" \"{}\"",
                r.ip(),
                r.pick(&paths),
                r.below(50),
                r.pick(&["200", "200", "200", "304", "404"]),
                r.below(60000),
                r.pick(&agents)
            )
        }
        4 => match r.below(2) {
            0 => "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)".to_string(),
            _ => "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)".to_string(),
        },
        5 => match r.below(2) {
            0 => "LOG:  checkpoint starting: time".to_string(),
            _ => format!(
                "LOG:  checkpoint complete: wrote {} buffers ({}.{}%); 0 WAL file(s) added, 0 removed, 1 recycled",
                r.below(4000),
                r.below(9),
                r.below(9)
            ),
        },
        6 => match r.below(3) {
            0 => {
                let s = r.below(900);
                format!("Started session-{s}.scope - Session {s} of User {}.", user(r))
            }
            1 => "logrotate.service: Deactivated successfully.".to_string(),
            _ => "Finished logrotate.service - Rotate log files.".to_string(),
        },
        _ => format!(
            "[UFW BLOCK] IN=eth0 OUT= SRC={} DST=192.0.2.1 LEN=44 PROTO=TCP SPT={} DPT=23",
            r.ip(),
            1024 + r.below(60000)
        ),
    }
}

/// A line that matches the rule. Returns (daemon index, message).
/// `false_positive` picks one of the two known false positives instead.
fn trouble(r: &mut Rng, false_positive: bool) -> (usize, String) {
    if false_positive {
        return if r.chance(500) {
            (
                0,
                format!("SSL_accept error from unknown[{}]: lost connection", r.ip()),
            )
        } else {
            (
                1,
                format!(
                    "imap-login: Disconnected: TLS handshaking: SSL_accept() failed: {}:0A00010B:SSL routines::wrong version number: rip={}",
                    // The shipped ignore text is case-sensitive; only the
                    // prefix keyword varies.
                    r.case("error"),
                    r.ip()
                ),
            )
        };
    }
    match r.below(12) {
        0 => (
            0,
            format!(
                "warning: TLS library {}: {}:0A000126:SSL routines::unexpected eof while reading",
                r.case("problem"),
                r.case("error")
            ),
        ),
        1 => (
            0,
            format!(
                "warning: hostname {}.{} does not resolve to address {}: Temporary {} in name resolution",
                r.hex(8).to_lowercase(),
                domain(r),
                r.ip(),
                r.case("failure")
            ),
        ),
        2 => (
            1,
            format!(
                "auth-worker({}): {}: sql({}@{},{}): Password query {}: connection lost",
                1000 + r.below(30000),
                r.case("error"),
                user(r),
                domain(r),
                r.ip(),
                r.case("failed")
            ),
        ),
        3 => (
            2,
            format!(
                "{} password for invalid user {} from {} port {} ssh2",
                r.case("failed"),
                r.pick(&["admin", "test", "oracle", "ubuntu", "pi"]),
                r.ip(),
                1024 + r.below(60000)
            ),
        ),
        4 => (
            2,
            format!("{}: kex_exchange_identification: Connection closed by remote host", r.case("error")),
        ),
        5 => (
            3,
            format!(
                "2024/03/04 10:22:33 [{}] {}#{}: *{} upstream timed out (110: Connection timed out) while reading response header, client: {}",
                r.case("error"),
                1000 + r.below(9000),
                r.below(4),
                r.below(10_000_000),
                r.ip()
            ),
        ),
        6 => (
            5,
            format!(
                "{}:  duplicate key value violates unique constraint \"users_email_key\" (id {})",
                r.case("error"),
                r.below(100_000)
            ),
        ),
        7 => (
            6,
            format!(
                "backup.service: Main process exited, code=exited, status=1/{}",
                r.case("failure")
            ),
        ),
        8 => (
            6,
            format!("{} to start backup.service - Nightly backup to {}.", r.case("failed"), domain(r)),
        ),
        9 => (
            7,
            format!(
                "EXT4-fs {} (device sda1): ext4_find_entry:1587: inode #{}: comm {}: reading directory lblock 0",
                r.case("error"),
                r.below(9_000_000),
                r.pick(&["nginx", "postgres", "rsync"])
            ),
        ),
        10 => (
            7,
            format!(
                "thermal thermal_zone0: temperature {} C above threshold, {} raised",
                80 + r.below(20),
                r.case("alarm")
            ),
        ),
        _ => (
            6,
            format!("Starting {}.service - {} Shell...", r.case("emergency"), r.case("emergency")),
        ),
    }
}

/// Pads or cuts `msg` to 60-200 bytes (ASCII only, so any cut is safe).
fn fit(r: &mut Rng, mut msg: String) -> String {
    let want_min = 60 + r.below(20) as usize;
    if msg.len() < want_min {
        msg.push_str(" (id=");
        msg.push_str(&r.hex(8).to_lowercase());
        while msg.len() + 1 < want_min {
            msg.push_str(" id=");
            msg.push_str(&r.hex(8).to_lowercase());
        }
        msg.push(')');
    }
    msg.truncate(200);
    msg
}

fn contains(hay: &str, needle: &str) -> bool {
    hay.contains(needle)
}

/// The shipped default rule: `MESSAGE ~ (?i)(fail|error|alarm|problem|emerg)`.
fn matches_rule(msg: &str) -> bool {
    let low = msg.to_ascii_lowercase();
    ["fail", "error", "alarm", "problem", "emerg"]
        .iter()
        .any(|w| low.contains(w))
}

/// The shipped [ignore] blocks (both conditions are substring tests).
fn ignored(unit: Option<&str>, msg: &str) -> bool {
    let Some(unit) = unit else { return false };
    (contains(unit, "postfix.service") && contains(msg, "SSL_accept error from unknown"))
        || (contains(unit, "dovecot.service")
            && contains(msg, "TLS handshaking: SSL_accept() failed"))
}

fn field(out: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    // Export format, text form: every value here is printable ASCII.
    out.write_all(name.as_bytes())?;
    out.write_all(b"=")?;
    out.write_all(value.as_bytes())?;
    out.write_all(b"\n")
}

#[derive(Default)]
struct Counts {
    entries: u64,
    readable: u64,
    rule_matches: u64,
    ignored: u64,
    debug_matches: u64,
    alerts: u64,
    bytes_message: u64,
    min_len: usize,
    max_len: usize,
}

fn generate(n: u64, lean: bool, out: &mut impl Write) -> io::Result<Counts> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let total_weight: u64 = DAEMONS.iter().map(|d| d.weight).sum();
    let mut c = Counts {
        min_len: usize::MAX,
        ..Counts::default()
    };
    let mut realtime = START_USEC;
    let mut monotonic: u64 = 12_345_678;
    // One PID per daemon for a while, as long-running daemons have.
    let mut pids: Vec<u64> = DAEMONS
        .iter()
        .map(|_| PID_BASE + 1000 + r.below(800_000))
        .collect();
    let invocation: Vec<String> = DAEMONS.iter().map(|_| r.hex(32).to_lowercase()).collect();
    for _ in 0..n {
        let step = 1 + r.below(40_000);
        realtime += step;
        monotonic += step;
        // ~1.1 % trouble; of that ~12 % the shipped false positives.
        let is_trouble = r.chance(11);
        let (d, msg, prio) = if is_trouble {
            let fp = r.chance(120);
            let (d, m) = trouble(&mut r, fp);
            // Mostly err/warning, some info, a few debug (never read).
            let prio = match r.below(20) {
                0..=9 => 3,
                10..=15 => 4,
                16..=18 => 6,
                _ => 7,
            };
            (d, m, prio)
        } else {
            let mut w = r.below(total_weight);
            let mut d = 0;
            while w >= DAEMONS[d].weight {
                w -= DAEMONS[d].weight;
                d += 1;
            }
            let prio = match r.below(100) {
                0..=69 => 6,
                70..=81 => 5,
                82..=91 => 7,
                92..=97 => 4,
                _ => 3,
            };
            (d, normal(&mut r, d), prio)
        };
        let msg = fit(&mut r, msg);
        let daemon = &DAEMONS[d];
        if r.chance(2) {
            // A daemon restarts now and then: new PID.
            pids[d] = PID_BASE + 1000 + r.below(800_000);
        }

        c.entries += 1;
        c.bytes_message += msg.len() as u64;
        c.min_len = c.min_len.min(msg.len());
        c.max_len = c.max_len.max(msg.len());
        let matched = matches_rule(&msg);
        let ign = matched && ignored(daemon.unit, &msg);
        if prio <= 6 {
            c.readable += 1;
            if matched {
                c.rule_matches += 1;
                if ign {
                    c.ignored += 1;
                } else {
                    c.alerts += 1;
                }
            }
        } else if matched {
            c.debug_matches += 1;
        }

        // Draw every random value whatever the shape, so both shapes hold
        // the same messages and the same expected alerts.
        let ident = if daemon.transport == "kernel" {
            "kernel"
        } else {
            r.pick(daemon.idents)
        };
        let src = realtime - r.below(step.min(500));
        let pid = pids[d].to_string();
        field(out, "__REALTIME_TIMESTAMP", &realtime.to_string())?;
        field(out, "__MONOTONIC_TIMESTAMP", &monotonic.to_string())?;
        field(out, "_BOOT_ID", BOOT_ID)?;
        if lean {
            field(out, "_HOSTNAME", HOST)?;
            field(out, "PRIORITY", &prio.to_string())?;
            field(out, "SYSLOG_IDENTIFIER", ident)?;
            if daemon.transport != "kernel" {
                field(out, "_PID", &pid)?;
            }
            if let Some(unit) = daemon.unit {
                field(out, "_SYSTEMD_UNIT", unit)?;
            }
        } else {
            field(out, "_MACHINE_ID", MACHINE_ID)?;
            field(out, "_HOSTNAME", HOST)?;
            field(out, "_TRANSPORT", daemon.transport)?;
            field(out, "PRIORITY", &prio.to_string())?;
            if daemon.transport == "kernel" {
                field(out, "SYSLOG_FACILITY", "0")?;
                field(out, "SYSLOG_IDENTIFIER", ident)?;
            } else {
                let facility = if daemon.transport == "syslog" {
                    "2"
                } else {
                    "3"
                };
                field(out, "SYSLOG_FACILITY", facility)?;
                field(out, "SYSLOG_IDENTIFIER", ident)?;
                if daemon.transport == "syslog" {
                    field(out, "SYSLOG_PID", &pid)?;
                }
                field(out, "_PID", &pid)?;
                field(out, "_UID", &daemon.uid.to_string())?;
                field(out, "_GID", &daemon.uid.to_string())?;
                field(out, "_COMM", daemon.comm)?;
                field(out, "_EXE", daemon.exe)?;
                field(out, "_CAP_EFFECTIVE", "0")?;
                if let Some(unit) = daemon.unit {
                    let slice = if unit == "init.scope" {
                        "-.slice"
                    } else {
                        "system.slice"
                    };
                    field(out, "_SYSTEMD_CGROUP", &format!("/{slice}/{unit}"))?;
                    field(out, "_SYSTEMD_UNIT", unit)?;
                    field(out, "_SYSTEMD_SLICE", slice)?;
                    field(out, "_SYSTEMD_INVOCATION_ID", &invocation[d])?;
                }
                field(out, "_SOURCE_REALTIME_TIMESTAMP", &src.to_string())?;
            }
        }
        field(out, "MESSAGE", &msg)?;
        out.write_all(b"\n")?;
    }
    Ok(c)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(n), Some(meta)) = (args.first(), args.get(1)) else {
        eprintln!("usage: gen N META [full|lean] >export   (driven by benches/bench.sh; run `make bench`)");
        return;
    };
    let lean = match args.get(2).map(String::as_str) {
        None | Some("full") => false,
        Some("lean") => true,
        Some(other) => {
            eprintln!("gen: shape must be full or lean, not {other:?}");
            std::process::exit(2);
        }
    };
    let n: u64 = match n.parse() {
        Ok(n) => n,
        Err(_) => {
            eprintln!("gen: N must be a number, not {n:?}");
            std::process::exit(2);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let counts = generate(n, lean, &mut out).and_then(|c| out.flush().map(|()| c));
    let c = match counts {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gen: writing the export stream: {e}");
            std::process::exit(1);
        }
    };
    let text = format!(
        "format={FORMAT_VERSION}\nshape={}\nentries={}\nreadable={}\nrule_matches={}\nignored={}\ndebug_matches={}\nalerts={}\nmessage_bytes={}\nmin_len={}\nmax_len={}\n",
        if lean { "lean" } else { "full" },
        c.entries,
        c.readable,
        c.rule_matches,
        c.ignored,
        c.debug_matches,
        c.alerts,
        c.bytes_message,
        c.min_len,
        c.max_len
    );
    if let Err(e) = fs::write(meta, text) {
        eprintln!("gen: writing {meta}: {e}");
        std::process::exit(1);
    }
}
