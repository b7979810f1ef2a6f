//! Delivery: one `sendmail -i -- RCPT...` run, driven by the poll loop.
//!
//! Version 1 waited for sendmail inside the loop, so nothing was read while
//! a slow or hung sendmail ran, and journald could rotate and vacuum unread
//! entries away meanwhile. A [`Job`] instead exposes its descriptors (the
//! message pipe to sendmail's stdin, its stderr, a pidfd) for the daemon's
//! `poll(2)`, and [`Job::step`] does whatever can be done without blocking.
//!
//! No shell, a cleared environment with a fixed PATH, recipients after `--`
//! (validated when the config was read), and a deadline for the whole run:
//! Postfix's setgid `postdrop` can retry forever when it cannot write the
//! queue, so a sendmail that has not exited in time is killed together with
//! its process group. Exit status 0 with the whole message written is the
//! only "accepted". What sendmail says on stderr is kept (bounded) and
//! logged by logmon itself, so it can never reach the journal as a line of
//! a process that logmon does not recognise as its own.

use crate::sys::{self, Exit};
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes of sendmail's stderr kept for the log and the status line.
const MAX_SAID: usize = 2048;
/// Without a pidfd, how often to look whether the child has exited.
const REAP_CHECK_MS: u64 = 50;

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Failed(String),
}

pub struct Job {
    program: String,
    child: sys::Child,
    pidfd: Option<OwnedFd>,
    message: Vec<u8>,
    written: usize,
    write_error: Option<io::Error>,
    said: Vec<u8>,
    said_dropped: usize,
    exit: Option<Exit>,
    deadline_ms: u64,
    timeout_ms: u64,
    next_reap_check_ms: u64,
}

impl Job {
    /// Start sendmail for `message`; it must finish by `now_ms + timeout_ms`.
    pub fn start(
        sendmail: &Path,
        to: &[String],
        message: Vec<u8>,
        timeout_ms: u64,
        now_ms: u64,
    ) -> Result<Job, String> {
        let program = sendmail.display().to_string();
        let path = CString::new(sendmail.as_os_str().as_bytes())
            .map_err(|_| format!("bad path {program}"))?;
        let mut argv = vec![path.clone(), CString::from(c"-i"), CString::from(c"--")];
        for rcpt in to {
            argv.push(CString::new(rcpt.as_str()).map_err(|_| format!("bad recipient {rcpt:?}"))?);
        }
        // A cleared environment but for a fixed PATH: nothing of ours leaks in.
        let envp = [CString::from(c"PATH=/usr/sbin:/usr/bin:/sbin:/bin")];
        let child =
            sys::spawn(&path, &argv, &envp).map_err(|e| format!("cannot run {program}: {e}"))?;
        let pidfd = sys::pidfd_open(child.pid);
        Ok(Job {
            program,
            pidfd,
            child,
            message,
            written: 0,
            write_error: None,
            said: Vec::new(),
            said_dropped: 0,
            exit: None,
            deadline_ms: now_ms + timeout_ms,
            timeout_ms,
            next_reap_check_ms: now_ms + REAP_CHECK_MS,
        })
    }

    /// The descriptors to poll, with their events.
    pub fn poll_fds(&self) -> Vec<libc::pollfd> {
        let mut fds = Vec::with_capacity(3);
        if let Some(stdin) = &self.child.stdin {
            fds.push(sys::pollfd(stdin.as_raw_fd(), libc::POLLOUT));
        }
        if let Some(stderr) = &self.child.stderr {
            fds.push(sys::pollfd(stderr.as_raw_fd(), libc::POLLIN));
        }
        if let Some(pidfd) = &self.pidfd {
            fds.push(sys::pollfd(pidfd.as_raw_fd(), libc::POLLIN));
        }
        fds
    }

    /// When [`step`](Job::step) must run again even if no fd is ready.
    pub fn deadline_ms(&self) -> u64 {
        if self.pidfd.is_some() {
            self.deadline_ms
        } else {
            self.deadline_ms.min(self.next_reap_check_ms)
        }
    }

    /// Write, read and reap what can be, without blocking. `Some` once the
    /// job is over (the child is reaped, or killed at the deadline).
    pub fn step(&mut self, now_ms: u64) -> Option<Outcome> {
        self.write_some();
        self.read_said();
        if self.exit.is_none() {
            match self.child.try_wait() {
                Ok(exit) => self.exit = exit,
                Err(e) => {
                    self.child.kill();
                    return Some(Outcome::Failed(format!(
                        "waiting for {}: {e}",
                        self.program
                    )));
                }
            }
        }
        if let Some(exit) = self.exit {
            // The child is gone, but a grandchild may still hold stderr:
            // what was said so far is enough.
            self.read_said();
            return Some(self.outcome(exit));
        }
        if now_ms >= self.deadline_ms {
            self.child.kill();
            self.read_said();
            return Some(Outcome::Failed(format!(
                "{} did not finish within {} s; killed{}",
                self.program,
                self.timeout_ms.div_ceil(1000),
                self.said_suffix()
            )));
        }
        self.next_reap_check_ms = now_ms + REAP_CHECK_MS;
        None
    }

    /// Give up now (SIGTERM with a hung sendmail): kill and reap.
    pub fn abort(&mut self) -> Outcome {
        self.child.kill();
        Outcome::Failed(format!("{} killed at exit", self.program))
    }

