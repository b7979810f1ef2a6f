//! `[expect]` end to end: a heartbeat that stops mails `[ALERT] missing:`
//! once, a restart does not mail it again, the heartbeat's return mails
//! `[RESOLVED]` in the same thread; a catch-up counts in entry time, per
//! host of a journal directory.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn subjects(mails: &[String]) -> Vec<String> {
    mails
        .iter()
        .map(|m| header_of(m, "Subject").unwrap_or_default())
        .collect()
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn config(dir: &Path, sendmail: &Path, rules: &str) -> PathBuf {
    let text = format!(
        "state_file = {}/cursor\n[mail]\nto = root\nsendmail = {}\nbatch = 0\nretry = 1s\n{rules}",
        dir.display(),
        sendmail.display()
    );
    write_file(dir, "logmon.conf", text)
}

const HEARTBEAT: &str = "[expect]\nname = heartbeat\nMESSAGE = heartbeat-ok\nwithin = 3s\n";

#[test]
fn missing_once_then_resolved_in_its_thread_across_a_restart() {
    let fake = FakeSendmail::new();
    let jd = Journald::start(&unique_name("expect"));
    let dir = TempDir::new("expect");
    let host = hostname();
    let missing = format!("[ALERT] missing: heartbeat on {host}");
    let resolved = format!("[RESOLVED] heartbeat on {host}");

    let conf = config(dir.path(), fake.path(), HEARTBEAT);
    let follow = |conf: &Path| {
        Logmon::start(
            &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
            dir.path(),
        )
    };
    let first = follow(&conf);
    jd.log("app", 6, "heartbeat-ok");
    // 3 s after that line, the heartbeat is missing.
    assert!(
        fake.wait_until(WAIT, |m| subjects(m).contains(&missing)),
        "no missing mail: {:?}\n{}",
        subjects(&fake.mails()),
        first.stderr()
    );
    let missing_mail = fake.mails().remove(0);
    let missing_id = header_of(&missing_mail, "Message-ID").expect("a Message-ID");
    assert!(
        missing_id.starts_with("<logmon.") && missing_id.ends_with('>'),
        "{missing_id}"
    );
    assert!(
        missing_mail.contains("No entry matched heartbeat on"),
        "{missing_mail}"
    );
    assert_eq!(first.stop(), 0);

    // The second run has one more [expect], new to the state file: its
    // clock starts at this start and it is missing 4 s later, after the
    // heartbeat would be (3 s after its last match, long past) if the
    // restart had forgotten that its absence was already mailed.
    let canary = "[expect]\nname = canary\nMESSAGE = never-logged\nwithin = 4s\n";
    let conf = config(dir.path(), fake.path(), &format!("{HEARTBEAT}{canary}"));
    let second = follow(&conf);
    let canary_subject = format!("[ALERT] missing: canary on {host}");
    assert!(
        fake.wait_until(WAIT, |m| subjects(m).contains(&canary_subject)),
        "{:?}\n{}",
        subjects(&fake.mails()),
        second.stderr()
    );
    jd.log("app", 6, "heartbeat-ok again");
    assert!(
        fake.wait_until(WAIT, |m| subjects(m).contains(&resolved)),
        "no resolved mail: {:?}\n{}",
        subjects(&fake.mails()),
        second.stderr()
    );
    let mails = fake.mails();
    let all = subjects(&mails);
    assert_eq!(
        all.iter().filter(|s| **s == missing).count(),
        1,
        "the restart mailed 'missing' again: {all:?}"
    );
    let resolved_mail = mails
        .iter()
        .find(|m| header_of(m, "Subject").as_deref() == Some(resolved.as_str()))
        .unwrap();
    assert_eq!(
        header_of(resolved_mail, "In-Reply-To"),
        Some(missing_id.clone())
    );
    assert_eq!(header_of(resolved_mail, "References"), Some(missing_id));
    assert!(
        resolved_mail.contains("heartbeat-ok again"),
        "{resolved_mail}"
    );
    assert_eq!(second.stop(), 0);
}

fn usec_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

#[test]
fn a_catch_up_counts_in_entry_time_per_host_of_a_directory() {
    let fake = FakeSendmail::new();
    let dir = TempDir::new("expect-dir");
    let journals = dir.path().join("remote");
    fs::create_dir(&journals).unwrap();
    let now = usec_now();
    let min = 60_000_000;
    // web1 beats every 10 min but skipped 25 min (from -40 to -15); web2
    // beats every 5 min; db1 logs, but never the heartbeat. The last
    // beats are recent: at the end, in wall time, nothing is missing.
    let mut beats: Vec<(u64, &str, &str)> = Vec::new();
    for m in [60, 50, 40, 15, 5] {
        beats.push((now - m * min, "web1", "backup done"));
    }
    for m in (2..=62).rev().step_by(5) {
        beats.push((now - m * min, "web2", "backup done"));
    }
    for m in [55, 30, 20, 3] {
        beats.push((now - m * min, "db1", "something else"));
    }
    beats.sort();
    let entries: Vec<Entry> = beats
        .iter()
        .map(|(t, host, msg)| {
            entry(&[
                ("__REALTIME_TIMESTAMP", &t.to_string()),
                ("_HOSTNAME", host),
                ("SYSLOG_IDENTIFIER", "backup"),
                ("PRIORITY", "6"),
                ("MESSAGE", msg),
            ])
        })
        .collect();
    fixture_journal(&journals, &entries);
    let conf = config(
        dir.path(),
        fake.path(),
        "[expect]\nname = backup\nSYSLOG_IDENTIFIER == backup\nMESSAGE = backup done\nwithin = 15m\n",
    );
    let once = || {
        run_ok(Command::new(LOGMON).args([
            "-c",
            conf.to_str().unwrap(),
            "--once",
            "--directory",
            journals.to_str().unwrap(),
            "--since",
            "2000-01-01",
        ]))
    };
    let out = once();
    let mails = fake.mails();
    assert_eq!(
        subjects(&mails),
        [
            "[ALERT] missing: backup on web1",
            "[RESOLVED] backup on web1"
        ],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The missing mail names the last beat before the gap, 40 min ago.
    let missing = &mails[0];
    assert!(
        missing.contains("for 15m: the last one was at"),
        "{missing}"
    );
    assert_eq!(
        header_of(&mails[1], "In-Reply-To"),
        header_of(missing, "Message-ID")
    );
    // Read again (--since: the same history, the saved clocks): nothing
    // new is missing or resolved.
    once();
    assert_eq!(fake.mails().len(), 2, "{:?}", subjects(&fake.mails()));
    let state = fs::read_to_string(dir.path().join("cursor")).unwrap();
    let clocks: Vec<&str> = state.lines().filter(|l| l.starts_with("expect ")).collect();
    assert_eq!(clocks.len(), 2, "one clock per host that beat: {state}");
    assert!(
        clocks.iter().all(|l| l.ends_with(" seen -")),
        "nothing is missing now: {state}"
    );
}
