//! The outbox: what goes into the next mail, when it may go, and which
//! journal entries it still holds.
//!
//! It wraps a [`Batcher`] (window, hourly cap, backoff, folding) with the
//! [`Mark`]s the position is derived from: the first alert of the mail
//! being delivered and the first alert collecting for the next one. A
//! delivery is begun and later reported on; alerts keep arriving
//! meanwhile. The outbox decides, [`crate::delivery`] only carries.

use crate::batch::{Alert, Batcher, Pending, Policy};
use crate::position::Mark;

pub struct Outbox {
    batcher: Batcher,
    /// The first alert of the mail collecting now.
    collecting: Option<Mark>,
    /// The mail being delivered, and its first alert.
    in_flight: Option<(Pending, Option<Mark>)>,
}

impl Outbox {
    pub fn new(policy: Policy) -> Outbox {
        Outbox {
            batcher: Batcher::new(policy),
            collecting: None,
            in_flight: None,
        }
    }

    pub fn set_policy(&mut self, policy: Policy) {
        self.batcher.set_policy(policy);
    }

    /// An alert for the entry at `mark`.
    pub fn add(&mut self, alert: Alert, mark: &Mark, now_ms: u64) {
        // The oldest entry holds: a threshold releases entries read before
        // ones already collecting.
        if self.collecting.as_ref().is_none_or(|c| mark.seq < c.seq) {
            self.collecting = Some(mark.clone());
        }
        self.batcher.add(alert, now_ms);
    }

    /// The catalog text of an alert's MESSAGE_ID, for the next mail.
    pub fn add_catalog(&mut self, id: &str, text: String) {
        self.batcher.add_catalog(id, text);
    }

    /// A problem of logmon's own, for the next mail (holds no entry).
    pub fn notice(&mut self, text: String, now_ms: u64) {
        self.batcher.add_notice(text, now_ms);
    }

    /// The entries a restart must read again.
    pub fn holds(&self) -> impl Iterator<Item = &Mark> {
        let flight = self.in_flight.as_ref().and_then(|(_, m)| m.as_ref());
        flight.into_iter().chain(self.collecting.as_ref())
    }

    pub fn pending(&self) -> &Pending {
        self.batcher.pending()
    }

    /// Alerts not yet accepted by sendmail (collecting and in flight).
    pub fn unsent(&self) -> u64 {
        self.batcher.pending().total + self.in_flight.as_ref().map_or(0, |(p, _)| p.total)
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.batcher.is_empty()
    }

    pub fn due_at_ms(&self) -> Option<u64> {
        self.batcher.due_at_ms()
    }

    pub fn is_due(&self, now_ms: u64) -> bool {
        self.batcher.is_due(now_ms)
    }

    /// `--once`: a mail is as full as a digest gets.
    pub fn is_full(&self) -> bool {
        self.batcher.pending().is_full()
    }

    pub fn rate_allows(&self, now_ms: u64) -> bool {
        self.batcher.rate_allows(now_ms)
    }

    /// When the hourly cap next allows a mail (0: now).
    pub fn rate_free_at_ms(&self) -> u64 {
        self.batcher.rate_free_at_ms()
    }

    /// An `[expect]` mail to the same recipients was accepted: it counts
    /// against the same cap.
    pub fn count_sent(&mut self, now_ms: u64) {
        self.batcher.count_sent(now_ms);
    }

    /// Take the collected mail for delivery.
    pub fn begin(&mut self) -> &Pending {
        let pending = self.batcher.begin();
        let mark = self.collecting.take();
        &self.in_flight.insert((pending, mark)).0
    }

    pub fn delivered(&mut self, now_ms: u64) -> u64 {
        let sent = self.in_flight.take().map_or(0, |(p, _)| p.total);
        self.batcher.delivered(now_ms);
        sent
    }