    /// Drive the job to its end, blocking (`--once`, `--test-mail`).
    pub fn run_to_end(mut self) -> (Outcome, String) {
        loop {
            let now = sys::monotonic_ms();
            if let Some(outcome) = self.step(now) {
                return (outcome, self.said_text());
            }
            let mut fds = self.poll_fds();
            let wait = self.deadline_ms().saturating_sub(sys::monotonic_ms());
            if let Err(e) = sys::poll(&mut fds, Some(wait.max(1))) {
                self.child.kill();
                return (Outcome::Failed(format!("poll: {e}")), self.said_text());
            }
        }
    }

    /// What sendmail wrote to stderr, made printable and bounded.
    pub fn said_text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.said).into_owned();
        text.retain(|c| c == '\n' || !c.is_control());
        if self.said_dropped > 0 {
            text.push_str(&format!(
                "\n... and {} more bytes not shown",
                self.said_dropped
            ));
        }
        text
    }

    fn said_suffix(&self) -> String {
        let text = self.said_text();
        match text.lines().find(|l| !l.trim().is_empty()) {
            Some(first) => format!(" (it said: {})", first.trim()),
            None => String::new(),
        }
    }

    fn outcome(&self, exit: Exit) -> Outcome {
        let failed = |why: String| Outcome::Failed(format!("{why}{}", self.said_suffix()));
        match exit {
            Exit::Signal(sig) => failed(format!("{} failed: killed by signal {sig}", self.program)),
            Exit::Code(code) if code != 0 => {
                failed(format!("{} failed: exit status {code}", self.program))
            }
            // Exit 0 before reading all of the message (EPIPE) is not an
            // acceptance of this message.
            Exit::Code(_) if self.written < self.message.len() => {
                let why = match &self.write_error {
                    Some(e) => format!("writing to {}: {e}", self.program),
                    None => format!("{} exited before reading the whole message", self.program),
                };
                failed(why)
            }
            Exit::Code(_) => Outcome::Accepted,
        }
    }

    fn write_some(&mut self) {
        let Some(stdin) = self.child.stdin.as_mut() else {
            return;
        };
        while self.written < self.message.len() {
            match stdin.write(&self.message[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.write_error = Some(e);
                    break;
                }
            }
        }
        // All written (or the pipe broke): closing it is sendmail's EOF.
        self.child.stdin = None;
    }

    fn read_said(&mut self) {
        let Some(stderr) = self.child.stderr.as_mut() else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) => {
                    self.child.stderr = None;
                    return;
                }
                Ok(n) => {
                    let room = MAX_SAID.saturating_sub(self.said.len());
                    let keep = n.min(room);
                    self.said.extend_from_slice(&buf[..keep]);
                    self.said_dropped += n - keep;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock: nothing more for now. Any other error: stop
                // listening, the exit status still decides.
                Err(e) => {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        self.child.stderr = None;
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn script(name: &str, body: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "logmon-delivery-{}-{name}-{}",
            std::process::id(),
            sys::monotonic_usec()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sendmail");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    }

    fn run(body: &str, message: &[u8], timeout_ms: u64) -> (Outcome, String, u64) {
        let (dir, path) = script("t", body);
        let start = sys::monotonic_ms();
        let job = Job::start(&path, &["root".into()], message.to_vec(), timeout_ms, start).unwrap();
        let (outcome, said) = job.run_to_end();
        let took = sys::monotonic_ms() - start;
        std::fs::remove_dir_all(dir).unwrap();
        (outcome, said, took)
    }

    #[test]
    fn accepted_only_with_exit_0_and_the_whole_message_read() {
        let (o, _, _) = run("cat >/dev/null", &vec![b'x'; 300_000], 10_000);
        assert_eq!(o, Outcome::Accepted);
        let (o, _, _) = run("exit 0", &vec![b'x'; 300_000], 10_000);
        assert!(matches!(o, Outcome::Failed(_)), "{o:?}");
        let (o, said, _) = run(
            "cat >/dev/null; echo 'no such user' >&2; exit 67",
            b"hi",
            10_000,
        );
        let Outcome::Failed(why) = o else {
            panic!("exit 67 accepted")
        };
        assert!(
            why.contains("exit status 67") && why.contains("no such user"),
            "{why}"
        );
        assert_eq!(said.trim(), "no such user");
    }

    #[test]
    fn a_hung_sendmail_is_killed_at_the_deadline_with_its_group() {
        let (o, _, took) = run("cat >/dev/null; sleep 1000 & sleep 1000", b"hi", 300);
        let Outcome::Failed(why) = o else {
            panic!("hung sendmail accepted")
        };
        assert!(why.contains("did not finish"), "{why}");
        assert!((300..5000).contains(&took), "took {took} ms");
    }

    #[test]
    fn stderr_is_bounded() {
        let (o, said, _) = run(
            "cat >/dev/null; head -c 5000000 /dev/zero | tr '\\0' e >&2; exit 1",
            b"hi",
            20_000,
        );
        assert!(matches!(o, Outcome::Failed(_)));
        assert!(said.len() < MAX_SAID + 100, "{}", said.len());
        assert!(said.contains("more bytes not shown"), "{said}");
    }

    #[test]
    fn a_missing_program_is_an_error_at_start() {
        let err = Job::start(Path::new("/nonexistent/sendmail"), &[], vec![], 1000, 0)
            .err()
            .expect("a missing program cannot start");
        assert!(err.contains("cannot run"), "{err}");
    }
}
