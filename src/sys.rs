//! The libc and libsystemd edges that std does not cover: poll(2), signalfd,
//! the clock, local time, sd_notify, and a few identity look-ups. All
//! `unsafe` outside the journal lives here, each call wrapped once.
//!
//! Two error helpers, never mixed: [`cvt`] for libc's `-1`/errno, and
//! [`cvt_sd`] for libsystemd's negative-errno returns.

use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{SystemTime, UNIX_EPOCH};

/// libc convention: `-1` means "look at errno".
pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// systemd convention: a negative return is `-errno`.
pub fn cvt_sd(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::from_raw_os_error(-r))
    } else {
        Ok(r)
    }
}

/// Milliseconds on CLOCK_MONOTONIC, the clock `sd_journal_get_timeout` uses.
pub fn monotonic_usec() -> u64 {
    let mut ts = MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: ts is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, ts.as_mut_ptr()) };
    // SAFETY: clock_gettime filled ts (it cannot fail for this clock).
    let ts = unsafe { ts.assume_init() };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

pub fn monotonic_ms() -> u64 {
    monotonic_usec() / 1000
}

/// Wall-clock seconds since the epoch. From std, not time(2): std reads
/// the 64-bit clock (`__clock_gettime64`) even where `time_t` has 32 bits
/// (armhf on Debian 12), where time(2) fails from 2038-01-19 on.
pub fn realtime_secs() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Wall-clock microseconds since the epoch (0 before it).
pub fn realtime_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Broken-down local time of `secs`, with its UTC offset in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub weekday: u32,
    pub utc_offset: i64,
}

/// The local time of `secs`. Where the C library cannot say it (a 32-bit
/// `time_t` past 2038, as on armhf with Debian 12, or a time beyond its
/// years) the result is UTC, marked by its offset 0, not a wrong date.
pub fn localtime(secs: i64) -> LocalTime {
    let Some(t) = to_time_t(secs) else {
        return utc_time(secs);
    };
    let mut tm = MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: both pointers are valid; localtime_r is the reentrant form.
    if unsafe { libc::localtime_r(&t, tm.as_mut_ptr()) }.is_null() {
        return utc_time(secs);
    }
    // SAFETY: localtime_r filled tm (it returned non-NULL).
    let tm = unsafe { tm.assume_init() };
    LocalTime {
        year: tm.tm_year.saturating_add(1900),
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        weekday: tm.tm_wday as u32,
        // long: 32 bits on 32-bit targets, 64 elsewhere; never truncated.
        #[allow(clippy::unnecessary_cast)]
        utc_offset: tm.tm_gmtoff as i64,
    }
}

/// `secs` where `time_t` holds it. Only 32-bit targets can fail.
#[allow(clippy::unnecessary_fallible_conversions, clippy::useless_conversion)]
fn to_time_t(secs: i64) -> Option<libc::time_t> {
    libc::time_t::try_from(secs).ok()
}

/// `secs` as a UTC date and time, computed without the C library (the
/// civil-from-days algorithm of H. Hinnant's "chrono-compatible low-level
/// date algorithms"), for times `time_t` cannot hold.
pub fn utc_time(secs: i64) -> LocalTime {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400) as u32;
    // 1970-01-01 was a Thursday (weekday 4).
    let weekday = (days + 4).rem_euclid(7) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    LocalTime {
        year: i32::try_from(year).unwrap_or(if year < 0 { i32::MIN } else { i32::MAX }),
        month,
        day,
        hour: rest / 3600,
        minute: rest / 60 % 60,
        second: rest % 60,
        weekday,
        utc_offset: 0,
    }
}

/// Seconds since the epoch of a local date and time, as journalctl reads
/// `--since "YYYY-MM-DD HH:MM:SS"` (mktime with DST chosen by the system).
/// `None` for a time that does not exist: a 31 February, or a wall-clock
/// time skipped by a DST change, which mktime(3) silently moves.
pub fn mktime_local(year: i32, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    // SAFETY: an all-zero tm is a valid value to start from.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = month as i32 - 1;
    tm.tm_mday = day as i32;
    tm.tm_hour = h as i32;
    tm.tm_min = m as i32;
    tm.tm_sec = s as i32;
    tm.tm_isdst = -1;
    let wanted = (
        tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
    );
    // SAFETY: tm is a valid, initialised struct that mktime may normalise.
    let t = unsafe { libc::mktime(&mut tm) };
    let got = (
        tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
    );
    (t != -1 && got == wanted).then_some(t as i64)
}

