//! Without inotify, logmon reopens the journal on a timer. Version 1 sent
//! such a reopen to the journal head when nothing had been read yet (the
//! `--since` time was stored, never used): `--since -1h` with nothing new
//! mailed 100 old alerts within seconds.
//! In its own test binary, with its own spare uid: it exhausts that uid's
//! inotify instances.

mod common;

use common::*;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A uid nothing else uses (tests/inotify.rs has another).
const SPARE_UID: &str = "64124";

fn as_spare_uid(program: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={SPARE_UID}"),
        &format!("--regid={SPARE_UID}"),
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

    let mut exhauster = Killed(
        as_spare_uid("/usr/bin/python3")
            .args([
                "-c",
                "import ctypes, time\n\
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
    assert!(line.trim().parse::<u32>().unwrap_or(0) > 0, "{line:?}");

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
