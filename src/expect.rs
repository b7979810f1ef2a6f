//! `[expect]`: entries that must keep coming (a nightly backup's "done", a
//! host's heartbeat), and the mails when they stop and come back.
//!
//! Pure, like the engine: the daemon hands in the entries that match an
//! `[expect]` rule and the time, and gets back [`Notice`]s to mail; it
//! reports each delivery back. Per rule (and per host for a `directory =`
//! source) a [`Clock`] keeps when a match was last seen; once `within` has
//! passed since, one `[ALERT] missing:` mail goes out, and the next match
//! makes one `[RESOLVED]` mail that threads under it.
//!
//! Restarts: the clocks are saved with the journal position (the state
//! file's `expect` lines). A missing mail counts as sent only once
//! sendmail took it, so a crash before that sends it again (at least once,
//! never silently dropped); a resolved mail holds its matching entry, so
//! the position stays before it until the mail is out and a restart reads
//! the entry again and resolves again.
//!
//! Time: the caller passes the entry's time while reading and the wall
//! clock once at the end of the journal, so a catch-up counts as the
//! entries happened and a live monitor notices silence as it happens.

use crate::batch::Alert;
use crate::position::Mark;
use crate::rules::{Rule, Test};

/// Hosts followed per `[expect]` rule of a `directory =` source; more are
/// left unwatched (said once in the log).
pub const MAX_HOSTS: usize = 256;

/// What the state file keeps of a clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// The rule's label (`name`, else FILE:LINE): its identity across
    /// restarts and reloads.
    pub rule: String,
    pub host: String,
    /// The last match, or when the watch began (no match seen yet).
    pub since_usec: u64,
    /// Whether `since_usec` is a match (else the start of the watch).
    pub seen: bool,
    /// The Message-ID of the delivered missing mail for the current
    /// absence, until its resolved mail is delivered.
    pub missing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `[ALERT] missing: NAME on HOST`.
    Missing,
    /// `[RESOLVED] NAME on HOST`, a reply to the missing mail `reply_to`.
    Resolved { reply_to: String },
}

/// A mail to send about an `[expect]` rule.
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: Kind,
    pub label: String,
    /// FILE:LINE of the rule.
    pub origin: String,
    pub tag: Option<String>,
    /// The rule's route (index in `Config::routes`).
    pub route: usize,
    pub within_usec: u64,
    pub host: String,
    pub message_id: String,
    /// Missing: the last match (or the start of the watch). Resolved: the
    /// last match before the absence.
    pub since_usec: u64,
    pub seen: bool,
    /// When the absence was noticed, or the time of the matching entry.
    pub at_usec: u64,
    /// Resolved: the entry that matched, shown in the mail.
    pub entry: Option<Alert>,
    /// Resolved: the matching entry, held until the mail is out.
    pub mark: Option<Mark>,
}

/// One `[expect]` rule as the clocks need it.
struct Watch {
    label: String,
    origin: String,
    tag: Option<String>,
    route: usize,
    within_usec: u64,
    /// A `_HOSTNAME == X` condition: in a directory, that host is expected
    /// from the start, before any match.
    pinned_host: Option<String>,
}

/// A clock and what is in flight for it.
struct Live {
    clock: Clock,
    /// The missing mail made but not yet delivered.
    missing_queued: Option<String>,
    /// A resolved mail is made but not yet delivered.
    resolving: bool,
    /// While resolving: the clock as it was before the match that ended
    /// the absence. That is what the state file keeps until the resolved
    /// mail is out, so a restart, reading the held entry again, finds the
    /// absence again (and mails its missing mail if that was not out yet).
    before: Option<(u64, bool)>,
}

/// Host names kept per clock at most (a journal field can be 64 KiB; the
/// state file holds every clock).
const MAX_HOST: usize = 255;

pub struct Expects {
    watches: Vec<Watch>,
    clocks: Vec<Live>,
    /// One clock per `_HOSTNAME` (a `directory =` source), else one per
    /// rule named after this machine.
    per_host: bool,
    local_host: String,
    /// Message-IDs: `<logmon.TIME.PID.N@HOST>`.
    id_seed: String,
    ids: u64,
    /// Rules whose host limit was hit (logged once).
    full: Vec<String>,
    /// [`Expects::next_due_usec`], kept current: it is asked per entry.
    due: Option<u64>,
}