/// A signalfd for SIGTERM, SIGINT and SIGHUP, which are blocked so that they
/// arrive only through it (std resets the mask for the children it spawns).
pub struct SignalFd(OwnedFd);

impl SignalFd {
    pub fn new() -> io::Result<SignalFd> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: set is a valid out-pointer; sigemptyset initialises it.
        cvt(unsafe { libc::sigemptyset(set.as_mut_ptr()) })?;
        // SAFETY: sigemptyset initialised the set.
        let mut set = unsafe { set.assume_init() };
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: set is initialised and sig a valid signal number.
            cvt(unsafe { libc::sigaddset(&mut set, sig) })?;
        }
        // SAFETY: set is initialised; the old mask is not needed.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        // SAFETY: -1 asks for a new fd; set is initialised.
        let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
        // SAFETY: signalfd returned a new fd that nothing else owns.
        Ok(SignalFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The next pending signal number, if any.
    pub fn read(&self) -> io::Result<Option<u32>> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: info is a writable buffer of exactly `size` bytes.
        let n = unsafe { libc::read(self.0.as_raw_fd(), info.as_mut_ptr().cast(), size) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        if n as usize != size {
            return Ok(None);
        }
        // SAFETY: the kernel wrote a whole signalfd_siginfo.
        Ok(Some(unsafe { info.assume_init() }.ssi_signo))
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// poll(2) over `fds`; `timeout_ms` of `None` waits forever. EINTR counts as
/// "nothing ready" so the caller simply loops.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: Option<u64>) -> io::Result<usize> {
    let timeout = timeout_ms.map_or(-1, |ms| ms.min(i32::MAX as u64) as libc::c_int);
    // SAFETY: fds is a valid, exclusively borrowed array of fds.len() pollfds.
    match cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) }) {
        Ok(n) => Ok(n as usize),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

pub fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on an fd the caller owns.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// Tell the service manager `state` (READY=1, STATUS=..., ...). A no-op
/// outside systemd; failures are not worth dying for.
pub fn notify(state: &str) {
    let Ok(state) = CString::new(state) else {
        return;
    };
    // SAFETY: state is a valid NUL-terminated string.
    unsafe { libsystemd_sys::daemon::sd_notify(0, state.as_ptr()) };
}

/// Keeps systemd's watchdog fed: `WATCHDOG=1` at half the interval
/// systemd asked for (sd_watchdog_enabled(3)).
#[derive(Debug)]
pub struct Watchdog {
    period_ms: u64,
    due_ms: u64,
}

impl Watchdog {
    /// `None` when no watchdog is configured for this process.
    pub fn from_env() -> Option<Watchdog> {
        let mut usec = 0u64;
        // SAFETY: usec is a valid out-pointer.
        let r = unsafe { libsystemd_sys::daemon::sd_watchdog_enabled(0, &mut usec) };
        (r > 0 && usec > 0).then(|| Watchdog {
            period_ms: (usec / 2000).max(1),
            due_ms: 0,
        })
    }

    /// Ping if due.
    pub fn kick(&mut self, now_ms: u64) {
        if now_ms >= self.due_ms {
            notify("WATCHDOG=1");
            self.due_ms = now_ms + self.period_ms;
        }
    }

    pub fn due_ms(&self) -> u64 {
        self.due_ms
    }
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

pub fn getpid() -> u32 {
    std::process::id()
}

/// The systemd unit `pid` runs in (e.g. `logmon.service`), if any.
pub fn pid_unit(pid: u32) -> Option<String> {
    let mut unit: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: unit is a valid out-pointer; on success it holds a malloc'd string.
    let r = unsafe { libsystemd_sys::login::sd_pid_get_unit(pid as libc::pid_t, &mut unit) };
    if cvt_sd(r).is_err() || unit.is_null() {
        return None;
    }
    // SAFETY: unit is a NUL-terminated string that we own and free once.
    let s = unsafe { CStr::from_ptr(unit) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: allocated by libsystemd with malloc, not used after this.
    unsafe { libc::free(unit.cast()) };
    Some(s)
}

/// Whether this process may execute `path`, asked of the kernel with the
/// effective ids (faccessat(2) with `X_OK` and `AT_EACCESS`).
pub fn can_execute(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is NUL-terminated; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS) == 0 }
}

/// Whether this process may read the system journal: false only when the
/// system journal files exist and none of them is readable to us. This asks
/// the kernel (faccessat with the effective ids) rather than comparing group
/// names, which a user namespace (PrivateUsers=) shows as `nobody`.
pub fn can_read_system_journal() -> bool {
    let Ok(machine_id) = std::fs::read_to_string("/etc/machine-id") else {
        return true;
    };
    let mut any = false;
    for base in ["/var/log/journal", "/run/log/journal"] {
        let path = format!("{base}/{}/system.journal", machine_id.trim());
        let Ok(c) = CString::new(path) else { continue };
        // SAFETY: c is NUL-terminated; faccessat only reads it.
        if unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::R_OK, libc::AT_EACCESS) } == 0
        {
            return true;
        }
        // SAFETY: as above.
        any |= unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::F_OK, libc::AT_EACCESS) }
            == 0;
    }
    !any
}