    /// Not accepted: the mail comes back ahead of what collected meanwhile.
    /// Returns the delay until the next try.
    pub fn failed(&mut self, now_ms: u64) -> u64 {
        let Some((pending, mark)) = self.in_flight.take() else {
            return 0;
        };
        if mark.is_some() {
            self.collecting = mark;
        }
        self.batcher.failed(pending, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::{savable, Start};

    fn alert(msg: &str) -> Alert {
        Alert {
            time_usec: 0,
            host: "h".into(),
            unit: "u".into(),
            pid: "1".into(),
            message: msg.into(),
            rule: 0,
            message_id: None,
            context: Vec::new(),
        }
    }

    fn mark(seq: u64) -> Mark {
        Mark {
            cursor: format!("c{seq}"),
            usec: seq,
            seq,
        }
    }

    fn outbox() -> Outbox {
        Outbox::new(Policy {
            batch_ms: 0,
            max_per_hour: 30,
            retry_ms: 1000,
        })
    }

    fn saved(o: &Outbox, last: u64) -> Start {
        savable(o.holds(), Some(&mark(last)), &Start::Head).0
    }

    #[test]
    fn the_position_follows_every_transition() {
        let mut o = outbox();
        assert_eq!(saved(&o, 1), Start::After("c1".into()));
        o.add(alert("a"), &mark(2), 0);
        o.add(alert("b"), &mark(3), 0);
        assert_eq!(
            saved(&o, 3),
            Start::At("c2".into()),
            "held at the first alert"
        );
        o.begin();
        o.add(alert("c"), &mark(5), 1);
        assert_eq!(saved(&o, 6), Start::At("c2".into()), "in flight holds too");
        assert_eq!(o.unsent(), 3);
        // Delivered: only the newer mail holds.
        assert_eq!(o.delivered(2), 2);
        assert_eq!(saved(&o, 6), Start::At("c5".into()));
        // Fails: it comes back, holding its own first entry.
        o.begin();
        o.add(alert("d"), &mark(7), 3);
        o.failed(4);
        assert_eq!(saved(&o, 8), Start::At("c5".into()));
        assert_eq!(o.pending().total, 2);
        o.begin();
        o.delivered(5000);
        assert!(o.is_idle());
        assert_eq!(saved(&o, 9), Start::After("c9".into()));
    }

    #[test]
    fn notices_hold_no_entry_and_are_mailed() {
        let mut o = outbox();
        o.notice("lost 5 entries".into(), 0);
        assert!(o.is_due(0));
        assert_eq!(saved(&o, 1), Start::After("c1".into()));
        assert_eq!(o.begin().notices().len(), 1);
        o.delivered(0);
        assert!(o.is_idle());
    }

    /// Two routes are two outboxes: each keeps its own window, cap and
    /// backoff, and the position is the oldest entry either holds.
    #[test]
    fn routes_are_independent_and_the_position_is_the_oldest_any_holds() {
        let policy = Policy {
            batch_ms: 1000,
            max_per_hour: 2,
            retry_ms: 5000,
        };
        let mut ops = Outbox::new(policy);
        let mut security = Outbox::new(policy);
        let position = |a: &Outbox, b: &Outbox, last: u64| {
            savable(a.holds().chain(b.holds()), Some(&mark(last)), &Start::Head).0
        };
        ops.add(alert("disk"), &mark(1), 0);
        security.add(alert("sudo"), &mark(2), 500);
        // Each window runs from its own first alert.
        assert_eq!(
            (ops.due_at_ms(), security.due_at_ms()),
            (Some(1000), Some(1500))
        );
        assert_eq!(position(&ops, &security, 3), Start::At("c1".into()));
        // ops is delivered; security's sendmail fails and backs off alone.
        ops.begin();
        ops.delivered(1000);
        assert_eq!(position(&ops, &security, 3), Start::At("c2".into()));
        security.begin();
        assert_eq!(security.failed(1500), 5000);
        assert_eq!(security.due_at_ms(), Some(6500));
        ops.add(alert("disk again"), &mark(4), 1600);
        assert_eq!(ops.due_at_ms(), Some(2600), "no backoff on ops");
        // The failed route still holds entry 2, older than ops' entry 4.
        assert_eq!(position(&ops, &security, 5), Start::At("c2".into()));
        ops.begin();
        ops.delivered(2600);
        // ops has spent its hourly cap of 2; security has not.
        ops.add(alert("third"), &mark(6), 2700);
        assert_eq!(ops.due_at_ms(), Some(1000 + 3_600_000));
        security.begin();
        security.delivered(6500);
        assert!(security.is_idle());
        security.add(alert("sudo again"), &mark(7), 6600);
        assert_eq!(security.due_at_ms(), Some(7600));
        assert_eq!(position(&ops, &security, 8), Start::At("c6".into()));
    }

    #[test]
    fn expect_mails_count_against_the_hourly_cap() {
        let mut o = Outbox::new(Policy {
            batch_ms: 0,
            max_per_hour: 2,
            retry_ms: 1000,
        });
        assert_eq!(o.rate_free_at_ms(), 0);
        o.count_sent(10);
        o.count_sent(20);
        assert_eq!(o.rate_free_at_ms(), 10 + 3_600_000);
        o.add(alert("a"), &mark(1), 30);
        assert_eq!(o.due_at_ms(), Some(10 + 3_600_000), "alerts wait too");
    }
}
