//! `logmon --check` on configs that cannot work (logmon issue 8's items 17,
//! 19 and 21): the real binary, each run under a deadline (a hang is a
//! failure, not a stuck test) and, where a config could eat memory, under an
//! address-space limit.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOGMON: &str = env!("CARGO_BIN_EXE_logmon");

/// Far more than `--check` needs (a few ms), far less than a hang.
const DEADLINE: Duration = Duration::from_secs(10);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `cmd` with its output in files (no pipe to fill), killing it and
/// failing the test if it has not exited by the deadline.
fn bounded(dir: &Path, cmd: &mut Command) -> Run {
    let name = unique_name("out");
    let (out_path, err_path) = (
        dir.join(format!("{name}.out")),
        dir.join(format!("{name}.err")),
    );
    let out = fs::File::create(&out_path).expect("creating stdout file");
    let err = fs::File::create(&err_path).expect("creating stderr file");
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut child = Killed(child);
    let mut status = None;
    let exited = wait_until(DEADLINE, || {
        status = child.0.try_wait().expect("waiting for logmon");
        status.is_some()
    });
    assert!(exited, "{cmd:?} still running after {DEADLINE:?}: killed");
    Run {
        code: status.and_then(|s| s.code()),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        took: start.elapsed(),
    }
}

fn check(dir: &Path, config: &Path) -> Run {
    bounded(
        dir,
        Command::new(LOGMON).arg("--check").arg("-c").arg(config),
    )
}

/// A config as the loader wants it: mode 0644, owned by root (we are root).
fn config(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = write_file(dir, name, text);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod 0644");
    path
}

fn assert_config_error(run: &Run, want: &str) {
    assert_eq!(
        run.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains(want),
        "{want:?} missing in:\n{}",
        run.stderr
    );
}

#[test]
fn a_fifo_config_is_an_error_not_a_hang() {
    let dir = TempDir::new("chk-fifo");
    let fifo = dir.path().join("logmon.conf");
    run_ok(Command::new("mkfifo").arg(&fifo));
    let run = check(dir.path(), &fifo);
    assert_config_error(&run, &format!("{}: not a regular file", fifo.display()));
    assert!(run.took < Duration::from_secs(2), "took {:?}", run.took);
}

#[test]
fn dev_zero_is_an_error_in_bounded_memory() {
    let dir = TempDir::new("chk-zero");
    // 256 MiB of address space: --check needs a fraction of it; a reader
    // that slurps /dev/zero dies of it instead of taking the machine's.
    let run = bounded(
        dir.path(),
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 262144 && exec \"$0\" --check -c /dev/zero")
            .arg(LOGMON),
    );
    assert_config_error(&run, "/dev/zero: not a regular file");
    // The same limit does not stop a good config: the limit is not the error.
    let good = config(dir.path(), "good.conf", "[match]\nMESSAGE = x\n");
    let run = bounded(
        dir.path(),
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 262144 && exec \"$0\" --check -c \"$1\"")
            .arg(LOGMON)
            .arg(&good),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn nul_in_a_value_is_an_error_on_its_line() {
    let dir = TempDir::new("chk-nul");
    let path = config(
        dir.path(),
        "nul.conf",
        b"state_file = /tmp/x\x00y\n[mail]\nsendmail = /usr/sbin/send\x00mail\n[match]\nMESSAGE = x\n",
    );
    let run = check(dir.path(), &path);
    let shown = path.display();
    assert_config_error(&run, &format!("{shown}:1: holds a NUL byte"));
    assert_config_error(&run, &format!("{shown}:3: holds a NUL byte"));
}

