//! The poll loop: the journal, the signals, the sendmail job and the
//! timers, dispatched to the reader, the engine, the outbox and delivery.
//!
//! One thread and one hand-written poll(2). The journal part follows
//! sd_journal_get_fd(3): poll with the journal's events and timeout, then
//! `sd_journal_process`, then read on APPEND and on INVALIDATE. Reading is
//! bounded in time per turn ([`READ_BUDGET_MS`]), and sendmail runs as a
//! [`Job`] polled beside the journal, so neither a backlog with 1,000 rules
//! nor a hung sendmail keeps the loop from signals, the watchdog or reading
//! on (journald may vacuum what is left unread for long). An idle monitor
//! sleeps in poll with no timeout at all.

use crate::batch::Policy;
use crate::cli::Since;
use crate::config::{Config, Source};
use crate::delivery::{Job, Outcome};
use crate::engine::{self, Engine};
use crate::error::{Context, Error};
use crate::expect::{Expects, Notice};
use crate::identity::OwnIdentity;
use crate::journal::Change;
use crate::keeper::{Keeper, Resume};
use crate::log::{log, ERR, INFO, NOTICE, WARNING};
use crate::mail;
use crate::outbox::Outbox;
use crate::position::{savable, Gap, Start};
use crate::reader::{Reader, Step};
use crate::rules::Fields;
use crate::stats;
use crate::sys;
use std::io::Write;
use std::path::Path;

/// Time spent reading before the loop looks at signals, timers and the
/// sendmail job again.
const READ_BUDGET_MS: u64 = 100;
/// SIGTERM: the last delivery (or the one running) gets at most this long.
const EXIT_GRACE_MS: u64 = 5000;
/// Without an inotify fd, or while a namespace has no files yet, look
/// again this often.
const FALLBACK_POLL_MS: u64 = 2000;
/// With `[expect]` clocks running, look at the wall clock at least this
/// often.
const EXPECT_RECHECK_MS: u64 = 60_000;
/// A self-alert of one kind at most this often (each is logged always).
const NOTICE_INTERVAL_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub once: bool,
    pub dry_run: bool,
    pub since: Option<Since>,
    /// `--stats`: alerts are counted by template, never mailed.
    pub stats: bool,
}

#[derive(Debug, Default)]
struct Stats {
    alerts: u64,
    mails: u64,
    lost: u64,
    last_error: String,
}

pub fn format_time(usec: u64) -> String {
    mail::format_time(&sys::localtime((usec / 1_000_000) as i64))
}

fn policy(config: &Config) -> Policy {
    Policy {
        batch_ms: config.mail.batch_ms,
        max_per_hour: config.mail.max_per_hour,
        retry_ms: config.mail.retry_ms,
    }
}

/// A recipient set: its own mails, batch window, hourly cap and backoff.
struct Route {
    to: Vec<String>,
    outbox: Outbox,
    job: Option<Job>,
    /// `[expect]` mails, one message each, oldest first; the job carries
    /// the first when `carrying_notice`.
    notices: std::collections::VecDeque<Notice>,
    carrying_notice: bool,
    notice_retry_at_ms: u64,
    notice_failures: u32,
}

impl Route {
    fn new(to: Vec<String>, policy: Policy) -> Route {
        Route {
            to,
            outbox: Outbox::new(policy),
            job: None,
            notices: std::collections::VecDeque::new(),
            carrying_notice: false,
            notice_retry_at_ms: 0,
            notice_failures: 0,
        }
    }

    /// A mail may start now.
    fn due(&self, now_ms: u64) -> bool {
        self.job.is_none() && self.outbox.is_due(now_ms)
    }

    /// An `[expect]` mail may start now. Each is a message of its own (a
    /// thread per clock), not batched, but counted against the route's
    /// hourly cap like any mail: a collector that goes quiet for a fleet
    /// must not mail once per host at once.
    fn notice_due(&self, now_ms: u64) -> bool {
        self.notice_due_at_ms().is_some_and(|t| t <= now_ms)
    }

    fn notice_due_at_ms(&self) -> Option<u64> {
        (self.job.is_none() && !self.notices.is_empty())
            .then(|| self.notice_retry_at_ms.max(self.outbox.rate_free_at_ms()))
    }
}

