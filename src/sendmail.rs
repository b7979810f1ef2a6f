//! Delivery: pipe a composed message to `sendmail -i -- RCPT...`.
//!
//! No shell, a cleared environment with a fixed PATH, recipients after `--`
//! (validated when the config was read), and a deadline for the whole run:
//! Postfix's setgid `postdrop` can retry forever when it cannot write the
//! queue, so a sendmail that has not exited in time is killed together with
//! its process group. Exit status 0 is the only "accepted".
//!
//! The child is started with posix_spawn (see `sys::spawn`) rather than
//! std's `Command`, which weighs about 10 KiB more in a binary that must
//! stay below 500 KiB.

use crate::sys::{self, Exit};
use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Run sendmail; Ok only when it exited 0 within `timeout`. `waiting` is
/// called now and then while the child runs (to feed a watchdog).
pub fn send(
    sendmail: &Path,
    to: &[String],
    message: &[u8],
    timeout: Duration,
    waiting: &mut dyn FnMut(),
) -> Result<(), String> {
    let shown = sendmail.display();
    let deadline = sys::monotonic_ms() + timeout.as_millis() as u64;
    let program =
        CString::new(sendmail.as_os_str().as_bytes()).map_err(|_| format!("bad path {shown}"))?;
    let mut argv = vec![program.clone(), CString::from(c"-i"), CString::from(c"--")];
    for rcpt in to {
        argv.push(CString::new(rcpt.as_str()).map_err(|_| format!("bad recipient {rcpt:?}"))?);
    }
    // A cleared environment but for a fixed PATH: nothing of ours leaks in.
    let envp = [CString::from(c"PATH=/usr/sbin:/usr/bin:/sbin:/bin")];
    let mut child =
        sys::spawn(&program, &argv, &envp).map_err(|e| format!("cannot run {shown}: {e}"))?;
    let written = match child.stdin.take() {
        Some(stdin) => write_with_deadline(stdin, message, deadline, waiting),
        None => Err(io::Error::other("no stdin pipe")),
    };
    match (written, wait_with_deadline(&mut child, deadline, waiting)) {
        (_, Err(e)) => Err(format!("waiting for {shown}: {e}")),
        (_, Ok(None)) => Err(format!(
            "{shown} did not finish within {} s; killed",
            timeout.as_secs()
        )),
        (_, Ok(Some(Exit::Signal(sig)))) => Err(format!("{shown} failed: killed by signal {sig}")),
        (_, Ok(Some(Exit::Code(code)))) if code != 0 => {
            Err(format!("{shown} failed: exit status {code}"))
        }
        (Err(e), _) => Err(format!("writing to {shown}: {e}")),
        (Ok(()), Ok(Some(Exit::Code(_)))) => Ok(()),
    }
}

/// Write all of `data`, giving up at `deadline`, so a child that stops
/// reading cannot block us (a pipe holds only 64 KiB).
fn write_with_deadline(
    mut pipe: std::fs::File,
    data: &[u8],
    deadline: u64,
    waiting: &mut dyn FnMut(),
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
                // In slices of a second: the watchdog is fed meanwhile.
                let mut fds = [sys::pollfd(pipe.as_raw_fd(), libc::POLLOUT)];
                sys::poll(&mut fds, Some((deadline - now).min(1000)))?;
                waiting();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
    // Dropping the pipe closes it: sendmail sees end of input.
}

/// The child's exit, or `None` if it was killed at the deadline.
fn wait_with_deadline(
    child: &mut sys::Child,
    deadline: u64,
    waiting: &mut dyn FnMut(),
) -> io::Result<Option<Exit>> {
    // Short sleeps at first: a local sendmail usually exits within ~15 ms.
    let mut pause = 1;
    loop {
        if let Some(exit) = child.try_wait()? {
            return Ok(Some(exit));
        }
        waiting();
        let now = sys::monotonic_ms();
        if now >= deadline {
            child.kill();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(pause.min(deadline - now)));
        pause = (pause * 2).min(50);
    }
}
