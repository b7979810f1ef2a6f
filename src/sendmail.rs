//! Delivery: pipe a composed message to `sendmail -i -- RCPT...`.
//!
//! No shell, a cleared environment with a fixed PATH, recipients after `--`
//! (validated when the config was read), and a deadline for the whole run:
//! Postfix's setgid `postdrop` can retry forever when it cannot write the
//! queue, so a sendmail that has not exited in time is killed. Exit status 0
//! is the only "accepted".

use crate::sys;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Run sendmail; Ok only when it exited 0 within `timeout`. `waiting` is
/// called now and then while the child runs (to feed a watchdog).
pub fn send(
    sendmail: &Path,
    to: &[String],
    message: &[u8],
    timeout: Duration,
    waiting: &mut dyn FnMut(),
) -> Result<(), String> {
    let deadline = sys::monotonic_ms() + timeout.as_millis() as u64;
    let mut child = Command::new(sendmail)
        .arg("-i")
        .arg("--")
        .args(to)
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .current_dir("/")
        // Its own process group, so a timeout also kills postdrop below it.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", sendmail.display()))?;
    let written = match child.stdin.take() {
        Some(stdin) => write_with_deadline(stdin, message, deadline),
        None => Err(io::Error::other("no stdin pipe")),
    };
    let status = wait_with_deadline(&mut child, deadline, waiting);
    match (written, status) {
        (_, Ok(None)) => Err(format!(
            "{} did not finish within {} s; killed",
            sendmail.display(),
            timeout.as_secs()
        )),
        (_, Ok(Some(s))) if !s.success() => Err(format!("{} failed: {s}", sendmail.display())),
        (Err(e), _) => Err(format!("writing to {}: {e}", sendmail.display())),
        (Ok(()), Ok(Some(_))) => Ok(()),
        (_, Err(e)) => Err(format!("waiting for {}: {e}", sendmail.display())),
    }
}

/// Write all of `data`, giving up at `deadline`, so a child that stops
/// reading cannot block us (a pipe holds only 64 KiB).
fn write_with_deadline(
    mut pipe: std::process::ChildStdin,
    data: &[u8],
    deadline: u64,
) -> io::Result<()> {
    sys::set_nonblocking(pipe.as_raw_fd())?;
    let mut rest = data;
    while !rest.is_empty() {
        match pipe.write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let now = sys::monotonic_ms();
                if now >= deadline {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
                let mut fds = [sys::pollfd(pipe.as_raw_fd(), libc::POLLOUT)];
                sys::poll(&mut fds, Some(deadline - now))?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
    // Dropping the pipe closes it: sendmail sees end of input.
}

/// The child's exit status, or `None` if it was killed at the deadline.
fn wait_with_deadline(
    child: &mut Child,
    deadline: u64,
    waiting: &mut dyn FnMut(),
) -> io::Result<Option<ExitStatus>> {
    // Short sleeps at first: a local sendmail usually exits within ~15 ms.
    let mut pause = 1;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        waiting();
        let now = sys::monotonic_ms();
        if now >= deadline {
            sys::kill_process_group(child.id());
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(pause.min(deadline - now)));
        pause = (pause * 2).min(50);
    }
}
