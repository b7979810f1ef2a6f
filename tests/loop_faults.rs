//! The poll loop under faults: a slow or hung sendmail while journald
//! vacuums, SIGTERM during a hung delivery, a backlog under 1,000 rules
//! with a watchdog, entries that vanish unread, a namespace that appears
//! after logmon started, a position that cannot be saved, a read error in
//! `--once`. Each runs the real binary against a real journald namespace
//! or real journal files.
//!
//! `LOGMON_TEST_BIN` runs the tests against another build (e.g. the
//! version 1 binary, to see them fail there).

mod common;

use common::*;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn bin() -> String {
    std::env::var("LOGMON_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_logmon").to_string())
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("logmon.conf");
    fs::write(&path, text).expect("writing config");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod config");
    path
}

fn config(state: &str, sendmail: &Path, mail: &str, rules: &str) -> String {
    format!(
        "state_file = {state}\n[mail]\nto = root\nsendmail = {}\n{mail}\n{rules}\n",
        sendmail.display()
    )
}

/// A sendmail that sleeps `secs` before behaving like `inner`.
fn slow_sendmail(dir: &Path, inner: &Path, secs: u32) -> PathBuf {
    let src = write_file(
        dir,
        "slow.src",
        format!(
            "#!/bin/sh\ntouch '{}/slow-started'\nsleep {secs}\nexec '{}' \"$@\"\n",
            dir.display(),
            inner.display()
        ),
    );
    let path = dir.join("slow-sendmail");
    run_ok(Command::new("install").arg("-m0755").arg(&src).arg(&path));
    path
}

/// One running logmon, killed and reaped on Drop.
struct Logmon {
    child: Child,
    stderr: PathBuf,
}

impl Logmon {
    fn spawn(args: &[&str], dir: &Path, envs: &[(&str, String)]) -> Logmon {
        let stderr = dir.join(format!("stderr-{}", unique_name("lm")));
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("creating stderr file"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Logmon {
            child: cmd.spawn().expect("spawning logmon"),
            stderr,
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.stderr().contains(needle) || !matches!(self.child.try_wait(), Ok(None))
        }) && self.stderr().contains(needle)
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }
}