pub struct Daemon {
    config: Config,
    opts: RunOptions,
    engine: Engine,
    reader: Reader,
    /// One per recipient set: its outbox and its sendmail run.
    routes: Vec<Route>,
    /// `Config::routes` index -> `routes` index (a reload may add routes;
    /// one it drops is kept until its mails are out).
    route_index: Vec<usize>,
    keeper: Keeper,
    stats: Stats,
    status_sent: String,
    watchdog: Option<sys::Watchdog>,
    /// Per kind of self-alert: when one was last queued.
    notices_at: Vec<(&'static str, u64)>,
    /// Some journal files were not read (not opened, truncated).
    incomplete: bool,
    /// `--stats`: where alerts go instead of the outbox.
    history: Option<stats::Stats>,
    /// `[expect]` clocks (unused by `--stats`).
    expects: Expects,
}

impl Daemon {
    pub fn new(mut config: Config, opts: RunOptions, own: OwnIdentity) -> Result<Daemon, Error> {
        let stats_mode = opts.stats;
        for warning in &config.warnings {
            log!(WARNING, "{warning}");
        }
        // Lock first: a second logmon on the same state file (an admin's
        // --once beside the service) must change nothing at all.
        let keeper = Keeper::open(config.state_file.as_deref(), opts.dry_run)?;
        let reader = Reader::open(&config.source)?;
        let expects = Expects::new(
            matches!(config.source, Source::Directory(_)),
            sys::hostname(),
            format!("{}.{}", sys::realtime_usec(), std::process::id()),
        );
        Ok(Daemon {
            expects,
            // The engine owns the rules; `config` keeps the rest.
            engine: Engine::new(std::mem::take(&mut config.rules), config.priority, own),
            reader,
            routes: config
                .routes
                .iter()
                .map(|to| Route::new(to.clone(), policy(&config)))
                .collect(),
            route_index: (0..config.routes.len()).collect(),
            keeper,
            config,
            opts,
            stats: Stats::default(),
            status_sent: String::new(),
            watchdog: sys::Watchdog::from_env(),
            notices_at: Vec::new(),
            incomplete: false,
            history: stats_mode.then(stats::Stats::default),
        })
    }

    /// Journal files not read (not opened, dropped after a read error):
    /// named in the log by the reader, one `[logmon]` notice here.
    fn check_files(&mut self) {
        let report = self.reader.check_files();
        self.incomplete |= report.unread > 0;
        if let Some(text) = report.new_problem {
            self.problem("unopened", text);
        }
    }

    /// After a read: a journal file truncated under logmon (a SIGBUS that
    /// `sigbus` survived) is named and the journal reopened. True when it
    /// was.
    fn survive_truncation(&mut self) -> Result<bool, Error> {
        let Some(text) = self.reader.survive_truncation()? else {
            return Ok(false);
        };
        self.incomplete = true;
        self.problem("truncated", text);
        self.check_files();
        Ok(true)
    }

    /// Set the start position: `--since`, else the saved cursor, else the
    /// end (saved at once on a first start, so a kill right after start
    /// loses nothing).
    pub fn position(&mut self) -> Result<(), Error> {
        if let Some(why) = self.keeper.failing().map(str::to_string) {
            self.problem(
                "save",
                format!(
                    "{why}; after a restart logmon may mail old alerts again or start at the end"
                ),
            );
        }
        self.check_files();
        if let Some(text) = crate::compat::nothing_read(&self.config.source, self.reader.journal())
        {
            self.incomplete = true;
            self.problem("unreadable", text);
        }
        let since = self.opts.since.clone();
        let resume = match (&since, self.config.state_file.clone()) {
            (Some(Since::Cursor) | None, Some(path)) => {
                self.keeper.resume(&path, since.is_some())?
            }
            (Some(Since::Cursor) | None, None) => Resume {
                start: Start::Tail,
                usec: None,
                save_at_once: false,
                problem: None,
                expects: Vec::new(),
            },
            (Some(since), state_file) => Resume {
                start: self.reader.start_of(since, self.config.boot)?,
                usec: None,
                save_at_once: false,
                problem: None,
                // The clocks go on whatever is read again.
                expects: state_file
                    .and_then(|path| match crate::state::read(&path) {
                        Ok(crate::state::Loaded::Good(s))
                        | Ok(crate::state::Loaded::Recovered { state: s, .. }) => Some(s.expects),
                        _ => None,
                    })
                    .unwrap_or_default(),
            },
        };
        if self.history.is_none() {
            if !self.engine.rules.expects.is_empty() && self.config.state_file.is_none() {
                log!(
                    WARNING,
                    "[expect] rules without a state_file forget their clocks at each exit: with --once from cron nothing is ever missing"
                );
            }
            self.expects.restore(resume.expects);
            self.expects
                .set_rules(&self.engine.rules.expects, sys::realtime_usec());
        }
        if let Some(problem) = resume.problem {
            self.problem("state", problem);
        }
        if let Some(problem) = self.reader.seek(&resume.start, resume.usec)? {
            self.problem("position", problem);
        }
        if resume.save_at_once {
            let point = self.reader.resume_point();
            let usec = self.reader.last().map(|m| m.usec);
            self.save_now(&point, usec);
        }
        Ok(())
    }