/// This machine's host name, for mails that are not about an entry.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for buf.len() bytes.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// SIGKILL every process in the group `pgid` (a child started as leader).
pub fn kill_process_group(pgid: u32) {
    // SAFETY: kill has no memory effects; a negative pid names a group.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGKILL) };
}

/// A child started by [`spawn`]: its pid (also its process group), the
/// write end of a pipe to its standard input and the read end of one from
/// its standard error (both non-blocking, for the poll loop).
pub struct Child {
    pub pid: libc::pid_t,
    pub stdin: Option<std::fs::File>,
    pub stderr: Option<std::fs::File>,
    reaped: bool,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

fn nonblocking_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut pipe = [0 as libc::c_int; 2];
    // SAFETY: pipe is a valid array of two ints.
    cvt(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) })
}

/// posix_spawn(3) `path` with `argv` and `envp`: standard input from a new
/// pipe, standard output to /dev/null, standard error into another pipe
/// (logmon logs what it says, bounded: a child writing straight to the
/// journal could feed a mail loop); its own process group (so killing the
/// group also kills grandchildren such as postdrop), an empty signal mask
/// and default dispositions for the signals logmon blocks or ignores (an
/// ignored SIGPIPE would be inherited). A missing or non-executable program
/// is reported here (glibc's posix_spawn returns exec's errno).
pub fn spawn(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Result<Child> {
    let (stdin_read, stdin_write) = nonblocking_pipe()?;
    let (stderr_read, stderr_write) = nonblocking_pipe()?;
    let mut argv_ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr() as *mut _).collect();
    argv_ptrs.push(std::ptr::null_mut());
    let mut envp_ptrs: Vec<*mut libc::c_char> = envp.iter().map(|e| e.as_ptr() as *mut _).collect();
    envp_ptrs.push(std::ptr::null_mut());

    let mut actions = MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
    let mut attr = MaybeUninit::<libc::posix_spawnattr_t>::uninit();
    // SAFETY: init writes the objects; every later call gets the initialised
    // objects, and both are destroyed below before they go out of scope.
    // All strings are NUL-terminated and outlive posix_spawn; the pointer
    // arrays end with NULL as exec requires.
    let r = unsafe {
        libc::posix_spawn_file_actions_init(actions.as_mut_ptr());
        libc::posix_spawnattr_init(attr.as_mut_ptr());
        let (a, t) = (actions.as_mut_ptr(), attr.as_mut_ptr());
        let mut defaults = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(defaults.as_mut_ptr());
        for sig in [
            libc::SIGPIPE,
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGBUS,
        ] {
            libc::sigaddset(defaults.as_mut_ptr(), sig);
        }
        let mut empty = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(empty.as_mut_ptr());
        let setup = [
            libc::posix_spawn_file_actions_adddup2(a, stdin_read.as_raw_fd(), 0),
            libc::posix_spawn_file_actions_addopen(a, 1, c"/dev/null".as_ptr(), libc::O_WRONLY, 0),
            libc::posix_spawn_file_actions_adddup2(a, stderr_write.as_raw_fd(), 2),
            libc::posix_spawnattr_setflags(
                t,
                (libc::POSIX_SPAWN_SETPGROUP
                    | libc::POSIX_SPAWN_SETSIGMASK
                    | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
            ),
            libc::posix_spawnattr_setpgroup(t, 0),
            libc::posix_spawnattr_setsigmask(t, empty.as_ptr()),
            libc::posix_spawnattr_setsigdefault(t, defaults.as_ptr()),
        ];
        let mut pid: libc::pid_t = 0;
        let r = match setup.iter().find(|&&r| r != 0) {
            Some(&r) => r,
            None => libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                a,
                t,
                argv_ptrs.as_ptr(),
                envp_ptrs.as_ptr(),
            ),
        };
        libc::posix_spawn_file_actions_destroy(a);
        libc::posix_spawnattr_destroy(t);
        if r == 0 {
            Ok(pid)
        } else {
            Err(r)
        }
    };
    let pid = r.map_err(io::Error::from_raw_os_error)?;
    // Our copies of the child's ends must go, or we would never see EOF.
    drop((stdin_read, stderr_write));
    set_nonblocking(stdin_write.as_raw_fd())?;
    set_nonblocking(stderr_read.as_raw_fd())?;
    Ok(Child {
        pid,
        stdin: Some(std::fs::File::from(stdin_write)),
        stderr: Some(std::fs::File::from(stderr_read)),
        reaped: false,
    })
}