impl Drop for Logmon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/etc/systemd/journald@NAME.conf`, removed on Drop.
struct NamespaceConf(PathBuf);

impl NamespaceConf {
    fn new(name: &str, text: &str) -> NamespaceConf {
        let path = PathBuf::from(format!("/etc/systemd/journald@{name}.conf"));
        fs::write(&path, text).expect("writing journald namespace config");
        NamespaceConf(path)
    }
}

impl Drop for NamespaceConf {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A socket standing in for systemd's NOTIFY_SOCKET; keeps every datagram.
struct Notify {
    _dir: TempDir,
    sock: UnixDatagram,
    path: PathBuf,
    seen: Vec<(Instant, String)>,
}

impl Notify {
    fn new() -> Notify {
        let dir = TempDir::new("notify");
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("binding notify socket");
        sock.set_nonblocking(true).expect("nonblocking");
        Notify {
            _dir: dir,
            sock,
            path,
            seen: Vec::new(),
        }
    }

    fn poll(&mut self) {
        let mut buf = vec![0u8; 65536];
        loop {
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    self.seen.push((Instant::now(), text));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => panic!("reading notify socket: {e}"),
            }
        }
    }

    fn any(&self, needle: &str) -> bool {
        self.seen.iter().any(|(_, t)| t.contains(needle))
    }
}

/// "This mail reports N alerts" or 1.
fn alert_count(mail: &str) -> u64 {
    let body = mail.split_once("\n\n").map_or("", |(_, b)| b);
    body.lines()
        .find_map(|l| l.strip_prefix("This mail reports "))
        .and_then(|r| r.split(' ').next()?.parse().ok())
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------

/// Version 1 read nothing while sendmail ran; journald rotated and vacuumed
/// meanwhile and 3,025 of 6,000 lines were neither mailed nor counted.
#[test]
fn vacuum_during_a_slow_delivery_loses_nothing() {
    const BURST: u64 = 6000;
    let name = unique_name("vacuum");
    // Small files, little room: vacuuming starts within the burst.
    let _conf = NamespaceConf::new(
        &name,
        "[Journal]\nStorage=volatile\nRuntimeMaxUse=2M\nRuntimeMaxFileSize=512K\nRateLimitBurst=0\n",
    );
    let jd = Journald::start(&name);
    jd.log("vacuumtest", 6, "before start");
    assert!(jd.wait_for_count("before start", 1, WAIT));
    let dir = TempDir::new("vacuum");
    let fake = FakeSendmail::new();
    let sendmail = slow_sendmail(dir.path(), fake.path(), 6);
    let conf = write_config(
        dir.path(),
        &config(
            &dir.path().join("cursor").display().to_string(),
            &sendmail,
            "batch = 0\ntimeout = 60s",
            "[match]\nMESSAGE ~ burst-error",
        ),
    );
    let mut lm = Logmon::spawn(
        &["-c", conf.to_str().unwrap(), "--namespace", &name],
        dir.path(),
        &[],
    );
    assert!(lm.wait_stderr("started", WAIT), "{}", lm.stderr());
    // The first alert starts a 6 s delivery; the burst comes during it.
    jd.log("vacuumtest", 3, "burst-error first");
    assert!(
        wait_until(WAIT, || dir.path().join("slow-started").exists()),
        "no sendmail started; stderr:\n{}",
        lm.stderr()
    );
    let padding = "x".repeat(300);
    for i in 0..BURST {
        jd.log("vacuumtest", 3, &format!("burst-error {i} {padding}"));
    }
    let files = jd.journal_dir().map(|d| fs::read_dir(d).unwrap().count());
    let total = || fake.mails().iter().map(|m| alert_count(m)).sum::<u64>();
    let done = wait_until(Duration::from_secs(90), || total() > BURST);
    let mails = fake.mails();
    let lost = lm.stderr().contains("vanished");
    assert!(
        done && !lost,
        "mailed {} of {} alerts in {} mails ({files:?} journal files at the end of the burst); stderr:\n{}",
        total(),
        BURST + 1,
        mails.len(),
        lm.stderr()
    );
    // journald really vacuumed: the first lines of the burst are gone.
    assert!(
        !jd.cat().contains("burst-error 0 "),
        "journald did not vacuum; the test proves nothing"
    );
    eprintln!(
        "vacuum during delivery: {} alerts in {} mails, 0 lost",
        total(),
        mails.len()
    );
}

/// Version 1 took 67 s to stop with a hung sendmail; the README promises 10.
#[test]
fn sigterm_with_a_hung_sendmail_exits_within_10_s() {
    let jd = Journald::start(&unique_name("hangterm"));
    let dir = TempDir::new("hangterm");
    let fake = FakeSendmail::new();
    fake.set_hang(true);
    let conf = write_config(
        dir.path(),
        &config(
            &dir.path().join("cursor").display().to_string(),
            fake.path(),
            "batch = 0\ntimeout = 120s",
            "[match]\nMESSAGE ~ error",
        ),
    );
    let mut lm = Logmon::spawn(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
        &[],
    );
    assert!(lm.wait_stderr("started", WAIT), "{}", lm.stderr());
    jd.log("app", 3, "an error that hangs sendmail");
    assert!(
        wait_until(WAIT, || fake.attempts().iter().any(|a| a.ends_with("hang"))),
        "sendmail never ran; {}",
        lm.stderr()
    );
    let t = Instant::now();
    lm.signal("-TERM");
    let status = lm.wait_exit(Duration::from_secs(30));
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(10) && status.is_some_and(|s| s.success()),
        "exit {status:?} after {took:?}; stderr:\n{}",
        lm.stderr()
    );
    assert!(lm.stderr().contains("unsent"), "{}", lm.stderr());
    eprintln!("SIGTERM with a hung sendmail: exited after {took:?}");
}

/// Version 1 read a backlog in chunks of 5,000 entries between watchdog
/// pings: with 1,000 regex rules that was 79 s without one.
#[test]
fn a_backlog_under_1000_rules_keeps_the_watchdog_fed() {
    let dir = TempDir::new("watchdog");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    let entries: Vec<_> = (0..1000)
        .map(|i| {
            entry(&[
                (
                    "MESSAGE",
                    &format!("routine line number {i} nothing to see"),
                ),
                ("PRIORITY", "6"),
                ("SYSLOG_IDENTIFIER", "app"),
            ])
        })
        .collect();
    fixture_journal(&jdir, &entries);
    let fake = FakeSendmail::new();
    // Regexes with no literal a screen could look for (the rule plan
    // skips a regex whose literals are absent): each one runs on each entry.
    let rules: String = (0..1000)
        .map(|i| format!("[match]\nMESSAGE ~ (?i)^[a-z]+ [a-z]+ [a-z]+ [0-9]+ [a-z]+ [a-z]+ [a-z]+[0-9]{{{}}}\n", 1 + i % 3))
        .collect();
    let conf = write_config(dir.path(), &config("", fake.path(), "batch = 0", &rules));
    let mut notify = Notify::new();
    let mut lm = Logmon::spawn(
        &[
            "-c",
            conf.to_str().unwrap(),
            "--directory",
            jdir.to_str().unwrap(),
            "--since",
            "2000-01-01",
        ],
        dir.path(),
        &[
            ("NOTIFY_SOCKET", notify.path.display().to_string()),
            // Pings at half of it: every 500 ms.
            ("WATCHDOG_USEC", "1000000".into()),
        ],
    );
    let start = Instant::now();
    let caught_up = wait_until(Duration::from_secs(300), || {
        notify.poll();
        notify.any("1000 entries read")
    });
    let took = start.elapsed();
    assert!(caught_up, "backlog not read; stderr:\n{}", lm.stderr());
    let pings: Vec<Instant> = notify
        .seen
        .iter()
        .filter(|(_, t)| t.contains("WATCHDOG=1"))
        .map(|(t, _)| *t)
        .collect();
    let max_gap = pings.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(took);
    eprintln!(
        "1000 rules: backlog of 1000 read in {took:?}, {} watchdog pings, longest gap {max_gap:?}",
        pings.len()
    );
    assert!(
        took > Duration::from_secs(2),
        "the backlog took only {took:?}: too small to show anything"
    );
    // systemd would act after 1 s; allow scheduling noise on a loaded box.
    assert!(
        max_gap < Duration::from_millis(900),
        "longest gap {max_gap:?}"
    );
    lm.signal("-TERM");
    assert!(lm.wait_exit(WAIT).is_some());
}

/// Entries vacuumed while logmon was down: it says how many, when, in its
/// log and in the next mail.
#[test]
fn entries_vacuumed_while_down_are_reported_with_count() {
    let name = unique_name("gap");
    let _conf = NamespaceConf::new(
        &name,
        "[Journal]\nStorage=volatile\nRuntimeMaxUse=2M\nRuntimeMaxFileSize=512K\nRateLimitBurst=0\n",
    );
    let jd = Journald::start(&name);
    jd.log("gaptest", 6, "first line");
    assert!(jd.wait_for_count("first line", 1, WAIT));
    let dir = TempDir::new("gap");
    let fake = FakeSendmail::new();
    let state = dir.path().join("cursor");
    let conf = write_config(
        dir.path(),
        &config(
            &state.display().to_string(),
            fake.path(),
            "batch = 0",
            "[match]\nMESSAGE ~ gap-error",
        ),
    );
    let args = ["-c", conf.to_str().unwrap(), "--namespace", &name, "--once"];
    let out = run(Command::new(bin()).args(args));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(state.exists());
    // While logmon is down: enough to vacuum the saved position away.
    let padding = "y".repeat(300);
    for i in 0..6000 {
        jd.log("gaptest", 6, &format!("filler {i} {padding}"));
    }
    jd.log("gaptest", 3, "gap-error after the gap");
    assert!(jd.wait_for_count("gap-error after the gap", 1, WAIT));
    assert!(!jd.cat().contains("first line"), "journald did not vacuum");
    let out = run(Command::new(bin()).args(args));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let mails = fake.mails().concat();
    assert!(
        mails.contains("gap-error after the gap"),
        "{mails}\n{stderr}"
    );
    let reported = stderr
        .lines()
        .find(|l| l.contains("vanished before logmon read them"))
        .unwrap_or_else(|| panic!("no report of lost entries:\n{stderr}"));
    let count: u64 = reported
        .trim_start_matches("<3>")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count > 0 && count <= 6001, "{reported}");
    assert!(
        mails.contains("vanished before logmon read them"),
        "{mails}"
    );
    eprintln!("reported: {reported}");
}

/// A socket-activated namespace creates its directory at its first line;
/// version 1 opened the namespace before that and never read it.
#[test]
fn a_namespace_that_appears_later_is_read() {
    let name = unique_name("later");
    let dir = TempDir::new("later");
    let fake = FakeSendmail::new();
    let conf = write_config(
        dir.path(),
        &config(
            "",
            fake.path(),
            "batch = 0",
            "[match]\nMESSAGE ~ late-error",
        ),
    );
    let mut lm = Logmon::spawn(
        &["-c", conf.to_str().unwrap(), "--namespace", &name],
        dir.path(),
        &[],
    );
    assert!(lm.wait_stderr("started", WAIT), "{}", lm.stderr());
    let jd = Journald::start(&name);
    jd.log("app", 3, "late-error in a new namespace");
    assert!(
        fake.wait_until(Duration::from_secs(30), |m| m
            .iter()
            .any(|m| m.contains("late-error in a new namespace"))),
        "not mailed; stderr:\n{}",
        lm.stderr()
    );
}

/// A tmpfs with no free inode: the state file cannot be created, even by
/// root. Unmounted on Drop.
struct FullFs(PathBuf);

impl FullFs {
    fn new(dir: &Path) -> FullFs {
        let path = dir.join("full");
        fs::create_dir(&path).unwrap();
        run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=64k,nr_inodes=1", "tmpfs"])
                .arg(&path),
        );
        FullFs(path)
    }
}

impl Drop for FullFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The first position cannot be saved: version 1 ran on looking healthy,
/// and a restart started at the tail.
#[test]
fn a_position_that_cannot_be_saved_is_reported_loudly() {
    let jd = Journald::start(&unique_name("nosave"));
    jd.log("app", 6, "some line");
    assert!(jd.wait_for_count("some line", 1, WAIT));
    let dir = TempDir::new("nosave");
    let full = FullFs::new(dir.path());
    let fake = FakeSendmail::new();
    let conf = write_config(
        dir.path(),
        &config(
            &full.0.join("cursor").display().to_string(),
            fake.path(),
            "batch = 0",
            "[match]\nMESSAGE ~ error",
        ),
    );
    let mut notify = Notify::new();
    let mut lm = Logmon::spawn(
        &["-c", conf.to_str().unwrap(), "--namespace", jd.name()],
        dir.path(),
        &[("NOTIFY_SOCKET", notify.path.display().to_string())],
    );
    assert!(
        lm.wait_stderr("cannot save the journal position", WAIT),
        "{}",
        lm.stderr()
    );
    assert!(
        fake.wait_until(WAIT, |m| m
            .iter()
            .any(|m| m.contains("Subject: [logmon]")
                && m.contains("cannot save the journal position"))),
        "no mail to the admin; stderr:\n{}",
        lm.stderr()
    );
    assert!(
        wait_until(WAIT, || {
            notify.poll();
            notify.any("STATUS=DEGRADED")
        }),
        "status looks healthy: {:?}",
        notify.seen
    );
}

/// An LD_PRELOAD library that makes every file mapping after the first
/// `FAIL_MMAP_AFTER` fail with ENOMEM: memory pressure, made exact.
fn enomem_shim(dir: &Path) -> PathBuf {
    let src = write_file(
        dir,
        "shim.c",
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
static long seen;
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    static void *(*real)(void *, size_t, int, int, int, off_t);
    if (!real) real = dlsym(RTLD_NEXT, "mmap64");
    const char *after = getenv("FAIL_MMAP_AFTER");
    if (fd >= 0 && after && ++seen > atol(after)) { errno = ENOMEM; return MAP_FAILED; }
    return real(addr, len, prot, flags, fd, off);
}
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap64(addr, len, prot, flags, fd, off);
}
"#,
    );
    let so = dir.join("shim.so");
    run_ok(
        Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(&src)
            .arg("-ldl"),
    );
    so
}

/// `--once` that cannot read the journal to its end (mappings fail with
/// ENOMEM) must not exit 0: version 1 did, after a partial read.
#[test]
fn once_exits_1_when_reading_fails() {
    let dir = TempDir::new("enomem");
    let jdir = dir.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    // Incompressible messages, so the file spans many mmap windows.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let entries: Vec<_> = (0..10_000)
        .map(|i| {
            let noise: String = (0..128)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    format!("{:016x}", x)
                })
                .collect();
            entry(&[
                ("MESSAGE", &format!("line {i} {noise}")),
                ("PRIORITY", "6"),
                ("SYSLOG_IDENTIFIER", "app"),
            ])
        })
        .collect();
    fixture_journal(&jdir, &entries);
    let shim = enomem_shim(dir.path());
    let fake = FakeSendmail::new();
    let conf = write_config(
        dir.path(),
        &config("", fake.path(), "", "[match]\nMESSAGE ~ never-matches"),
    );
    let once = |fail_after: &str| {
        run(Command::new(bin())
            .args(["-c", conf.to_str().unwrap(), "--once", "--dry-run"])
            .args([
                "--since",
                "2000-01-01",
                "--directory",
                jdir.to_str().unwrap(),
            ])
            .env("LD_PRELOAD", &shim)
            .env("FAIL_MMAP_AFTER", fail_after))
    };
    let whole = once("1000000");
    let stderr = String::from_utf8_lossy(&whole.stderr);
    assert!(
        whole.status.success() && stderr.contains("read 10000 entries"),
        "{stderr}"
    );
    let failed = once("3");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("journal files were not read"), "{stderr}");
}