impl Expects {
    /// `per_host`: a `directory =` source. `id_seed` makes Message-IDs
    /// unique across runs (the start time and pid).
    pub fn new(per_host: bool, local_host: String, id_seed: String) -> Expects {
        Expects {
            watches: Vec::new(),
            clocks: Vec::new(),
            per_host,
            local_host,
            id_seed,
            ids: 0,
            full: Vec::new(),
            due: None,
        }
    }

    /// The clocks of the state file, before the first [`set_rules`]; those
    /// of rules no longer configured are dropped there.
    ///
    /// [`set_rules`]: Expects::set_rules
    pub fn restore(&mut self, saved: Vec<Clock>) {
        self.clocks = saved
            .into_iter()
            .map(|clock| Live {
                clock,
                missing_queued: None,
                resolving: false,
                before: None,
            })
            .collect();
        self.refresh();
    }

    /// The `[expect]` rules of a (new) config. A rule seen for the first
    /// time starts its clock at `now_usec`: no mail about the time before
    /// logmon watched. Clocks of known rules go on (kept by label).
    pub fn set_rules(&mut self, rules: &[Rule], now_usec: u64) {
        self.watches = rules
            .iter()
            .map(|r| Watch {
                label: r.label(),
                origin: r.origin.to_string(),
                tag: r.tag.clone(),
                route: r.route,
                within_usec: r.within_usec.unwrap_or(0),
                pinned_host: pinned_host(r),
            })
            .collect();
        let (watches, per_host, local) = (&self.watches, self.per_host, &self.local_host);
        let kept = |l: &Live| match watches.iter().find(|w| w.label == l.clock.rule) {
            None => false,
            // A heartbeat pinned to one host: other hosts' clocks are of
            // an earlier version of the rule and could never resolve.
            Some(w) if per_host => w.pinned_host.as_ref().is_none_or(|h| *h == l.clock.host),
            Some(_) => true,
        };
        for l in self.clocks.iter().filter(|l| !kept(l)) {
            if l.clock.missing.is_some() {
                crate::log::log!(
                    crate::log::NOTICE,
                    "[expect] {} on {} is no longer configured (renamed, moved or removed); its open absence is forgotten, no resolved mail will follow",
                    l.clock.rule,
                    l.clock.host
                );
            }
        }
        self.clocks.retain(|l| kept(l));
        if !per_host {
            // One clock per rule, named after this machine, also when its
            // name changed since the state file was written.
            let current: Vec<String> = self
                .clocks
                .iter()
                .filter(|l| l.clock.host == *local)
                .map(|l| l.clock.rule.clone())
                .collect();
            let mut seen: Vec<String> = Vec::new();
            self.clocks.retain(|l| {
                let keep = if current.contains(&l.clock.rule) {
                    l.clock.host == *local
                } else {
                    !seen.contains(&l.clock.rule)
                };
                seen.push(l.clock.rule.clone());
                keep
            });
            for l in &mut self.clocks {
                l.clock.host.clone_from(local);
            }
        }
        for i in 0..self.watches.len() {
            let host = match (&self.watches[i].pinned_host, self.per_host) {
                (_, false) => Some(self.local_host.clone()),
                (Some(h), true) => Some(h.clone()),
                (None, true) => None,
            };
            if let Some(host) = host {
                if self.find(i, &host).is_none() {
                    self.start(i, host, now_usec, false);
                }
            }
        }
        self.refresh();
    }

    /// What the state file keeps.
    pub fn clocks(&self) -> Vec<Clock> {
        self.clocks
            .iter()
            .map(|l| {
                let mut c = l.clock.clone();
                if let Some((since, seen)) = l.before {
                    (c.since_usec, c.seen) = (since, seen);
                }
                c
            })
            .collect()
    }

