//! The monitor: source -> rules -> batch -> mailer, with the cursor saved
//! only once the alerts before it were accepted.
//!
//! One thread and one hand-written poll(2) loop over the journal fd and a
//! signalfd, with timers for the batch window, retries, state saves and the
//! watchdog. The loop follows sd_journal_get_fd(3): poll with the journal's
//! events and timeout, then `sd_journal_process`, then drain
//! `sd_journal_next` on APPEND and on INVALIDATE. An idle monitor sleeps in
//! poll with no timeout at all.

use crate::batch::{Alert, Batcher, Policy, MAX_MESSAGE};
use crate::cli::Since;
use crate::config::{Boot, Config, Source};
use crate::error::{Context, Error};
use crate::jfiles;
use crate::journal::{Change, Journal};
use crate::log::{log, ERR, INFO, NOTICE, WARNING};
use crate::mail;
use crate::rules::Fields as _;
use crate::state::{self, Position};
use crate::sys;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Entries read between looks at signals and timers.
const CHUNK: usize = 5000;
/// Progress without alerts is saved at most this often (flash wear).
const SAVE_INTERVAL_MS: u64 = 5000;
/// The last delivery attempt at exit takes at most this long.
const EXIT_SEND_TIMEOUT_MS: u64 = 10_000;
/// Without an inotify fd, reopen the journal this often to find new
/// entries and new files (a rotation).
const FALLBACK_POLL_MS: u64 = 2000;
/// Decompress at most this much of a field: rules and mails need no more.
const DATA_THRESHOLD: usize = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub once: bool,
    pub dry_run: bool,
    pub since: Option<Since>,
}

#[derive(Debug, Default)]
struct Stats {
    entries: u64,
    alerts: u64,
    mails: u64,
    last_error: String,
}

pub struct Monitor {
    config: Config,
    opts: RunOptions,
    journal: Journal,
    batcher: Batcher,
    /// Where to resume if the pending alerts are never delivered.
    held: Option<Position>,
    /// The entry under the cursor has not been through the rules yet.
    unread_current: bool,
    /// An entry was read in this run (so the journal has a current entry).
    read_any: bool,
    own_pid: String,
    own_unit: Option<String>,
    saved: Option<Position>,
    unsaved_progress: bool,
    last_save_ms: u64,
    stats: Stats,
    status_sent: String,
    watchdog: Option<sys::Watchdog>,
    /// The `--since` time this run started at, if any (for a reopen).
    start_usec: Option<u64>,
    /// Some journal files were not read (not opened, truncated): `--once`
    /// then exits 1.
    incomplete: bool,
    unopened: jfiles::Reported,
}

pub fn open_journal(source: &Source) -> Result<Journal, Error> {
    let mut journal = match source {
        Source::Local => Journal::open_local().context(|| "opening the local journal".into())?,
        Source::Directory(d) => Journal::open_directory(d)
            .context(|| format!("opening journal directory {}", d.display()))?,
        Source::Namespace(ns) => {
            Journal::open_namespace(ns).context(|| format!("opening journal namespace {ns}"))?
        }
    };
    journal
        .set_data_threshold(DATA_THRESHOLD)
        .context(|| "setting the journal data threshold".into())?;
    Ok(journal)
}

fn policy(config: &Config) -> Policy {
    Policy {
        batch_ms: config.mail.batch_ms,
        max_per_hour: config.mail.max_per_hour,
        retry_ms: config.mail.retry_ms,
    }
}

fn lossy(value: Option<&[u8]>) -> String {
    let v = value.unwrap_or_default();
    String::from_utf8_lossy(&v[..v.len().min(MAX_MESSAGE)]).into_owned()
}

fn format_time(usec: u64) -> String {
    mail::format_time(&sys::localtime((usec / 1_000_000) as i64))
}