    /// Read for at most [`READ_BUDGET_MS`]; true when there may be more now.
    fn read(&mut self) -> Result<bool, Error> {
        let until = sys::monotonic_ms() + READ_BUDGET_MS;
        loop {
            let step = self
                .reader
                .step()
                .context(|| "reading the journal".into())?;
            let now = sys::monotonic_ms();
            let (seq, usec) = match step {
                Step::End { gap } => {
                    if let Some(gap) = gap {
                        self.lost(gap, now);
                    }
                    // Caught up: silence counts in wall time now.
                    self.tick_expects(sys::realtime_usec());
                    return Ok(false);
                }
                Step::Entry { seq, usec, gap } => {
                    if let Some(gap) = gap {
                        self.lost(gap, now);
                    }
                    (seq, usec)
                }
            };
            let alerts = self.engine.on_entry(&mut self.reader.entry(), seq, usec);
            if self.history.is_none() {
                self.expect_entry(seq, usec);
            }
            if let Some(history) = &mut self.history {
                history.entry(usec);
                for rule in self.engine.expected(&mut self.reader.entry()) {
                    history.expected(rule, usec);
                }
                if alerts.iter().any(|(_, held)| held.seq == seq) {
                    history.alert(&mut self.reader.entry());
                }
            } else if !alerts.is_empty() {
                let mut due = false;
                for (mut alert, held) in alerts {
                    self.stats.alerts += 1;
                    let r = self.route_index[self.engine.route_of(alert.rule)];
                    // The catalog is read for the current entry only (its
                    // fields fill the text in); a threshold's earlier
                    // entries mostly share its MESSAGE_ID.
                    let current = held.seq == seq;
                    let outbox = &mut self.routes[r].outbox;
                    if let Some(id) = alert
                        .message_id
                        .clone()
                        .filter(|id| current && outbox.pending().wants_catalog(id))
                    {
                        if let Some(text) = self.reader.catalog() {
                            outbox.add_catalog(&id, text);
                        }
                    }
                    // Context only for a line of its own, not a repeat.
                    let lines = self.engine.context_of(alert.rule);
                    if current && lines > 0 && outbox.pending().wants_context(&alert) {
                        alert.context = self.reader.context(lines, &alert);
                    }
                    let outbox = &mut self.routes[r].outbox;
                    outbox.add(alert, &held, now);
                    // A mail due now (batch = 0) goes before reading on;
                    // one due while another is out collects what follows.
                    due |= if self.opts.once {
                        outbox.is_full()
                    } else {
                        self.routes[r].due(now)
                    };
                }
                if due {
                    return Ok(true);
                }
            }
            if now >= until {
                return Ok(true);
            }
        }
    }

    /// The `[expect]` rules the current entry satisfies; while reading,
    /// silence counts in entry time.
    fn expect_entry(&mut self, seq: u64, usec: u64) {
        if self.engine.rules.expects.is_empty() {
            return;
        }
        // A host with a clock in the future (a `directory =` source keeps
        // the sender's times) must not make every clock look overdue.
        let usec = usec.min(sys::realtime_usec());
        // An absence that ends with this very entry was an absence all
        // the same: the time first, then the match.
        self.tick_expects(usec);
        let mut entry = self.reader.entry();
        let mut made = Vec::new();
        for rule in self.engine.expected(&mut entry) {
            let host = entry
                .field("_HOSTNAME")
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .unwrap_or_default();
            let entry = &mut entry;
            made.extend(self.expects.matched(rule, &host, usec, || {
                let alert = engine::alert(entry, usec, 0);
                let mark = crate::position::Mark {
                    cursor: entry.cursor(),
                    usec,
                    seq,
                };
                (alert, mark)
            }));
        }
        for notice in made {
            self.queue_notice(notice);
        }
    }