    /// An entry at `usec` matched `[expect]` rule `rule`; `host` is its
    /// `_HOSTNAME` (used for a directory source), `entry` its mail line
    /// and `mark` its place. A resolved mail if the rule was missing.
    pub fn matched(
        &mut self,
        rule: usize,
        host: &str,
        usec: u64,
        entry: impl FnOnce() -> (Alert, Mark),
    ) -> Option<Notice> {
        if rule >= self.watches.len() {
            return None;
        }
        let host = if !self.per_host {
            self.local_host.clone()
        } else if host.is_empty() {
            "-".to_string()
        } else {
            let mut end = host.len().min(MAX_HOST);
            while !host.is_char_boundary(end) {
                end -= 1;
            }
            host[..end].to_string()
        };
        let i = match self.find(rule, &host) {
            Some(i) => i,
            None => self.start(rule, host.clone(), usec, true)?,
        };
        let live = &mut self.clocks[i];
        let before = live.clock.since_usec;
        let was_seen = live.clock.seen;
        live.clock.since_usec = before.max(usec);
        live.clock.seen = true;
        let reply_to = match (&live.missing_queued, &live.clock.missing) {
            _ if live.resolving => None,
            (Some(id), _) | (None, Some(id)) => Some(id.clone()),
            (None, None) => None,
        };
        let Some(reply_to) = reply_to else {
            self.refresh();
            return None;
        };
        live.resolving = true;
        live.before = Some((before, was_seen));
        let (alert, mark) = entry();
        let mut notice = self.notice(rule, host, Kind::Resolved { reply_to }, usec);
        notice.since_usec = before;
        notice.seen = was_seen;
        notice.entry = Some(alert);
        notice.mark = Some(mark);
        self.refresh();
        Some(notice)
    }

    /// The missing mails due at `now_usec`: clocks with no match for
    /// `within` and no missing mail for this absence yet.
    pub fn tick(&mut self, now_usec: u64) -> Vec<Notice> {
        let mut out = Vec::new();
        if self.due.is_none_or(|d| now_usec < d) {
            return out;
        }
        for i in 0..self.clocks.len() {
            let Some(rule) = self.rule_of(i) else {
                continue;
            };
            let live = &self.clocks[i];
            let quiet = live.clock.missing.is_none() && live.missing_queued.is_none();
            let due = live
                .clock
                .since_usec
                .saturating_add(self.watches[rule].within_usec);
            if quiet && !live.resolving && now_usec >= due {
                let (host, since, seen) = (
                    live.clock.host.clone(),
                    live.clock.since_usec,
                    live.clock.seen,
                );
                let mut notice = self.notice(rule, host, Kind::Missing, now_usec);
                notice.since_usec = since;
                notice.seen = seen;
                self.clocks[i].missing_queued = Some(notice.message_id.clone());
                out.push(notice);
            }
        }
        self.refresh();
        out
    }

    /// When [`tick`](Expects::tick) will next have a missing mail to make
    /// (µs, same clock as its argument), if ever.
    pub fn next_due_usec(&self) -> Option<u64> {
        self.due
    }

    fn refresh(&mut self) {
        self.due = (0..self.clocks.len())
            .filter_map(|i| {
                let rule = self.rule_of(i)?;
                let live = &self.clocks[i];
                let quiet = live.clock.missing.is_none()
                    && live.missing_queued.is_none()
                    && !live.resolving;
                quiet.then(|| {
                    live.clock
                        .since_usec
                        .saturating_add(self.watches[rule].within_usec)
                })
            })
            .min();
    }

    /// Sendmail took `notice`.
    pub fn delivered(&mut self, notice: &Notice) {
        let Some(i) = self
            .clocks
            .iter()
            .position(|l| l.clock.rule == notice.label && l.clock.host == notice.host)
        else {
            return;
        };
        let live = &mut self.clocks[i];
        match &notice.kind {
            Kind::Missing => {
                if live.missing_queued.as_deref() == Some(&notice.message_id) {
                    live.missing_queued = None;
                    live.clock.missing = Some(notice.message_id.clone());
                }
            }
            Kind::Resolved { reply_to } => {
                live.resolving = false;
                live.before = None;
                if live.clock.missing.as_deref() == Some(reply_to) {
                    live.clock.missing = None;
                }
                if live.missing_queued.as_deref() == Some(reply_to) {
                    live.missing_queued = None;
                }
            }
        }
        self.refresh();
    }

