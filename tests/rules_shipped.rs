//! The shipped rule packs (logmon.conf + logmon.d) on the entries they are
//! for, through the real binary: systemd's "unit failed" line names the
//! unit, not init.scope; PRIORITY <= 3 alerts without a keyword; the crash
//! loop rule alerts at its threshold, not below, and what a threshold
//! window holds survives a restart (SIGTERM, SIGKILL, --once runs) and a
//! reload (SIGHUP).

mod common;

use common::*;
use regex_lite::Regex;
use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const UNIT_FAILED_ID: &str = "d9b373ed55a64feb8242e02dbe79a49c";
const RESTART_SCHEDULED_ID: &str = "5eb03494b6584870a536b337290809b3";

/// The fields systemd 252 (PID 1) puts on its own lines about a unit, as
/// seen in tests/corpus/corpus.export.xz (e.g. "fail2ban.service: Failed
/// with result 'exit-code'." from src/core/unit.c:unit_log_failure), plus
/// `extra` (MESSAGE, MESSAGE_ID, PRIORITY, CODE_*, ...).
fn from_pid1<'a>(unit: &'a str, invocation: &'a str, extra: &[(&'a str, &'a str)]) -> Entry<'a> {
    let mut fields = vec![
        ("SYSLOG_FACILITY", "3"),
        ("_UID", "0"),
        ("_GID", "0"),
        ("_HOSTNAME", "web1"),
        ("_RUNTIME_SCOPE", "system"),
        ("TID", "1"),
        ("SYSLOG_IDENTIFIER", "systemd"),
        ("_TRANSPORT", "journal"),
        ("_PID", "1"),
        ("_COMM", "systemd"),
        ("_EXE", "/usr/lib/systemd/systemd"),
        ("_CMDLINE", "/sbin/init"),
        ("_CAP_EFFECTIVE", "1ffffffffff"),
        ("_SYSTEMD_CGROUP", "/init.scope"),
        ("_SYSTEMD_UNIT", "init.scope"),
        ("_SYSTEMD_SLICE", "-.slice"),
        ("INVOCATION_ID", invocation),
        ("UNIT", unit),
    ];
    fields.extend_from_slice(extra);
    entry(&fields)
}

/// systemd 252's "UNIT: Failed with result 'exit-code'." (PRIORITY 4).
fn unit_failed<'a>(unit: &'a str, invocation: &'a str, message: &'a str) -> Entry<'a> {
    from_pid1(
        unit,
        invocation,
        &[
            ("PRIORITY", "4"),
            ("CODE_FILE", "src/core/unit.c"),
            ("CODE_LINE", "5629"),
            ("CODE_FUNC", "unit_log_failure"),
            ("MESSAGE_ID", UNIT_FAILED_ID),
            ("MESSAGE", message),
            ("UNIT_RESULT", "exit-code"),
        ],
    )
}

/// The threshold of the shipped crash-loop rule (the block with the
/// "automatic restart scheduled" MESSAGE_ID in logmon.d/00-systemd.conf):
/// N and the window in seconds, as the file says today.
fn shipped_crash_loop_threshold() -> (usize, u64) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/logmon.d/00-systemd.conf");
    let text = fs::read_to_string(path).expect("reading 00-systemd.conf");
    let block = text
        .split("[match]")
        .find(|b| b.contains(&format!("MESSAGE_ID == {RESTART_SCHEDULED_ID}")))
        .expect("a [match] block on the restart-scheduled MESSAGE_ID");
    let value = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("threshold = "))
        .expect("the crash-loop block has a threshold");
    let (n, window) = value.split_once(" within ").expect("N within D");
    let n: usize = n.trim().parse().expect("threshold N");
    let window = window.trim();
    let (num, unit) = window.split_at(window.len() - 1);
    let num: u64 = num.parse().expect("a duration");
    let secs = num
        * match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => panic!("duration unit in {window:?}"),
        };
    assert!(n >= 2, "a threshold of {n} is no threshold");
    (n, secs)
}

