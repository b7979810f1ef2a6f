//! Test-support helpers for logmon's integration tests (std only, no crates).
//!
//! Use from a test file with `mod common;`. Everything here runs the real
//! tools of the machine (journald, systemd-journal-remote, Postfix) as
//! described in shared/TESTING.md, and cleans up what it starts on Drop.
//!
//! Tests run in parallel threads (and maybe parallel processes), so every
//! resource gets a name from `unique_name`, and shared system state (Postfix,
//! the test user's mailbox) is only ever added to, never reset.
#![allow(dead_code)]

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often every polling helper re-checks its condition.
pub const POLL: Duration = Duration::from_millis(20);

/// A generous default bound for waits; a slow CI machine must not fail a test.
pub const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Generic helpers
// ---------------------------------------------------------------------------

/// A name unique to this process, this call and this moment, e.g.
/// `jd-12345-7-1a2b3c4d`. Safe as a journald namespace name (letters, digits,
/// `-`, `_`, `.` only) and short: the namespace ends up inside socket paths,
/// which Linux limits to 108 bytes.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    assert!(
        prefix.len() <= 12
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "unique_name prefix {prefix:?} must be <= 12 chars of [A-Za-z0-9._-]"
    );
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // The pid separates concurrent processes, the counter separates calls in
    // one process, the clock separates a later process that reuses the pid.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_nanos() as u32;
    format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id())
}

/// Polls `cond` every 20 ms until it is true (returns true) or `timeout`
/// passes (returns false). The condition is always checked once more at the
/// deadline, so a slow last poll is not lost.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// The seed of a randomised test: `LOGMON_TEST_SEED` when set (to replay a
/// failed run), else a fresh one from /dev/urandom. Printed either way, and
/// libtest shows a failed test's output, so every failure names its seed.
pub fn test_seed(test: &str) -> u64 {
    let seed = match std::env::var("LOGMON_TEST_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("LOGMON_TEST_SEED={s:?} is not a u64")),
        Err(_) => {
            let mut b = [0u8; 8];
            fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut b))
                .expect("reading /dev/urandom");
            u64::from_le_bytes(b)
        }
    };
    eprintln!("{test}: seed {seed} (replay with LOGMON_TEST_SEED={seed})");
    seed
}

/// A small deterministic generator (splitmix64): the same seed gives the
/// same sequence, so a randomised test replays from its printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// Runs a command to completion, panicking (with its name) if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command and panics with its stdout/stderr unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// This machine's id (`/etc/machine-id`): journald names its directories
/// `<machine-id>.<namespace>`.
pub fn machine_id() -> String {
    fs::read_to_string("/etc/machine-id")
        .expect("reading /etc/machine-id")
        .trim()
        .to_string()
}

/// The current boot id as journald writes it: 32 hex digits, no dashes.
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("reading /proc/sys/kernel/random/boot_id")
        .trim()
        .replace('-', "")
}

/// Sends SIGTERM (or another signal) to one pid. std has only SIGKILL
/// (`Child::kill`), and the harness may use no crates, so use kill(1).
fn signal(pid: u32, sig: &str) {
    // Errors (e.g. the process is already gone) are fine to ignore here.
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Asks `child` to stop with SIGTERM, waits up to 5 s, then SIGKILLs it, and
/// always reaps it. Signalling before reaping means the pid cannot have been
/// reused by an unrelated process.
fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal(child.id(), "-TERM");
    let exited = wait_until(Duration::from_secs(5), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
    }
    let _ = child.wait();
}

// ---------------------------------------------------------------------------
// TempDir
// ---------------------------------------------------------------------------

/// A fresh directory under /tmp, removed with everything in it on Drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = PathBuf::from("/tmp").join(unique_name(prefix));
        // create_dir (not create_dir_all) fails if the name is taken, so two
        // tests can never share a directory by accident.
        fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Never panic in Drop (it may run during a panic); just tell.
        if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!("warning: removing {}: {e}", self.path.display());
        }
    }
}

// ---------------------------------------------------------------------------
// Native / export field encoding
// ---------------------------------------------------------------------------

