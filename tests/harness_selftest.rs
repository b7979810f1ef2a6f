//! Exercises every helper in tests/common for real, so a failing logmon test
//! can be trusted to be about logmon and not about the harness.

mod common;

use common::*;
use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

#[test]
fn unique_names_are_unique_short_and_valid() {
    let handles: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(|| {
                (0..500)
                    .map(|_| unique_name("selftest"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for h in handles {
        for name in h.join().expect("name thread panicked") {
            assert!(name.len() <= 40, "{name} is too long");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{name} has a bad char"
            );
            assert!(all.insert(name.clone()), "{name} repeated");
        }
    }
}

#[test]
fn temp_dir_is_removed_with_contents() {
    let dir = TempDir::new("tdtest");
    let path = dir.path().to_path_buf();
    assert!(path.starts_with("/tmp") && path.is_dir());
    fs::create_dir(path.join("sub")).expect("creating subdir");
    let f = write_file(&path.join("sub"), "f.txt", "hello");
    assert_eq!(fs::read_to_string(&f).expect("reading back"), "hello");
    drop(dir);
    assert!(!path.exists(), "{} left behind", path.display());
}

#[test]
fn wait_until_reports_success_and_timeout() {
    let dir = TempDir::new("wutest");
    let flag = dir.path().join("flag");
    let flag2 = flag.clone();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        fs::write(flag2, "x").expect("writing flag");
    });
    assert!(wait_until(WAIT, || flag.exists()));
    writer.join().expect("writer panicked");
    assert!(!wait_until(Duration::from_millis(100), || false));
}

fn journalctl_ns(name: &str, args: &[&str]) -> String {
    let out = run_ok(
        Command::new("journalctl")
            .arg(format!("--namespace={name}"))
            .args(args),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn journald_namespace_roundtrip_rotate_and_cleanup() {
    let name = unique_name("jd");
    let mut jd = Journald::start(&name);
    assert_eq!(jd.name(), name);
    assert!(jd.is_running());

    let tag = unique_name("msg");
    jd.log("selftest", 6, &format!("{tag} one"));
    let two = format!("{tag} two\nsecond line");
    jd.send(&[
        ("MESSAGE", two.as_bytes()),
        ("BIN", &[0, 1, 255, b'\n']),
        ("SYSLOG_IDENTIFIER", b"selftest"),
    ]);
    assert!(
        jd.wait_for_count(&tag, 2, WAIT),
        "entries missing:\n{}",
        jd.cat()
    );
    assert!(jd.cat().contains("second line"), "multi-line message cut");
    let json = journalctl_ns(&name, &["-o", "json", "SYSLOG_IDENTIFIER=selftest"]);
    assert!(
        json.contains(r#""BIN":[0,1,255,10]"#),
        "binary field lost:\n{json}"
    );
    assert!(json.contains(r#""PRIORITY":"6""#), "priority lost:\n{json}");

    // Files land in /var/log/journal/<machine-id>.NAME here.
    let dir = jd.journal_dir().expect("namespace journal dir exists");
    assert_eq!(
        dir,
        Path::new("/var/log/journal").join(format!("{}.{name}", machine_id()))
    );
    assert!(dir.join("system.journal").exists());

    // Rotation archives system.journal as system@...journal; writing goes on.
    jd.rotate();
    let archived = || {
        fs::read_dir(&dir)
            .expect("listing journal dir")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("system@"))
    };
    assert!(wait_until(WAIT, archived), "no archived file after rotate");
    jd.log("selftest", 3, &format!("{tag} three"));
    assert!(
        jd.wait_for_count(&tag, 3, WAIT),
        "no entry after rotate:\n{}",
        jd.cat()
    );

    // The syslog socket works too, via logger -u.
    run_ok(
        Command::new("logger")
            .arg("-u")
            .arg(jd.dev_log_path())
            .arg(format!("{tag} four")),
    );
    assert!(
        jd.wait_for_count(&tag, 4, WAIT),
        "logger line missing:\n{}",
        jd.cat()
    );

    let pid = jd.pid();
    let runtime = jd.runtime_dir();
    drop(jd);
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(&name),
        "journald {pid} still running"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!runtime.exists(), "{} left behind", runtime.display());
}

#[test]
fn journalds_in_parallel_stay_apart() {
    let handles: Vec<_> = (0..3)
        .map(|i| {
            thread::spawn(move || {
                let jd = Journald::start(&unique_name("jdpar"));
                let own = format!("parallel-{i}-{}", jd.name());
                jd.log("selftest", 6, &own);
                assert!(jd.wait_for_count(&own, 1, WAIT), "{}", jd.cat());
                // Only our own line, no other instance's.
                assert_eq!(jd.cat().matches("parallel-").count(), 1, "{}", jd.cat());
            })
        })
        .collect();
    for h in handles {
        h.join().expect("parallel journald thread panicked");
    }
}

/// A namespace journald exits about 30 s after start when it has no client;
/// the keepalive stream must prevent that. Takes ~40 s, in parallel with the
/// rest.
#[test]
fn journald_outlives_idle_exit() {
    let mut jd = Journald::start(&unique_name("idle"));
    thread::sleep(Duration::from_secs(40));
    assert!(jd.is_running(), "journald exited; log:\n{}", jd.log_text());
    let tag = unique_name("late");
    jd.log("selftest", 6, &tag);
    assert!(jd.wait_for_count(&tag, 1, WAIT), "{}", jd.cat());
}

#[test]
fn fixture_journal_keeps_trusted_binary_and_default_fields() {
    let tmp = TempDir::new("fixture");
    let mut first = entry(&[
        ("MESSAGE", "hello fixture"),
        ("PRIORITY", "3"),
        ("_SYSTEMD_UNIT", "foo.service"),
        ("_HOSTNAME", "fixture-host"),
        ("_PID", "4242"),
    ]);
    first.push(("BIN", vec![0, 1, 255, b'\n', b'x']));
    let second = entry(&[
        ("MESSAGE", "second fixture"),
        ("_BOOT_ID", "0123456789abcdef0123456789abcdef"),
        ("__REALTIME_TIMESTAMP", "1700000000000000"),
    ]);
    let path = fixture_journal(tmp.path(), &[first, second]);
    assert_eq!(path, tmp.path().join("fixture.journal"));

    let out = run_ok(
        Command::new("journalctl")
            .arg("-D")
            .arg(tmp.path())
            .args(["-o", "json"]),
    );
    let json = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 2, "{json}");
    let hello = lines
        .iter()
        .find(|l| l.contains("hello fixture"))
        .expect("first entry");
    for want in [
        r#""_SYSTEMD_UNIT":"foo.service""#.to_string(),
        r#""_HOSTNAME":"fixture-host""#.to_string(),
        r#""_PID":"4242""#.to_string(),
        r#""BIN":[0,1,255,10,120]"#.to_string(),
        format!(r#""_BOOT_ID":"{}""#, boot_id()),
    ] {
        assert!(hello.contains(&want), "{want} missing in {hello}");
    }
    let second = lines
        .iter()
        .find(|l| l.contains("second fixture"))
        .expect("second entry");
    assert!(
        second.contains(r#""_BOOT_ID":"0123456789abcdef0123456789abcdef""#),
        "{second}"
    );
    assert!(
        second.contains(r#""__REALTIME_TIMESTAMP":"1700000000000000""#),
        "{second}"
    );

    // A second call appends to the same file.
    fixture_journal(tmp.path(), &[entry(&[("MESSAGE", "third fixture")])]);
    let out = run_ok(
        Command::new("journalctl")
            .arg("-D")
            .arg(tmp.path())
            .args(["-o", "cat"]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
}

/// Runs the fake as logmon will: cleared environment, fixed PATH.
fn spawn_fake(fake: &FakeSendmail, args: &[&str], stdin: &str) -> Child {
    let mut child = Command::new(fake.path())
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawning fake sendmail");
    let mut input = child.stdin.take().expect("fake sendmail stdin");
    input
        .write_all(stdin.as_bytes())
        .expect("writing mail to fake sendmail");
    drop(input); // EOF, or the script's `cat` waits forever
    child
}

fn run_fake(fake: &FakeSendmail, args: &[&str], stdin: &str) -> ExitStatus {
    spawn_fake(fake, args, stdin)
        .wait()
        .expect("waiting for fake sendmail")
}

#[test]
fn fake_sendmail_records_and_fails_on_demand() {
    let fake = FakeSendmail::new();
    assert!(fake.mails().is_empty());

    assert!(run_fake(&fake, &["-i", "--", "root"], "Subject: one\n\nbody 1\n").success());
    assert!(run_fake(&fake, &["-t"], "Subject: two\n\nbody 2\n").success());
    assert!(fake.wait_for_mails(2, WAIT));
    assert_eq!(
        fake.mails(),
        ["Subject: one\n\nbody 1\n", "Subject: two\n\nbody 2\n"]
    );
    assert_eq!(fake.args(), [vec!["-i", "--", "root"], vec!["-t"]]);

    fake.set_fail(true);
    assert_eq!(run_fake(&fake, &["root"], "lost\n").code(), Some(75));
    fake.set_fail(false);
    fake.set_fail_ratio(100);
    assert_eq!(run_fake(&fake, &["root"], "lost too\n").code(), Some(75));
    fake.set_fail_ratio(0);
    assert!(run_fake(&fake, &["root"], "Subject: three\n\n").success());
    assert_eq!(fake.mails().len(), 3);
    assert!(!fake.mails().iter().any(|m| m.contains("lost")));

    // 50%: 40 runs all passing or all failing has odds 2^-39.
    fake.set_fail_ratio(50);
    let codes: HashSet<_> = (0..40)
        .map(|_| run_fake(&fake, &[], "x\n").code())
        .collect();
    assert_eq!(codes, HashSet::from([Some(0), Some(75)]));
    fake.set_fail_ratio(0);

    let attempts = fake.attempts();
    assert_eq!(attempts.len(), 5 + 40);
    assert_eq!(
        attempts.iter().filter(|a| a.ends_with(" fail")).count() + fake.mails().len(),
        45
    );

    // wait_until sees a mail arriving later.
    let path = fake.path().to_path_buf();
    let late = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        let mut c = Command::new(path)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(b"late mail\n")
            .expect("write");
        c.wait().expect("wait")
    });
    assert!(fake.wait_until(WAIT, |m| m.iter().any(|s| s == "late mail\n")));
    assert!(late.join().expect("late thread").success());
}

#[test]
fn fake_sendmail_parallel_runs_all_recorded() {
    let fake = FakeSendmail::new();
    let children: Vec<Child> = (0..16)
        .map(|i| spawn_fake(&fake, &["root"], &format!("mail number {i}\n")))
        .collect();
    for mut c in children {
        assert!(c.wait().expect("waiting").success());
    }
    let mails: HashSet<String> = fake.mails().into_iter().collect();
    let want: HashSet<String> = (0..16).map(|i| format!("mail number {i}\n")).collect();
    assert_eq!(mails, want);
}

#[test]
fn fake_sendmail_hangs_and_drop_kills_the_hung_run() {
    let fake = FakeSendmail::new();
    fake.set_hang(true);
    let mut child = spawn_fake(&fake, &["root"], "never delivered\n");
    assert!(wait_until(WAIT, || fake
        .attempts()
        .iter()
        .any(|a| a.ends_with(" hang"))));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "hung run exited"
    );
    assert!(fake.mails().is_empty());
    // Not killed by the test: the FakeSendmail's Drop must do it.
    drop(fake);
    assert!(
        wait_until(WAIT, || child.try_wait().expect("try_wait").is_some()),
        "hung fake sendmail survived Drop"
    );
}

#[test]
fn real_postfix_delivers_to_test_user() {
    let _postfix = Postfix::ensure_started();
    assert!(Postfix::running());
    let user = ensure_test_user();
    let needle = unique_name("pfmail");
    // Cleared environment, as logmon will run it.
    let mut child = Command::new("/usr/sbin/sendmail")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .args(["-i", "--", user])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawning /usr/sbin/sendmail");
    child
        .stdin
        .take()
        .expect("sendmail stdin")
        .write_all(format!("Subject: {needle}\n\nbody\n").as_bytes())
        .expect("writing to sendmail");
    assert!(child.wait().expect("waiting for sendmail").success());
    assert!(
        wait_mailbox(user, &needle, WAIT),
        "mail not in /var/mail/{user}; postfix running: {}",
        Postfix::running()
    );
}