    /// Missing mails due at `now_usec`.
    fn tick_expects(&mut self, now_usec: u64) {
        if self.history.is_some() {
            return;
        }
        for notice in self.expects.tick(now_usec) {
            log!(
                WARNING,
                "[expect] {}: nothing matched on {} for {}",
                notice.label,
                notice.host,
                mail::duration(notice.within_usec)
            );
            self.queue_notice(notice);
        }
    }

    fn queue_notice(&mut self, notice: Notice) {
        let r = self.route_index.get(notice.route).copied().unwrap_or(0);
        self.routes[r].notices.push_back(notice);
    }

    fn lost(&mut self, gap: Gap, now_ms: u64) {
        self.stats.lost += gap.count;
        let range = match gap.after_usec {
            Some(t) => format!(
                "between {} and {}",
                format_time(t),
                format_time(gap.before_usec)
            ),
            None => format!("before {}", format_time(gap.before_usec)),
        };
        let text = format!(
            "{} journal entries {range} vanished before logmon read them (vacuumed or rotated away, or in a file it could not open); they were not checked",
            gap.count
        );
        self.problem_at("lost", text, now_ms);
    }

    /// One of logmon's own problems: logged always, mailed to `[mail] to`
    /// as a `[logmon]` notice at most once per kind and interval.
    fn problem(&mut self, kind: &'static str, text: String) {
        self.problem_at(kind, text, sys::monotonic_ms());
    }