/// pidfd_open(2): an fd that polls readable when the process exits (Linux
/// 5.3). `None` where the kernel or a seccomp filter refuses it; the caller
/// then checks on a timer.
pub fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: a plain system call with two integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: on success the kernel returned a new fd that nothing else owns.
    (r >= 0).then(|| unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

impl Child {
    /// waitpid(2) without blocking: `None` while it runs.
    pub fn try_wait(&mut self) -> io::Result<Option<Exit>> {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer; pid is our own child.
        let r = cvt(unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) })?;
        if r == 0 {
            return Ok(None);
        }
        self.reaped = true;
        Ok(Some(if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        }))
    }

    /// SIGKILL the child's whole process group (and the child itself, in
    /// case it left the group) and reap the child.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        self.reaped = true;
        kill_process_group(self.pid as u32);
        // SAFETY: kill has no memory effects; pid is our own unreaped child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let mut status = 0;
        // SAFETY: status is a valid out-pointer; pid is our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

impl Drop for Child {
    /// A child is never left behind unreaped (a zombie, or a hung sendmail
    /// outliving logmon).
    fn drop(&mut self) {
        self.kill();
    }
}

// --- State file lock (src/state.rs) -----------------------------------------

/// flock(2): `operation` is `LOCK_EX`, `LOCK_SH` or `LOCK_UN`, with
/// `LOCK_NB` to fail with `EWOULDBLOCK` instead of waiting. The lock belongs
/// to the open file description, so it lasts until `fd` (and every
/// duplicate of it) is closed.
pub fn flock(fd: std::os::fd::BorrowedFd<'_>, operation: libc::c_int) -> io::Result<()> {
    // SAFETY: flock only acts on the descriptor, which the borrow keeps open.
    cvt(unsafe { libc::flock(fd.as_raw_fd(), operation) }).map(drop)
}

// --- Open-file limit (logmon issue 8, item 3) ---

fn nofile_limit() -> io::Result<libc::rlimit> {
    let mut lim = MaybeUninit::<libc::rlimit>::uninit();
    // SAFETY: lim is a valid out-pointer for one rlimit.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, lim.as_mut_ptr()) })?;
    // SAFETY: getrlimit filled lim.
    Ok(unsafe { lim.assume_init() })
}

