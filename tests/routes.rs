//! Rule options `to =` (routes) and `context = N` through the real binary:
//! each recipient set gets its own mails; a route whose sendmail fails
//! loses nothing across a SIGKILL while the other route goes on; a failing
//! unit's mail shows the preceding lines of that unit run only.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT_FAILED_ID: &str = "d9b373ed55a64feb8242e02dbe79a49c";

fn write_conf(dir: &Path, sendmail: &Path, state: &str, mail: &str, rules: &str) -> PathBuf {
    write_file(
        dir,
        "logmon.conf",
        format!(
            "priority = debug\nstate_file = {state}\n[mail]\nto = root\nsendmail = {}\n{mail}\n{rules}\n",
            sendmail.display()
        ),
    )
}

/// `logmon --once` over the fixture journal `jdir` from its beginning
/// (`extra`: e.g. `--dry-run`); panics unless it exits 0. Its stdout.
fn once(conf: &Path, jdir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "-c",
        conf.to_str().unwrap(),
        "--once",
        "--since",
        "2000-01-01",
        "--directory",
        jdir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(Command::new(LOGMON).args(&args));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The messages of the alert lines (`TIME HOST UNIT[PID]: MESSAGE` at
/// column 0) of a mail body whose host is `host`.
fn alert_messages(body: &str, host: &str) -> Vec<String> {
    let marker = format!(" {host} ");
    body.lines()
        .filter(|l| !l.starts_with(' ') && l.contains(&marker))
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string()))
        .collect()
}

#[test]
fn rules_with_different_to_mail_their_own_recipients() {
    let dir = TempDir::new("routes");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    let line = |prio: &'static str, message: &'static str| {
        entry(&[
            ("MESSAGE", message),
            ("PRIORITY", prio),
            ("SYSLOG_IDENTIFIER", "app"),
            ("_HOSTNAME", "web1"),
        ])
    };
    fixture_journal(
        &jdir,
        &[
            line("6", "disk sda is slow"),
            line("6", "database replica lags"),
            line("6", "disk and database both slow"),
            line("3", "kernel oops"),
            line("3", "disk sdb is gone"),
            line("6", "all quiet"),
        ],
    );
    let fake = FakeSendmail::new();
    let conf = write_conf(
        dir.path(),
        fake.path(),
        "",
        "batch = 0s",
        "[match]\nname = disks\nMESSAGE = disk\nto = alice\n\
         [match]\nname = databases\nMESSAGE = database\nto = bob, carol\n\
         [match]\nname = anything at err\nPRIORITY <= 3\n",
    );
    once(&conf, &jdir, &[]);

    let mails = fake.mails();
    let args = fake.args();
    assert_eq!(mails.len(), 3, "one mail per route: {mails:#?}");
    let mut seen = BTreeSet::new();
    for (mail, argv) in mails.iter().zip(&args) {
        let (_, body) = subject_and_body(mail);
        let mut got = alert_messages(&body, "web1");
        got.sort();
        let to = header_of(mail, "To").unwrap_or_default();
        let (want_to, mut want): (&str, Vec<&str>) = match argv[2..].join(",").as_str() {
            "alice" => (
                "alice",
                vec![
                    "disk sda is slow",
                    "disk and database both slow",
                    "disk sdb is gone",
                ],
            ),
            "bob,carol" => (
                "bob, carol",
                vec!["database replica lags", "disk and database both slow"],
            ),
            "root" => ("root", vec!["kernel oops", "disk sdb is gone"]),
            other => panic!("a mail to {other:?}: {mail}"),
        };
        assert_eq!(&argv[..2], ["-i", "--"], "{argv:?}");
        assert_eq!(to, want_to, "{mail}");
        want.sort();
        assert_eq!(got, want, "the mail to {want_to}:\n{mail}");
        assert!(seen.insert(want_to), "two mails to {want_to}");
    }
}