/// `logmon --once --dry-run` with the shipped packs over the fixture
/// journal in `journal_dir`, from its beginning: the mails it prints.
fn dry_run_shipped(dir: &Path, journal_dir: &Path) -> Vec<String> {
    let fake = FakeSendmail::new();
    let conf = shipped_config(dir, fake.path(), "10s");
    let out = run(std::process::Command::new(LOGMON).args([
        "-c",
        conf.to_str().unwrap(),
        "--once",
        "--dry-run",
        "--since",
        "2000-01-01",
        "--directory",
        journal_dir.to_str().unwrap(),
    ]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fake.mails().is_empty(), "--dry-run ran sendmail");
    mbox_mails(&String::from_utf8_lossy(&out.stdout))
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_micros() as u64
}

#[test]
fn a_failed_unit_mails_the_unit_not_init_scope() {
    let dir = TempDir::new("unitfail");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    fixture_journal(
        &jdir,
        &[unit_failed(
            "foo.service",
            "6b1c4f0f2a8e4d1f9d3c2b1a09f8e7d6",
            "foo.service: Failed with result 'exit-code'.",
        )],
    );
    let mails = dry_run_shipped(dir.path(), &jdir);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let (subject, body) = subject_and_body(&mails[0]);
    assert_eq!(subject, "[ALERT] Error detected in foo.service on web1");
    // The structured rule fired, not the keyword rule the English text
    // happens to hold ("Failed"): a translated line has no keyword.
    assert_eq!(
        header_of(&mails[0], "X-Logmon-Rules").as_deref(),
        Some("unit failed"),
        "{}",
        mails[0]
    );
    assert!(
        body.lines()
            .any(|l| l
                .ends_with(" web1 foo.service[1]: foo.service: Failed with result 'exit-code'.")),
        "{body}"
    );
    assert!(!mails[0].contains("init.scope"), "{}", mails[0]);
}

#[test]
fn priority_err_without_a_keyword_alerts() {
    let dir = TempDir::new("prio");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    let line = |prio: &'static str, message: &'static str| {
        entry(&[
            ("MESSAGE", message),
            ("PRIORITY", prio),
            ("SYSLOG_IDENTIFIER", "raidcheck"),
            ("_HOSTNAME", "web1"),
            ("_PID", "4242"),
            ("_TRANSPORT", "syslog"),
        ])
    };
    fixture_journal(
        &jdir,
        &[
            line("4", "md0: degraded array at warning level"),
            line("3", "md0: array degraded, 1 of 2 devices left"),
            line("6", "md0: resync at info level"),
        ],
    );
    let keyword = keyword_rule();
    for text in [
        "md0: degraded array at warning level",
        "md0: array degraded, 1 of 2 devices left",
    ] {
        assert!(!keyword.is_match(text), "{text:?} holds a keyword");
    }
    let mails = dry_run_shipped(dir.path(), &jdir);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let (subject, body) = subject_and_body(&mails[0]);
    assert_eq!(subject, "[ALERT] Error detected in raidcheck on web1");
    assert_eq!(
        header_of(&mails[0], "X-Logmon-Rules").as_deref(),
        Some("logged at err or worse")
    );
    assert!(
        body.lines()
            .any(|l| l.ends_with(" web1 raidcheck[4242]: md0: array degraded, 1 of 2 devices left")),
        "{body}"
    );
    assert!(
        !body.contains("warning level"),
        "PRIORITY 4 alerted: {body}"
    );
    assert!(!body.contains("info level"), "PRIORITY 6 alerted: {body}");
}

/// The shipped keyword rule's regex (logmon.d/20-keywords.conf), so the
/// priority test can be sure its lines do not alert through that rule.
fn keyword_rule() -> Regex {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/logmon.d/20-keywords.conf");
    let text = fs::read_to_string(path).expect("reading 20-keywords.conf");
    let block = text
        .split("[match]")
        .find(|b| b.contains("name = keyword"))
        .expect("the keyword rule");
    let re = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("MESSAGE ~ "))
        .expect("the keyword rule's MESSAGE regex");
    Regex::new(re).expect("the keyword regex compiles")
}

