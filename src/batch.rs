//! Pure batching: which alerts go into the next mail, and when it may go.
//!
//! Alerts are folded by (host, unit, message) into [`Pending`]. Memory is
//! bounded whatever the flood: beyond [`MAX_LINES`] distinct lines, further
//! alerts only bump per-(host, unit) counters with first/last examples, and
//! beyond [`MAX_OVERFLOW_GROUPS`] of those, one anonymous counter. Every
//! alert is counted in the mail that carries it; nothing is dropped silently.
//!
//! [`Batcher`] decides when a mail is due: a batch window after the first
//! alert, at most `max_per_hour` mails in any sliding hour, and exponential
//! backoff after a failed delivery. Time is passed in (monotonic ms), so all
//! of it is tested with a fake clock.

use std::collections::{HashMap, VecDeque};

/// Distinct lines kept in full in one mail.
pub const MAX_LINES: usize = 1000;
/// (host, unit) counters kept once lines overflow.
pub const MAX_OVERFLOW_GROUPS: usize = 100;
/// Bytes of a message kept per alert; a mail line is cut well before this.
pub const MAX_MESSAGE: usize = 2048;
const HOUR_MS: u64 = 3_600_000;
/// Backoff doubles from the configured retry delay up to this.
pub const MAX_RETRY_MS: u64 = 30 * 60 * 1000;

/// One matching journal entry, as much of it as a mail needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// `__REALTIME_TIMESTAMP`, microseconds since the epoch.
    pub time_usec: u64,
    pub host: String,
    pub unit: String,
    pub pid: String,
    pub message: String,
    /// The `[match]` rule it belongs to (index in config order).
    pub rule: usize,
    /// `MESSAGE_ID`, for the catalog text.
    pub message_id: Option<String>,
    /// `context = N`: the entries of the same unit run logged just before
    /// it, oldest first.
    pub context: Vec<Alert>,
}

/// Identical alerts folded into one line.
#[derive(Debug, Clone)]
pub struct Line {
    pub first: Alert,
    pub count: u64,
    pub last_usec: u64,
}

/// Alerts that did not get a line of their own, per (host, unit).
#[derive(Debug, Clone)]
pub struct Overflow {
    pub host: String,
    pub unit: String,
    pub count: u64,
    pub first: Alert,
    pub last: Alert,
}

/// Everything waiting for the next mail.
#[derive(Debug, Default)]
pub struct Pending {
    lines: Vec<Line>,
    index: HashMap<(String, String, String), usize>,
    overflow: Vec<Overflow>,
    /// Alerts beyond even the overflow groups: counted only.
    pub uncounted_groups: u64,
    /// All alerts in this pending mail.
    pub total: u64,
    /// logmon's own problems (lost entries, a state file it cannot write),
    /// folded like alerts, bounded, each with its count.
    notices: Vec<(String, u64)>,
    /// Catalog texts of the alerts' MESSAGE_IDs: (id, text), once each.
    catalogs: Vec<(String, String)>,
}

/// Lines of one mail that show context (each up to 50 entries): bounds a
/// flood's memory.
pub const MAX_CONTEXT_LINES: usize = 100;

/// Catalog texts in one mail, and the bytes kept of each.
pub const MAX_CATALOGS: usize = 5;
const MAX_CATALOG_TEXT: usize = 4096;

/// Distinct notices kept in one mail.
pub const MAX_NOTICES: usize = 20;

impl Pending {
    pub fn add(&mut self, alert: Alert) {
        let t = alert.time_usec;
        self.add_counted(alert, 1, t);
    }

