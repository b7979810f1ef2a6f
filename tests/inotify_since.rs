//! Without inotify, logmon reopens the journal on a timer. Version 1 sent
//! such a reopen to the journal head when nothing had been read yet (the
//! `--since` time was stored, never used): `--since -1h` with nothing new
//! mailed 100 old alerts within seconds.
//! In its own test binary (its own spare uid, see `common::spare_uid`): it
//! exhausts that uid's inotify instances.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[test]
fn a_reopen_without_inotify_keeps_the_since_time() {
    let tmp = TempDir::new("insince");
    make_readable(tmp.path());
    let journal_dir = tmp.path().join("journal");
    fs::create_dir(&journal_dir).unwrap();
    let two_hours_ago = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
        - 7_200_000_000;
    let old: Vec<_> = (0..100)
        .map(|i| {
            let t = (two_hours_ago + i * 1000).to_string();
            entry(&[
                ("MESSAGE", &format!("old error {i}")),
                ("PRIORITY", "3"),
                ("SYSLOG_IDENTIFIER", "app"),
                ("__REALTIME_TIMESTAMP", &t),
            ])
        })
        .collect();
    fixture_journal(&journal_dir, &old);
    make_readable(&journal_dir);

    let _exhauster = exhaust_inotify();

    let bin = tmp.path().join("logmon");
    let built = std::env::var("LOGMON_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_logmon").to_string());
    fs::copy(built, &bin).unwrap();
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
            .args(["-c", conf.to_str().unwrap(), "--dry-run", "--since", "-1h"])
            .args(["--directory", journal_dir.to_str().unwrap()])
            .stdout(fs::File::create(&stdout_path).unwrap())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();
    let stdout = || fs::read_to_string(&stdout_path).unwrap_or_default();
    assert!(
        wait_until(WAIT, || stderr().contains("checking every")),
        "{}",
        stderr()
    );
    // A new file is found only by a reopen: once its alert is out, at least
    // one reopen has happened.
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    let new_file = fixture_journal(
        &other,
        &[entry(&[
            ("MESSAGE", "new error in a new file"),
            ("PRIORITY", "3"),
            ("SYSLOG_IDENTIFIER", "app"),
        ])],
    );
    fs::rename(&new_file, journal_dir.join("new.journal")).unwrap();
    make_readable(&journal_dir);
    assert!(
        wait_until(Duration::from_secs(60), || stdout()
            .contains("new error in a new file")),
        "stdout: {}\nstderr: {}",
        stdout(),
        stderr()
    );
    assert!(
        !stdout().contains("old error"),
        "a reopen went back before --since:\n{}",
        stdout()
    );
}