#[test]
fn sigkill_while_one_route_fails_loses_nothing_on_either() {
    one_route_fails_then_stop("KILL");
}

#[test]
fn sigterm_while_one_route_fails_loses_nothing_on_either() {
    one_route_fails_then_stop("TERM");
}

/// alice's route delivers, bob's sendmail fails; logmon is stopped (`how`:
/// KILL or TERM), more is logged, bob's sendmail works again, logmon
/// starts: every item reaches each of its routes.
fn one_route_fails_then_stop(how: &str) {
    let jd = Journald::start(&unique_name("routes"));
    let dir = TempDir::new("routekill");
    let fake = FakeSendmail::new();
    let state = dir.path().join("cursor");
    let conf = write_conf(
        dir.path(),
        fake.path(),
        state.to_str().unwrap(),
        "batch = 0s\nretry = 200ms",
        "[match]\nname = alpha\nMESSAGE = alpha-\nto = alice\n\
         [match]\nname = beta\nMESSAGE = beta-\nto = bob\n",
    );
    let run_id = unique_name("r");
    // Item i is for alice (i % 3 == 0), bob (1) or both (2).
    let text = |i: usize| {
        let kinds = ["alpha-", "beta-", "alpha- beta-"][i % 3];
        format!("{kinds} {run_id} item-{i:03}")
    };
    let item = |i: usize| format!("{run_id} item-{i:03}");
    let for_alice = |i: usize| i % 3 != 1;
    let for_bob = |i: usize| i % 3 != 0;
    // The items each recipient's recorded mails report.
    let got = |rcpt: &str| -> BTreeSet<usize> {
        let mut got = BTreeSet::new();
        for (mail, argv) in fake.mails().iter().zip(fake.args()) {
            if argv[2..] != [rcpt] {
                continue;
            }
            for i in 0..100 {
                if mail.contains(&item(i)) {
                    got.insert(i);
                }
            }
        }
        got
    };

    fake.set_fail_rcpt(Some("bob"));
    let lm = Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
    );
    for i in 0..12 {
        jd.log("app", 6, &text(i));
    }
    let alice_1: BTreeSet<usize> = (0..12).filter(|&i| for_alice(i)).collect();
    assert!(
        wait_until(WAIT, || got("alice") == alice_1),
        "alice got {:?} of {alice_1:?}; stderr:\n{}",
        got("alice"),
        lm.stderr()
    );
    let bob_failed = || {
        fake.attempts()
            .iter()
            .filter(|a| a.ends_with(" fail"))
            .count()
    };
    assert!(
        wait_until(WAIT, || bob_failed() >= 2),
        "bob's sendmail was not tried twice; stderr:\n{}",
        lm.stderr()
    );
    // alice's mails are in and the position saved holds bob's first item
    // (the oldest entry any route holds): a save that forgot bob's route
    // would be past it, and the restart would skip his items.
    let first_bob = cursor_of(jd.name(), &text(1));
    assert!(
        wait_until(WAIT, || saved_at(&state).as_deref()
            == Some(first_bob.as_str())),
        "the state file does not hold bob's first item ({first_bob}):\n{}\nstderr:\n{}",
        fs::read_to_string(&state).unwrap_or_default(),
        lm.stderr()
    );
    assert!(got("bob").is_empty(), "bob's sendmail fails");
    match how {
        "TERM" => assert_eq!(lm.stop(), 0),
        _ => lm.kill9(),
    }

    // Logged while logmon is down, and after its restart with bob's
    // sendmail working again.
    for i in 12..18 {
        jd.log("app", 6, &text(i));
    }
    fake.set_fail_rcpt(None);
    let lm = Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
    );
    for i in 18..24 {
        jd.log("app", 6, &text(i));
    }
    let alice: BTreeSet<usize> = (0..24).filter(|&i| for_alice(i)).collect();
    let bob: BTreeSet<usize> = (0..24).filter(|&i| for_bob(i)).collect();
    assert!(
        wait_until(WAIT, || got("alice") == alice && got("bob") == bob),
        "lost ({how}): alice {:?}, bob {:?}; stderr:\n{}",
        alice.difference(&got("alice")).collect::<Vec<_>>(),
        bob.difference(&got("bob")).collect::<Vec<_>>(),
        lm.stderr()
    );
    for argv in fake.args() {
        assert!(
            argv == ["-i", "--", "alice"] || argv == ["-i", "--", "bob"],
            "a mail to {argv:?}"
        );
    }
    assert_eq!(lm.stop(), 0);
}

