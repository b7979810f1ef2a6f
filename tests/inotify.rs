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
use std::os::unix::fs::PermissionsExt;

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
    let _exhauster = exhaust_inotify();

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