/// Appends one field in the form shared by journald's native protocol and the
/// journal export format: `FIELD=value\n`, or `FIELD\n<le64 len><bytes>\n`
/// when the value could not survive the line form. A newline forces the
/// binary form; we also use it for other control bytes and non-UTF-8 so the
/// value arrives byte for byte.
pub fn encode_field(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    assert!(
        !name.is_empty() && !name.contains(['=', '\n']),
        "bad journal field name {name:?}"
    );
    let binary =
        value.iter().any(|&b| b < 0x20 || b == 0x7f) || std::str::from_utf8(value).is_err();
    buf.extend_from_slice(name.as_bytes());
    if binary {
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        buf.push(b'=');
    }
    buf.extend_from_slice(value);
    buf.push(b'\n');
}

// ---------------------------------------------------------------------------
// Journald: a private journald namespace instance
// ---------------------------------------------------------------------------

/// A standalone `systemd-journald NAME` (a journald namespace) private to one
/// test. Its sockets are in `/run/systemd/journal.NAME/`, its files in
/// `/var/log/journal/<machine-id>.NAME/`. Read it with
/// `journalctl --namespace=NAME` or `sd_journal_open_namespace(.., "NAME", 0)`.
///
/// `start` returns only once the namespace's journal file exists and holds
/// an entry a reader can see (journald's own "Journal started" lines and the
/// harness's marker `harness: journald NAME ready`, identifier
/// `logmon-harness`, priority info). A logmon started then finds a tail; one
/// started a moment earlier found an empty journal, read it from its head
/// and counted journald's own first lines as new entries.
///
/// Seen here: the socket appears ~30 ms after spawn; the namespace instance
/// exits by itself ~31 s after start when no client is connected, so we keep
/// a stdout-stream connection open for the whole lifetime. No rate limiting
/// was seen (30 000 messages in 1 s all stored) because the test process is
/// not in a systemd unit cgroup.
pub struct Journald {
    name: String,
    child: Child,
    keepalive: Option<UnixStream>,
    /// Holds journald's own stdout/stderr (`journald.log`), for diagnosis.
    logdir: TempDir,
}

impl Journald {
    /// Spawns the instance and returns once its sockets accept clients.
    pub fn start(name: &str) -> Journald {
        let logdir = TempDir::new("jdlog");
        let log =
            fs::File::create(logdir.path().join("journald.log")).expect("creating journald.log");
        // A stale runtime dir (from a crashed earlier run) would make us think
        // the socket is up before journald has even started.
        let _ = fs::remove_dir_all(Self::runtime_dir_of(name));
        let child = Command::new("/lib/systemd/systemd-journald")
            .arg(name)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning log fd"))
            .stderr(log)
            .spawn()
            .expect("spawning /lib/systemd/systemd-journald");
        let mut jd = Journald {
            name: name.to_string(),
            child,
            keepalive: None,
            logdir,
        };

        // Connect the keepalive stream; retrying also covers the tiny window
        // between bind() creating the socket file and listen().
        let stdout_path = jd.runtime_dir().join("stdout");
        let mut last_err = None;
        let up = wait_until(Duration::from_secs(10), || {
            if let Ok(Some(status)) = jd.child.try_wait() {
                panic!(
                    "journald {name} exited early ({status}); log:\n{}",
                    jd.log_text()
                );
            }
            if !jd.socket_path().exists() {
                return false;
            }
            match UnixStream::connect(&stdout_path) {
                Ok(mut s) => {
                    // Stream header: identifier, unit, priority, level_prefix,
                    // forward_to_syslog, forward_to_kmsg, forward_to_console.
                    s.write_all(b"keepalive\n\n6\n0\n0\n0\n0\n")
                        .expect("writing journald stream header");
                    jd.keepalive = Some(s);
                    true
                }
                Err(e) => {
                    last_err = Some(e);
                    false
                }
            }
        });
        assert!(
            up,
            "journald {name} sockets not ready within 10 s (last error {last_err:?}); log:\n{}",
            jd.log_text()
        );

        // journald writes its first lines and the file behind them while
        // the sockets are already up; the notify test went 0.4 s or 20 s
        // depending on who won. Seeing our marker through a reader proves
        // the file is there with everything journald wrote before it.
        let marker = format!("harness: journald {name} ready");
        jd.log("logmon-harness", 6, &marker);
        let readable = wait_until(WAIT, || {
            let out = run_ok(Command::new("journalctl").args([
                &format!("--namespace={name}"),
                "-o",
                "cat",
                "--no-pager",
                &format!("MESSAGE={marker}"),
            ]));
            !out.stdout.is_empty()
        });
        assert!(
            readable && jd.journal_dir().is_some(),
            "journald {name}: marker entry not readable within {WAIT:?}; log:\n{}",
            jd.log_text()
        );
        jd
    }