/// A line a unit's process logged (journald's trusted fields for a
/// service: its unit and the invocation it belongs to).
fn unit_line<'a>(unit: &'a str, invocation: &'a str, prio: &'a str, msg: &'a str) -> Entry<'a> {
    entry(&[
        ("MESSAGE", msg),
        ("PRIORITY", prio),
        ("SYSLOG_IDENTIFIER", unit.trim_end_matches(".service")),
        ("_TRANSPORT", "stdout"),
        ("_PID", "300"),
        ("_HOSTNAME", "web1"),
        ("_SYSTEMD_UNIT", unit),
        ("_SYSTEMD_INVOCATION_ID", invocation),
    ])
}

/// systemd 252's own line that `unit` failed, about its run `invocation`.
fn unit_failed<'a>(unit: &'a str, invocation: &'a str, msg: &'a str) -> Entry<'a> {
    entry(&[
        ("MESSAGE", msg),
        ("MESSAGE_ID", UNIT_FAILED_ID),
        ("PRIORITY", "4"),
        ("SYSLOG_IDENTIFIER", "systemd"),
        ("UNIT", unit),
        ("INVOCATION_ID", invocation),
        ("UNIT_RESULT", "exit-code"),
        ("_TRANSPORT", "journal"),
        ("_PID", "1"),
        ("_HOSTNAME", "web1"),
        ("_SYSTEMD_UNIT", "init.scope"),
    ])
}