/// systemd 252's "UNIT: Scheduled restart job, restart counter is at K."
/// (src/core/service.c:service_enter_restart), at `usec`.
fn restart_scheduled(unit: &str, k: usize, usec: u64) -> Entry<'_> {
    let mut e = from_pid1(
        unit,
        "4d52fed610e9461793c00484fa932060",
        &[
            ("PRIORITY", "6"),
            ("CODE_FILE", "src/core/service.c"),
            ("CODE_LINE", "2373"),
            ("CODE_FUNC", "service_enter_restart"),
            ("MESSAGE_ID", RESTART_SCHEDULED_ID),
        ],
    );
    let message = format!("{unit}: Scheduled restart job, restart counter is at {k}.");
    e.push(("MESSAGE", message.into_bytes()));
    e.push(("N_RESTARTS", k.to_string().into_bytes()));
    e.push(("__REALTIME_TIMESTAMP", usec.to_string().into_bytes()));
    e
}

#[test]
fn a_crash_loop_alerts_at_the_shipped_threshold_not_below() {
    let (n, window_s) = shipped_crash_loop_threshold();
    eprintln!("shipped crash-loop threshold: {n} within {window_s} s");
    let window = window_s * 1_000_000;
    let dir = TempDir::new("crashloop");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    // Three units, their restarts interleaved in time, all in the past:
    // below.service restarts N-1 times within the window, at.service N
    // times, spread.service N times but spaced so that no N fall within
    // the window.
    let spread_gap = window / (n as u64 - 1) + 10_000_000;
    let span = spread_gap * (n as u64 - 1);
    let base = now_us() - span - 60_000_000;
    let mut timed: Vec<(u64, &'static str, usize)> = Vec::new();
    for k in 1..n {
        timed.push((base + k as u64 * 1_000_000, "below.service", k));
    }
    let step = window / (n as u64 * 2);
    for k in 1..=n {
        timed.push((base + 500_000 + k as u64 * step, "at.service", k));
    }
    for k in 1..=n {
        timed.push((
            base + 700_000 + (k as u64 - 1) * spread_gap,
            "spread.service",
            k,
        ));
    }
    timed.sort();
    let entries: Vec<Entry> = timed
        .iter()
        .map(|&(t, unit, k)| restart_scheduled(unit, k, t))
        .collect();
    fixture_journal(&jdir, &entries);

    let mails = dry_run_shipped(dir.path(), &jdir);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(
        header_of(mail, "X-Logmon-Rules").as_deref(),
        Some("crash loop"),
        "{mail}"
    );
    let (subject, body) = subject_and_body(mail);
    assert_eq!(subject, format!("[ALERT] {n} errors in at.service on web1"));
    let restarts: Vec<&str> = body
        .lines()
        .filter(|l| l.contains("Scheduled restart job"))
        .collect();
    // The mail carries all N, in order, and nothing of the other two.
    let want: Vec<String> = (1..=n)
        .map(|k| {
            format!(
                " web1 at.service[1]: at.service: Scheduled restart job, restart counter is at {k}."
            )
        })
        .collect();
    assert_eq!(restarts.len(), n, "{body}");
    for (line, want) in restarts.iter().zip(&want) {
        assert!(line.ends_with(want.as_str()), "{line:?} is not {want:?}");
    }
}

/// One running logmon per phase, the shipped packs, a namespace.
fn start_shipped(conf: &Path, jd: &Journald, dir: &Path) -> Logmon {
    Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir,
    )
}

/// Sends what systemd logs when it schedules a restart of `unit` (the
/// trusted fields are journald's own here: this test process).
fn send_restart(jd: &Journald, unit: &str, k: usize) {
    let msg = format!("{unit}: Scheduled restart job, restart counter is at {k}.");
    let n = k.to_string();
    jd.send(&[
        ("MESSAGE", msg.as_bytes()),
        ("MESSAGE_ID", RESTART_SCHEDULED_ID.as_bytes()),
        ("PRIORITY", b"6"),
        ("SYSLOG_IDENTIFIER", b"systemd"),
        ("UNIT", unit.as_bytes()),
        ("INVOCATION_ID", b"0f9e8d7c6b5a49384736251403928170"),
        ("N_RESTARTS", n.as_bytes()),
    ]);
}