    /// `count` identical alerts, the first being `alert`, the last at `last_usec`.
    fn add_counted(&mut self, alert: Alert, count: u64, last_usec: u64) {
        self.total += count;
        let key = (
            alert.host.clone(),
            alert.unit.clone(),
            alert.message.clone(),
        );
        if let Some(&i) = self.index.get(&key) {
            let line = &mut self.lines[i];
            line.count += count;
            line.last_usec = line.last_usec.max(last_usec);
            return;
        }
        if self.lines.len() < MAX_LINES {
            self.index.insert(key, self.lines.len());
            self.lines.push(Line {
                last_usec,
                first: alert,
                count,
            });
            return;
        }
        let mut last = alert.clone();
        last.time_usec = last_usec;
        if let Some(o) = self
            .overflow
            .iter_mut()
            .find(|o| o.host == alert.host && o.unit == alert.unit)
        {
            o.count += count;
            o.last = last;
        } else if self.overflow.len() < MAX_OVERFLOW_GROUPS {
            self.overflow.push(Overflow {
                host: alert.host.clone(),
                unit: alert.unit.clone(),
                count,
                first: alert,
                last,
            });
        } else {
            self.uncounted_groups += count;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0 && self.notices.is_empty()
    }

    /// A problem of logmon's own, for the next mail.
    pub fn add_notice(&mut self, text: String) {
        self.add_notice_counted(text, 1);
    }

    fn add_notice_counted(&mut self, text: String, count: u64) {
        if let Some(n) = self.notices.iter_mut().find(|(t, _)| *t == text) {
            n.1 += count;
        } else if self.notices.len() < MAX_NOTICES {
            self.notices.push((text, count));
        } else if let Some(last) = self.notices.last_mut() {
            // Never dropped silently: the last slot counts the rest.
            last.0 = "further problems of logmon itself (see its log)".into();
            last.1 += count;
        }
    }

    pub fn notices(&self) -> &[(String, u64)] {
        &self.notices
    }

    /// Whether `alert` would get a line of its own with room for context
    /// (not a repeat folded into a line, nor past [`MAX_CONTEXT_LINES`]).
    pub fn wants_context(&self, alert: &Alert) -> bool {
        let with_context = self
            .lines
            .iter()
            .filter(|l| !l.first.context.is_empty())
            .count();
        self.lines.len() < MAX_LINES
            && with_context < MAX_CONTEXT_LINES
            && !self.lines.iter().any(|l| {
                l.first.host == alert.host
                    && l.first.unit == alert.unit
                    && l.first.message == alert.message
            })
    }

    /// Whether the catalog text of `id` is in, or there is no room for it.
    pub fn wants_catalog(&self, id: &str) -> bool {
        self.catalogs.len() < MAX_CATALOGS && !self.catalogs.iter().any(|(i, _)| i == id)
    }

    pub fn add_catalog(&mut self, id: &str, mut text: String) {
        if self.wants_catalog(id) {
            if text.len() > MAX_CATALOG_TEXT {
                let mut cut = MAX_CATALOG_TEXT;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            self.catalogs.push((id.to_string(), text));
        }
    }

    pub fn catalogs(&self) -> &[(String, String)] {
        &self.catalogs
    }

    /// Fold `newer` (alerts that came after these) into this one, as if
    /// each of its alerts had been added here, counts kept.
    pub fn merge(&mut self, newer: Pending) {
        for line in newer.lines {
            self.add_counted(line.first, line.count, line.last_usec);
        }
        for o in newer.overflow {
            let last_usec = o.last.time_usec;
            if o.count > 1 {
                let first_usec = o.first.time_usec;
                self.add_counted(o.first, 1, first_usec);
                self.add_counted(o.last, o.count - 1, last_usec);
            } else {
                self.add_counted(o.first, 1, last_usec);
            }
        }
        self.uncounted_groups += newer.uncounted_groups;
        self.total += newer.uncounted_groups;
        for (text, count) in newer.notices {
            self.add_notice_counted(text, count);
        }
        for (id, text) in newer.catalogs {
            self.add_catalog(&id, text);
        }
    }

    /// Lines kept in full, in the order they first appeared.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    pub fn overflow(&self) -> &[Overflow] {
        &self.overflow
    }

    /// True once new distinct lines no longer get a line of their own.
    pub fn is_full(&self) -> bool {
        self.lines.len() >= MAX_LINES
    }

    /// Alerts that share a line with an earlier one or were summarised.
    pub fn folded(&self) -> u64 {
        self.total - self.lines.len() as u64
    }

    /// Distinct hosts and units, in order of appearance.
    pub fn hosts_and_units(&self) -> (Vec<&str>, Vec<&str>) {
        let mut hosts: Vec<&str> = Vec::new();
        let mut units: Vec<&str> = Vec::new();
        let pairs = self
            .lines
            .iter()
            .map(|l| (&l.first.host, &l.first.unit))
            .chain(self.overflow.iter().map(|o| (&o.host, &o.unit)));
        for (h, u) in pairs {
            if !hosts.contains(&h.as_str()) {
                hosts.push(h);
            }
            if !units.contains(&u.as_str()) {
                units.push(u);
            }
        }
        (hosts, units)
    }
}

/// When mails may go out.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub batch_ms: u64,
    pub max_per_hour: u32,
    pub retry_ms: u64,
}