impl Monitor {
    pub fn new(config: Config, opts: RunOptions) -> Result<Monitor, Error> {
        let journal = open_journal(&config.source)?;
        if config.source == Source::Local && !sys::can_read_system_journal() {
            log!(
                WARNING,
                "logmon cannot read the system journal and will see only its own user's entries: \
                 add its user to group systemd-journal (usermod -aG systemd-journal USER) or run it as root"
            );
        }
        let own_pid = sys::getpid();
        // Only a .service of our own: a login session's scope holds the
        // admin's shell too, whose errors must still alert.
        let own_unit = sys::pid_unit(own_pid).filter(|u| u.ends_with(".service"));
        let mut monitor = Monitor {
            batcher: Batcher::new(policy(&config)),
            config,
            opts,
            journal,
            held: None,
            unread_current: false,
            read_any: false,
            own_pid: own_pid.to_string(),
            own_unit,
            saved: None,
            unsaved_progress: false,
            last_save_ms: 0,
            stats: Stats::default(),
            status_sent: String::new(),
            watchdog: sys::Watchdog::from_env(),
            start_usec: None,
            incomplete: false,
            unopened: jfiles::Reported::default(),
        };
        monitor.warn_unopened();
        Ok(monitor)
    }

    /// Journal files libsystemd did not open hold entries logmon never
    /// reads: name each one, once (issue 8). Files this user may not read
    /// are one line, and no failure: that is what the user may see.
    fn warn_unopened(&mut self) {
        let (fresh, total) = self.unopened.update(&self.config.source);
        let mut denied = 0;
        for (path, why) in &fresh {
            if let jfiles::Reason::Denied = why {
                denied += 1;
                continue;
            }
            log!(
                WARNING,
                "journal file {} not opened ({why}): its entries are not read",
                path.display()
            );
        }
        if total > 0 {
            self.incomplete = true;
        }
        if fresh.len() > denied {
            log!(WARNING, "{total} journal files not opened");
        }
        if denied > 0 {
            log!(
                NOTICE,
                "{denied} journal files are not readable by this user and not read"
            );
        }
    }

    /// After a read: did a journal file shrink under us (a SIGBUS that
    /// crate::sigbus survived)? Then name the file (issue 8).
    fn truncation_seen(&mut self) -> bool {
        let faults = crate::sigbus::take();
        if faults == 0 {
            return false;
        }
        self.incomplete = true;
        let files = jfiles::truncated(&self.config.source);
        for path in &files {
            log!(
                ERR,
                "journal file {} was truncated while logmon read it; its entries past the cut are lost",
                path.display()
            );
        }
        if files.is_empty() {
            log!(
                ERR,
                "SIGBUS reading the journal (page {:#x}), but no journal file is shorter than its header says: \
                 a file was truncated and removed, or its storage failed",
                crate::sigbus::last_address().unwrap_or(0)
            );
        }
        true
    }

    /// After a truncated file: a fresh journal at the current entry (the
    /// truncated file, which libsystemd now refuses, is then reported as not
    /// opened). Without a current entry (none read yet, or it was in that
    /// file, which libsystemd dropped, and its cursor is gone) the old
    /// handle still knows where it was, so read on with it. Returns the
    /// journal fd to poll.
    fn reopen_after_truncation(&mut self, journal_fd: Option<libc::c_int>) -> Option<libc::c_int> {
        let on_entry = self.read_any && !self.unread_current && self.journal.cursor().is_ok();
        if !on_entry {
            return journal_fd;
        }
        match self.reopen() {
            Ok(fd) => fd,
            Err(e) => {
                log!(ERR, "{e}; reading on without reopening");
                journal_fd
            }
        }
    }

    /// The realtime of the current boot's first entry. The boot is the
    /// kernel's boot ID, or, where that cannot be read (ProcSubset=pid) or
    /// has no entries (a container logs under another ID than it reads),
    /// the boot of the newest entry in the journal.
    fn boot_start_usec(&mut self) -> Option<u64> {
        let kernel = crate::journal::boot_id().ok();
        if let Some(t) = kernel.and_then(|id| self.first_entry_of_boot(&id)) {
            return Some(t);
        }
        let j = &mut self.journal;
        let newest = j.seek_tail().and_then(|()| j.previous());
        let id = match newest {
            Ok(true) => j
                .field("_BOOT_ID")
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            _ => None,
        }?;
        self.first_entry_of_boot(&id)
    }