/// N-1 restarts, logmon stopped (`how`: TERM or KILL) and started again,
/// or reloaded (HUP), the N-th restart: one mail carrying all N.
fn threshold_window_survives(how: &str) {
    let (n, _) = shipped_crash_loop_threshold();
    let jd = Journald::start(&unique_name("thold"));
    let dir = TempDir::new("thold");
    let fake = FakeSendmail::new();
    let conf = shipped_config(dir.path(), fake.path(), "0s");
    let state = dir.path().join("cursor");
    let unit = format!("{}.service", unique_name("loop"));
    let lm = start_shipped(&conf, &jd, dir.path());

    for k in 1..n {
        send_restart(&jd, &unit, k);
    }
    // A line that alerts at once, after them: once its mail is in and the
    // position saved after it, logmon has read (and holds) the N-1.
    let marker = format!("marker {} array degraded", unique_name("m"));
    jd.log("itest", 3, &marker);
    assert!(
        fake.wait_until(WAIT, |m| m.iter().any(|m| m.contains(&marker))),
        "no mail for the marker; stderr:\n{}",
        lm.stderr()
    );
    let first = cursor_of(
        jd.name(),
        &format!("{unit}: Scheduled restart job, restart counter is at 1."),
    );
    assert!(
        wait_until(WAIT, || saved_at(&state).as_deref() == Some(first.as_str())),
        "the state file does not hold the first held restart ({first}):\n{}\nstderr:\n{}",
        fs::read_to_string(&state).unwrap_or_default(),
        lm.stderr()
    );
    assert!(
        !fake.mails().iter().any(|m| m.contains(&unit)),
        "{} restarts alerted below the threshold of {n}",
        n - 1
    );
    let mut lm = lm;
    match how {
        "HUP" => {
            run_ok(std::process::Command::new("kill").args(["-HUP", &lm.pid().to_string()]));
            lm.wait_stderr("reloaded", WAIT);
        }
        "TERM" => {
            assert_eq!(lm.stop(), 0);
            lm = start_shipped(&conf, &jd, dir.path());
        }
        _ => {
            lm.kill9();
            lm = start_shipped(&conf, &jd, dir.path());
        }
    }

    send_restart(&jd, &unit, n);
    let with_unit = |mails: &[String]| {
        mails
            .iter()
            .filter(|m| m.contains(&unit))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        fake.wait_until(WAIT, |m| !with_unit(m).is_empty()),
        "no crash-loop mail after the restart ({how}); stderr:\n{}",
        lm.stderr()
    );
    // Anything else about the unit would come before a later marker's mail.
    let end = format!("end {} array degraded", unique_name("m"));
    jd.log("itest", 3, &end);
    assert!(
        fake.wait_until(WAIT, |m| m.iter().any(|m| m.contains(&end))),
        "no mail for the end marker; stderr:\n{}",
        lm.stderr()
    );
    let mails = with_unit(&fake.mails());
    assert_eq!(mails.len(), 1, "{mails:#?}");
    for k in 1..=n {
        let line = format!("{unit}: Scheduled restart job, restart counter is at {k}.");
        assert_eq!(
            mails[0].matches(&line).count(),
            1,
            "restart {k} of {n} is not in the mail once:\n{}",
            mails[0]
        );
    }
    assert!(
        header_of(&mails[0], "X-Logmon-Rules")
            .unwrap_or_default()
            .contains("crash loop"),
        "{}",
        mails[0]
    );
    assert_eq!(lm.stop(), 0);
}

#[test]
fn a_threshold_window_survives_sigterm() {
    threshold_window_survives("TERM");
}

#[test]
fn a_threshold_window_survives_sigkill() {
    threshold_window_survives("KILL");
}

