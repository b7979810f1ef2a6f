//! Benchmark helpers for benches/bench.sh (part of `make bench`).
//!
//! One small std + libc program with several jobs, so the shell script needs
//! nothing beyond Debian's base system. Deliberately *not* linked with
//! libsystemd: as the fake sendmail it must start as fast as possible.
//!
//! - installed as `fake-sendmail`: stamps CLOCK_MONOTONIC first thing, reads
//!   the mail, appends `<ns> <tag>...` (every `bench-tag=` in the mail) to
//!   `sendmail.log` next to itself, exits 0.
//! - `spawn-cost N SENDMAIL`: starts SENDMAIL N times the way logmon does
//!   (std::process::Command, cleared env, piped stdin, own process group) and
//!   prints the start-to-main times in ns, one a line: the fork+exec share
//!   included in the follow latency.
//! - `run RESULT [--sample-ms MS] -- CMD...`: runs CMD (inheriting stdio) and
//!   writes wall time, user/sys CPU, ru_maxrss and, if sampling, the peak
//!   RssAnon seen in /proc/PID/status to RESULT as key=value lines.
//! - `memwatch MIN_ENTRIES TIMEOUT_S RESULT -- CMD...`: runs a following
//!   logmon with NOTIFY_SOCKET pointing here, samples /proc/PID/status every
//!   10 ms and, once its STATUS= says at least MIN_ENTRIES entries were read
//!   and has not changed for 1 s (the backlog is through), records its
//!   memory, then stops it with SIGTERM.
//! - `procstat PID`: CPU ticks, context switches and memory of PID.
//! - `keepalive STDOUT_SOCKET`: holds a journald stdout stream open (a
//!   namespace journald exits after ~30 s without clients); prints `ok`.
//! - `writer SOCKET N MIN_MS MAX_MS LOG`: sends N tagged error entries over
//!   journald's native protocol at random intervals, logging `<tag> <ns>`.
//! - `watch-dirs SECS DIR...`: counts, for SECS, the inotify events in the
//!   DIRs that sd-journal also watches (to tell which of a follower's
//!   wake-ups other processes caused, e.g. other journald namespaces).
//! - `latency WRITER_LOG READER_LOG SENDMAIL_LOG`: joins the three logs by tag
//!   and prints the follow-latency figures.
//! - `stats [SCALE]`: n, p50, p95, max of the numbers on stdin, divided by
//!   SCALE.

mod shared;
use shared::*;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("bench tool: {msg}");
    std::process::exit(1);
}

fn main() {
    // First thing: the fake sendmail's start time.
    let start = mono_ns();
    let argv: Vec<String> = std::env::args().collect();
    let me = argv.first().cloned().unwrap_or_default();
    if Path::new(&me).file_name().and_then(|s| s.to_str()) == Some("fake-sendmail") {
        fake_sendmail(start, Path::new(&me));
        return;
    }
    let args: Vec<&str> = argv
        .iter()
        .skip(1)
        .map(String::as_str)
        .filter(|a| *a != "--bench")
        .collect();
    match args.as_slice() {
        ["spawn-cost", n, sendmail] => spawn_cost(num(n) as usize, Path::new(sendmail)),
        ["run", result, rest @ ..] => {
            let (sample, cmd) = match rest {
                ["--sample-ms", ms, "--", cmd @ ..] => (Some(num(ms)), cmd),
                ["--", cmd @ ..] => (None, cmd),
                _ => die("run RESULT [--sample-ms MS] -- CMD..."),
            };
            run(Path::new(result), sample, cmd)
        }
        ["memwatch", entries, timeout, result, "--", cmd @ ..] => {
            memwatch(num(entries), num(timeout), Path::new(result), cmd)
        }
        ["procstat", pid] => match procstat(num(pid) as u32) {
            Some(p) => print!("{}", p.kv("")),
            None => die(format!("no process {pid}")),
        },
        ["keepalive", path] => keepalive(Path::new(path)),
        ["writer", socket, n, min, max, log] => writer(
            Path::new(socket),
            num(n),
            num(min),
            num(max),
            Path::new(log),
        ),
        ["watch-dirs", secs, dirs @ ..] => watch_dirs(num(secs), dirs),
        ["latency", w, r, s] => latency(Path::new(w), Path::new(r), Path::new(s)),
        ["stats", rest @ ..] => {
            let scale = rest.first().and_then(|s| s.parse().ok()).unwrap_or(1.0);
            let v: Vec<f64> = io::stdin()
                .lock()
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            println!("{}", Stats::of(v).line(scale));
        }
        _ => {
            eprintln!("bench tool: internal helper of benches/bench.sh; run `make bench`");
        }
    }
}

fn num(s: &str) -> u64 {
    s.parse()
        .unwrap_or_else(|_| die(format!("not a number: {s:?}")))
}