/// The indented lines right under the alert line that ends with `alert`.
fn context_under(body: &str, alert: &str) -> Vec<String> {
    let lines: Vec<&str> = body.lines().collect();
    let at = lines
        .iter()
        .position(|l| !l.starts_with(' ') && l.ends_with(alert))
        .unwrap_or_else(|| panic!("no alert line {alert:?} in\n{body}"));
    lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("    "))
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn context_shows_the_same_unit_run_only() {
    let dir = TempDir::new("context");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    let (foo_old, foo_new) = (
        "0a0a0a0a0a0a4a0a8a0a0a0a0a0a0a01",
        "0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b02",
    );
    let (qux_old, qux_new) = (
        "0c0c0c0c0c0c4c0c8c0c0c0c0c0c0c03",
        "0d0d0d0d0d0d4d0d8d0d0d0d0d0d0d04",
    );
    let bar = "0e0e0e0e0e0e4e0e8e0e0e0e0e0e0e05";
    let zap = "0f0f0f0f0f0f4f0f8f0f0f0f0f0f0f06";
    // Interleaved in time, as a busy machine logs them.
    fixture_journal(
        &jdir,
        &[
            unit_line("foo.service", foo_old, "6", "foo old run line 1"),
            unit_line("qux.service", qux_old, "6", "qux old run line 1"),
            unit_line("foo.service", foo_old, "6", "foo old run line 2"),
            unit_line("qux.service", qux_old, "6", "qux old run line 2"),
            unit_line("foo.service", foo_new, "6", "foo new run line 1"),
            unit_line("bar.service", bar, "6", "bar line 1"),
            unit_line("zap.service", zap, "6", "zap starting"),
            unit_line("foo.service", foo_new, "7", "foo new run line 2 (debug)"),
            unit_line("qux.service", qux_new, "5", "qux new run line 1"),
            unit_line("bar.service", bar, "6", "bar line 2"),
            unit_line("foo.service", foo_new, "6", "foo new run line 3"),
            unit_line("foo.service", foo_new, "6", "foo new run line 4"),
            unit_line("bar.service", bar, "6", "bar line 3"),
            unit_line("zap.service", zap, "3", "zap: cannot open /var/lib/zap"),
            unit_line("bar.service", bar, "6", "bar line 4"),
            unit_failed(
                "foo.service",
                foo_new,
                "foo.service: Failed with result 'exit-code'.",
            ),
            unit_line("bar.service", bar, "6", "bar line 5"),
            unit_failed(
                "qux.service",
                qux_new,
                "qux.service: Failed with result 'exit-code'.",
            ),
        ],
    );
    let fake = FakeSendmail::new();
    let conf = write_conf(
        dir.path(),
        fake.path(),
        "",
        "batch = 0s",
        &format!(
            "[match]\nname = unit failed\nMESSAGE_ID == {UNIT_FAILED_ID}\ncontext = 3\n\
             [match]\nname = err\nPRIORITY <= 3\ncontext = 3\n"
        ),
    );
    let mails = mbox_mails(&once(&conf, &jdir, &["--dry-run"]));
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let (_, body) = subject_and_body(&mails[0]);
    let shown = |alert: &str| -> Vec<String> {
        context_under(&body, alert)
            .iter()
            .map(|l| {
                l.split_once(": ")
                    .map_or(l.as_str(), |(_, m)| m)
                    .to_string()
            })
            .collect()
    };
    // The last 3 of foo's failed run, any priority, oldest first.
    assert_eq!(
        shown("foo.service: Failed with result 'exit-code'."),
        [
            "foo new run line 2 (debug)",
            "foo new run line 3",
            "foo new run line 4"
        ],
        "{body}"
    );
    // qux's failed run logged one line; its earlier run is not shown.
    assert_eq!(
        shown("qux.service: Failed with result 'exit-code'."),
        ["qux new run line 1"],
        "{body}"
    );
    // A service's own error line: its run's lines before it.
    assert_eq!(
        shown("zap: cannot open /var/lib/zap"),
        ["zap starting"],
        "{body}"
    );
    // Context lines are indented four spaces and keep the line layout.
    for l in context_under(&body, "foo.service: Failed with result 'exit-code'.") {
        assert!(
            l.starts_with("    ") && l.contains(" web1 foo.service[300]: "),
            "{l:?}"
        );
    }
}

#[test]
fn context_is_read_from_files_that_appeared_after_the_start() {
    let jd = Journald::start(&unique_name("ctxrot"));
    let dir = TempDir::new("ctxrot");
    let fake = FakeSendmail::new();
    let conf = write_conf(
        dir.path(),
        fake.path(),
        "",
        "batch = 0s",
        "[match]\nname = err\nPRIORITY <= 3\ncontext = 2\n",
    );
    let lm = Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
    );
    // Without an invocation ID (a client cannot send trusted fields) a
    // line's run is its unit name, host and boot: here its identifier.
    for round in 0..3 {
        let app = format!("ctxapp{round}");
        jd.log(&app, 6, &format!("{app} preparing"));
        jd.log("other", 6, &format!("other between {round}"));
        jd.log(&app, 6, &format!("{app} still preparing"));
        let fatal = format!("{app} gave up");
        jd.log(&app, 3, &fatal);
        assert!(
            fake.wait_until(WAIT, |m| m.iter().any(|m| m.contains(&fatal))),
            "no mail for round {round}; stderr:\n{}",
            lm.stderr()
        );
        let mail = fake
            .mails()
            .into_iter()
            .find(|m| m.contains(&fatal))
            .unwrap();
        let (_, body) = subject_and_body(&mail);
        let shown: Vec<String> = context_under(&body, &fatal)
            .iter()
            .map(|l| {
                l.split_once("]: ")
                    .map_or(l.as_str(), |(_, m)| m)
                    .to_string()
            })
            .collect();
        assert_eq!(
            shown,
            [format!("{app} preparing"), format!("{app} still preparing")],
            "round {round} (after {round} rotations):\n{body}\nstderr:\n{}",
            lm.stderr()
        );
        // The next round's lines go to a file that did not exist when
        // logmon (and its context reader) started.
        jd.rotate();
    }
    assert_eq!(lm.stop(), 0);
}