#[test]
fn a_threshold_window_survives_between_once_runs() {
    let (n, _) = shipped_crash_loop_threshold();
    let dir = TempDir::new("tholdonce");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    let fake = FakeSendmail::new();
    let conf = shipped_config(dir.path(), fake.path(), "0s");
    let once = |since: &[&str]| {
        let mut args = vec![
            "-c",
            conf.to_str().unwrap(),
            "--once",
            "--directory",
            jdir.to_str().unwrap(),
        ];
        args.extend_from_slice(since);
        let out = run(std::process::Command::new(LOGMON).args(&args));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // An admin's cron job: `logmon --once` every few minutes. The first
    // run sees N-1 restarts, the second the N-th.
    let t0 = now_us() - 120_000_000;
    let early: Vec<Entry> = (1..n)
        .map(|k| restart_scheduled("cron.service", k, t0 + k as u64 * 1_000_000))
        .collect();
    fixture_journal(&jdir, &early);
    once(&["--since", "2000-01-01"]);
    assert!(fake.mails().is_empty(), "{:#?}", fake.mails());
    fixture_journal(
        &jdir,
        &[restart_scheduled("cron.service", n, t0 + 60_000_000)],
    );
    once(&[]);
    let mails = fake.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    for k in 1..=n {
        let line = format!("cron.service: Scheduled restart job, restart counter is at {k}.");
        assert!(
            mails[0].contains(&line),
            "restart {k} missing:\n{}",
            mails[0]
        );
    }
}

#[test]
fn a_core_dump_mails_the_unit_that_crashed() {
    let dir = TempDir::new("coredump");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    // systemd-coredump's entry as systemd 252 writes it (src/coredump/
    // coredump.c; the corpus's synthetic core dump of imgconv.service):
    // it comes from a systemd-coredump@ instance and names the crashed
    // unit in COREDUMP_UNIT.
    let message = "Process 1112 (python3) of user 0 dumped core.\n\n\
                   Stack trace of thread 1112:\n\
                   #0  0x00007f3c2a1b5e3d n/a (libc.so.6 + 0x15ee3d)";
    fixture_journal(
        &jdir,
        &[entry(&[
            ("_HOSTNAME", "web1"),
            ("_TRANSPORT", "journal"),
            ("_UID", "0"),
            ("_COMM", "systemd-coredum"),
            ("_EXE", "/usr/lib/systemd/systemd-coredump"),
            ("_PID", "1115"),
            ("_SYSTEMD_UNIT", "systemd-coredump@0-1115-0.service"),
            ("_SYSTEMD_SLICE", "system-systemd\\x2dcoredump.slice"),
            ("_SYSTEMD_INVOCATION_ID", "f4d58ae204270a3e9f3440a6c6e4c428"),
            ("SYSLOG_IDENTIFIER", "systemd-coredump"),
            ("MESSAGE_ID", "fc2e22bc6ee647b6b90729ab34a250b1"),
            ("PRIORITY", "2"),
            ("COREDUMP_PID", "1112"),
            ("COREDUMP_SIGNAL", "11"),
            ("COREDUMP_SIGNAL_NAME", "SIGSEGV"),
            ("COREDUMP_COMM", "python3"),
            ("COREDUMP_EXE", "/usr/bin/python3.11"),
            ("COREDUMP_UNIT", "imgconv.service"),
            ("COREDUMP_SLICE", "system.slice"),
            ("COREDUMP_CGROUP", "/system.slice/imgconv.service"),
            ("MESSAGE", message),
        ])],
    );
    let mails = dry_run_shipped(dir.path(), &jdir);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let (subject, body) = subject_and_body(&mails[0]);
    assert_eq!(subject, "[ALERT] Error detected in imgconv.service on web1");
    assert_eq!(
        header_of(&mails[0], "X-Logmon-Rules").as_deref(),
        Some("core dump"),
        "{}",
        mails[0]
    );
    assert!(
        body.contains(" web1 imgconv.service[1115]: Process 1112 (python3) of user 0 dumped core."),
        "{body}"
    );
}

#[test]
fn a_threshold_window_survives_sighup() {
    threshold_window_survives("HUP");
}