/// The soft `RLIMIT_NOFILE`: one more than the highest descriptor number.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target.
pub fn nofile_soft_limit() -> io::Result<u64> {
    nofile_limit().map(|l| l.rlim_cur as u64)
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit (getrlimit(2)), so that
/// libsystemd can open every journal file: it holds one descriptor per file
/// and skips, without telling, each file it cannot open. Returns the soft
/// limit before and after. logmon waits with poll(2), never select(2), so
/// descriptors above 1024 are no problem for it.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target.
pub fn raise_nofile_limit() -> io::Result<(u64, u64)> {
    let mut lim = nofile_limit()?;
    let old = lim.rlim_cur as u64;
    if lim.rlim_cur >= lim.rlim_max {
        return Ok((old, old));
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: lim is an initialised rlimit; the soft limit stays within the
    // hard one, which an unprivileged process may always do.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    Ok((old, lim.rlim_cur as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mktime_rejects_dates_that_do_not_exist() {
        let t = mktime_local(2026, 2, 28, 12, 30, 5).expect("a real date");
        let back = localtime(t);
        assert_eq!((back.hour, back.minute, back.second), (12, 30, 5));
        // mktime alone would say 3 March.
        assert_eq!(mktime_local(2026, 2, 31, 12, 0, 0), None);
        assert_eq!(mktime_local(2026, 2, 28, 24, 0, 0), None);
    }

    type Fields = (i32, u32, u32, u32, u32, u32, u32);

    fn ymd_hms_wd(t: &LocalTime) -> Fields {
        (
            t.year, t.month, t.day, t.hour, t.minute, t.second, t.weekday,
        )
    }

    #[test]
    fn utc_dates_around_the_edges() {
        let cases: [(i64, Fields); 7] = [
            (0, (1970, 1, 1, 0, 0, 0, 4)),
            (-1, (1969, 12, 31, 23, 59, 59, 3)),
            (951_782_400, (2000, 2, 29, 0, 0, 0, 2)),
            // The last second a 32-bit time_t holds, and the next one.
            (2_147_483_647, (2038, 1, 19, 3, 14, 7, 2)),
            (2_147_483_648, (2038, 1, 19, 3, 14, 8, 2)),
            (4_102_444_800, (2100, 1, 1, 0, 0, 0, 5)),
            (253_402_300_799, (9999, 12, 31, 23, 59, 59, 5)),
        ];
        for (secs, want) in cases {
            let t = utc_time(secs);
            assert_eq!(ymd_hms_wd(&t), want, "{secs}");
            assert_eq!(t.utc_offset, 0);
        }
        // The largest journal time (u64 microseconds) still gives a year.
        assert_eq!(utc_time((u64::MAX / 1_000_000) as i64).year, 586_524);
    }

    /// The fallback agrees with the C library wherever both work: under
    /// TZ=UTC0, in a child run (setenv races in a threaded test binary).
    #[test]
    fn utc_fallback_agrees_with_localtime_in_utc() {
        const CHILD: &str = "LOGMON_TEST_UTC_CHILD";
        if let Some(seed) = std::env::var_os(CHILD) {
            let mut x: u64 = seed.to_string_lossy().parse().expect("a seed");
            let mut secs = vec![0, -1, 2_147_483_647, 2_147_483_648, 4_102_444_800];
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // About 1900 to 6300.
                secs.push((x % (1 << 37)) as i64 - (1 << 31));
            }
            for s in secs {
                assert_eq!(localtime(s), utc_time(s), "secs {s}");
            }
            return;
        }
        let seed = realtime_secs().unsigned_abs() | 1;
        println!("seed {seed}");
        let exe = std::env::current_exe().expect("test binary path");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "sys::tests::utc_fallback_agrees_with_localtime_in_utc",
            ])
            .env(CHILD, seed.to_string())
            .env("TZ", "UTC0")
            .output()
            .expect("running the test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child run (seed {seed}) failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn the_wall_clock_is_read() {
        // 2024-01-01: any machine running this test is later.
        assert!(realtime_secs() > 1_704_067_200);
    }

    /// A local time in a DST gap does not exist. The time zone is set for a
    /// child run of this one test: setenv in a threaded test binary races.
    #[test]
    fn mktime_rejects_a_time_skipped_by_dst() {
        const CHILD: &str = "LOGMON_TEST_DST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            // Central Europe: 2026-03-29 02:00 CET jumps to 03:00 CEST.
            assert_eq!(mktime_local(2026, 3, 29, 2, 30, 0), None);
            let before = mktime_local(2026, 3, 29, 1, 59, 59).expect("before the gap");
            let after = mktime_local(2026, 3, 29, 3, 0, 0).expect("after the gap");
            assert_eq!(after - before, 1);
            // A repeated hour (October) exists, once or twice: accepted.
            assert!(mktime_local(2026, 10, 25, 2, 30, 0).is_some());
            return;
        }
        let exe = std::env::current_exe().expect("test binary path");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "sys::tests::mktime_rejects_a_time_skipped_by_dst",
            ])
            .env(CHILD, "1")
            .env("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
            .output()
            .expect("running the test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child run failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