    fn problem_at(&mut self, kind: &'static str, text: String, now_ms: u64) {
        log!(ERR, "{text}");
        self.stats.last_error = text.clone();
        match self.notices_at.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, at)) if now_ms < *at + NOTICE_INTERVAL_MS => return,
            Some((_, at)) => *at = now_ms,
            None => self.notices_at.push((kind, now_ms)),
        }
        self.routes[0].outbox.notice(text, now_ms);
    }

    fn save_now(&mut self, point: &Start, usec: Option<u64>) {
        let now = sys::monotonic_ms();
        let was_failing = self.keeper.failing().is_some();
        match self.keeper.save(point, usec, &self.expects.clocks(), now) {
            Err(why) if !was_failing => self.problem_at(
                "save",
                format!("{why}; after a restart logmon may mail old alerts again or, with a lost state file, start at the end"),
                now,
            ),
            Ok(true) if was_failing => log!(NOTICE, "the journal position is saved again"),
            _ => {}
        }
    }

    fn maybe_save(&mut self, now_ms: u64, force: bool) {
        if self.keeper.due(now_ms, force) {
            let (point, usec) = self.savable();
            self.save_now(&point, usec);
        }
    }

    /// Where a restart must resume now: at the oldest entry a mail or a
    /// threshold window still holds, else after the last entry read.
    fn savable(&mut self) -> (Start, Option<u64>) {
        let last = self.reader.last();
        savable(
            self.routes
                .iter()
                .flat_map(|r| r.outbox.holds())
                .chain(self.engine.holds())
                .chain(
                    self.routes
                        .iter()
                        .flat_map(|r| r.notices.iter().filter_map(|n| n.mark.as_ref())),
                ),
            last.as_ref(),
            self.reader.started(),
        )
    }

    fn save_deadline_ms(&mut self) -> Option<u64> {
        let (point, _) = self.savable();
        self.keeper.deadline_ms(&point, &self.expects.clocks())
    }

    /// Compose the collected mail and start carrying it. `Some(accepted)`
    /// when it is over at once (`--dry-run`, or sendmail cannot start).
    fn start_delivery(&mut self, r: usize, timeout_ms: u64, now_ms: u64) -> Option<bool> {
        let local = sys::localtime(sys::realtime_secs());
        let route = &mut self.routes[r];
        let pending = route.outbox.begin();
        let config = self.config.path.display().to_string();
        let context = mail::Context {
            rules: self.engine.rule_infos(),
            config: &config,
        };
        let message = mail::compose(
            pending,
            &self.config.mail.from,
            &route.to,
            &mail::rfc5322_date(&local),
            &format_time,
            &context,
        );
        self.send(r, message, timeout_ms, now_ms)
    }

    /// Compose the first `[expect]` mail of route `r` and start carrying
    /// it, like [`Daemon::start_delivery`].
    fn start_notice_delivery(&mut self, r: usize, timeout_ms: u64, now_ms: u64) -> Option<bool> {
        let local = sys::localtime(sys::realtime_secs());
        let route = &mut self.routes[r];
        let notice = route.notices.front()?;
        let message = mail::compose_expect(
            notice,
            &self.config.mail.from,
            &route.to,
            &mail::rfc5322_date(&local),
            &format_time,
            &self.config.path.display().to_string(),
        );
        route.carrying_notice = true;
        self.send(r, message, timeout_ms, now_ms)
    }

    /// Hand a composed mail to sendmail (stdout with `--dry-run`).
    fn send(&mut self, r: usize, message: String, timeout_ms: u64, now_ms: u64) -> Option<bool> {
        let local = sys::localtime(sys::realtime_secs());
        let route = &mut self.routes[r];
        if self.opts.dry_run {
            let mut out = std::io::stdout().lock();
            let written = out
                .write_all(mail::mbox_entry(&message, &local).as_bytes())
                .and_then(|()| out.flush());
            let outcome = match written {
                Ok(()) => Outcome::Accepted,
                Err(e) => Outcome::Failed(format!("writing to stdout: {e}")),
            };
            let accepted = outcome == Outcome::Accepted;
            self.finish_delivery(r, outcome, String::new(), now_ms);
            return Some(accepted);
        }
        match Job::start(
            &self.config.mail.sendmail,
            &route.to,
            message.into_bytes(),
            timeout_ms,
            now_ms,
        ) {
            Ok(job) => {
                route.job = Some(job);
                None
            }
            Err(e) => {
                self.finish_delivery(r, Outcome::Failed(e), String::new(), now_ms);
                Some(false)
            }
        }
    }

    fn step_delivery(&mut self, r: usize, now_ms: u64) {
        let Some(job) = self.routes[r].job.as_mut() else {
            return;
        };
        if let Some(outcome) = job.step(now_ms) {
            let said = job.said_text();
            self.routes[r].job = None;
            self.finish_delivery(r, outcome, said, now_ms);
        }
    }

    fn finish_delivery(&mut self, r: usize, outcome: Outcome, said: String, now_ms: u64) {
        for line in said.lines().filter(|l| !l.trim().is_empty()).take(10) {
            log!(NOTICE, "{}: {line}", self.config.mail.sendmail.display());
        }
        if std::mem::take(&mut self.routes[r].carrying_notice) {
            self.finish_notice(r, outcome, now_ms);
            return;
        }
        match outcome {
            Outcome::Accepted => {
                self.routes[r].outbox.delivered(now_ms);
                self.stats.mails += 1;
                self.maybe_save(now_ms, true);
            }
            Outcome::Failed(why) => {
                let outbox = &mut self.routes[r].outbox;
                let alerts = outbox.pending().total;
                let delay = outbox.failed(now_ms);
                let alerts = outbox.pending().total.max(alerts);
                log!(
                    ERR,
                    "mail with {alerts} alerts to {} not delivered: {why}; retrying in {} s",
                    self.routes[r].to.join(", "),
                    delay.div_ceil(1000)
                );
                self.stats.last_error = why;
            }
        }
    }

    fn finish_notice(&mut self, r: usize, outcome: Outcome, now_ms: u64) {
        let route = &mut self.routes[r];
        match outcome {
            Outcome::Accepted => {
                route.notice_failures = 0;
                route.notice_retry_at_ms = 0;
                if let Some(notice) = route.notices.pop_front() {
                    self.expects.delivered(&notice);
                }
                route.outbox.count_sent(now_ms);
                self.stats.mails += 1;
                self.maybe_save(now_ms, true);
            }
            Outcome::Failed(why) => {
                let delay =
                    crate::batch::backoff_ms(self.config.mail.retry_ms, route.notice_failures);
                route.notice_failures += 1;
                route.notice_retry_at_ms = now_ms + delay;
                log!(
                    ERR,
                    "[expect] mail to {} not delivered: {why}; retrying in {} s",
                    route.to.join(", "),
                    delay.div_ceil(1000)
                );
                self.stats.last_error = why;
            }
        }
    }

    fn update_status(&mut self) {
        let s = &self.stats;
        let mut status = format!(
            "{} entries read, {} alerts, {} mails sent, {} pending",
            self.reader.count(),
            s.alerts,
            s.mails,
            self.routes
                .iter()
                .map(|r| r.outbox.unsent() + r.notices.len() as u64)
                .sum::<u64>()
        );
        if s.lost > 0 {
            status.push_str(&format!("; {} entries lost unread", s.lost));
        }
        if let Some(why) = self.keeper.failing() {
            status = format!("DEGRADED: {why}; {status}");
        }
        if !s.last_error.is_empty() {
            status.push_str(&format!("; last error: {}", s.last_error));
        }
        if status != self.status_sent {
            sys::notify(&format!("STATUS={status}"));
            self.status_sent = status;
        }
    }

    /// `--once`: read to the current end, mail everything found, exit.
    /// Ok(false) when a mail was not accepted (its alerts stay held).
    pub fn run_once(&mut self) -> Result<bool, Error> {
        let mut ok = true;
        loop {
            let mut more = self.read()?;
            more |= self.survive_truncation()?;
            for r in 0..self.routes.len() {
                let outbox = &self.routes[r].outbox;
                if outbox.is_full() || (!more && !outbox.is_idle()) {
                    ok &= self.deliver_blocking(r);
                }
            }
            if !more {
                break;
            }
        }
        for r in 0..self.routes.len() {
            while !self.routes[r].notices.is_empty() {
                let accepted = self.deliver_notice_blocking(r);
                ok &= accepted;
                if !accepted {
                    break;
                }
            }
        }
        // libsystemd drops a file it fails to read (ENOMEM, EIO) without
        // telling: a read that ended early looks like the end.
        self.check_files();
        self.maybe_save(sys::monotonic_ms(), true);
        if self.incomplete {
            log!(ERR, "some journal files were not read (see above)");
        }
        log!(
            INFO,
            "read {} entries, {} alerts, {} mails",
            self.reader.count(),
            self.stats.alerts,
            self.stats.mails
        );
        Ok(ok && self.keeper.failing().is_none() && !self.incomplete)
    }

    /// `--stats`: read to the current end and report, mailing nothing.
    pub fn run_stats(&mut self) -> Result<String, Error> {
        while self.read()? | self.survive_truncation()? {}
        self.check_files();
        let history = self.history.take().unwrap_or_default();
        let mut report = history.report(
            &self.engine.rules,
            &self.engine.hits,
            &self.engine.silenced,
            &format_time,
        );
        if self.incomplete {
            report.push_str("\nwarning: some journal files were not read (see the log above)\n");
        }
        Ok(report)
    }

    fn deliver_blocking(&mut self, r: usize) -> bool {
        let now = sys::monotonic_ms();
        let started = self.start_delivery(r, self.config.mail.timeout_ms, now);
        self.finish_blocking(r, started)
    }

    fn deliver_notice_blocking(&mut self, r: usize) -> bool {
        let now = sys::monotonic_ms();
        let started = self.start_notice_delivery(r, self.config.mail.timeout_ms, now);
        self.finish_blocking(r, started)
    }

    /// Wait for the delivery just started on route `r`; true if accepted.
    fn finish_blocking(&mut self, r: usize, started: Option<bool>) -> bool {
        if let Some(accepted) = started {
            return accepted;
        }
        let Some(job) = self.routes[r].job.take() else {
            return false;
        };
        let (outcome, said) = job.run_to_end();
        let accepted = outcome == Outcome::Accepted;
        self.finish_delivery(r, outcome, said, sys::monotonic_ms());
        accepted
    }

    /// Follow the journal until SIGTERM or SIGINT.
    pub fn follow(&mut self, config_path: &Path, signals: &sys::SignalFd) -> Result<(), Error> {
        use std::os::fd::AsRawFd;
        let mut journal_fd = self.watch();
        let mut reopen_at = sys::monotonic_ms() + FALLBACK_POLL_MS;
        sys::notify("READY=1");
        log!(
            INFO,
            "logmon {} started: following the journal",
            env!("CARGO_PKG_VERSION")
        );
        // Which entries count as logmon's own (never alert), for whoever
        // wonders why a line of its unit was not mailed.
        let own = &self.engine.own;
        log!(
            INFO,
            "own lines: _PID={} _SYSTEMD_UNIT={} _SYSTEMD_INVOCATION_ID={} _UID={}",
            own.pid,
            own.unit.as_deref().unwrap_or("-"),
            own.invocation_id.as_deref().unwrap_or("-"),
            own.uid.as_deref().unwrap_or("-")
        );
        let mut more = true;
        loop {
            if more {
                more = match self.read() {
                    Ok(more) => more,
                    Err(e) => {
                        self.problem("read", e.to_string());
                        false
                    }
                };
            }
            if self.survive_truncation()? {
                journal_fd = self.watch();
                more = true;
            }
            let now = sys::monotonic_ms();
            if !more {
                // Idle at the end of the journal: silence counts in wall
                // time (a poll timeout woke us for it).
                self.tick_expects(sys::realtime_usec());
            }
            for r in 0..self.routes.len() {
                self.step_delivery(r, now);
                if self.routes[r].notice_due(now) {
                    self.start_notice_delivery(r, self.config.mail.timeout_ms, now);
                } else if self.routes[r].due(now) {
                    self.start_delivery(r, self.config.mail.timeout_ms, now);
                }
            }
            self.maybe_save(now, false);
            self.update_status();
            if let Some(w) = &mut self.watchdog {
                w.kick(now);
            }

            // Sleep until the earliest of: journal activity or timeout, a
            // signal, sendmail, the pending mail, a state save, the watchdog.
            let mut deadline: Option<u64> = more.then_some(now);
            let mut wake_at = |t: Option<u64>| {
                if let Some(t) = t {
                    deadline = Some(deadline.map_or(t, |d| d.min(t)));
                }
            };
            let mut fds = vec![sys::pollfd(signals.as_raw_fd(), libc::POLLIN)];
            match journal_fd {
                Some(fd) => {
                    let j = self.reader.journal().context(|| "the journal".into())?;
                    let events = j.events().context(|| "sd_journal_get_events".into())?;
                    fds.push(sys::pollfd(fd, events));
                    let t = j.timeout_ms().context(|| "sd_journal_get_timeout".into())?;
                    wake_at(t.map(|ms| now + ms));
                }
                None => wake_at(Some(reopen_at)),
            }
            for route in &self.routes {
                match &route.job {
                    Some(job) => {
                        fds.extend(job.poll_fds());
                        wake_at(Some(job.deadline_ms()));
                    }
                    None => {
                        wake_at(route.outbox.due_at_ms());
                        wake_at(route.notice_due_at_ms());
                    }
                }
            }
            // The next `[expect]` absence, in wall time.
            let wall = sys::realtime_usec();
            // At most a minute ahead: a wall clock that jumps (resume
            // from suspend, an NTP step) moves the due time.
            wake_at(self.expects.next_due_usec().map(|due| {
                now + due
                    .saturating_sub(wall)
                    .div_ceil(1000)
                    .min(EXPECT_RECHECK_MS)
            }));
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
                    .reader
                    .process()
                    .context(|| "sd_journal_process".into())?
                {
                    Change::Append => more = true,
                    // Files came or went: one may have been dropped unread.
                    Change::Invalidate => {
                        more = true;
                        self.check_files();
                    }
                    Change::Nop => {}
                },
                None if sys::monotonic_ms() >= reopen_at => {
                    match self.reader.reopen() {
                        Ok(Some(problem)) => self.problem("position", problem),
                        Ok(None) => {}
                        // Tried again at the next turn of the timer.
                        Err(e) => self.problem("reopen", format!("reopening the journal: {e}")),
                    }
                    self.check_files();
                    journal_fd = self.watch();
                    reopen_at = sys::monotonic_ms() + FALLBACK_POLL_MS;
                    more = true;
                }
                None => {}
            }
        }
    }

    /// The journal's inotify fd, or `None` to look again on a timer:
    /// inotify is exhausted, or a namespace has no directory to watch yet.
    fn watch(&mut self) -> Option<libc::c_int> {
        if self.reader.waiting_for_namespace() {
            log!(
                NOTICE,
                "the journal namespace has no files yet; looking for them every {} ms",
                FALLBACK_POLL_MS
            );
            return None;
        }
        match self.reader.fd() {
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
        }
    }

    /// SIGTERM/SIGINT: finish or give up the running delivery, one bounded
    /// last try to send, save, and go, all within [`EXIT_GRACE_MS`].
    fn shutdown(&mut self, sig: u32) {
        sys::notify("STOPPING=1");
        let end = sys::monotonic_ms() + EXIT_GRACE_MS;
        let timeout = self.config.mail.timeout_ms.min(EXIT_GRACE_MS);
        for r in 0..self.routes.len() {
            let route = &self.routes[r];
            if route.job.is_none() && !route.notices.is_empty() {
                // One `[expect]` mail; what is left is made again after
                // the restart (its clock or its held entry says so).
                self.start_notice_delivery(r, timeout, sys::monotonic_ms());
            } else if route.job.is_none()
                && !route.outbox.is_idle()
                && route.outbox.rate_allows(sys::monotonic_ms())
            {
                self.start_delivery(r, timeout, sys::monotonic_ms());
            }
        }
        // Every route's sendmail runs at once; all get the same grace.
        while self.routes.iter().any(|r| r.job.is_some()) {
            let now = sys::monotonic_ms();
            if now >= end {
                for r in 0..self.routes.len() {
                    if let Some(mut job) = self.routes[r].job.take() {
                        let outcome = job.abort();
                        self.finish_delivery(r, outcome, String::new(), now);
                    }
                }
                break;
            }
            let mut fds: Vec<libc::pollfd> = Vec::new();
            let mut wait = end;
            for job in self.routes.iter().flat_map(|r| r.job.as_ref()) {
                fds.extend(job.poll_fds());
                wait = wait.min(job.deadline_ms());
            }
            let _ = sys::poll(&mut fds, Some(wait.saturating_sub(now).max(1)));
            for r in 0..self.routes.len() {
                self.step_delivery(r, sys::monotonic_ms());
            }
        }
        self.maybe_save(sys::monotonic_ms(), true);
        let unsent: u64 = self.routes.iter().map(|r| r.outbox.unsent()).sum();
        log!(
            INFO,
            "stopping on signal {sig}: {} entries read, {} alerts, {} mails sent{}",
            self.reader.count(),
            self.stats.alerts,
            self.stats.mails,
            if unsent > 0 {
                format!("; {unsent} alerts unsent, they will be read again at the next start")
            } else {
                String::new()
            }
        );
    }

    /// The routes of a new config: a recipient set already known keeps its
    /// outbox (pending mail, window, cap, backoff); one no longer named
    /// stays until its mails are out.
    fn set_routes(&mut self, routes: Vec<Vec<String>>) {
        let policy = policy(&self.config);
        self.route_index = routes
            .into_iter()
            .map(|to| match self.routes.iter().position(|r| r.to == to) {
                Some(i) => i,
                None => {
                    self.routes.push(Route::new(to, policy));
                    self.routes.len() - 1
                }
            })
            .collect();
        for route in &mut self.routes {
            route.outbox.set_policy(policy);
        }
    }

    /// SIGHUP: new rules and mail settings; the journal source, priority,
    /// boot and state file stay as they were until a restart.
    fn reload(&mut self, path: &Path) {
        sys::notify("RELOADING=1");
        match Config::load(path) {
            Ok(new) => {
                for warning in &new.warnings {
                    log!(WARNING, "{warning}");
                }
                if new.source != self.config.source
                    || new.priority != self.config.priority
                    || new.boot != self.config.boot
                    || new.state_file != self.config.state_file
                {
                    log!(NOTICE, "source, priority, boot and state_file changes take effect at the next restart");
                }
                self.engine.set_rules(new.rules);
                // Clocks of known [expect] rules go on; new ones start now.
                if self.history.is_none() {
                    self.expects
                        .set_rules(&self.engine.rules.expects, sys::realtime_usec());
                }
                self.config.mail = new.mail;
                self.set_routes(new.routes);
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