    fn rule_of(&self, clock: usize) -> Option<usize> {
        let label = &self.clocks[clock].clock.rule;
        self.watches.iter().position(|w| &w.label == label)
    }

    fn find(&self, rule: usize, host: &str) -> Option<usize> {
        let label = &self.watches[rule].label;
        self.clocks
            .iter()
            .position(|l| &l.clock.rule == label && l.clock.host == host)
    }

    /// A new clock for `rule` on `host`; `None` past [`MAX_HOSTS`].
    fn start(&mut self, rule: usize, host: String, usec: u64, seen: bool) -> Option<usize> {
        let label = self.watches[rule].label.clone();
        let hosts = self.clocks.iter().filter(|l| l.clock.rule == label).count();
        if hosts >= MAX_HOSTS {
            if !self.full.contains(&label) {
                crate::log::log!(
                    crate::log::WARNING,
                    "[expect] {label}: more than {MAX_HOSTS} hosts; {host} and later ones are not watched"
                );
                self.full.push(label);
            }
            return None;
        }
        self.clocks.push(Live {
            clock: Clock {
                rule: label,
                host,
                since_usec: usec,
                seen,
                missing: None,
            },
            missing_queued: None,
            resolving: false,
            before: None,
        });
        Some(self.clocks.len() - 1)
    }

    fn notice(&mut self, rule: usize, host: String, kind: Kind, at_usec: u64) -> Notice {
        self.ids += 1;
        let w = &self.watches[rule];
        Notice {
            kind,
            label: w.label.clone(),
            origin: w.origin.clone(),
            tag: w.tag.clone(),
            route: w.route,
            within_usec: w.within_usec,
            host,
            message_id: format!(
                "<logmon.{}.{}@{}>",
                self.id_seed,
                self.ids,
                id_host(&self.local_host)
            ),
            since_usec: 0,
            seen: false,
            at_usec,
            entry: None,
            mark: None,
        }
    }
}

/// The host of a `_HOSTNAME == X` condition.
fn pinned_host(rule: &Rule) -> Option<String> {
    rule.conditions.iter().find_map(|c| match &c.test {
        Test::Equals(v) if c.field == "_HOSTNAME" => Some(String::from_utf8_lossy(v).into_owned()),
        _ => None,
    })
}