    /// Closes the keepalive stream: from then on the instance exits by
    /// itself about 30 s after its last client left (for the self-test that
    /// shows the keepalive is what keeps it running).
    pub fn drop_keepalive(&mut self) {
        drop(self.keepalive.take());
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the journald process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn runtime_dir_of(name: &str) -> PathBuf {
        PathBuf::from(format!("/run/systemd/journal.{name}"))
    }

    /// `/run/systemd/journal.NAME`
    pub fn runtime_dir(&self) -> PathBuf {
        Self::runtime_dir_of(&self.name)
    }

    /// The native-protocol datagram socket.
    pub fn socket_path(&self) -> PathBuf {
        self.runtime_dir().join("socket")
    }

    /// The syslog socket, e.g. for `logger -u PATH`.
    pub fn dev_log_path(&self) -> PathBuf {
        self.runtime_dir().join("dev-log")
    }

    /// Where the journal files are (`/var/log/journal/<machine-id>.NAME`, or
    /// under /run/log/journal when there is no /var/log/journal), if created.
    pub fn journal_dir(&self) -> Option<PathBuf> {
        let dir = format!("{}.{}", machine_id(), self.name);
        ["/var/log/journal", "/run/log/journal"]
            .iter()
            .map(|base| Path::new(base).join(&dir))
            .find(|p| p.is_dir())
    }

    /// journald's own stdout/stderr so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.logdir.path().join("journald.log")).unwrap_or_default()
    }

    /// Sends one entry as one native-protocol datagram. Field names must be
    /// valid journal field names (uppercase, digits, `_`); names starting
    /// with `_` are trusted and journald drops them.
    ///
    /// Limit: one datagram is bounded by the socket send buffer
    /// (net.core.wmem_default, 212992 here): about 200 KiB in all. journald
    /// itself takes more via a memfd, which this helper does not do.
    pub fn try_send(&self, fields: &[(&str, &[u8])]) -> io::Result<()> {
        let mut buf = Vec::new();
        for (k, v) in fields {
            encode_field(&mut buf, k, v);
        }
        let sock = UnixDatagram::unbound()?;
        sock.send_to(&buf, self.socket_path())?;
        Ok(())
    }

    /// `try_send`, panicking on error.
    pub fn send(&self, fields: &[(&str, &[u8])]) {
        self.try_send(fields)
            .unwrap_or_else(|e| panic!("sending to journald {}: {e}", self.name));
    }

    /// Sends MESSAGE, PRIORITY (0..=7) and SYSLOG_IDENTIFIER.
    pub fn log(&self, identifier: &str, priority: u8, message: &str) {
        let prio = priority.to_string();
        self.send(&[
            ("MESSAGE", message.as_bytes()),
            ("PRIORITY", prio.as_bytes()),
            ("SYSLOG_IDENTIFIER", identifier.as_bytes()),
        ]);
    }

    /// Rotates the namespace's files (`journalctl --namespace=NAME --rotate`).
    pub fn rotate(&self) {
        run_ok(
            Command::new("journalctl").args([&format!("--namespace={}", self.name), "--rotate"]),
        );
    }

    /// All messages so far (`journalctl --namespace=NAME -o cat`). Includes
    /// journald's own "Journal started" lines.
    pub fn cat(&self) -> String {
        let out = run_ok(Command::new("journalctl").args([
            &format!("--namespace={}", self.name),
            "-o",
            "cat",
            "--no-pager",
        ]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until at least `n` lines of `cat()` contain `pattern`.
    pub fn wait_for_count(&self, pattern: &str, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.cat().lines().filter(|l| l.contains(pattern)).count() >= n
        })
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        drop(self.keepalive.take());
        stop_child(&mut self.child);
        // The journal dir is `<machine-id>.NAME`; match the part after the
        // first dot exactly so a namespace "a" never removes "x.b.a".
        for base in ["/var/log/journal", "/run/log/journal"] {
            let Ok(entries) = fs::read_dir(base) else {
                continue;
            };
            for e in entries.flatten() {
                let fname = e.file_name();
                let fname = fname.to_string_lossy();
                if fname.split_once('.').map(|(_, ns)| ns) == Some(self.name.as_str()) {
                    if let Err(err) = fs::remove_dir_all(e.path()) {
                        eprintln!("warning: removing {}: {err}", e.path().display());
                    }
                }
            }
        }
        // journald leaves its runtime dir behind, even on SIGTERM.
        let _ = fs::remove_dir_all(self.runtime_dir());
    }
}

// ---------------------------------------------------------------------------
// Fixture journal files
// ---------------------------------------------------------------------------

/// One fixture entry: field name and raw value.
pub type Entry<'a> = Vec<(&'a str, Vec<u8>)>;