#[test]
fn explicit_sendmail_must_exist_and_run() {
    let dir = TempDir::new("chk-mta");
    let plain = config(dir.path(), "plain", "#!/bin/sh\n");
    let cases = [
        ("/nonexistent/sendmail".to_string(), "does not exist"),
        (plain.display().to_string(), "is not executable"),
        (dir.path().display().to_string(), "is not a regular file"),
    ];
    for (i, (sendmail, why)) in cases.iter().enumerate() {
        let path = config(
            dir.path(),
            &format!("{i}.conf"),
            format!("[mail]\nto = root\nsendmail = {sendmail}\n[match]\nMESSAGE = x\n"),
        );
        let run = check(dir.path(), &path);
        assert_config_error(
            &run,
            &format!("{}:3: sendmail {sendmail} {why}", path.display()),
        );
    }
    let path = config(
        dir.path(),
        "ok.conf",
        "[mail]\nsendmail = /bin/true\n[match]\nMESSAGE = x\n",
    );
    let run = check(dir.path(), &path);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

/// The default sendmail missing is a warning, exit 0. This machine has one,
/// so the run hides it: a private mount namespace binds an empty directory
/// over /usr/sbin for logmon alone (the host's /usr/sbin is untouched).
#[test]
fn default_sendmail_missing_is_only_a_warning() {
    let dir = TempDir::new("chk-dflt");
    let implied = config(dir.path(), "implied.conf", "[match]\nMESSAGE = x\n");
    let spelled = config(
        dir.path(),
        "spelled.conf",
        "[mail]\nsendmail = /usr/sbin/sendmail\n[match]\nMESSAGE = x\n",
    );
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).expect("creating empty dir");
    for (path, at) in [(&implied, ""), (&spelled, ":2")] {
        if Path::new("/usr/sbin/sendmail").exists() {
            let run = check(dir.path(), path);
            assert_eq!(run.code, Some(0), "{}", run.stderr);
            assert!(!run.stderr.contains("warning"), "{}", run.stderr);
        }
        let run = bounded(
            dir.path(),
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg("mount --bind \"$1\" /usr/sbin && exec \"$0\" --check -c \"$2\"")
                .arg(LOGMON)
                .arg(&empty)
                .arg(path),
        );
        assert_eq!(
            run.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            run.stdout,
            run.stderr
        );
        let want = format!(
            "{}{at}: warning: sendmail /usr/sbin/sendmail does not exist",
            path.display()
        );
        assert!(
            run.stderr.contains(&want),
            "{want:?} missing in:\n{}",
            run.stderr
        );
        assert!(run.stdout.contains(": OK"), "{}", run.stdout);
    }
}

#[test]
fn field_names_journald_would_refuse() {
    let dir = TempDir::new("chk-field");
    let long = "F".repeat(65);
    let path = config(
        dir.path(),
        "fields.conf",
        format!("[match]\n__CURSOR = x\n[match]\n{long} ~ x\n[match]\nMESSAGE = x\n"),
    );
    let run = check(dir.path(), &path);
    let shown = path.display();
    assert_config_error(&run, &format!("{shown}:2: '__CURSOR' is an address field"));
    assert_config_error(&run, &format!("{shown}:4: field name '{long}' is 65 bytes"));
    // 64 bytes is the limit, not past it.
    let ok = config(
        dir.path(),
        "ok.conf",
        format!("[match]\n{} = x\n", "F".repeat(64)),
    );
    assert_eq!(check(dir.path(), &ok).code, Some(0));
}

#[test]
fn keys_after_an_unknown_section_are_an_error_not_globals() {
    let dir = TempDir::new("chk-sect");
    let path = config(
        dir.path(),
        "sect.conf",
        "[mial]\nto = nobody\nstate_file = relative\n[match]\nMESSAGE = x\n",
    );
    let run = check(dir.path(), &path);
    assert_config_error(
        &run,
        &format!("{}:1: unknown section [mial]", path.display()),
    );
    // Read as globals, 'to' would be an unknown key and state_file bad.
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn since_a_date_that_does_not_exist() {
    let dir = TempDir::new("chk-since");
    let good = config(dir.path(), "good.conf", "[match]\nMESSAGE = x\n");
    for date in ["2026-02-31", "2026-02-29", "2026-04-31 10:00"] {
        let run = bounded(
            dir.path(),
            Command::new(LOGMON)
                .args(["--check", "--since", date, "-c"])
                .arg(&good),
        );
        assert_eq!(run.code, Some(2), "{date}: {}", run.stderr);
        assert!(run.stderr.contains("not a date"), "{date}: {}", run.stderr);
    }
    let run = bounded(
        dir.path(),
        Command::new(LOGMON)
            .args(["--check", "--since", "2024-02-29", "-c"])
            .arg(&good),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // A wall-clock time skipped by DST (central Europe, 29 March 2026,
    // 02:00 -> 03:00) does not exist either; it is seen when the reader
    // turns it into a position, here on an empty journal directory.
    let journal = dir.path().join("journal");
    fs::create_dir(&journal).expect("creating journal dir");
    let state = dir.path().join("cursor");
    let conf = config(
        dir.path(),
        "dst.conf",
        format!("state_file = {}\n[match]\nMESSAGE = x\n", state.display()),
    );
    let dst = |when: &str| {
        bounded(
            dir.path(),
            Command::new(LOGMON)
                .env("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
                .args(["--once", "--dry-run", "--since", when, "--directory"])
                .arg(&journal)
                .arg("-c")
                .arg(&conf),
        )
    };
    let run = dst("2026-03-29 02:30");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("no such local time"), "{}", run.stderr);
    let run = dst("2026-03-29 03:30");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}