#[derive(Debug)]
pub struct Batcher {
    policy: Policy,
    pending: Pending,
    /// When the first pending alert arrived.
    opened_ms: Option<u64>,
    /// Send times within the last hour, oldest first.
    sent_ms: VecDeque<u64>,
    failures: u32,
    retry_at_ms: u64,
    /// A mail taken by [`begin`](Batcher::begin) is being delivered.
    in_flight: bool,
}

impl Batcher {
    pub fn new(policy: Policy) -> Batcher {
        Batcher {
            policy,
            pending: Pending::default(),
            opened_ms: None,
            sent_ms: VecDeque::new(),
            failures: 0,
            retry_at_ms: 0,
            in_flight: false,
        }
    }

    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    pub fn add(&mut self, alert: Alert, now_ms: u64) {
        self.opened_ms.get_or_insert(now_ms);
        self.pending.add(alert);
    }

    pub fn add_notice(&mut self, text: String, now_ms: u64) {
        self.opened_ms.get_or_insert(now_ms);
        self.pending.add_notice(text);
    }

    pub fn add_catalog(&mut self, id: &str, text: String) {
        self.pending.add_catalog(id, text);
    }

    /// Take the pending mail for delivery. Until [`delivered`] or
    /// [`failed`] reports on it, new alerts collect for the next mail and
    /// nothing is due.
    ///
    /// [`delivered`]: Batcher::delivered
    /// [`failed`]: Batcher::failed
    pub fn begin(&mut self) -> Pending {
        self.in_flight = true;
        self.opened_ms = None;
        std::mem::take(&mut self.pending)
    }