// ---------------------------------------------------------------------------
// fake sendmail and its fork+exec cost

fn fake_sendmail(start: u64, me: &Path) {
    let mut mail = Vec::new();
    let _ = io::stdin().read_to_end(&mut mail);
    let text = String::from_utf8_lossy(&mail);
    let mut line = start.to_string();
    for part in text.split("bench-tag=").skip(1) {
        let tag: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        line.push(' ');
        line.push_str(&tag);
    }
    line.push('\n');
    let log = me.with_file_name("sendmail.log");
    // One write with O_APPEND: lines from concurrent runs never interleave.
    let ok = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    std::process::exit(if ok.is_ok() { 0 } else { 75 });
}

fn spawn_cost(n: usize, sendmail: &Path) {
    let log = sendmail.with_file_name("sendmail.log");
    for i in 0..n {
        let tag = format!("probe-{i}");
        let t0 = mono_ns();
        // The same settings as logmon's src/sendmail.rs.
        let child = Command::new(sendmail)
            .arg("-i")
            .arg("--")
            .arg("root")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .current_dir("/")
            .process_group(0)
            .spawn();
        let mut child =
            child.unwrap_or_else(|e| die(format!("running {}: {e}", sendmail.display())));
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(format!("Subject: probe\n\nbench-tag={tag}\n").as_bytes());
        }
        let _ = child.wait();
        let started = fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .rev()
            .find(|l| l.split(' ').nth(1) == Some(tag.as_str()))
            .and_then(|l| l.split(' ').next().and_then(|t| t.parse::<u64>().ok()));
        match started {
            Some(t1) => println!("{}", t1.saturating_sub(t0)),
            None => die(format!("fake sendmail did not log {tag}")),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// /proc

#[derive(Default, Clone)]
struct Proc {
    cpu_ticks: u64,
    voluntary: u64,
    nonvoluntary: u64,
    rss_anon_kib: u64,
    rss_file_kib: u64,
    rss_shmem_kib: u64,
    vm_rss_kib: u64,
    vm_hwm_kib: u64,
}

impl Proc {
    fn kv(&self, prefix: &str) -> String {
        format!(
            "{prefix}cpu_ticks={}\n{prefix}clk_tck={}\n{prefix}voluntary={}\n{prefix}nonvoluntary={}\n{prefix}rss_anon_kib={}\n{prefix}rss_file_kib={}\n{prefix}rss_shmem_kib={}\n{prefix}vm_rss_kib={}\n{prefix}vm_hwm_kib={}\n",
            self.cpu_ticks,
            clk_tck(),
            self.voluntary,
            self.nonvoluntary,
            self.rss_anon_kib,
            self.rss_file_kib,
            self.rss_shmem_kib,
            self.vm_rss_kib,
            self.vm_hwm_kib
        )
    }
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn procstat(pid: u32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at 3.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let get = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(Proc {
        cpu_ticks: utime + stime,
        voluntary: get("voluntary_ctxt_switches:"),
        nonvoluntary: get("nonvoluntary_ctxt_switches:"),
        rss_anon_kib: get("RssAnon:"),
        rss_file_kib: get("RssFile:"),
        rss_shmem_kib: get("RssShmem:"),
        vm_rss_kib: get("VmRSS:"),
        vm_hwm_kib: get("VmHWM:"),
    })
}

// ---------------------------------------------------------------------------
// run and memwatch

struct Waited {
    status: i32,
    usage: libc::rusage,
}

/// wait4(pid, WNOHANG or blocking).
fn wait4(pid: i32, block: bool) -> Option<Waited> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: status and usage are valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            return Some(Waited { status, usage });
        }
        if r == 0 {
            return None;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            die(format!("wait4: {}", io::Error::last_os_error()));
        }
    }
}

fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// Starts `cmd` and returns its PID; the caller reaps it with wait4 (which
/// std's Child cannot do, and we need the rusage).
fn spawn(cmd: &[&str], notify: Option<&Path>) -> u32 {
    let Some((prog, args)) = cmd.split_first() else {
        die("no command given")
    };
    let mut c = Command::new(prog);
    c.args(args);
    if let Some(sock) = notify {
        c.env("NOTIFY_SOCKET", sock);
    }
    #[allow(clippy::zombie_processes)] // reaped by wait4 in the caller
    let child = c
        .spawn()
        .unwrap_or_else(|e| die(format!("cannot run {prog}: {e}")));
    child.id()
}

