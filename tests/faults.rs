//! Faults of the journal files themselves (logmon issue 8), against the
//! real binary and real journal files: more files than the open-file limit
//! allows, and a file truncated while logmon reads it (SIGBUS).

mod common;

use common::*;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;

const BIN: &str = env!("CARGO_BIN_EXE_logmon");
const STARTED: &str = "started: following the journal";

fn write_config(dir: &Path, sendmail: &Path) -> PathBuf {
    let text = format!(
        "state_file =\n[mail]\nto = root\nsendmail = {}\nbatch = 0\n[match]\nMESSAGE ~ failure\n",
        sendmail.display()
    );
    write_file(dir, "logmon.conf", text)
}

/// journal-remote preallocates 8 MiB per file; 200 of them would fill the
/// disk for nothing. Punch the zeros out (same contents, sparse).
fn make_sparse(path: &Path) {
    let _ = Command::new("fallocate")
        .arg("--dig-holes")
        .arg(path)
        .stderr(Stdio::null())
        .status();
}

/// `n` journal files `fNNN.journal` in `dir`, each holding one alerting
/// entry `fdlimit failure NNN`; built four at a time.
fn many_journal_files(tmp: &Path, dir: &Path, n: usize) {
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (tmp, dir) = (tmp.to_path_buf(), dir.to_path_buf());
            thread::spawn(move || {
                for i in (w..n).step_by(4) {
                    let build = tmp.join(format!("build-{i:03}"));
                    fs::create_dir(&build).expect("creating a build dir");
                    let msg = format!("fdlimit failure {i:03}");
                    let file = fixture_journal(
                        &build,
                        &[entry(&[
                            ("MESSAGE", msg.as_str()),
                            ("PRIORITY", "3"),
                            ("SYSLOG_IDENTIFIER", "fdlimit"),
                        ])],
                    );
                    let dest = dir.join(format!("f{i:03}.journal"));
                    fs::rename(&file, &dest).expect("moving a journal file");
                    make_sparse(&dest);
                    fs::remove_dir(&build).expect("removing a build dir");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a fixture builder panicked");
    }
}

/// The NNN of every `fdlimit failure NNN` in `text`.
fn numbers_after(text: &str, marker: &str) -> BTreeSet<usize> {
    text.match_indices(marker)
        .filter_map(|(at, _)| text[at + marker.len()..].get(..3)?.parse().ok())
        .collect()
}

/// `logmon --once --dry-run` over `dir` after `ulimit_args` in sh.
fn once_under_limit(ulimit_args: &str, conf: &Path, dir: &Path) -> (ExitStatus, String, String) {
    let out = run(Command::new("sh").args([
        "-c",
        &format!("ulimit {ulimit_args} && exec \"$0\" \"$@\""),
        BIN,
        "-c",
        &conf.display().to_string(),
        "--once",
        "--dry-run",
        "--since",
        "2000-01-01",
        "--directory",
        &dir.display().to_string(),
    ]));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status, text(&out.stdout), text(&out.stderr))
}

#[test]
fn every_journal_file_is_read_or_named_under_a_low_open_file_limit() {
    const FILES: usize = 200;
    let tmp = TempDir::new("fdlimit");
    let dir = tmp.path().join("journal");
    fs::create_dir(&dir).expect("creating the journal dir");
    many_journal_files(tmp.path(), &dir, FILES);
    let fake = FakeSendmail::new();
    let conf = write_config(tmp.path(), fake.path());
    let all: BTreeSet<usize> = (0..FILES).collect();

    // A soft limit of 64 under a higher hard limit: logmon raises it and
    // reads every file (without that, libsystemd opened 59 of them).
    let (status, out, err) = once_under_limit("-S -n 64", &conf, &dir);
    let alerted = numbers_after(&out, "fdlimit failure ");
    assert_eq!(
        alerted.len(),
        FILES,
        "soft limit 64: {} of {FILES} files alerted ({status}); stderr:\n{err}",
        alerted.len()
    );
    assert!(status.success(), "soft limit 64: {status}; stderr:\n{err}");
    assert!(!err.contains("not opened"), "soft limit 64:\n{err}");

    // Hard limit 64 too: what cannot be opened is named, file by file, and
    // the incomplete read is exit 1 (the alerts it found are still mailed).
    let (status, out, err) = once_under_limit("-n 64", &conf, &dir);
    let alerted = numbers_after(&out, "fdlimit failure ");
    let named = numbers_after(&err, &format!("journal file {}/f", dir.display()));
    eprintln!(
        "hard limit 64: {} files alerted, {} named as not opened, {status}",
        alerted.len(),
        named.len()
    );
    assert!(
        !alerted.is_empty() && !named.is_empty(),
        "hard limit 64: {} alerted, {} named; stderr:\n{err}",
        alerted.len(),
        named.len()
    );
    assert!(
        alerted.is_disjoint(&named),
        "a file both read and named:\n{err}"
    );
    let union: BTreeSet<usize> = alerted.union(&named).copied().collect();
    assert_eq!(union, all, "files neither read nor named; stderr:\n{err}");
    assert!(
        err.contains("open-file limit of 64 is reached"),
        "no reason given:\n{err}"
    );
    assert_eq!(status.code(), Some(1), "hard limit 64; stderr:\n{err}");
}

/// One running logmon, killed on Drop if a test fails first.
struct Logmon {
    child: Child,
    stderr: PathBuf,
}

impl Logmon {
    fn start(args: &[&str], stderr: PathBuf) -> Logmon {
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("creating the stderr file"))
            .spawn()
            .expect("starting logmon");
        let mut l = Logmon { child, stderr };
        l.wait_stderr(STARTED);
        l
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for `needle` on stderr; fails at once if logmon died.
    fn wait_stderr(&mut self, needle: &str) {
        let mut exited = None;
        wait_until(WAIT, || {
            exited = self.child.try_wait().ok().flatten();
            exited.is_some() || self.stderr().contains(needle)
        });
        assert!(
            exited.is_none() && self.stderr().contains(needle),
            "no {needle:?} from logmon (exited: {exited:?}, signal {:?}); stderr:\n{}",
            exited.and_then(|s| s.signal()),
            self.stderr()
        );
    }

    fn signal(&self, sig: &str) {
        run_ok(Command::new("kill").args([sig, &self.child.id().to_string()]));
    }

    fn stop(&mut self) -> ExitStatus {
        self.signal("-TERM");
        let mut status = None;
        wait_until(WAIT, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.unwrap_or_else(|| panic!("logmon ignored SIGTERM; stderr:\n{}", self.stderr()))
    }
}

impl Drop for Logmon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tail_object_offset` from a journal file's header (journal-def.h).
fn tail_object_offset(path: &Path) -> u64 {
    let head = fs::read(path).expect("reading the journal file");
    assert_eq!(&head[..8], b"LPKSHHRH", "not a journal file");
    u64::from_le_bytes(head[136..144].try_into().expect("8 bytes"))
}

/// A journal file logmon has mapped is cut to half its size between a new
/// entry being written to it and logmon reading that entry. That is
/// deterministic: logmon is stopped (SIGSTOP) for both steps, and must then
/// touch the file's last entry, which is past the cut. Before the fix logmon
/// died of SIGBUS every time; now it names the file, reopens the journal
/// (which no longer opens the cut file) and alerts on what comes next.
#[test]
fn a_journal_file_truncated_while_read_is_named_and_logmon_reads_on() {
    let tmp = TempDir::new("truncate");
    let dir = tmp.path().join("journal");
    let build = tmp.path().join("build");
    for d in [&dir, &build] {
        fs::create_dir(d).expect("creating a dir");
    }
    let fill: Vec<_> = (0..20_000)
        .map(|i| {
            let msg = format!("fill entry {i} of the big file");
            vec![
                ("MESSAGE", msg.into_bytes()),
                ("PRIORITY", b"6".to_vec()),
                ("SYSLOG_IDENTIFIER", b"filler".to_vec()),
            ]
        })
        .collect();
    let big = fixture_journal(&dir, &fill);
    let quiet = fixture_journal(&build, &[entry(&[("MESSAGE", "quiet"), ("PRIORITY", "6")])]);
    fs::rename(&quiet, dir.join("b.journal")).expect("moving b.journal");

    let fake = FakeSendmail::new();
    let conf = write_config(tmp.path(), fake.path());
    let conf = conf.display().to_string();
    let dir_arg = dir.display().to_string();
    let mut logmon = Logmon::start(
        &["-c", &conf, "--directory", &dir_arg],
        tmp.path().join("logmon.stderr"),
    );

    logmon.signal("-STOP");
    fixture_journal(
        &dir,
        &[entry(&[
            ("MESSAGE", "failure written just before the cut"),
            ("PRIORITY", "3"),
        ])],
    );
    let len = fs::metadata(&big).expect("big file").len();
    assert!(
        tail_object_offset(&big) > len / 2,
        "the file's last entry must lie past the cut for the test to mean anything"
    );
    File::options()
        .write(true)
        .open(&big)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncating the big file");
    logmon.signal("-CONT");

    logmon.wait_stderr(&format!("journal file {} was truncated", big.display()));
    logmon.wait_stderr(&format!("journal file {} not opened", big.display()));

    let after = fixture_journal(
        &build,
        &[entry(&[
            ("MESSAGE", "failure after the cut"),
            ("PRIORITY", "3"),
        ])],
    );
    fs::rename(&after, dir.join("c.journal")).expect("moving c.journal");
    let mailed = fake.wait_until(WAIT, |mails| {
        mails.iter().any(|m| m.contains("failure after the cut"))
    });
    assert!(
        mailed,
        "no alert for the entry after the cut; stderr:\n{}",
        logmon.stderr()
    );
    let status = logmon.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "logmon {status}; stderr:\n{}",
        logmon.stderr()
    );
    eprintln!("truncate: stderr was:\n{}", logmon.stderr());
}

#[test]
fn numbers_after_reads_three_digits() {
    let text = "a fdlimit failure 007 b fdlimit failure 199\nfdlimit failure x";
    let got: Vec<_> = numbers_after(text, "fdlimit failure ")
        .into_iter()
        .collect();
    assert_eq!(got, vec![7, 199]);
}