    pub fn pending(&self) -> &Pending {
        &self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the rate limit next allows a mail (0: now).
    fn window_free_ms(&self) -> u64 {
        let max = self.policy.max_per_hour as usize;
        if self.sent_ms.len() < max {
            0
        } else {
            self.sent_ms[self.sent_ms.len() - max] + HOUR_MS
        }
    }

    /// When the pending mail should be attempted; `None` if nothing waits.
    /// A full batch waits for the end of its window too (what comes on top
    /// is summarised): sending early would spend the hourly budget on the
    /// first seconds of a flood and leave the rest waiting an hour.
    pub fn due_at_ms(&self) -> Option<u64> {
        if self.in_flight {
            return None;
        }
        let opened = self.opened_ms?;
        Some(
            (opened + self.policy.batch_ms)
                .max(self.window_free_ms())
                .max(self.retry_at_ms),
        )
    }

    pub fn is_due(&self, now_ms: u64) -> bool {
        self.due_at_ms().is_some_and(|t| t <= now_ms)
    }

    /// Whether the rate limit allows a mail now (for a last try at exit).
    pub fn rate_allows(&self, now_ms: u64) -> bool {
        self.window_free_ms() <= now_ms
    }

    /// When the hourly cap next allows a mail (0: now).
    pub fn rate_free_at_ms(&self) -> u64 {
        self.window_free_ms()
    }

    /// A mail of another kind (an `[expect]` mail) went to the same
    /// recipients: it counts against the same hourly cap.
    pub fn count_sent(&mut self, now_ms: u64) {
        self.sent_ms.push_back(now_ms);
        self.prune(now_ms);
    }

    /// The mail taken by `begin` was accepted.
    pub fn delivered(&mut self, now_ms: u64) {
        self.in_flight = false;
        self.failures = 0;
        self.retry_at_ms = 0;
        self.sent_ms.push_back(now_ms);
        self.prune(now_ms);
    }

    fn prune(&mut self, now_ms: u64) {
        while self.sent_ms.front().is_some_and(|&t| t + HOUR_MS <= now_ms)
            || self.sent_ms.len() > self.policy.max_per_hour as usize
        {
            self.sent_ms.pop_front();
        }
    }

    /// The mail taken by `begin` was not accepted: it comes back, with
    /// what arrived meanwhile folded into it, and waits for a backoff.
    /// Returns the delay until the next try.
    pub fn failed(&mut self, returned: Pending, now_ms: u64) -> u64 {
        self.in_flight = false;
        let newer = std::mem::replace(&mut self.pending, returned);
        self.pending.merge(newer);
        self.opened_ms = Some(now_ms);
        let delay = backoff_ms(self.policy.retry_ms, self.failures);
        self.failures += 1;
        self.retry_at_ms = now_ms + delay;
        delay
    }
}

/// The wait before the next try after `failures` failed ones: `retry_ms`,
/// doubling each time, at most [`MAX_RETRY_MS`] (or `retry_ms` if longer).
pub fn backoff_ms(retry_ms: u64, failures: u32) -> u64 {
    retry_ms
        .saturating_mul(1 << failures.min(20))
        .min(MAX_RETRY_MS.max(retry_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(unit: &str, message: &str, t: u64) -> Alert {
        Alert {
            time_usec: t,
            host: "web1".into(),
            unit: unit.into(),
            pid: "42".into(),
            message: message.into(),
            rule: 0,
            message_id: None,
            context: Vec::new(),
        }
    }

    fn policy(batch_ms: u64, max_per_hour: u32) -> Policy {
        Policy {
            batch_ms,
            max_per_hour,
            retry_ms: 30_000,
        }
    }

    #[test]
    fn identical_alerts_fold_into_one_line_with_count_and_last_time() {
        let mut p = Pending::default();
        p.add(alert("a.service", "boom", 10));
        p.add(alert("b.service", "boom", 11));
        p.add(alert("a.service", "boom", 12));
        assert_eq!(p.total, 3);
        assert_eq!(p.lines().len(), 2);
        assert_eq!(p.lines()[0].count, 2);
        assert_eq!(p.lines()[0].first.time_usec, 10);
        assert_eq!(p.lines()[0].last_usec, 12);
        assert_eq!(p.folded(), 1);
        let (hosts, units) = p.hosts_and_units();
        assert_eq!(hosts, vec!["web1"]);
        assert_eq!(units, vec!["a.service", "b.service"]);
    }

    #[test]
    fn memory_is_bounded_and_every_alert_counted() {
        let mut p = Pending::default();
        let n = MAX_LINES as u64 + 5000;
        for i in 0..n {
            let unit = format!("u{}.service", i % 150);
            p.add(alert(&unit, &format!("error {i}"), i));
        }
        assert_eq!(p.lines().len(), MAX_LINES);
        assert_eq!(p.overflow().len(), MAX_OVERFLOW_GROUPS);
        let counted: u64 = p.lines().iter().map(|l| l.count).sum::<u64>()
            + p.overflow().iter().map(|o| o.count).sum::<u64>()
            + p.uncounted_groups;
        assert_eq!(counted, n);
        assert_eq!(p.total, n);
        assert!(p.uncounted_groups > 0);
        let o = &p.overflow()[0];
        assert!(o.first.time_usec < o.last.time_usec);
    }

    #[test]
    fn batch_window_opens_with_the_first_alert() {
        let mut b = Batcher::new(policy(10_000, 30));
        assert_eq!(b.due_at_ms(), None);
        b.add(alert("a", "x", 0), 1_000);
        b.add(alert("a", "y", 0), 5_000);
        assert_eq!(b.due_at_ms(), Some(11_000));
        assert!(!b.is_due(10_999));
        assert!(b.is_due(11_000));
        let mail = b.begin();
        assert_eq!(mail.total, 2);
        b.delivered(11_000);
        assert!(b.is_empty());
        assert_eq!(b.due_at_ms(), None);
    }

    #[test]
    fn zero_batch_sends_at_once() {
        let mut b = Batcher::new(policy(0, 30));
        b.add(alert("a", "x", 0), 7);
        assert!(b.is_due(7));
    }

    #[test]
    fn rate_limit_is_a_sliding_hour_and_excess_waits_for_a_digest() {
        let mut b = Batcher::new(policy(0, 3));
        for i in 0..3 {
            let t = i * 60_000;
            b.add(alert("a", "x", 0), t);
            assert!(b.is_due(t));
            b.begin();
            b.delivered(t);
        }
        // The fourth mail must wait until the first send leaves the window.
        for i in 0..500 {
            b.add(alert("a", &format!("e{i}"), i), 200_000 + i);
        }
        assert_eq!(b.due_at_ms(), Some(HOUR_MS));
        assert!(!b.is_due(HOUR_MS - 1));
        assert!(b.is_due(HOUR_MS));
        assert_eq!(b.pending().total, 500);
        b.begin();
        b.delivered(HOUR_MS);
        // The second send (at 60 s) is the next to expire.
        b.add(alert("a", "x", 0), HOUR_MS + 1);
        assert_eq!(b.due_at_ms(), Some(HOUR_MS + 60_000));
        assert!(!b.rate_allows(HOUR_MS + 59_999));
        assert!(b.rate_allows(HOUR_MS + 60_000));
    }

    #[test]
    fn a_full_batch_still_waits_for_its_window() {
        let mut b = Batcher::new(policy(10_000, 30));
        for i in 0..MAX_LINES * 3 {
            b.add(alert("a", &format!("e{i}"), 0), 100);
        }
        assert!(b.pending().is_full());
        assert_eq!(b.due_at_ms(), Some(10_100));
        assert_eq!(b.pending().total, MAX_LINES as u64 * 3);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_a_bound() {
        let mut b = Batcher::new(policy(0, 1000));
        b.add(alert("a", "x", 0), 0);
        let delays: Vec<u64> = (0..10)
            .map(|_| {
                let mail = b.begin();
                b.failed(mail, 0)
            })
            .collect();
        assert_eq!(&delays[..4], &[30_000, 60_000, 120_000, 240_000]);
        assert_eq!(*delays.last().unwrap(), MAX_RETRY_MS);
        assert!(!b.is_due(MAX_RETRY_MS - 1));
        assert!(b.is_due(MAX_RETRY_MS));
        // Alerts arriving meanwhile join the same pending mail.
        b.add(alert("a", "y", 0), 5);
        assert_eq!(b.pending().total, 2);
        b.begin();
        b.delivered(MAX_RETRY_MS);
        b.add(alert("a", "z", 0), MAX_RETRY_MS + 1);
        assert!(b.is_due(MAX_RETRY_MS + 1), "success resets the backoff");
    }

    #[test]
    fn alerts_during_a_delivery_wait_for_the_next_mail_or_join_a_failed_one() {
        let mut b = Batcher::new(policy(0, 30));
        b.add(alert("a", "one", 1), 0);
        let mail = b.begin();
        assert!(b.due_at_ms().is_none());
        b.add(alert("a", "two", 2), 5);
        assert!(
            b.due_at_ms().is_none(),
            "nothing is due while a mail is out"
        );
        b.delivered(10);
        assert_eq!(mail.total, 1);
        assert_eq!(b.pending().total, 1);
        assert!(b.is_due(10));
        // A failed mail comes back first, the newer alert folded after it.
        let mail = b.begin();
        b.add(alert("a", "three", 3), 11);
        b.add(alert("a", "two", 4), 12);
        let delay = b.failed(mail, 20);
        assert_eq!(delay, 30_000);
        let p = b.pending();
        assert_eq!(p.total, 3);
        let msgs: Vec<(&str, u64)> = p
            .lines()
            .iter()
            .map(|l| (l.first.message.as_str(), l.count))
            .collect();
        assert_eq!(msgs, vec![("two", 2), ("three", 1)]);
        assert!(!b.is_due(20 + 29_999) && b.is_due(20 + 30_000));
    }

    #[test]
    fn merge_keeps_every_count() {
        let mut old = Pending::default();
        let mut new = Pending::default();
        for i in 0..MAX_LINES as u64 + 50 {
            new.add(alert("u", &format!("e{i}"), i));
            new.add(alert("u", &format!("e{i}"), i + 1));
        }
        new.add_notice("lost 3 entries".into());
        old.add(alert("u", "e0", 0));
        old.add_notice("lost 3 entries".into());
        let total = old.total + new.total;
        old.merge(new);
        assert_eq!(old.total, total);
        let counted: u64 = old.lines().iter().map(|l| l.count).sum::<u64>()
            + old.overflow().iter().map(|o| o.count).sum::<u64>()
            + old.uncounted_groups;
        assert_eq!(counted, total);
        assert_eq!(old.lines()[0].count, 3);
        assert_eq!(old.notices(), &[("lost 3 entries".to_string(), 2)]);
    }

    #[test]
    fn notices_are_bounded_and_counted() {
        let mut p = Pending::default();
        assert!(p.is_empty());
        for i in 0..100 {
            p.add_notice(format!("problem {i}"));
        }
        assert!(!p.is_empty());
        assert_eq!(p.total, 0, "notices are not alerts");
        assert_eq!(p.notices().len(), MAX_NOTICES);
        let n: u64 = p.notices().iter().map(|(_, c)| c).sum();
        assert_eq!(n, 100);
    }
}