/// Builds an entry from text fields: `entry(&[("MESSAGE", "hi"), ("_PID", "1")])`.
pub fn entry<'a>(fields: &[(&'a str, &str)]) -> Entry<'a> {
    fields
        .iter()
        .map(|(k, v)| (*k, v.as_bytes().to_vec()))
        .collect()
}

/// Writes `entries` into the real journal file `dir/fixture.journal` (via
/// `systemd-journal-remote`) and returns its path. Any field may be given,
/// trusted ones (`_SYSTEMD_UNIT`, `_HOSTNAME`, `_PID`, `_BOOT_ID`, ...)
/// included, and binary values.
///
/// Defaults, each only when the entry lacks the field:
/// - `__REALTIME_TIMESTAMP`: now minus (count - i) ms, so entries are in the
///   past, 1 ms apart, in order. Required: journal-remote drops an entry
///   without it ("Entry is invalid, ignoring") and still exits 0.
/// - `__MONOTONIC_TIMESTAMP`: likewise, from /proc/uptime (0 if omitted).
/// - `_BOOT_ID`: the current boot (all zeros if omitted), so "this boot"
///   filters match.
///
/// `__CURSOR` is not needed (journal-remote ignores it and makes its own);
/// `__SEQNUM` is rejected with "Unknown dunder line" and ignored.
///
/// Calling again with the same `dir` appends to the same file. This panics
/// unless the file gained exactly `entries.len()` entries.
pub fn fixture_journal(dir: &Path, entries: &[Entry]) -> PathBuf {
    let path = dir.join("fixture.journal"); // name must end in .journal
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_micros() as u64;
    let uptime_us = uptime_us();
    let boot = boot_id();
    let n = entries.len() as u64;

    let mut export = Vec::new();
    for (i, fields) in entries.iter().enumerate() {
        let back = (n - i as u64) * 1000;
        let has = |name: &str| fields.iter().any(|(k, _)| *k == name);
        if !has("__REALTIME_TIMESTAMP") {
            encode_field(
                &mut export,
                "__REALTIME_TIMESTAMP",
                (now_us - back).to_string().as_bytes(),
            );
        }
        if !has("__MONOTONIC_TIMESTAMP") {
            let mono = uptime_us.saturating_sub(back);
            encode_field(
                &mut export,
                "__MONOTONIC_TIMESTAMP",
                mono.to_string().as_bytes(),
            );
        }
        if !has("_BOOT_ID") {
            encode_field(&mut export, "_BOOT_ID", boot.as_bytes());
        }
        for (k, v) in fields {
            encode_field(&mut export, k, v);
        }
        export.push(b'\n'); // a blank line ends an entry
    }

    let before = journal_entry_count(&path);
    let output = format!("--output={}", path.display());
    let mut child = Command::new("/lib/systemd/systemd-journal-remote")
        .args(["--split-mode=none", &output, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning /lib/systemd/systemd-journal-remote");
    // Feed stdin from a thread so a large fixture cannot deadlock against a
    // full stderr pipe.
    let mut stdin = child.stdin.take().expect("journal-remote stdin");
    let feeder = thread::spawn(move || stdin.write_all(&export));
    let out = child
        .wait_with_output()
        .expect("waiting for journal-remote");
    feeder
        .join()
        .expect("stdin feeder thread panicked")
        .expect("writing export stream to journal-remote");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-journal-remote failed ({}): {stderr}",
        out.status
    );
    let added = journal_entry_count(&path) - before;
    assert_eq!(
        added,
        entries.len(),
        "journal-remote stored {added} of {} entries; its stderr: {stderr}",
        entries.len()
    );
    path
}

/// Entries in one journal file (0 if it does not exist), from its header.
fn journal_entry_count(file: &Path) -> usize {
    if !file.exists() {
        return 0;
    }
    let out = run_ok(
        Command::new("journalctl")
            .arg(format!("--file={}", file.display()))
            .arg("--header"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Entry objects:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'Entry objects:' in journalctl --header:\n{text}"))
}

fn uptime_us() -> u64 {
    let text = fs::read_to_string("/proc/uptime").expect("reading /proc/uptime");
    let secs: f64 = text
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("parsing /proc/uptime");
    (secs * 1_000_000.0) as u64
}

// ---------------------------------------------------------------------------
// FakeSendmail
// ---------------------------------------------------------------------------

/// An executable `/bin/sh` script standing in for /usr/sbin/sendmail.
///
/// Each successful run records its argv (one per line) in
/// `mails/mail-<nanos>-<pid>.args` and its stdin in `.eml`, written under a
/// temp name and then `mv`d (args first), so a reader never sees half a mail
/// nor a mail without its args. Names sort in start order, since the date is
/// 19 digits wide until the year 2286.
///
/// Control files, changeable at any time: `fail` (exit 75 = EX_TEMPFAIL
/// without recording), `fail-rcpt` (the same, for runs with that
/// recipient among their arguments), `hang` (`exec sleep 100000`), `fail-ratio` (fail with
/// that % chance). Checked in that order, after stdin has been read, just as
/// a real sendmail reads the message before it can fail. Every run also adds
/// a line `<id> ok|fail|hang` to `attempts`, to count retries. With a `seed`
/// (`set_seed`), the k-th run's fail-ratio draw depends only on the seed and
/// k, so a randomised test replays the same pattern of failures.
///
/// The script needs no environment variables and only commands on
/// PATH=/usr/sbin:/usr/bin:/sbin:/bin, like logmon's cleared environment.
pub struct FakeSendmail {
    dir: TempDir,
    script: PathBuf,
}

impl FakeSendmail {
    pub fn new() -> FakeSendmail {
        let dir = TempDir::new("sendmail");
        let d = dir.path().display().to_string();
        // The path is baked into the script in single quotes; TempDir names
        // cannot contain one, but say so if that ever changes.
        assert!(!d.contains('\''), "temp dir path {d:?} contains a quote");
        for sub in ["mails", "tmp"] {
            fs::create_dir(dir.path().join(sub)).expect("creating fake sendmail subdir");
        }
        // `cd` first so a hung `sleep` has this dir as its cwd: Drop uses that
        // to make sure a pid it kills really is one of ours.
        let body = format!(
            r#"#!/bin/sh
# Fake sendmail written by logmon's tests/common/mod.rs.
d='{d}'
cd "$d" || exit 75
id="$(date +%s%N)-$$"
cat > "tmp/$id.eml"
if [ -e fail ]; then
    rm -f "tmp/$id.eml"; echo "$id fail" >> attempts; exit 75
fi
if [ -s fail-rcpt ]; then
    r=$(cat fail-rcpt)
    for a in "$@"; do
        if [ "$a" = "$r" ]; then
            rm -f "tmp/$id.eml"; echo "$id fail" >> attempts; exit 75
        fi
    done
fi
if [ -e hang ]; then
    rm -f "tmp/$id.eml"; echo "$id hang" >> attempts
    echo "$$" > "tmp/$id.hang"
    exec sleep 100000
fi
if [ -s fail-ratio ]; then
    p=$(cat fail-ratio)
    if [ -s seed ]; then
        k=$(cat attempts 2>/dev/null | wc -l)
        r=$(printf '%s-%s' "$(cat seed)" "$k" | cksum | cut -d' ' -f1)
    else
        r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    fi
    if [ "$((r % 100))" -lt "$p" ]; then
        rm -f "tmp/$id.eml"; echo "$id fail" >> attempts; exit 75
    fi
fi
printf '%s\n' "$@" > "tmp/$id.args"
mv "tmp/$id.args" "mails/mail-$id.args"
mv "tmp/$id.eml" "mails/mail-$id.eml"
echo "$id ok" >> attempts
exit 0
"#
        );
        // Write the text to a plain file and let install(1) create the
        // executable. If this process held a write fd on the script, another
        // test thread forking at that moment would inherit it and exec of
        // the script could fail with ETXTBSY ("Text file busy").
        let src = write_file(dir.path(), "sendmail.src", body);
        let script = dir.path().join("sendmail");
        run_ok(Command::new("install").arg("-m0755").arg(&src).arg(&script));
        FakeSendmail { dir, script }
    }

    /// The script to configure as logmon's sendmail.
    pub fn path(&self) -> &Path {
        &self.script
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Recorded files with `ext`, in delivery (name) order.
    fn recorded(&self, ext: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.path().join("mails"))
            .expect("listing fake sendmail mails dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        files.sort();
        files
    }

    /// The messages delivered so far, in order, as lossy UTF-8.
    pub fn mails(&self) -> Vec<String> {
        self.recorded("eml")
            .iter()
            .map(|p| {
                String::from_utf8_lossy(&fs::read(p).expect("reading recorded mail")).into_owned()
            })
            .collect()
    }

    /// The argv (without argv[0]) of each delivered message, same order as
    /// `mails()`. One arg per line in the file, so an arg holding a newline
    /// would come back split.
    pub fn args(&self) -> Vec<Vec<String>> {
        // Only args whose .eml exists, so both lists always line up.
        self.recorded("eml")
            .iter()
            .map(|p| {
                let text =
                    fs::read_to_string(p.with_extension("args")).expect("reading recorded args");
                text.lines().map(str::to_string).collect()
            })
            .collect()
    }

    /// One line per run, `<nanos>-<pid> ok|fail|hang`, in completion order.
    pub fn attempts(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path().join("attempts"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn set_flag(&self, name: &str, on: bool, contents: &str) {
        let p = self.dir.path().join(name);
        if on {
            // Write-then-rename so the script never reads a half-written value.
            let tmp = self.dir.path().join(format!("{name}.new"));
            fs::write(&tmp, contents).expect("writing fake sendmail control file");
            fs::rename(&tmp, &p).expect("renaming fake sendmail control file");
        } else if let Err(e) = fs::remove_file(&p) {
            assert!(
                e.kind() == io::ErrorKind::NotFound,
                "removing {}: {e}",
                p.display()
            );
        }
    }

    /// While on, every run exits 75 without recording.
    pub fn set_fail(&self, on: bool) {
        self.set_flag("fail", on, "");
    }

    /// While set, every run with `rcpt` among its arguments exits 75
    /// without recording (one route failing, the others delivering).
    pub fn set_fail_rcpt(&self, rcpt: Option<&str>) {
        self.set_flag("fail-rcpt", rcpt.is_some(), rcpt.unwrap_or(""));
    }

    /// While on, every run reads stdin then sleeps "forever".
    pub fn set_hang(&self, on: bool) {
        self.set_flag("hang", on, "");
    }

    /// Each run fails with `percent`% chance (0 turns it off).
    pub fn set_fail_ratio(&self, percent: u32) {
        assert!(percent <= 100, "fail ratio is a percentage");
        self.set_flag("fail-ratio", percent > 0, &percent.to_string());
    }

    /// Makes the `fail-ratio` draws a function of `seed` and the run's
    /// number (see the type's doc).
    pub fn set_seed(&self, seed: u64) {
        self.set_flag("seed", true, &seed.to_string());
    }

    pub fn wait_for_mails(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.recorded("eml").len() >= n)
    }

    /// Waits until `cond(&mails())` holds.
    pub fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&[String]) -> bool) -> bool {
        wait_until(timeout, || cond(&self.mails()))
    }
}

impl Default for FakeSendmail {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FakeSendmail {
    fn drop(&mut self) {
        // Kill the `sleep`s of hung runs that nobody killed. Each wrote its
        // pid; we only kill it if its cwd is still our dir, so a pid reused
        // by some unrelated process is left alone.
        let Ok(entries) = fs::read_dir(self.dir.path().join("tmp")) else {
            return;
        };
        for e in entries.flatten() {
            if e.path().extension() != Some(std::ffi::OsStr::new("hang")) {
                continue;
            }
            let Some(pid) = fs::read_to_string(e.path())
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            else {
                continue;
            };
            let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok();
            if cwd.as_deref() == Some(self.dir.path()) {
                signal(pid, "-KILL");
            }
        }
        // self.dir (a TempDir) is removed after this.
    }
}

// ---------------------------------------------------------------------------
// Postfix
// ---------------------------------------------------------------------------

/// The local user whose mailbox (/var/mail/logmontest) tests deliver to.
pub const TEST_USER: &str = "logmontest";

/// Makes sure the real Postfix is running.
///
/// Choice: the harness starts Postfix when needed and NEVER stops it. Tests
/// run in parallel threads and maybe processes; a guard that stops Postfix
/// on Drop would pull it from under another test still waiting for a mail.
/// Stopping it at the very end is left to the CI script (`postfix stop`),
/// if anything. `started_by_us()` says whether this guard started it.
pub struct Postfix {
    started_by_us: bool,
}

impl Postfix {
    pub fn ensure_started() -> Postfix {
        // Serialise within this process so two threads do not both start it.
        static LOCK: Mutex<()> = Mutex::new(());
        let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        if Self::running() {
            return Postfix {
                started_by_us: false,
            };
        }
        let out = run(Command::new("postfix").arg("start"));
        // Another process may have won the race ("already running").
        assert!(
            out.status.success() || Self::running(),
            "postfix start failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Postfix {
            started_by_us: out.status.success(),
        }
    }

    /// `postfix status` exits 0 only while the master process runs.
    pub fn running() -> bool {
        run(Command::new("postfix").arg("status").stderr(Stdio::null()))
            .status
            .success()
    }

    pub fn started_by_us(&self) -> bool {
        self.started_by_us
    }
}

/// Creates the local user `TEST_USER` if missing and returns its name.
pub fn ensure_test_user() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let exists = || {
            run(Command::new("id").arg("-u").arg(TEST_USER))
                .status
                .success()
        };
        if exists() {
            return;
        }
        let out = run(Command::new("useradd").arg("-m").arg(TEST_USER));
        // A parallel test process may have created it meanwhile.
        assert!(
            out.status.success() || exists(),
            "useradd -m {TEST_USER} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    TEST_USER
}

/// The whole mbox `/var/mail/USER` (empty if none yet). It is shared by all
/// tests and never truncated: look for a needle unique to your test.
pub fn mailbox_contents(user: &str) -> String {
    match fs::File::open(format!("/var/mail/{user}")) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).expect("reading mailbox");
            String::from_utf8_lossy(&buf).into_owned()
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("opening /var/mail/{user}: {e}"),
    }
}

/// Waits until the mailbox of `user` contains `needle`.
pub fn wait_mailbox(user: &str, needle: &str, timeout: Duration) -> bool {
    wait_until(timeout, || mailbox_contents(user).contains(needle))
}

/// A child process killed and reaped when the test ends, pass or fail.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------
// Without inotify: a spare uid whose inotify instances are all taken
// ---------------------------------------------------------------------------

/// A uid nothing else on the machine uses: no passwd entry, no process
/// running as it. The search starts at a place given by our pid, so two
/// concurrent runs (two checkouts) do not pick the same one.
pub fn spare_uid() -> u32 {
    static UID: std::sync::OnceLock<u32> = OnceLock::new();
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

pub fn as_spare_uid(program: &str) -> Command {
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

pub fn make_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    for e in fs::read_dir(dir).unwrap() {
        fs::set_permissions(e.unwrap().path(), fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// Holds every inotify instance [`spare_uid`] may have (the per-user
/// `max_user_instances`), until dropped; a logmon run as that uid then
/// gets no inotify fd.
pub fn exhaust_inotify() -> Killed {
    use std::io::{BufRead, BufReader};
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
    BufReader::new(exhauster.0.stdout.as_mut().expect("exhauster stdout"))
        .read_line(&mut line)
        .expect("reading the exhauster's count");
    assert!(
        line.trim().parse::<u32>().unwrap_or(0) > 0,
        "exhauster (uid {}) got no instance: {line:?}",
        spare_uid()
    );
    exhauster
}

// ---------------------------------------------------------------------------
// The logmon binary: the shipped config, a running daemon, its mails
// ---------------------------------------------------------------------------

/// The binary under test (Cargo builds it for integration tests).
pub const LOGMON: &str = env!("CARGO_BIN_EXE_logmon");

/// What logmon logs once it follows the journal.
pub const STARTED: &str = "started: following the journal";

/// The shipped `logmon.conf` with its rule packs (this checkout's
/// `logmon.d`), a given sendmail, `dir/cursor` as the state file and the
/// `[mail]` batch window `batch`.
pub fn shipped_config(dir: &Path, sendmail: &Path, batch: &str) -> PathBuf {
    let shipped = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/logmon.conf"))
        .expect("reading the shipped logmon.conf");
    let text = shipped
        .replace("/usr/sbin/sendmail", &sendmail.display().to_string())
        .replace(
            "/var/lib/logmon/cursor",
            &format!("{}/cursor", dir.display()),
        )
        .replace("batch        = 10s", &format!("batch = {batch}"))
        // The copy lives elsewhere: the packs are the repository's.
        .replace(
            "include = logmon.d",
            concat!("include = ", env!("CARGO_MANIFEST_DIR"), "/logmon.d"),
        );
    write_file(dir, "logmon.conf", text)
}

/// The Subject header (unfolded) and the body of a mail.
pub fn subject_and_body(mail: &str) -> (String, String) {
    let (headers, body) = mail
        .split_once("\n\n")
        .expect("a blank line after the headers");
    let subject = headers
        .replace("\n ", " ")
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .expect("a Subject header")
        .to_string();
    (subject, body.to_string())
}

/// The value of header `name` (unfolded), if the mail has it.
pub fn header_of(mail: &str, name: &str) -> Option<String> {
    let headers = mail.split_once("\n\n").map_or(mail, |(h, _)| h);
    let prefix = format!("{name}: ");
    headers
        .replace("\n ", " ")
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_string))
}

/// The messages of `logmon --dry-run` output (mbox), each without its
/// `From ` line.
pub fn mbox_mails(mbox: &str) -> Vec<String> {
    let mut mails = Vec::new();
    for part in format!("\n{mbox}").split("\nFrom logmon ").skip(1) {
        mails.push(part.split_once('\n').map_or("", |(_, m)| m).to_string());
    }
    mails
}

/// The `position at CURSOR` of the state file, if it has one.
pub fn saved_at(state: &Path) -> Option<String> {
    let text = fs::read_to_string(state).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("position at "))
        .map(str::to_string)
}

/// The cursor of the entry of namespace `ns` whose MESSAGE is `message`.
pub fn cursor_of(ns: &str, message: &str) -> String {
    let out = run_ok(Command::new("journalctl").args([
        &format!("--namespace={ns}"),
        "-o",
        "export",
        "--no-pager",
        &format!("MESSAGE={message}"),
    ]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("__CURSOR="))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no entry {message:?} in {ns}"))
}

/// A running logmon; SIGKILLed and reaped on Drop if still running, so a
/// failing assertion leaves no process behind. Its stderr goes to
/// `dir/logmon.stderr` (a restart in the same dir starts that file anew).
pub struct Logmon {
    child: Child,
    stderr_path: PathBuf,
}

impl Logmon {
    /// Starts `logmon ARGS` and waits until it follows the journal.
    pub fn start(args: &[&str], dir: &Path) -> Logmon {
        let stderr_path = dir.join("logmon.stderr");
        let child = Command::new(LOGMON)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr_path).expect("creating logmon.stderr"))
            .spawn()
            .expect("starting logmon");
        let mut l = Logmon { child, stderr_path };
        l.wait_stderr(STARTED, Duration::from_secs(30));
        l
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until stderr contains `needle`; panics (with stderr) if logmon
    /// exits first or `timeout` passes.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) {
        let mut exited = None;
        let ok = wait_until(timeout, || {
            if self.stderr().contains(needle) {
                return true;
            }
            exited = self.child.try_wait().ok().flatten();
            exited.is_some()
        });
        assert!(
            ok && self.stderr().contains(needle),
            "logmon never printed {needle:?} (exited: {exited:?}); stderr:\n{}",
            self.stderr()
        );
    }

    /// SIGTERM, then the exit code (-1 for a death by signal), bounded.
    pub fn stop(mut self) -> i32 {
        if let Ok(Some(s)) = self.child.try_wait() {
            panic!(
                "logmon had already exited ({s}); stderr:\n{}",
                self.stderr()
            );
        }
        signal(self.pid(), "-TERM");
        let mut status = None;
        let done = wait_until(Duration::from_secs(30), || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        assert!(
            done,
            "logmon did not exit within 30 s of SIGTERM; stderr:\n{}",
            self.stderr()
        );
        status.and_then(|s| s.code()).unwrap_or(-1)
    }

    /// SIGKILL (no chance to save or deliver anything more), and reaps it.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Logmon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
