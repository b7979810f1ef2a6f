//! Without an inotify instance (the per-user limit exhausted), logmon says
//! so and falls back to reopening the journal on a timer (every 2 s).
//! `batch = 0`, so an alert is printed as soon as it is read: with the
//! default 10 s window each wait below took 10 s (once blamed on
//! libsystemd; it was the batch).
//! In its own test binary: it exhausts the limit of a spare uid, and no
//! other test may run as that uid meanwhile. Other checkouts on the same
//! machine may run this test at the same moment, so the uid is picked per
//! process (see `spare_uid`), never one fixed number.

mod common;

use common::*;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A uid nothing else on the machine uses: no passwd entry, no process
/// running as it. The search starts at a place given by our pid, so two
/// concurrent runs (two checkouts) do not pick the same one.
fn spare_uid() -> u32 {
    static UID: OnceLock<u32> = OnceLock::new();
    *UID.get_or_init(|| {
        let used: Vec<u32> = fs::read_dir("/proc")
            .expect("listing /proc")
            .flatten()
            .filter_map(|e| fs::read_to_string(e.path().join("status")).ok())
            .filter_map(|st| {
                st.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        let start = std::process::id() % 1000;
        (0..1000)
            .map(|i| 63_000 + (start + i) % 1000)
            .find(|uid| {
                !used.contains(uid)
                    && !run(Command::new("getent").args(["passwd", &uid.to_string()]))
                        .status
                        .success()
            })
            .expect("no spare uid in 63000..64000")
    })
}

fn as_spare_uid(program: &str) -> Command {
    let uid = spare_uid();
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
        "--",
        program,
    ]);
    c
}

fn make_readable(dir: &std::path::Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    for e in fs::read_dir(dir).unwrap() {
        fs::set_permissions(e.unwrap().path(), fs::Permissions::from_mode(0o644)).unwrap();
    }
}

#[test]
fn without_inotify_logmon_warns_and_polls() {
    let tmp = TempDir::new("inotify");
    make_readable(tmp.path());
    let journal_dir = tmp.path().join("journal");
    fs::create_dir(&journal_dir).unwrap();
    let e = |msg: &str| {
        entry(&[
            ("MESSAGE", msg),
            ("_HOSTNAME", "h"),
            ("SYSLOG_IDENTIFIER", "app"),
            ("PRIORITY", "3"),
        ])
    };
    fixture_journal(&journal_dir, &[e("routine start line")]);
    make_readable(&journal_dir);

    // Hold every inotify instance the spare uid may have (max_user_instances).
    let mut exhauster = Killed(
        as_spare_uid("/usr/bin/python3")
            .args([
                "-c",
                "import ctypes, sys, time\n\
                 libc = ctypes.CDLL(None)\n\
                 fds = [libc.inotify_init1(0o2000000) for _ in range(100000)]\n\
                 print(sum(f >= 0 for f in fds), flush=True)\n\
                 time.sleep(300)\n",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 for the inotify exhauster"),
    );
    let mut line = String::new();
    BufReader::new(exhauster.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.trim().parse::<u32>().unwrap() > 0,
        "exhauster (uid {}) got no instance: {line:?}",
        spare_uid()
    );

    let bin = tmp.path().join("logmon");
    fs::copy(env!("CARGO_BIN_EXE_logmon"), &bin).unwrap();
    let conf = write_file(
        tmp.path(),
        "logmon.conf",
        "state_file =\n[mail]\nbatch = 0\n[match]\nMESSAGE ~ error\n",
    );
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    let stdout_path = tmp.path().join("stdout");
    let stderr_path = tmp.path().join("stderr");
    let _logmon = Killed(
        as_spare_uid(bin.to_str().unwrap())
            .args([
                "-c",
                conf.to_str().unwrap(),
                "--dry-run",
                "--directory",
                journal_dir.to_str().unwrap(),
            ])
            .stdout(fs::File::create(&stdout_path).unwrap())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        wait_until(WAIT, || stderr().contains("started: following")),
        "{}",
        stderr()
    );
    assert!(
        stderr().contains("<4>cannot watch the journal")
            && stderr().contains("checking every 2000 ms instead"),
        "{}",
        stderr()
    );
    // New entries in the open file are still found, on the timer.
    fixture_journal(&journal_dir, &[e("disk error after start")]);
    make_readable(&journal_dir);
    assert!(
        wait_until(WAIT, || fs::read_to_string(&stdout_path)
            .unwrap_or_default()
            .contains("disk error after start")),
        "stdout: {}\nstderr: {}",
        fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr()
    );
    // A new file (a rotation, a new host) is found too: logmon reopens.
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    let new_file = fixture_journal(&other, &[e("raid error in a new file")]);
    fs::rename(&new_file, journal_dir.join("rotated.journal")).unwrap();
    make_readable(&journal_dir);
    assert!(
        wait_until(WAIT, || fs::read_to_string(&stdout_path)
            .unwrap_or_default()
            .contains("raid error in a new file")),
        "stdout: {}\nstderr: {}",
        fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr()
    );
    let out = fs::read_to_string(&stdout_path).unwrap();
    assert!(!out.contains("routine"));
    assert_eq!(
        out.matches("disk error after start").count(),
        1,
        "reopening must not repeat alerts: {out}"
    );
}
