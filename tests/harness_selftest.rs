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

/// The times left on the armed timerfds of process `pid`, from
/// /proc/PID/fdinfo (`it_value: (SECS, NSECS)`; `(0, 0)` is disarmed).
/// sd-event keeps one timerfd per clock, armed for its earliest timer.
fn armed_timers(pid: u32) -> Vec<Duration> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut timers = Vec::new();
    for fd in fds.flatten() {
        let is_timerfd =
            fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy() == "anon_inode:[timerfd]");
        if !is_timerfd {
            continue;
        }
        let info = fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let value = info
            .lines()
            .find_map(|l| l.strip_prefix("it_value: ("))
            .and_then(|v| v.strip_suffix(')'))
            .and_then(|v| v.split_once(", "))
            .and_then(|(s, ns)| Some(Duration::new(s.parse().ok()?, ns.parse().ok()?)));
        if let Some(v) = value.filter(|v| !v.is_zero()) {
            timers.push(v);
        }
    }
    timers
}

/// A namespace journald exits 30 s after its last client leaves (systemd
/// 252, journald-server.c: `IDLE_TIMEOUT_USEC`, a timer armed while it has
/// no stdout stream and no varlink connection); the harness's keepalive
/// stream must prevent that. Rather than sleep past the 30 s, look at the
/// timer itself. sd-event shows only each clock's earliest timer, and right
/// after a write journald has sub-second ones (it wakes readers 250 ms
/// later), so both checks wait for the short ones to pass: with the
/// keepalive there comes a moment when no timer is due within 31 s at all
/// (an armed idle timer would be due within 30 s until journald exits);
/// once the keepalive is dropped a timer due in 1..31 s appears (so the
/// check can see one), and journald is still running meanwhile.
#[test]
fn keepalive_disarms_journalds_idle_exit() {
    const IDLE: Duration = Duration::from_secs(31);
    let mut jd = Journald::start(&unique_name("idle"));
    let pid = jd.pid();
    // journald saves a stream's state under streams/ once it has read the
    // stream's header; it counted the stream (and dropped the idle timer)
    // when it accepted it, before that.
    let streams = jd.runtime_dir().join("streams");
    assert!(
        wait_until(WAIT, || fs::read_dir(&streams)
            .is_ok_and(|mut d| d.next().is_some())),
        "journald registered no stream; log:\n{}",
        jd.log_text()
    );
    assert!(
        wait_until(WAIT, || armed_timers(pid).iter().all(|t| *t > IDLE)),
        "journald {pid} keeps a timer due within {IDLE:?} despite the keepalive: {:?}",
        armed_timers(pid)
    );
    assert!(jd.is_running(), "journald exited; log:\n{}", jd.log_text());
    jd.drop_keepalive();
    let idle_armed = || {
        armed_timers(pid)
            .iter()
            .any(|t| *t > Duration::from_secs(1) && *t <= IDLE)
    };
    assert!(
        wait_until(WAIT, idle_armed),
        "no idle timer after the last client left, so this test could not see one: {:?}",
        armed_timers(pid)
    );
    assert!(jd.is_running(), "journald exited; log:\n{}", jd.log_text());
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

    // 50%: 40 runs all passing or all failing has odds 2^-39. Seeded, so a
    // failure replays with the seed it prints.
    fake.set_seed(test_seed("fake_sendmail_records_and_fails_on_demand"));
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

/// `set_seed` makes the fail-ratio draws replayable: the same seed gives
/// the same outcome for the k-th run, another seed (almost surely) not.
#[test]
fn fake_sendmail_seed_replays_the_same_failures() {
    let seed = test_seed("fake_sendmail_seed_replays_the_same_failures");
    let outcomes = |seed: u64| {
        let fake = FakeSendmail::new();
        fake.set_seed(seed);
        fake.set_fail_ratio(50);
        (0..30)
            .map(|_| run_fake(&fake, &[], "x\n").code())
            .collect::<Vec<_>>()
    };
    let first = outcomes(seed);
    assert!(
        first.contains(&Some(0)) && first.contains(&Some(75)),
        "{first:?}"
    );
    assert_eq!(first, outcomes(seed), "same seed, other outcomes");
    assert_ne!(first, outcomes(seed ^ 1), "another seed, same 30 outcomes");
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