    fn first_entry_of_boot(&mut self, boot_id: &str) -> Option<u64> {
        let j = &mut self.journal;
        j.add_match(format!("_BOOT_ID={boot_id}").as_bytes()).ok()?;
        let found = j.seek_head().and_then(|()| j.next());
        let usec = match found {
            Ok(true) => j.realtime_usec().ok(),
            _ => None,
        };
        j.flush_matches();
        usec
    }

    /// Set the start position: `--since`, else the saved cursor, else the end.
    pub fn position(&mut self) -> Result<(), Error> {
        let since = self.opts.since.clone();
        // Only a start that is not a resume is limited to the current boot,
        // and never for other hosts' journals (directory =).
        let clamp_to_boot = self.config.boot == Boot::Current
            && !matches!(self.config.source, Source::Directory(_))
            && matches!(since, Some(Since::Ago(_) | Since::At(..)));
        let boot_start = if clamp_to_boot || since == Some(Since::Boot) {
            self.boot_start_usec()
        } else {
            None
        };
        let now_usec = sys::realtime_secs().max(0) as u64 * 1_000_000;
        match since {
            Some(Since::Tail) => self.seek_tail(false),
            Some(Since::Boot) => match boot_start {
                Some(t) => self.seek_time(t),
                None => {
                    log!(
                        NOTICE,
                        "no entries of the current boot found; starting at the oldest entry"
                    );
                    self.journal
                        .seek_head()
                        .context(|| "seeking to the journal head".into())
                }
            },
            Some(Since::Ago(secs)) => {
                self.seek_since(now_usec.saturating_sub(secs * 1_000_000), boot_start)
            }
            Some(Since::At(y, mo, d, h, mi, s)) => {
                let t = sys::mktime_local(y, mo, d, h, mi, s)
                    .ok_or_else(|| Error::Usage("--since: no such local time".into()))?;
                self.seek_since(t.max(0) as u64 * 1_000_000, boot_start)
            }
            Some(Since::Cursor) | None => self.resume(since.is_some()),
        }
    }

    fn seek_since(&mut self, usec: u64, boot_start: Option<u64>) -> Result<(), Error> {
        match boot_start {
            Some(b) if b > usec => {
                log!(
                    NOTICE,
                    "boot = current: starting at the current boot ({}); set boot = all to look further back",
                    format_time(b)
                );
                self.seek_time(b)
            }
            _ => self.seek_time(usec),
        }
    }

    fn seek_time(&mut self, usec: u64) -> Result<(), Error> {
        self.start_usec = Some(usec);
        self.journal
            .seek_realtime_usec(usec)
            .context(|| "seeking the journal by time".into())
    }

    /// The end of the journal: `seek_tail` then `previous`, landing on the
    /// last entry so that `next` returns only newer ones (systemd #9934).
    /// An empty journal is read from its head instead: from a tail position
    /// libsystemd would return only the last entry of a file that appears
    /// later. On a first start the position is saved at once, so a kill
    /// right after start loses nothing.
    fn seek_tail(&mut self, first_start: bool) -> Result<(), Error> {
        let j = &mut self.journal;
        j.seek_tail()
            .context(|| "seeking to the journal tail".into())?;
        let on_entry = j.previous().context(|| "reading the journal tail".into())?;
        if !on_entry {
            j.seek_head()
                .context(|| "seeking to the journal head".into())?;
        }
        self.read_any = on_entry;
        if first_start && !self.opts.dry_run {
            let pos = if on_entry {
                Position::After(j.cursor().context(|| "reading the tail cursor".into())?)
            } else {
                Position::Head
            };
            self.save(pos);
        }
        Ok(())
    }