fn run(result: &Path, sample_ms: Option<u64>, cmd: &[&str]) {
    let t0 = Instant::now();
    let pid = spawn(cmd, None) as i32;
    let mut peak_anon = 0;
    let waited = match sample_ms {
        None => wait4(pid, true),
        Some(ms) => loop {
            if let Some(p) = procstat(pid as u32) {
                peak_anon = peak_anon.max(p.rss_anon_kib);
            }
            if let Some(w) = wait4(pid, false) {
                break Some(w);
            }
            std::thread::sleep(Duration::from_millis(ms));
        },
    };
    let wall = t0.elapsed().as_secs_f64();
    let w = waited.unwrap_or_else(|| die("lost the child"));
    let mut text = format!(
        "wall_s={wall:.6}\nuser_s={:.6}\nsys_s={:.6}\nmaxrss_kib={}\nexit={}\n",
        tv(w.usage.ru_utime),
        tv(w.usage.ru_stime),
        w.usage.ru_maxrss,
        exit_code(w.status)
    );
    if sample_ms.is_some() {
        text.push_str(&format!("peak_rss_anon_kib={peak_anon}\n"));
    }
    fs::write(result, text).unwrap_or_else(|e| die(format!("writing {}: {e}", result.display())));
}

fn memwatch(min_entries: u64, timeout_s: u64, result: &Path, cmd: &[&str]) {
    // logmon sends STATUS= only when it changes, so once it has read at
    // least min_entries and has been quiet this long, the backlog is done.
    const QUIET: Duration = Duration::from_millis(1000);
    let sock_path = result.with_extension("notify");
    let _ = fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path)
        .unwrap_or_else(|e| die(format!("binding {}: {e}", sock_path.display())));
    sock.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap_or_else(|e| die(e));
    let t0 = Instant::now();
    let pid = spawn(cmd, Some(&sock_path));
    let mut peak_anon = 0;
    let mut read = 0u64;
    let mut last_change = t0;
    let mut last_status = String::new();
    let mut buf = [0u8; 4096];
    let mut done = None;
    while t0.elapsed() < Duration::from_secs(timeout_s) {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]);
            for l in msg.lines() {
                if let Some(s) = l.strip_prefix("STATUS=") {
                    last_status = s.to_string();
                    let n = s
                        .split(" entries read")
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(read);
                    if n != read {
                        read = n;
                        last_change = Instant::now();
                    }
                }
            }
        }
        if let Some(p) = procstat(pid) {
            peak_anon = peak_anon.max(p.rss_anon_kib);
        }
        if read >= min_entries && last_change.elapsed() >= QUIET {
            done = Some((last_change - t0).as_secs_f64());
            break;
        }
        if wait4(pid as i32, false).is_some() {
            die(format!(
                "the watched command exited early; last status: {last_status}"
            ));
        }
    }
    let after = procstat(pid).unwrap_or_default();
    // SAFETY: kill has no memory preconditions; pid is our unreaped child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let waited = wait4(pid as i32, true);
    let _ = fs::remove_file(&sock_path);
    let mut text = format!(
        "entries_read={read}\nreached={}\nscan_s={:.6}\npeak_rss_anon_kib={}\nlast_status={last_status}\n",
        done.is_some(),
        done.unwrap_or(0.0),
        peak_anon.max(after.rss_anon_kib)
    );
    text.push_str(&after.kv("after_"));
    if let Some(w) = waited {
        text.push_str(&format!(
            "exit={}\nmaxrss_kib={}\n",
            exit_code(w.status),
            w.usage.ru_maxrss
        ));
    }
    fs::write(result, text).unwrap_or_else(|e| die(format!("writing {}: {e}", result.display())));
}

// ---------------------------------------------------------------------------
// journald namespace: keepalive and writer

