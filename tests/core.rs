//! The core end to end: the real binary against real journal files, a real
//! journald namespace, a recording sendmail and the real Postfix.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn config(dir: &Path, sendmail: &Path, extra_mail: &str, rules: &str) -> PathBuf {
    let text = format!(
        "state_file = {}/cursor\n[mail]\nto = root\nsendmail = {}\n{extra_mail}\n{rules}\n",
        dir.display(),
        sendmail.display()
    );
    write_file(dir, "logmon.conf", text)
}

fn logmon(args: &[&str]) -> std::process::Output {
    run(Command::new(LOGMON).args(args))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn fixture_journal_alerts_on_exactly_the_expected_entries() {
    let dir = TempDir::new("fixture");
    let journal_dir = dir.path().join("journal");
    fs::create_dir(&journal_dir).unwrap();
    let entries = vec![
        entry(&[
            ("MESSAGE", "disk FAILURE on sda"),
            ("_SYSTEMD_UNIT", "smartd.service"),
            ("_HOSTNAME", "web1"),
            ("_PID", "11"),
            ("PRIORITY", "3"),
        ]),
        entry(&[
            ("MESSAGE", "all quiet"),
            ("_SYSTEMD_UNIT", "cron.service"),
            ("_HOSTNAME", "web1"),
            ("PRIORITY", "6"),
        ]),
        entry(&[
            (
                "MESSAGE",
                "SSL_accept error from unknown[10.0.0.1]: lost connection",
            ),
            ("_SYSTEMD_UNIT", "postfix.service"),
            ("_HOSTNAME", "web1"),
            ("PRIORITY", "6"),
        ]),
        entry(&[
            (
                "MESSAGE",
                "imap-login: TLS handshaking: SSL_accept() failed: bad",
            ),
            ("_SYSTEMD_UNIT", "dovecot.service"),
            ("_HOSTNAME", "web1"),
            ("PRIORITY", "6"),
        ]),
        entry(&[
            ("MESSAGE", "postfix has a real Problem"),
            ("_SYSTEMD_UNIT", "postfix.service"),
            ("_HOSTNAME", "web1"),
            ("PRIORITY", "6"),
        ]),
        entry(&[
            ("MESSAGE", "Temperature alarm"),
            ("SYSLOG_IDENTIFIER", "sensord"),
            ("_HOSTNAME", "web1"),
            ("_PID", "77"),
            ("PRIORITY", "4"),
        ]),
        entry(&[
            ("MESSAGE", "debug error noise"),
            ("_SYSTEMD_UNIT", "app.service"),
            ("_HOSTNAME", "web1"),
            ("PRIORITY", "7"),
        ]),
        entry(&[
            ("MESSAGE", "emerg from comm"),
            ("_COMM", "kthing"),
            ("_HOSTNAME", "web1"),
            ("PRIORITY", "0"),
        ]),
        // No PRIORITY field: `priority = info` is a PRIORITY=0..6 journal
        // match, as in the original script, so this entry is not seen.
        entry(&[
            ("MESSAGE", "error without priority"),
            ("_COMM", "x"),
            ("_HOSTNAME", "web1"),
        ]),
    ];
    fixture_journal(&journal_dir, &entries);
    let fake = FakeSendmail::new();
    let conf = shipped_config(dir.path(), fake.path(), "10s");
    let dirs = journal_dir.display().to_string();
    let conf_s = conf.display().to_string();
    let out = logmon(&[
        "-c",
        &conf_s,
        "--once",
        "--dry-run",
        "--since",
        "2000-01-01",
        "--directory",
        &dirs,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mbox = text(&out.stdout);
    assert!(mbox.starts_with("From logmon "), "{mbox}");
    let (subject, body) = subject_and_body(mbox.split_once('\n').unwrap().1);
    assert_eq!(
        subject,
        "[ALERT] 4 errors in smartd.service, postfix.service, sensord, kthing on web1"
    );
    let lines: Vec<&str> = body.lines().filter(|l| l.contains(" web1 ")).collect();
    assert_eq!(lines.len(), 4, "{body}");
    // Grouped by the pack rule that fired, so in any order.
    for want in [
        " web1 smartd.service[11]: disk FAILURE on sda",
        " web1 postfix.service: postfix has a real Problem",
        " web1 sensord[77]: Temperature alarm",
        " web1 kthing: emerg from comm",
    ] {
        assert!(
            lines.iter().any(|l| l.ends_with(want)),
            "{want:?} not in\n{body}"
        );
    }
    assert!(
        !body.contains("SSL_accept"),
        "false positives must stay silent"
    );
    assert!(
        !body.contains("debug error noise"),
        "priority debug is below info"
    );
    assert_eq!(fake.mails().len(), 0, "--dry-run must not run sendmail");
    assert!(
        !dir.path().join("cursor").exists(),
        "--dry-run leaves the state alone"
    );

    // The same run for real: one mail through sendmail, and a cursor saved.
    let out = logmon(&[
        "-c",
        &conf_s,
        "--once",
        "--since",
        "2000-01-01",
        "--directory",
        &dirs,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mails = fake.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(fake.args()[0], vec!["-i", "--", "root"]);
    assert!(dir.path().join("cursor").exists());
    // Resuming from that cursor finds nothing new.
    let out = logmon(&["-c", &conf_s, "--once", "--directory", &dirs]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fake.mails().len(), 1);
}

#[test]
fn hostile_and_binary_fields_neither_crash_nor_redirect_mail() {
    let dir = TempDir::new("hostile");
    let journal_dir = dir.path().join("journal");
    fs::create_dir(&journal_dir).unwrap();
    let mut binary = entry(&[
        ("_SYSTEMD_UNIT", "bin.service"),
        ("_HOSTNAME", "h"),
        ("PRIORITY", "3"),
    ]);
    binary.push(("MESSAGE", b"error \xff\xfe\x00\x1b[2J binary".to_vec()));
    let huge = format!("error {}", "A".repeat(200_000));
    let entries = vec![
        binary,
        entry(&[
            ("MESSAGE", "error one"),
            ("_SYSTEMD_UNIT", "evil\r\nBcc: victim@example.org"),
            ("_HOSTNAME", "h\nTo: x@example.org"),
            ("PRIORITY", "3"),
        ]),
        entry(&[
            ("MESSAGE", &huge),
            ("SYSLOG_IDENTIFIER", "-oQ/tmp/evil"),
            ("_HOSTNAME", "h"),
            ("PRIORITY", "3"),
        ]),
        entry(&[
            ("MESSAGE", "error in ünïcödé"),
            ("SYSLOG_IDENTIFIER", "dämon"),
            ("_HOSTNAME", "hôst"),
            ("PRIORITY", "3"),
        ]),
    ];
    fixture_journal(&journal_dir, &entries);
    let fake = FakeSendmail::new();
    let conf = config(
        dir.path(),
        fake.path(),
        "batch = 0",
        "[match]\nMESSAGE ~ (?i)error",
    );
    let out = logmon(&[
        "-c",
        conf.to_str().unwrap(),
        "--once",
        "--since",
        "2000-01-01",
        "--directory",
        journal_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mails = fake.mails();
    assert_eq!(
        mails.len(),
        1,
        "--once sends what it found in one mail: {mails:#?}"
    );
    for args in fake.args() {
        assert_eq!(args, vec!["-i", "--", "root"], "recipients never change");
    }
    let (headers, body) = mails[0].split_once("\n\n").unwrap();
    // The eight of the spec and X-Logmon-Rules: nothing from the entries.
    assert_eq!(
        headers.lines().filter(|l| !l.starts_with(' ')).count(),
        9,
        "{headers}"
    );
    assert!(
        !headers
            .lines()
            .any(|l| l.starts_with("Bcc") || l.starts_with("To: x")),
        "{headers}"
    );
    assert!(headers.is_ascii());
    assert!(body.lines().all(|l| l.len() <= 998));
    assert!(
        body.contains("error \u{fffd}\u{fffd}\\x00\\x1b[2J binary"),
        "{body}"
    );
    assert!(body.contains("evil\\r\\nBcc: victim@example.org"));
    assert!(body.contains(" [cut]"));
    assert!(body.contains("error in ünïcödé"));
}

#[test]
fn live_follow_mails_new_lines_only() {
    let jd = Journald::start(&unique_name("follow"));
    let dir = TempDir::new("follow");
    let fake = FakeSendmail::new();
    let conf = shipped_config(dir.path(), fake.path(), "0");
    jd.log("early", 3, "error written before start");
    assert!(jd.wait_for_count("error written before start", 1, WAIT));
    let lm = Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
    );
    jd.log("myapp", 3, "database connection failed");
    jd.log("myapp", 6, "routine message");
    jd.log("other", 2, "disk alarm raised");
    assert!(
        fake.wait_for_mails(2, WAIT),
        "mails: {:?}\n{}",
        fake.mails(),
        lm.stderr()
    );
    let mails = fake.mails();
    let all = mails.join("\n");
    assert!(
        !all.contains("before start"),
        "entries before the first start do not alert"
    );
    assert!(!all.contains("routine message"));
    let (subject, body) = subject_and_body(&mails[0]);
    let host = run_ok(&mut Command::new("hostname")).stdout;
    let host = text(&host).trim().to_string();
    assert_eq!(
        subject,
        format!("[ALERT] Error detected in myapp on {host}")
    );
    // _PID is the writer's: this test process.
    let line = format!(
        " {host} myapp[{}]: database connection failed\n",
        std::process::id()
    );
    assert!(body.contains(&line), "{body:?} should hold {line:?}");
    let (subject, _) = subject_and_body(&mails[1]);
    assert_eq!(
        subject,
        format!("[ALERT] Error detected in other on {host}")
    );
    assert_eq!(lm.stop(), 0);
}

#[test]
fn rotation_while_following_loses_nothing() {
    let jd = Journald::start(&unique_name("rotate"));
    let dir = TempDir::new("rotate");
    let fake = FakeSendmail::new();
    let conf = config(
        dir.path(),
        fake.path(),
        "batch = 500ms",
        "[match]\nMESSAGE ~ rotation-error",
    );
    let lm = Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
    );
    let total = 60;
    for i in 0..total {
        jd.log("rot", 3, &format!("rotation-error {i:03}"));
        if i % 10 == 9 {
            jd.rotate();
        }
    }
    let found = |mails: &[String]| {
        (0..total)
            .filter(|i| {
                mails
                    .iter()
                    .any(|m| m.contains(&format!("rotation-error {i:03}")))
            })
            .count()
    };
    assert!(
        fake.wait_until(WAIT, |m| found(m) == total),
        "only {} of {total} arrived\n{}",
        found(&fake.mails()),
        lm.stderr()
    );
    assert_eq!(lm.stop(), 0);
}

#[test]
fn real_postfix_delivers_the_alert() {
    let _postfix = Postfix::ensure_started();
    let user = ensure_test_user();
    let jd = Journald::start(&unique_name("postfix"));
    let dir = TempDir::new("postfix");
    let conf = write_file(
        dir.path(),
        "logmon.conf",
        format!(
            "state_file = {}/cursor\n[mail]\nto = {user}\nbatch = 0\n[match]\nMESSAGE ~ (?i)(fail|error|alarm|problem|emerg)\n",
            dir.path().display()
        ),
    );
    let lm = Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
    );
    let tag = unique_name("pf");
    jd.log("e2eapp", 3, &format!("backup failed {tag}"));
    assert!(
        wait_mailbox(user, &tag, Duration::from_secs(30)),
        "no mail in /var/mail/{user}\n{}",
        lm.stderr()
    );
    let mbox = mailbox_contents(user);
    let at = mbox.find(&tag).unwrap();
    let start = mbox[..at].rfind("\nFrom ").map_or(0, |i| i + 1);
    let mail = &mbox[start..at];
    assert!(
        mail.contains("Subject: [ALERT] Error detected in e2eapp on "),
        "{mail}"
    );
    assert!(mail.contains("Auto-Submitted: auto-generated"));
    assert_eq!(lm.stop(), 0);
}

#[test]
fn test_mail_reports_success_and_failure() {
    let dir = TempDir::new("testmail");
    let fake = FakeSendmail::new();
    let conf = config(dir.path(), fake.path(), "", "[match]\nMESSAGE = x");
    let out = logmon(&["-c", conf.to_str().unwrap(), "--test-mail"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("accepted"));
    let mails = fake.mails();
    assert_eq!(mails.len(), 1);
    assert!(subject_and_body(&mails[0])
        .0
        .starts_with("[ALERT] Error detected in logmon on "));
    fake.set_fail(true);
    let out = logmon(&["-c", conf.to_str().unwrap(), "--test-mail"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("failed"),
        "{}",
        text(&out.stderr)
    );
    let missing = config(
        dir.path(),
        Path::new("/nonexistent/sendmail"),
        "",
        "[match]\nMESSAGE = x",
    );
    // An explicit sendmail that does not exist is a config error (issue 19).
    let out = logmon(&["-c", missing.to_str().unwrap(), "--test-mail"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(":4: sendmail /nonexistent/sendmail does not exist"));
}

#[test]
fn test_mail_tests_every_route() {
    let dir = TempDir::new("testmail-rt");
    let fake = FakeSendmail::new();
    let conf = config(
        dir.path(),
        fake.path(),
        "",
        "[match]\nMESSAGE = x\n[match]\nMESSAGE = y\nto = sec@example.org\n\
         [expect]\nname = backup\nMESSAGE = done\nwithin = 1h\nto = backups@example.org",
    );
    let out = logmon(&["-c", conf.to_str().unwrap(), "--test-mail"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut recipients: Vec<String> = fake
        .args()
        .iter()
        .map(|argv| argv.last().cloned().unwrap_or_default())
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["backups@example.org", "root", "sec@example.org"],
        "one test mail per route, an [expect] rule's included"
    );
}

#[test]
fn check_usage_and_exit_codes() {
    let dir = TempDir::new("check");
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/logmon.conf");
    let out = logmon(&["--check", "-c", shipped]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains(" match, ") && summary.contains("to root"),
        "{summary}"
    );

    let bad = write_file(
        dir.path(),
        "bad.conf",
        "priority = loud\n[match]\nMESSAGE ~ (\n[mail]\nto = -x\n",
    );
    let out = logmon(&["--check", "-c", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let b = bad.display();
    for want in [
        format!("{b}:1: bad priority"),
        format!("{b}:3: bad regex"),
        format!("{b}:5: mail address"),
    ] {
        assert!(err.contains(&want), "{want:?} missing in {err}");
    }
    // Config errors stop the daemon too, with exit 2.
    let out = logmon(&["-c", bad.to_str().unwrap(), "--once", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));

    assert_eq!(logmon(&["--bogus"]).status.code(), Some(2));
    assert_eq!(logmon(&["--since", "yesterday-ish"]).status.code(), Some(2));
    let out = logmon(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("Usage: logmon"));
    let out = logmon(&["-V"]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("logmon {}", env!("CARGO_PKG_VERSION"))
    );
    let out = logmon(&["-c", "/nonexistent.conf", "--check"]);
    assert_eq!(out.status.code(), Some(1), "a missing file is an I/O error");
    // A journal that cannot be opened is a runtime failure.
    let conf = config(
        dir.path(),
        Path::new("/bin/true"),
        "",
        "[match]\nMESSAGE = x",
    );
    let out = logmon(&[
        "-c",
        conf.to_str().unwrap(),
        "--once",
        "--directory",
        "/nonexistent/journal",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("opening journal directory /nonexistent/journal"));
}

#[test]
fn since_boot_starts_at_the_current_boot() {
    let dir = TempDir::new("sinceboot");
    let fake = FakeSendmail::new();
    let conf = config(dir.path(), fake.path(), "", "[match]\nMESSAGE ~ error");
    let old_boot = "00000000000000000000000000000001";
    let other_boot = "00000000000000000000000000000002";
    let at = |boot: &'static str, msg: &'static str| {
        entry(&[
            ("MESSAGE", msg),
            ("_BOOT_ID", boot),
            ("_HOSTNAME", "h"),
            ("SYSLOG_IDENTIFIER", "app"),
            ("PRIORITY", "3"),
        ])
    };
    let scan = |journal_dir: &Path| {
        let out = logmon(&[
            "-c",
            conf.to_str().unwrap(),
            "--once",
            "--dry-run",
            "--since",
            "boot",
            "--directory",
            journal_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };

    // This machine's boot has entries: start at its first one.
    let current = dir.path().join("current");
    fs::create_dir(&current).unwrap();
    let this_boot: &'static str = Box::leak(boot_id().into_boxed_str());
    fixture_journal(
        &current,
        &[
            at(old_boot, "error from an old boot"),
            at(this_boot, "error from this boot"),
        ],
    );
    let mbox = scan(&current);
    assert!(
        mbox.contains("error from this boot") && !mbox.contains("old boot"),
        "{mbox}"
    );

    // Only foreign boots (a collector, or a container that logs under
    // another boot ID): the newest entry's boot counts as the current one.
    let foreign = dir.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fixture_journal(
        &foreign,
        &[
            at(old_boot, "error from an old boot"),
            at(other_boot, "error from the newest boot"),
        ],
    );
    let mbox = scan(&foreign);
    assert!(
        mbox.contains("error from the newest boot") && !mbox.contains("old boot"),
        "{mbox}"
    );
}

/// A user who cannot read the system journal is told what to do; one in
/// group systemd-journal is not (the check asks the kernel, not group names).
///
/// logmon looks at /var/log/journal/<machine-id>/system.journal and its
/// /run twin. The host's real journal is never touched: logmon runs in a
/// private mount namespace where both directories are bind mounts of temp
/// dirs, holding a stand-in system.journal with journald's ownership and
/// mode (the host may have no system journal at all: PID 1 is not systemd).
#[test]
fn check_warns_when_the_system_journal_is_unreadable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("access");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let var = dir.path().join("var-log-journal");
    let run_dir = dir.path().join("run-log-journal");
    let machine_dir = var.join(machine_id());
    fs::create_dir_all(&machine_dir).unwrap();
    fs::create_dir(&run_dir).unwrap();
    for d in [&var, &machine_dir, &run_dir] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let system_journal = write_file(&machine_dir, "system.journal", b"");
    run_ok(Command::new("chown").args(["root:systemd-journal", system_journal.to_str().unwrap()]));
    fs::set_permissions(&system_journal, fs::Permissions::from_mode(0o640)).unwrap();
    // A copy of the binary: the checkout itself may not be readable to nobody.
    let bin = dir.path().join("logmon");
    fs::copy(LOGMON, &bin).unwrap();
    let conf = config(
        dir.path(),
        Path::new("/bin/true"),
        "",
        "[match]\nMESSAGE = x",
    );
    let gid = text(&run_ok(Command::new("getent").args(["group", "systemd-journal"])).stdout)
        .split(':')
        .nth(2)
        .unwrap()
        .to_string();
    // The mounts live and die with the namespace (propagation private: the
    // host sees none of them); the shell only sets them up, then execs.
    let as_nobody = |groups: &str| {
        run(Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(
                "mount --bind \"$1\" /var/log/journal && \
                 { [ ! -d /run/log/journal ] || mount --bind \"$2\" /run/log/journal; } && \
                 shift 2 && exec \"$@\"",
            )
            .arg("sh")
            .arg(&var)
            .arg(&run_dir)
            .args(["setpriv", "--reuid=65534", "--regid=65534", groups, "--"])
            .arg(&bin)
            .args(["--check", "-c", conf.to_str().unwrap()]))
    };
    let without = as_nobody("--clear-groups");
    let with = as_nobody(&format!("--groups={gid}"));
    assert_eq!(without.status.code(), Some(0), "{}", text(&without.stderr));
    assert!(
        text(&without.stdout).contains("add it to group systemd-journal"),
        "{}",
        text(&without.stdout)
    );
    assert_eq!(with.status.code(), Some(0), "{}", text(&with.stderr));
    assert!(
        !text(&with.stdout).contains("systemd-journal"),
        "{}",
        text(&with.stdout)
    );
}

/// A state file that cannot be read is never replaced by the tail position
/// (that would skip everything since): logmon fails and the file stays.
#[test]
fn unreadable_state_file_is_an_error_not_a_restart_at_the_end() {
    let dir = TempDir::new("badstate");
    let journal_dir = dir.path().join("journal");
    fs::create_dir(&journal_dir).unwrap();
    fixture_journal(
        &journal_dir,
        &[entry(&[("MESSAGE", "x"), ("PRIORITY", "3")])],
    );
    // A directory where the state file should be: reading it fails (EISDIR).
    fs::create_dir(dir.path().join("cursor")).unwrap();
    // A sendmail that reads the message (/bin/true may exit before it is
    // written: a failed delivery).
    let fake = FakeSendmail::new();
    let conf = config(dir.path(), fake.path(), "", "[match]\nMESSAGE = x");
    let out = logmon(&[
        "-c",
        conf.to_str().unwrap(),
        "--once",
        "--directory",
        journal_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("reading state file"),
        "{}",
        text(&out.stderr)
    );
    assert!(dir.path().join("cursor").is_dir());
    // A garbled one is reported, kept as cursor.bad and replaced; with no
    // good copy logmon resumes before its mtime, never at the end.
    fs::remove_dir(dir.path().join("cursor")).unwrap();
    fs::write(dir.path().join("cursor"), "garbage\n").unwrap();
    let out = logmon(&[
        "-c",
        conf.to_str().unwrap(),
        "--once",
        "--directory",
        journal_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is damaged"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("cursor.bad")).unwrap(),
        "garbage\n"
    );
    assert_eq!(
        fake.mails().len(),
        1,
        "the entry logged before the damage is mailed again"
    );
    assert!(fs::read_to_string(dir.path().join("cursor"))
        .unwrap()
        .starts_with("logmon-state 2\nposition after s="));
}