/// A host name usable right of the `@` of a Message-ID (dot-atom text).
fn id_host(host: &str) -> String {
    let clean: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .collect();
    let clean = clean.trim_matches('.');
    if clean.is_empty() || clean.contains("..") {
        "localhost".to_string()
    } else {
        clean.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Condition, Origin};

    const S: u64 = 1_000_000;
    const H: u64 = 3600 * S;

    fn rule(name: &str, within: u64, host: Option<&str>) -> Rule {
        let mut conditions = vec![Condition {
            field: "MESSAGE".into(),
            test: Test::Contains(b"backup done".to_vec()),
        }];
        if let Some(h) = host {
            conditions.push(Condition {
                field: "_HOSTNAME".into(),
                test: Test::Equals(h.as_bytes().to_vec()),
            });
        }
        let mut r = Rule::new(
            Origin {
                file: "t.conf".into(),
                line: 3,
            },
            conditions,
        );
        r.name = Some(name.into());
        r.within_usec = Some(within);
        r
    }

    fn entry(usec: u64) -> impl FnOnce() -> (Alert, Mark) {
        move || {
            (
                Alert {
                    time_usec: usec,
                    host: "h".into(),
                    unit: "backup.service".into(),
                    pid: "1".into(),
                    message: "backup done".into(),
                    rule: 0,
                    message_id: None,
                    context: Vec::new(),
                },
                Mark {
                    cursor: format!("c{usec}"),
                    usec,
                    seq: usec,
                },
            )
        }
    }

    /// A new run on `host` with the clocks a state file kept.
    fn restarted(host: &str, saved: Vec<Clock>, rules: &[Rule], now: u64) -> Expects {
        let mut e = Expects::new(false, host.into(), "3.4".into());
        e.restore(saved);
        e.set_rules(rules, now);
        e
    }

    fn local(rules: &[Rule], now: u64) -> Expects {
        let mut e = Expects::new(false, "web1".into(), "1.2".into());
        e.set_rules(rules, now);
        e
    }

    #[test]
    fn the_clock_starts_at_the_first_run_and_misses_once() {
        let mut e = local(&[rule("backup", 26 * H, None)], 100 * H);
        assert!(e.tick(100 * H + 25 * H).is_empty());
        assert_eq!(e.next_due_usec(), Some(126 * H));
        let missing = e.tick(126 * H);
        assert_eq!(missing.len(), 1);
        let m = &missing[0];
        assert_eq!((m.kind.clone(), m.host.as_str()), (Kind::Missing, "web1"));
        assert!(!m.seen, "no match seen yet: the watch started then");
        assert_eq!(m.since_usec, 100 * H);
        // Once per absence, delivered or not.
        assert!(e.tick(127 * H).is_empty());
        e.delivered(m);
        assert!(e.tick(200 * H).is_empty());
        assert_eq!(e.next_due_usec(), None);
        assert_eq!(
            e.clocks()[0].missing.as_deref(),
            Some(m.message_id.as_str())
        );
    }

    #[test]
    fn a_match_resolves_in_reply_to_the_missing_mail() {
        let mut e = local(&[rule("backup", 10 * S, None)], 0);
        assert!(
            e.matched(0, "x", 5 * S, entry(5 * S)).is_none(),
            "not missing"
        );
        assert!(e.tick(14 * S).is_empty(), "within 10 s of the match");
        let m = e.tick(15 * S).remove(0);
        e.delivered(&m);
        let r = e.matched(0, "x", 20 * S, entry(20 * S)).expect("resolved");
        assert_eq!(
            r.kind,
            Kind::Resolved {
                reply_to: m.message_id.clone()
            }
        );
        assert_ne!(r.message_id, m.message_id);
        assert_eq!((r.since_usec, r.at_usec), (5 * S, 20 * S));
        assert_eq!(r.mark.as_ref().map(|m| m.seq), Some(20 * S));
        // A second match before the resolved mail is out: no second mail.
        assert!(e.matched(0, "x", 21 * S, entry(21 * S)).is_none());
        // Undelivered, the absence is still on record (a restart resolves).
        assert!(e.clocks()[0].missing.is_some());
        assert!(e.tick(40 * S).is_empty(), "no missing while resolving");
        e.delivered(&r);
        assert_eq!(e.clocks()[0].missing, None);
        assert_eq!(e.clocks()[0].since_usec, 21 * S);
        assert_eq!(e.tick(31 * S).len(), 1, "missing again 10 s after the last");
    }

    #[test]
    fn a_match_while_the_missing_mail_is_out_resolves_after_it() {
        let mut e = local(&[rule("backup", 10 * S, None)], 0);
        let m = e.tick(10 * S).remove(0);
        let r = e.matched(0, "x", 11 * S, entry(11 * S)).expect("resolved");
        assert_eq!(
            r.kind,
            Kind::Resolved {
                reply_to: m.message_id.clone()
            }
        );
        e.delivered(&m);
        e.delivered(&r);
        assert_eq!(e.clocks()[0].missing, None);
        assert!(e.tick(15 * S).is_empty());
    }

    #[test]
    fn an_undelivered_missing_mail_is_made_again_after_a_restart() {
        let mut e = local(&[rule("backup", 10 * S, None)], 0);
        assert_eq!(e.tick(10 * S).len(), 1);
        let saved = e.clocks();
        let mut again = Expects::new(false, "web1".into(), "3.4".into());
        again.restore(saved);
        again.set_rules(&[rule("backup", 10 * S, None)], 50 * S);
        assert_eq!(again.tick(51 * S).len(), 1, "the clock kept its start");
    }

    #[test]
    fn a_delivered_missing_mail_survives_a_restart_and_is_resolved_once() {
        let rules = [rule("backup", 10 * S, None)];
        let mut e = local(&rules, 0);
        let m = e.tick(10 * S).remove(0);
        e.delivered(&m);
        let mut again = restarted("web1", e.clocks(), &rules, 50 * S);
        assert!(again.tick(60 * S).is_empty(), "no second missing mail");
        let r = again
            .matched(0, "x", 61 * S, entry(61 * S))
            .expect("resolves");
        assert_eq!(
            r.kind,
            Kind::Resolved {
                reply_to: m.message_id
            }
        );
    }

    #[test]
    fn catching_up_counts_in_entry_time() {
        // Entries every 8 s with within = 10 s: read at once, much later
        // in wall time, nothing is missing, as long as the caller passes
        // entry times while reading.
        let mut e = local(&[rule("backup", 10 * S, None)], 0);
        for t in (8..100).step_by(8) {
            assert!(e.tick(t * S).is_empty(), "at {t}");
            assert!(e.matched(0, "x", t * S, entry(t * S)).is_none());
        }
        assert!(e.tick(105 * S).is_empty());
        assert_eq!(e.tick(106 * S).len(), 1, "10 s after the last at 96 s");
    }

    #[test]
    fn a_directory_has_a_clock_per_host_seen() {
        let rules = [
            rule("backup", 10 * S, None),
            rule("db", 10 * S, Some("db1")),
        ];
        let mut e = Expects::new(true, "logs".into(), "1".into());
        e.set_rules(&rules, 0);
        // Only the pinned host is expected before any match.
        let hosts: Vec<String> = e.clocks().into_iter().map(|c| c.host).collect();
        assert_eq!(hosts, ["db1"]);
        assert!(e.matched(0, "web1", S, entry(S)).is_none());
        assert!(e.matched(0, "web2", 5 * S, entry(5 * S)).is_none());
        let mut due: Vec<(String, String)> = e
            .tick(11 * S)
            .into_iter()
            .map(|n| (n.label, n.host))
            .collect();
        due.sort();
        assert_eq!(
            due,
            [
                ("backup".into(), "web1".into()),
                ("db".into(), "db1".into())
            ]
        );
        let due: Vec<String> = e.tick(15 * S).into_iter().map(|n| n.host).collect();
        assert_eq!(due, ["web2"]);
    }

    #[test]
    fn hosts_per_rule_are_bounded() {
        let mut e = Expects::new(true, "logs".into(), "1".into());
        e.set_rules(&[rule("backup", 10 * S, None)], 0);
        for h in 0..MAX_HOSTS + 10 {
            e.matched(0, &format!("h{h}"), S, entry(S));
        }
        assert_eq!(e.clocks().len(), MAX_HOSTS);
    }

    #[test]
    fn a_reload_keeps_known_clocks_and_drops_removed_rules() {
        let mut e = local(&[rule("a", 10 * S, None), rule("b", 10 * S, None)], 0);
        e.matched(1, "x", 5 * S, entry(5 * S));
        e.set_rules(&[rule("b", 10 * S, None), rule("c", 10 * S, None)], 7 * S);
        let clocks: Vec<(String, u64)> = e
            .clocks()
            .into_iter()
            .map(|c| (c.rule, c.since_usec))
            .collect();
        assert_eq!(clocks, [("b".into(), 5 * S), ("c".into(), 7 * S)]);
        // A new within applies to the kept clock.
        e.set_rules(&[rule("b", 20 * S, None)], 8 * S);
        assert!(e.tick(24 * S).is_empty());
        assert_eq!(e.tick(25 * S).len(), 1);
    }

    #[test]
    fn message_ids_are_unique_and_well_formed() {
        let mut e = Expects::new(false, "we b..1".into(), "9.9".into());
        e.set_rules(&[rule("a", S, None), rule("b", S, None)], 0);
        let n = e.tick(S);
        assert_eq!(n.len(), 2);
        assert_ne!(n[0].message_id, n[1].message_id);
        assert_eq!(n[0].message_id, "<logmon.9.9.1@localhost>");
        assert_eq!(id_host("web1.example.org"), "web1.example.org");
    }

    #[test]
    fn a_restart_while_resolving_finds_the_absence_again() {
        let rules = [rule("backup", 10 * S, None)];
        let mut e = local(&rules, 0);
        // Missing at 10 s, sendmail failing: not delivered.
        let m = e.tick(10 * S).remove(0);
        // The heartbeat returns at 50 s; its resolved mail waits too.
        let r = e.matched(0, "x", 50 * S, entry(50 * S)).expect("resolved");
        // Saved now, the clock is as before the match.
        let saved = e.clocks();
        assert_eq!((saved[0].since_usec, saved[0].missing.clone()), (0, None));
        // Restart, reading again from the held entry: missing, resolved.
        let mut again = restarted("web1", saved, &rules, 60 * S);
        let missing = again.tick(50 * S);
        assert_eq!(missing.len(), 1, "the outage is reported after all");
        let resolved = again.matched(0, "x", 50 * S, entry(50 * S));
        assert!(resolved.is_some());
        // Delivered both before the restart: the clock moves on.
        e.delivered(&m);
        e.delivered(&r);
        assert_eq!(e.clocks()[0].since_usec, 50 * S);
        assert_eq!(e.clocks()[0].missing, None);
    }

    #[test]
    fn a_delivered_missing_mail_stays_on_record_while_resolving() {
        let rules = [rule("backup", 10 * S, None)];
        let mut e = local(&rules, 0);
        let m = e.tick(10 * S).remove(0);
        e.delivered(&m);
        e.matched(0, "x", 50 * S, entry(50 * S)).expect("resolved");
        let saved = e.clocks();
        assert_eq!(saved[0].missing.as_deref(), Some(m.message_id.as_str()));
        let mut again = restarted("web1", saved, &rules, 60 * S);
        assert!(again.tick(50 * S).is_empty(), "no second missing mail");
        let r = again
            .matched(0, "x", 50 * S, entry(50 * S))
            .expect("resolves");
        assert_eq!(
            r.kind,
            Kind::Resolved {
                reply_to: m.message_id
            }
        );
    }

    #[test]
    fn a_renamed_machine_keeps_one_clock_under_its_new_name() {
        let rules = [rule("backup", 10 * S, None)];
        let mut e = local(&rules, 0);
        e.matched(0, "x", 5 * S, entry(5 * S));
        let mut renamed = restarted("newname", e.clocks(), &rules, 7 * S);
        let clocks = renamed.clocks();
        assert_eq!(clocks.len(), 1);
        assert_eq!(
            (clocks[0].host.as_str(), clocks[0].since_usec),
            ("newname", 5 * S)
        );
        renamed.matched(0, "x", 12 * S, entry(12 * S));
        assert!(
            renamed.tick(20 * S).is_empty(),
            "matches keep the one clock alive"
        );
    }

    #[test]
    fn a_pinned_host_drops_the_clocks_of_other_hosts() {
        let mut e = Expects::new(true, "logs".into(), "1".into());
        e.set_rules(&[rule("db", 10 * S, Some("db1"))], 0);
        e.set_rules(&[rule("db", 10 * S, Some("db2"))], S);
        let hosts: Vec<String> = e.clocks().into_iter().map(|c| c.host).collect();
        assert_eq!(hosts, ["db2"]);
    }

    #[test]
    fn long_and_empty_host_names_are_bounded() {
        let mut e = Expects::new(true, "logs".into(), "1".into());
        e.set_rules(&[rule("backup", 10 * S, None)], 0);
        e.matched(0, &"é".repeat(1000), S, entry(S));
        e.matched(0, "", S, entry(S));
        let hosts: Vec<usize> = e.clocks().iter().map(|c| c.host.len()).collect();
        assert_eq!(hosts, [254, 1]);
        assert_eq!(e.clocks()[1].host, "-");
        // A time near the end of u64 neither panics nor wraps.
        let mut e = Expects::new(true, "logs".into(), "1".into());
        e.set_rules(&[rule("backup", 10 * S, None)], 0);
        e.matched(0, "far", u64::MAX - 1, entry(u64::MAX - 1));
        assert!(e.tick(u64::MAX - 1).is_empty());
        assert_eq!(e.next_due_usec(), Some(u64::MAX));
    }
}