#[test]
fn each_route_has_its_own_hourly_cap() {
    let jd = Journald::start(&unique_name("routecap"));
    let dir = TempDir::new("routecap");
    let fake = FakeSendmail::new();
    let conf = write_conf(
        dir.path(),
        fake.path(),
        "",
        "batch = 0s\nmax_per_hour = 1",
        "[match]\nname = alpha\nMESSAGE = alpha-\nto = alice\n\
         [match]\nname = beta\nMESSAGE = beta-\nto = bob\n",
    );
    let lm = Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
    );
    let to = |rcpt: &str| fake.args().iter().filter(|a| a[2..] == [rcpt]).count();
    jd.log("app", 6, "alpha- first");
    assert!(
        wait_until(WAIT, || to("alice") == 1),
        "alice's first mail; stderr:\n{}",
        lm.stderr()
    );
    // alice's route has used its one mail of the hour: this one waits.
    jd.log("app", 6, "alpha- second");
    // bob's route has a cap of its own.
    jd.log("app", 6, "beta- first");
    assert!(
        wait_until(WAIT, || to("bob") == 1),
        "bob's mail waited for alice's cap; stderr:\n{}",
        lm.stderr()
    );
    let mails = fake.mails();
    assert!(
        !mails.iter().any(|m| m.contains("alpha- second")),
        "alice's cap of 1 an hour let a second mail through: {mails:#?}"
    );
    assert_eq!(to("alice"), 1);
}

/// The journal files `pid` holds open that were deleted.
fn deleted_journal_fds(pid: u32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| fs::read_link(e.path()).ok())
                .map(|p| p.display().to_string())
                .filter(|p| p.contains(".journal") && p.ends_with(" (deleted)"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_context_reader_lets_vacuumed_files_go() {
    let jd = Journald::start(&unique_name("ctxvac"));
    let dir = TempDir::new("ctxvac");
    let fake = FakeSendmail::new();
    let conf = write_conf(
        dir.path(),
        fake.path(),
        "",
        "batch = 0s",
        "[match]\nname = err\nPRIORITY <= 3\ncontext = 2\n",
    );
    let lm = Logmon::start(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
    );
    // An alert with context: the context reader opens its handle.
    jd.log("vacapp", 6, "vacapp preparing");
    jd.log("vacapp", 3, "vacapp gave up");
    assert!(
        fake.wait_until(WAIT, |m| m.iter().any(|m| m.contains("vacapp preparing"))),
        "no mail with context; stderr:\n{}",
        lm.stderr()
    );
    // Those lines' file is archived and deleted.
    jd.rotate();
    jd.log("vacapp", 6, "after the rotation");
    assert!(jd.wait_for_count("after the rotation", 1, WAIT));
    run_ok(
        Command::new("journalctl")
            .args([&format!("--namespace={}", jd.name()), "--vacuum-files=1"]),
    );
    let journal_dir = jd.journal_dir().expect("the namespace's journal dir");
    let archived = |d: &Path| {
        fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains('@'))
            .count()
    };
    assert_eq!(archived(&journal_dir), 0, "the vacuum left archived files");
    assert!(
        wait_until(WAIT, || deleted_journal_fds(lm.pid()).is_empty()),
        "logmon still holds deleted journal files open: {:?}",
        deleted_journal_fds(lm.pid())
    );
    assert_eq!(lm.stop(), 0);
}