fn keepalive(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => {
                die(format!("connecting {}: {e}", path.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    // identifier, unit, priority, level_prefix, forward to syslog/kmsg/console
    stream
        .write_all(b"bench-keepalive\n\n6\n0\n0\n0\n0\n")
        .unwrap_or_else(|e| die(format!("stream header: {e}")));
    println!("ok");
    let _ = io::stdout().flush();
    // Hold the connection until we are killed. Do not wait for EOF on it:
    // journald shuts down its sending side of stdout streams at once.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn writer(socket: &Path, n: u64, min_ms: u64, max_ms: u64, log: &Path) {
    let sock = UnixDatagram::unbound().unwrap_or_else(|e| die(e));
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| die(format!("{}: {e}", log.display())));
    let mut rng = Rng(mono_ns() | 1);
    for i in 0..n {
        let wait = min_ms + rng.next() % (max_ms.saturating_sub(min_ms) + 1);
        std::thread::sleep(Duration::from_millis(wait));
        let tag = format!("f{i}");
        let msg = format!(
            "MESSAGE=bench-tag={tag}: upstream connection failed (error 111), will retry in {wait} ms\nPRIORITY=3\nSYSLOG_IDENTIFIER=benchd\n"
        );
        let t = mono_ns();
        sock.send_to(msg.as_bytes(), socket)
            .unwrap_or_else(|e| die(format!("sending to {}: {e}", socket.display())));
        let _ = writeln!(out, "{tag} {t}");
    }
}

/// The mask sd-journal watches journal directories with (sd-journal.c).
const JOURNAL_DIR_EVENTS: u32 = libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_UNMOUNT
    | libc::IN_MOVED_FROM
    | libc::IN_ONLYDIR;

fn watch_dirs(secs: u64, dirs: &[&str]) {
    // SAFETY: no pointers involved.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        die(format!("inotify_init1: {}", io::Error::last_os_error()));
    }
    let mut watched = 0;
    for d in dirs {
        let Ok(c) = std::ffi::CString::new(*d) else {
            continue;
        };
        // SAFETY: fd is our inotify fd, c is NUL-terminated.
        if unsafe { libc::inotify_add_watch(fd, c.as_ptr(), JOURNAL_DIR_EVENTS) } >= 0 {
            watched += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut events, mut names) = (0u64, Vec::<String>::new());
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(60_000) as i32 + 1) };
        if r <= 0 {
            continue;
        }
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let mut off = 0usize;
        while n > 0 && off + 16 <= n as usize {
            // struct inotify_event: wd, mask, cookie, len, then name[len].
            let len =
                u32::from_ne_bytes([buf[off + 12], buf[off + 13], buf[off + 14], buf[off + 15]])
                    as usize;
            let name = &buf[off + 16..(off + 16 + len).min(n as usize)];
            let name = String::from_utf8_lossy(name)
                .trim_end_matches('\0')
                .to_string();
            // `<machine-id>.<namespace>` directories: the namespace says it.
            let name = match name.split_once('.') {
                Some((id, ns)) if id.len() == 32 => ns.to_string(),
                _ => name,
            };
            events += 1;
            if names.len() < 3 && !names.contains(&name) {
                names.push(name);
            }
            off += 16 + len;
        }
    }
    println!(
        "watched={watched}\nevents={events}\nnames={}",
        names.join(",")
    );
}

// ---------------------------------------------------------------------------
// figures

struct Stats(Vec<f64>);

impl Stats {
    fn of(mut v: Vec<f64>) -> Stats {
        v.sort_by(|a, b| a.total_cmp(b));
        Stats(v)
    }
    /// Nearest-rank percentile.
    fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil().max(1.0) as usize;
        self.0[rank.min(self.0.len()) - 1]
    }
    fn line(&self, scale: f64) -> String {
        format!(
            "n={} p50={:.3} p95={:.3} max={:.3}",
            self.0.len(),
            self.pct(50.0) / scale,
            self.pct(95.0) / scale,
            self.0.last().copied().unwrap_or(f64::NAN) / scale
        )
    }
}

fn read_lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn latency(writer_log: &Path, reader_log: &Path, sendmail_log: &Path) {
    use std::collections::HashMap;
    let mut written: HashMap<String, u64> = HashMap::new();
    for l in read_lines(writer_log) {
        if let [tag, t] = l.split(' ').collect::<Vec<_>>()[..] {
            written.insert(tag.to_string(), t.parse().unwrap_or(0));
        }
    }
    // reader: "<tag> <wake ns> <read ns>"
    let mut seen: HashMap<String, (u64, u64)> = HashMap::new();
    for l in read_lines(reader_log) {
        if let [tag, wake, read] = l.split(' ').collect::<Vec<_>>()[..] {
            seen.insert(
                tag.to_string(),
                (wake.parse().unwrap_or(0), read.parse().unwrap_or(0)),
            );
        }
    }
    // sendmail: "<start ns> <tag> [<tag>...]"
    let mut mailed: HashMap<String, u64> = HashMap::new();
    let mut multi = 0;
    for l in read_lines(sendmail_log) {
        let mut parts = l.split(' ');
        let Some(t) = parts.next().and_then(|t| t.parse::<u64>().ok()) else {
            continue;
        };
        let tags: Vec<&str> = parts.filter(|t| t.starts_with('f')).collect();
        if tags.len() > 1 {
            multi += 1;
        }
        for tag in tags {
            mailed.entry(tag.to_string()).or_insert(t);
        }
    }
    let (mut floor, mut share, mut reader_own) = (Vec::new(), Vec::new(), Vec::new());
    let mut missing = 0;
    for (tag, &w) in &written {
        let (Some(&(wake, read)), Some(&sent)) = (seen.get(tag), mailed.get(tag)) else {
            missing += 1;
            continue;
        };
        floor.push(wake as f64 - w as f64);
        share.push(sent as f64 - wake as f64);
        reader_own.push(read as f64 - wake as f64);
    }
    let ms = 1e6;
    println!("written={}", written.len());
    println!("missing={missing}");
    println!("mails_with_several={multi}");
    println!("journald_floor {}", Stats::of(floor).line(ms));
    println!("logmon_share {}", Stats::of(share).line(ms));
    println!("reader_own {}", Stats::of(reader_own).line(ms));
}