    fn resume(&mut self, asked: bool) -> Result<(), Error> {
        let saved = match &self.config.state_file {
            None => None,
            Some(path) => match state::load(path) {
                Ok(p) => p,
                // A garbled file cannot be resumed from: start afresh.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    log!(
                        ERR,
                        "ignoring state file {}: {e}; starting at the end",
                        path.display()
                    );
                    None
                }
                // Unreadable (permissions, I/O): never overwrite it with the
                // tail, which would skip everything since; fail, and let the
                // service manager retry.
                Err(e) => {
                    return Err(Error::io(
                        format!("reading state file {}", path.display()),
                        e,
                    ))
                }
            },
        };
        self.saved = saved.clone();
        let (cursor, inclusive) = match saved {
            None => {
                if asked {
                    log!(
                        NOTICE,
                        "no saved cursor; starting at the end of the journal"
                    );
                }
                return self.seek_tail(self.config.state_file.is_some());
            }
            Some(Position::Head) => {
                return self
                    .journal
                    .seek_head()
                    .context(|| "seeking to the journal head".into());
            }
            Some(Position::After(c)) => (c, false),
            Some(Position::At(c)) => (c, true),
        };
        let j = &mut self.journal;
        if let Err(e) = j.seek_cursor(&cursor) {
            log!(ERR, "saved cursor is unusable ({e}); starting at the end");
            return self.seek_tail(true);
        }
        if !j.next().context(|| "reading the journal".into())? {
            return Ok(());
        }
        if j.test_cursor(&cursor).unwrap_or(false) {
            // After(c): the saved entry itself was handled already.
            // At(c): it is the first one whose alert was not delivered.
            self.read_any = true;
            self.unread_current = inclusive;
            return Ok(());
        }
        // The saved entry is gone (vacuumed) or no longer matches: read
        // from the entry we landed on, which is the oldest one after it.
        self.unread_current = true;
        let when = j.realtime_usec().map(format_time).unwrap_or_default();
        log!(
            WARNING,
            "the saved journal position no longer exists (vacuumed?); resuming at the oldest entry after it, from {when}"
        );
        Ok(())
    }

    /// Read up to `limit` entries; true when there may be more right now.
    fn drain(&mut self, limit: usize) -> bool {
        for _ in 0..limit {
            if self.unread_current {
                self.unread_current = false;
            } else {
                match self.journal.next() {
                    Ok(true) => {}
                    Ok(false) => return false,
                    Err(e) => {
                        log!(ERR, "reading the journal: {e}");
                        return false;
                    }
                }
            }
            self.read_any = true;
            self.unsaved_progress = true;
            self.stats.entries += 1;
            if !self.important_enough() || !self.config.rules.alerts(&mut self.journal) {
                continue;
            }
            let Some(alert) = self.alert() else { continue };
            self.queue(alert);
            let send_now = if self.opts.once {
                self.batcher.pending().is_full()
            } else {
                self.batcher.is_due(sys::monotonic_ms())
            };
            if send_now {
                return true;
            }
        }
        true
    }

    /// `priority = N` as in `journalctl -p N`: PRIORITY 0..N. Checked here
    /// rather than as journal matches: measured on a 200k-entry journal,
    /// seven PRIORITY matches made the scan ~30 % slower than one field
    /// lookup. Like the matches, it passes no entry without a PRIORITY.
    fn important_enough(&mut self) -> bool {
        let max = self.config.priority;
        max >= 7
            || matches!(self.journal.field("PRIORITY"), Some(&[d]) if d >= b'0' && d <= b'0' + max)
    }

    /// The alert for the current entry, or `None` for logmon's own lines.
    fn alert(&mut self) -> Option<Alert> {
        let j = &mut self.journal;
        if j.field("_PID") == Some(self.own_pid.as_bytes()) {
            return None;
        }
        let unit = j.field("_SYSTEMD_UNIT").map(|u| u.to_vec());
        if let (Some(own), Some(unit)) = (&self.own_unit, &unit) {
            if own.as_bytes() == unit.as_slice() {
                return None;
            }
        }
        let unit = match unit {
            Some(u) => lossy(Some(&u)),
            None => match j.field("SYSLOG_IDENTIFIER") {
                Some(id) => lossy(Some(id)),
                None => lossy(j.field("_COMM")),
            },
        };
        Some(Alert {
            time_usec: j.realtime_usec().unwrap_or(0),
            host: lossy(j.field("_HOSTNAME")),
            pid: lossy(j.field("_PID")),
            message: lossy(j.field("MESSAGE")),
            unit,
        })
    }

    fn queue(&mut self, alert: Alert) {
        self.stats.alerts += 1;
        if self.batcher.is_empty() {
            // Resume at this entry, itself included, until its alert is
            // delivered. (Stepping back to the entry before it would be
            // fragile: entries of several files can tie in the merged order.)
            self.held = self.journal.cursor().ok().map(Position::At);
        }
        self.batcher.add(alert, sys::monotonic_ms());
    }

    /// Compose and hand over the pending mail; true when accepted.
    fn deliver(&mut self, timeout_ms: u64) -> bool {
        let now_secs = sys::realtime_secs();
        let local = sys::localtime(now_secs);
        let message = mail::compose(
            self.batcher.pending(),
            &self.config.mail.from,
            &self.config.mail.to,
            &mail::rfc5322_date(&local),
            &format_time,
        );
        let result = if self.opts.dry_run {
            let mut out = std::io::stdout().lock();
            out.write_all(mail::mbox_entry(&message, &local).as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("writing to stdout: {e}"))
        } else {
            // A sendmail that takes its time is not a hung logmon: keep the
            // watchdog fed while waiting for it.
            let watchdog = &mut self.watchdog;
            crate::sendmail::send(
                &self.config.mail.sendmail,
                &self.config.mail.to,
                message.as_bytes(),
                Duration::from_millis(timeout_ms),
                &mut || {
                    if let Some(w) = watchdog.as_mut() {
                        w.kick(sys::monotonic_ms());
                    }
                },
            )
        };
        let now = sys::monotonic_ms();
        let alerts = self.batcher.pending().total;
        match result {
            Ok(()) => {
                self.batcher.delivered(now);
                self.held = None;
                self.stats.mails += 1;
                self.unsaved_progress = true;
                self.maybe_save(now, true);
                true
            }
            Err(e) => {
                let delay = self.batcher.failed(now);
                log!(
                    ERR,
                    "mail with {alerts} alerts not delivered: {e}; retrying in {} s",
                    delay.div_ceil(1000)
                );
                self.stats.last_error = e;
                false
            }
        }
    }

    /// Where a restart must resume: before the first undelivered alert, or
    /// after the last entry read.
    fn safe_position(&mut self) -> Option<Position> {
        if !self.batcher.is_empty() {
            return self.held.clone();
        }
        if self.unread_current || !self.read_any {
            return None;
        }
        self.journal.cursor().ok().map(Position::After)
    }

    fn maybe_save(&mut self, now_ms: u64, force: bool) {
        if self.opts.dry_run || self.config.state_file.is_none() || !self.unsaved_progress {
            return;
        }
        if !force && now_ms < self.last_save_ms + SAVE_INTERVAL_MS {
            return;
        }
        self.unsaved_progress = false;
        self.last_save_ms = now_ms;
        if let Some(pos) = self.safe_position() {
            self.save(pos);
        }
    }

    fn save(&mut self, pos: Position) {
        let Some(path) = &self.config.state_file else {
            return;
        };
        if self.saved.as_ref() == Some(&pos) {
            return;
        }
        match state::save(path, &pos) {
            Ok(()) => self.saved = Some(pos),
            Err(e) => {
                // Try again at the next save interval.
                self.unsaved_progress = true;
                log!(
                    ERR,
                    "saving the journal position to {}: {e}",
                    path.display()
                );
                self.stats.last_error = format!("state file: {e}");
            }
        }
    }

    fn save_deadline_ms(&self) -> Option<u64> {
        (self.unsaved_progress && !self.opts.dry_run && self.config.state_file.is_some())
            .then_some(self.last_save_ms + SAVE_INTERVAL_MS)
    }

    fn update_status(&mut self) {
        let s = &self.stats;
        let mut status = format!(
            "{} entries read, {} alerts, {} mails sent, {} pending",
            s.entries,
            s.alerts,
            s.mails,
            self.batcher.pending().total
        );
        if !s.last_error.is_empty() {
            status.push_str(&format!("; last error: {}", s.last_error));
        }
        if status != self.status_sent {
            sys::notify(&format!("STATUS={status}"));
            self.status_sent = status;
        }
    }

    /// `--once`: read to the current end, mail everything found, exit.
    /// Returns false when a mail was not accepted (the cursor stays held).
    pub fn run_once(&mut self) -> bool {
        loop {
            let more = self.drain(CHUNK);
            if self.truncation_seen() {
                self.reopen_after_truncation(None);
            }
            if self.batcher.pending().is_full() && !self.deliver(self.config.mail.timeout_ms) {
                return false;
            }
            if !more {
                break;
            }
        }
        let ok = self.batcher.is_empty() || self.deliver(self.config.mail.timeout_ms);
        self.maybe_save(sys::monotonic_ms(), true);
        if self.incomplete {
            log!(ERR, "some journal files were not read (see above)");
        }
        log!(
            INFO,
            "read {} entries, {} alerts, {} mails",
            self.stats.entries,
            self.stats.alerts,
            self.stats.mails
        );
        ok && !self.incomplete
    }

    /// Follow the journal until SIGTERM or SIGINT.
    pub fn follow(&mut self, config_path: &Path, signals: &sys::SignalFd) -> Result<(), Error> {
        use std::os::fd::AsRawFd;
        let mut journal_fd = match self.journal.fd() {
            Ok(fd) => Some(fd),
            Err(e) => {
                log!(
                    WARNING,
                    "cannot watch the journal ({e}; inotify instances or watches exhausted?): \
                     checking every {} ms instead",
                    FALLBACK_POLL_MS
                );
                None
            }
        };
        let mut reopen_at = sys::monotonic_ms() + FALLBACK_POLL_MS;
        sys::notify("READY=1");
        log!(
            INFO,
            "logmon {} started: following the journal",
            env!("CARGO_PKG_VERSION")
        );
        let mut more = true;
        loop {
            if more {
                more = self.drain(CHUNK);
            }
            if self.truncation_seen() {
                journal_fd = self.reopen_after_truncation(journal_fd);
                more = true;
            }
            let mut now = sys::monotonic_ms();
            if self.batcher.is_due(now) {
                self.deliver(self.config.mail.timeout_ms);
                now = sys::monotonic_ms();
            }
            self.maybe_save(now, false);
            self.update_status();
            if let Some(w) = &mut self.watchdog {
                w.kick(now);
            }

            // Sleep until the earliest of: journal activity or timeout, a
            // signal, the pending mail, a state save, the watchdog.
            let mut deadline: Option<u64> = if more { Some(now) } else { None };
            let mut wake_at = |t: Option<u64>| {
                if let Some(t) = t {
                    deadline = Some(deadline.map_or(t, |d| d.min(t)));
                }
            };
            let mut fds = vec![sys::pollfd(signals.as_raw_fd(), libc::POLLIN)];
            match journal_fd {
                Some(fd) => {
                    let events = self
                        .journal
                        .events()
                        .context(|| "sd_journal_get_events".into())?;
                    fds.push(sys::pollfd(fd, events));
                    let t = self
                        .journal
                        .timeout_ms()
                        .context(|| "sd_journal_get_timeout".into())?;
                    wake_at(t.map(|ms| now + ms));
                }
                None => wake_at(Some(reopen_at)),
            }
            wake_at(self.batcher.due_at_ms());
            wake_at(self.save_deadline_ms());
            wake_at(self.watchdog.as_ref().map(sys::Watchdog::due_ms));
            let timeout = deadline.map(|d| d.saturating_sub(now));
            sys::poll(&mut fds, timeout).context(|| "poll".into())?;

            if fds[0].revents != 0 {
                while let Some(sig) = signals.read().context(|| "reading the signalfd".into())? {
                    match sig as i32 {
                        libc::SIGHUP => self.reload(config_path),
                        _ => {
                            self.shutdown(sig);
                            return Ok(());
                        }
                    }
                }
            }
            match journal_fd {
                Some(_) => match self
                    .journal
                    .process()
                    .context(|| "sd_journal_process".into())?
                {
                    Change::Append | Change::Invalidate => more = true,
                    Change::Nop => {}
                },
                None if sys::monotonic_ms() >= reopen_at => {
                    journal_fd = self.reopen()?;
                    if journal_fd.is_some() {
                        log!(NOTICE, "watching the journal again");
                    }
                    reopen_at = sys::monotonic_ms() + FALLBACK_POLL_MS;
                    more = true;
                }
                None => {}
            }
        }
    }

    /// Without inotify, libsystemd learns of neither new files nor (for a
    /// while) new entries: open the journal afresh where we were. Returns
    /// its fd if inotify works again.
    fn reopen(&mut self) -> Result<Option<libc::c_int>, Error> {
        let cursor = if self.read_any && !self.unread_current {
            self.journal.cursor().ok()
        } else {
            None
        };
        let mut journal = open_journal(&self.config.source)?;
        match &cursor {
            Some(c) => {
                journal
                    .seek_cursor(c)
                    .context(|| "seeking the reopened journal".into())?;
                if journal
                    .next()
                    .context(|| "reading the reopened journal".into())?
                    && !journal.test_cursor(c).unwrap_or(false)
                {
                    self.unread_current = true;
                }
            }
            // Nothing read yet: everything in the journal is new to us.
            None if !self.unread_current => {
                journal
                    .seek_head()
                    .context(|| "seeking the reopened journal".into())?;
            }
            None => return Ok(None),
        }
        self.journal = journal;
        self.warn_unopened();
        Ok(self.journal.fd().ok())
    }

    /// SIGTERM/SIGINT: one bounded last try to send, save, and go.
    fn shutdown(&mut self, sig: u32) {
        sys::notify("STOPPING=1");
        let now = sys::monotonic_ms();
        if !self.batcher.is_empty() && self.batcher.rate_allows(now) {
            self.deliver(self.config.mail.timeout_ms.min(EXIT_SEND_TIMEOUT_MS));
        }
        self.maybe_save(sys::monotonic_ms(), true);
        let pending = self.batcher.pending().total;
        log!(
            INFO,
            "stopping on signal {sig}: {} entries read, {} alerts, {} mails sent{}",
            self.stats.entries,
            self.stats.alerts,
            self.stats.mails,
            if pending > 0 {
                format!("; {pending} alerts unsent, they will be read again at the next start")
            } else {
                String::new()
            }
        );
    }

    /// SIGHUP: new rules and mail settings; the journal source, priority,
    /// boot and state file stay as they were until a restart.
    fn reload(&mut self, path: &Path) {
        sys::notify("RELOADING=1");
        match Config::load(path) {
            Ok(new) => {
                if new.source != self.config.source
                    || new.priority != self.config.priority
                    || new.boot != self.config.boot
                    || new.state_file != self.config.state_file
                {
                    log!(NOTICE, "source, priority, boot and state_file changes take effect at the next restart");
                }
                self.config.rules = new.rules;
                self.config.mail = new.mail;
                self.batcher.set_policy(policy(&self.config));
                log!(INFO, "reloaded {}", path.display());
            }
            Err(e) => {
                log!(ERR, "{e}");
                log!(ERR, "reload failed: keeping the previous configuration");
            }
        }
        sys::notify("READY=1");
    }
}

/// `--test-mail`: one test alert through the configured mail path.
pub fn test_mail(config: &Config, dry_run: bool) -> Result<(), Error> {
    let mut pending = crate::batch::Pending::default();
    let now = sys::realtime_secs();
    pending.add(Alert {
        time_usec: now.max(0) as u64 * 1_000_000,
        host: sys::hostname(),
        unit: "logmon".into(),
        pid: sys::getpid().to_string(),
        message: "test alert from logmon --test-mail: if you read this, alerts reach you".into(),
    });
    let local = sys::localtime(now);
    let message = mail::compose(
        &pending,
        &config.mail.from,
        &config.mail.to,
        &mail::rfc5322_date(&local),
        &format_time,
    );
    if dry_run {
        print!("{}", mail::mbox_entry(&message, &local));
        return Ok(());
    }
    crate::sendmail::send(
        &config.mail.sendmail,
        &config.mail.to,
        message.as_bytes(),
        Duration::from_millis(config.mail.timeout_ms),
        &mut || {},
    )
    .map_err(Error::Runtime)?;
    println!(
        "test mail to {} accepted by {}",
        config.mail.to.join(", "),
        config.mail.sendmail.display()
    );
    Ok(())
}
