//! The pure core: does this entry alert, and what does its alert say?
//!
//! The engine sees an entry only through [`Fields`] and its [`Mark`], and
//! never touches the journal handle, the clock or the mail: the daemon
//! reads, the engine decides, the outbox mails. So the rules, thresholds,
//! the priority filter, logmon's own lines (see [`crate::identity`]) and
//! the naming of units are unit tested with a map of fields.
//!
//! Thresholds count in entry time (`__REALTIME_TIMESTAMP`), so catching up
//! on a backlog counts as the entries happened. Memory is bounded: per
//! rule at most [`MAX_KEYS`] `by` values are followed (the least recently
//! seen is forgotten beyond that, with the entries it held back), and per
//! value at most N-1 entries wait.

use crate::batch::{Alert, MAX_MESSAGE};
use crate::identity::OwnIdentity;
use crate::mail::RuleInfo;
use crate::plan::{Plan, Scratch};
use crate::position::Mark;
use crate::rules::{Fields, Rule, Rules, Threshold, Verdict};
use std::collections::VecDeque;

/// `by` values followed per threshold rule.
pub const MAX_KEYS: usize = 256;

/// Where the unit of an alert comes from, first present wins: systemd's
/// own lines about a unit name it in `UNIT`/`USER_UNIT` (they come from
/// init.scope), a core dump in `COREDUMP_UNIT`, an OOM kill in
/// `OBJECT_SYSTEMD_UNIT`.
pub const UNIT_FIELDS: [&str; 7] = [
    "UNIT",
    "USER_UNIT",
    "COREDUMP_UNIT",
    "OBJECT_SYSTEMD_UNIT",
    "_SYSTEMD_UNIT",
    "SYSLOG_IDENTIFIER",
    "_COMM",
];

pub struct Engine {
    pub rules: Rules,
    /// The rules arranged for speed, and its per-entry state.
    plan: Plan,
    scratch: Scratch,
    /// `priority = N`: PRIORITY 0..N, as `journalctl -p N`.
    pub priority: u8,
    /// logmon itself: its own lines (and its sendmail's) never alert.
    pub own: OwnIdentity,
    /// Per `[match]` rule: entries it held.
    pub hits: Vec<u64>,
    /// Per `[ignore]` rule: alerts it silenced.
    pub silenced: Vec<u64>,
    /// Per `[match]` rule with a threshold: its open windows.
    windows: Vec<Vec<Window>>,
    /// Per `[match]` rule: how mails show it.
    infos: Vec<RuleInfo>,
}

/// Recent entries of one `by` value of a threshold rule.
struct Window {
    key: Vec<u8>,
    /// Times of the latest entries (at most N): enough to tell whether N
    /// fall within the duration.
    times: VecDeque<u64>,
    /// Entries not alerted yet, waiting for the count (at most N-1).
    waiting: Vec<(Alert, Mark)>,
    /// When this window last saw an entry (eviction order).
    seen: u64,
}

impl Engine {
    pub fn new(rules: Rules, priority: u8, own: OwnIdentity) -> Engine {
        let mut engine = Engine {
            rules: Rules::default(),
            plan: Plan::new(&Rules::default()),
            scratch: Scratch::default(),
            priority,
            own,
            hits: Vec::new(),
            silenced: Vec::new(),
            windows: Vec::new(),
            infos: Vec::new(),
        };
        engine.set_rules(rules);
        engine
    }

    /// New rules (SIGHUP): counters start afresh. A threshold rule that
    /// counts as before (same conditions, threshold, `by` and `to`) keeps
    /// its windows and the entries they hold back: a reload must not
    /// forget N-1 of N (the saved position would pass them, so not even a
    /// restart would see them again).
    pub fn set_rules(&mut self, rules: Rules) {
        self.hits = vec![0; rules.matches.len()];
        self.silenced = vec![0; rules.ignores.len()];
        let mut old: Vec<(Option<String>, Vec<Window>)> = self
            .rules
            .matches
            .iter()
            .map(counting)
            .zip(std::mem::take(&mut self.windows))
            .collect();
        self.windows = rules
            .matches
            .iter()
            .enumerate()
            .map(|(rule, r)| {
                let Some(same) = counting(r) else {
                    return Vec::new();
                };
                let Some((sig, kept)) = old.iter_mut().find(|(s, _)| s.as_ref() == Some(&same))
                else {
                    return Vec::new();
                };
                *sig = None;
                let mut kept = std::mem::take(kept);
                for (alert, _) in kept.iter_mut().flat_map(|w| w.waiting.iter_mut()) {
                    alert.rule = rule;
                }
                kept
            })
            .collect();
        self.infos = rules
            .matches
            .iter()
            .map(|r| RuleInfo {
                label: r.label(),
                origin: r.origin.to_string(),
                tag: r.tag.clone(),
            })
            .collect();
        self.plan = Plan::new(&rules);
        self.rules = rules;
    }

    /// How mails show each `[match]` rule (an alert's `rule` indexes it).
    pub fn rule_infos(&self) -> &[RuleInfo] {
        &self.infos
    }

    /// The alerts this entry makes: none, its own, or (reaching a
    /// threshold) its own and those of the entries that waited for it.
    /// `seq` is the entry's place in this run's reading order, `usec` its
    /// time; its cursor is read (through `entry`) only if it alerts.
    pub fn on_entry(&mut self, entry: &mut dyn Fields, seq: u64, usec: u64) -> Vec<(Alert, Mark)> {
        let fired = match self.plan.verdict(&self.rules, entry, &mut self.scratch) {
            Verdict::Pass => return Vec::new(),
            Verdict::Ignored { matched, ignore } => {
                self.hits[matched] += 1;
                self.silenced[ignore] += 1;
                return Vec::new();
            }
            Verdict::Alert(fired) => fired,
        };
        // Read PRIORITY (and the own-line fields) only for hits: most
        // entries match no rule.
        if !self.important_enough(entry) || self.own.is_own(entry) {
            return Vec::new();
        }
        let mark = Mark {
            cursor: entry.cursor(),
            usec,
            seq,
        };
        let mut out = Vec::new();
        // One alert per route: the first rule of each that holds.
        for rule in fired {
            self.hits[rule] += 1;
            let alert = alert(entry, usec, rule);
            match self.rules.matches[rule].threshold {
                None => out.push((alert, mark.clone())),
                Some(t) => {
                    let key = self.key(entry, rule);
                    out.extend(self.count(rule, t, key, alert, &mark));
                }
            }
        }
        out
    }

    /// The `[expect]` rules this entry satisfies: any priority (SPEC), but
    /// never logmon's own lines (its log of a missing mail names the rule).
    /// Call after [`Engine::on_entry`] for the same entry: the plan reuses
    /// the values it read for it.
    pub fn expected(&mut self, entry: &mut dyn Fields) -> Vec<usize> {
        if self.rules.expects.is_empty() {
            return Vec::new();
        }
        let held = self.plan.expected(&self.rules, &mut self.scratch);
        if held.is_empty() || self.own.is_own(entry) {
            return Vec::new();
        }
        held
    }

    /// The route (recipient set) of a `[match]` rule's alerts.
    pub fn route_of(&self, rule: usize) -> usize {
        self.rules.matches.get(rule).map_or(0, |r| r.route)
    }

    /// Lines of context the rule wants before its alerts.
    pub fn context_of(&self, rule: usize) -> u8 {
        self.rules.matches.get(rule).map_or(0, |r| r.context)
    }

    /// Entries held back by a threshold window: the position must not
    /// pass them until they alert or their window closes.
    pub fn holds(&self) -> impl Iterator<Item = &Mark> {
        self.windows
            .iter()
            .flatten()
            .flat_map(|w| w.waiting.iter().map(|(_, m)| m))
    }

    /// The `by` value of the entry; by default the unit name an alert
    /// shows (SPEC "Version 2 details": systemd's own lines about a unit
    /// come from init.scope, so `_SYSTEMD_UNIT` would count every unit's
    /// restarts together).
    fn key(&self, entry: &mut dyn Fields, rule: usize) -> Vec<u8> {
        let field = match &self.rules.matches[rule].by {
            Some(field) => Some(field.as_str()),
            None => UNIT_FIELDS
                .iter()
                .copied()
                .find(|f| entry.field(f).is_some()),
        };
        field
            .and_then(|f| entry.field(f))
            .unwrap_or_default()
            .to_vec()
    }

    fn count(
        &mut self,
        rule: usize,
        t: Threshold,
        key: Vec<u8>,
        alert: Alert,
        mark: &Mark,
    ) -> Vec<(Alert, Mark)> {
        let now = mark.usec;
        let windows = &mut self.windows[rule];
        let i = match windows.iter().position(|w| w.key == key) {
            Some(i) => i,
            None => {
                if windows.len() >= MAX_KEYS {
                    let oldest = (0..windows.len()).min_by_key(|&i| windows[i].seen);
                    if let Some(o) = oldest {
                        windows.swap_remove(o);
                    }
                }
                windows.push(Window {
                    key,
                    times: VecDeque::new(),
                    waiting: Vec::new(),
                    seen: 0,
                });
                windows.len() - 1
            }
        };
        let w = &mut windows[i];
        w.seen = mark.seq;
        let start = now.saturating_sub(t.within_usec);
        // Entries that fell out of the window no longer count, nor wait.
        w.times.retain(|&x| x >= start);
        w.waiting.retain(|(a, _)| a.time_usec >= start);
        w.times.push_back(now);
        while w.times.len() > t.count as usize {
            w.times.pop_front();
        }
        if w.times.len() >= t.count as usize {
            let mut out = std::mem::take(&mut w.waiting);
            out.push((alert, mark.clone()));
            out
        } else {
            w.waiting.push((alert, mark.clone()));
            Vec::new()
        }
    }

    /// Checked in user space rather than as journal matches: measured on a
    /// 200k-entry journal, seven PRIORITY matches made the scan ~30 % slower
    /// than one field lookup. Like the matches, it passes no entry without
    /// a PRIORITY (unless every priority is wanted).
    fn important_enough(&self, entry: &mut dyn Fields) -> bool {
        let max = self.priority;
        max >= 7 || matches!(entry.field("PRIORITY"), Some(&[d]) if d >= b'0' && d <= b'0' + max)
    }
}

/// How a threshold rule counts, as text (None without a threshold): a
/// reloaded rule with the same text goes on with the old one's windows.
fn counting(rule: &Rule) -> Option<String> {
    let t = rule.threshold?;
    Some(format!(
        "{t:?} {:?} {:?} {:?}",
        rule.by, rule.to, rule.conditions
    ))
}

/// The unit an entry is about, as mails and `--stats` name it.
pub fn unit_name(entry: &mut dyn Fields) -> String {
    UNIT_FIELDS
        .iter()
        .find_map(|f| entry.field(f).map(lossy))
        .unwrap_or_default()
}

/// The mail line of an entry, for rule `rule`.
pub fn alert(entry: &mut dyn Fields, time_usec: u64, rule: usize) -> Alert {
    Alert {
        time_usec,
        unit: unit_name(entry),
        host: entry.field("_HOSTNAME").map(lossy).unwrap_or_default(),
        pid: entry.field("_PID").map(lossy).unwrap_or_default(),
        message: entry.field("MESSAGE").map(lossy).unwrap_or_default(),
        rule,
        message_id: entry.field("MESSAGE_ID").map(lossy),
        context: Vec::new(),
    }
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(&v[..v.len().min(MAX_MESSAGE)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::HashMap;
    use std::path::Path;

    struct Entry(HashMap<&'static str, Vec<u8>>);
    impl Fields for Entry {
        fn field(&mut self, name: &str) -> Option<&[u8]> {
            self.0.get(name).map(|v| v.as_slice())
        }
    }

    fn entry(fields: &[(&'static str, &str)]) -> Entry {
        Entry(
            fields
                .iter()
                .map(|(k, v)| (*k, v.as_bytes().to_vec()))
                .collect(),
        )
    }

    fn nobody() -> OwnIdentity {
        OwnIdentity {
            pid: "1".into(),
            unit: None,
            invocation_id: None,
            uid: None,
        }
    }

    fn engine_with(text: &str, own: OwnIdentity) -> Engine {
        let config = Config::parse(Path::new("t.conf"), text.as_bytes()).expect("config parses");
        Engine::new(config.rules, 6, own)
    }

    fn engine(own: OwnIdentity) -> Engine {
        engine_with("[match]\nMESSAGE ~ (?i)error\n", own)
    }

    fn one(e: &mut Engine, x: &mut Entry) -> Option<Alert> {
        let mut v = e.on_entry(x, 1, 5);
        assert!(v.len() <= 1);
        v.pop().map(|(a, _)| a)
    }

    #[test]
    fn alert_fields_and_unit_naming() {
        let mut e = engine(nobody());
        let mut x = entry(&[
            ("MESSAGE", "disk error"),
            ("PRIORITY", "3"),
            ("_PID", "7"),
            ("_HOSTNAME", "web1"),
            ("SYSLOG_IDENTIFIER", "kernel"),
            ("_COMM", "kworker"),
        ]);
        let a = one(&mut e, &mut x).expect("alerts");
        assert_eq!(
            (
                a.unit.as_str(),
                a.host.as_str(),
                a.pid.as_str(),
                a.time_usec
            ),
            ("kernel", "web1", "7", 5)
        );
        let mut y = entry(&[("MESSAGE", "error"), ("PRIORITY", "3"), ("_COMM", "x")]);
        assert_eq!(one(&mut e, &mut y).unwrap().unit, "x");
        // systemd's own line about a unit names that unit, not init.scope.
        let mut z = entry(&[
            ("MESSAGE", "x.service: error"),
            ("PRIORITY", "3"),
            ("UNIT", "x.service"),
            ("_SYSTEMD_UNIT", "init.scope"),
        ]);
        assert_eq!(one(&mut e, &mut z).unwrap().unit, "x.service");
        let mut c = entry(&[
            ("MESSAGE", "error: dumped core"),
            ("PRIORITY", "2"),
            ("COREDUMP_UNIT", "y.service"),
            ("_SYSTEMD_UNIT", "systemd-coredump@0.service"),
        ]);
        assert_eq!(one(&mut e, &mut c).unwrap().unit, "y.service");
    }

    #[test]
    fn priority_filter_passes_0_to_n_only() {
        let mut e = engine(nobody());
        for (p, alerts) in [("0", true), ("6", true), ("7", false), ("x", false)] {
            let mut x = entry(&[("MESSAGE", "error"), ("PRIORITY", p)]);
            assert_eq!(one(&mut e, &mut x).is_some(), alerts, "PRIORITY={p}");
        }
        let mut none = entry(&[("MESSAGE", "error")]);
        assert!(one(&mut e, &mut none).is_none());
    }

    #[test]
    fn own_lines_never_alert_by_pid_unit_or_invocation() {
        let own = OwnIdentity {
            pid: "100".into(),
            unit: Some("logmon.service".into()),
            invocation_id: Some("abc123".into()),
            uid: Some("997".into()),
        };
        let mut e = engine(own);
        let base = [("MESSAGE", "sendmail error"), ("PRIORITY", "3")];
        for extra in [
            ("_PID", "100"),
            ("_SYSTEMD_UNIT", "logmon.service"),
            ("_SYSTEMD_INVOCATION_ID", "abc123"),
            ("_UID", "997"),
        ] {
            let mut x = entry(&[base[0], base[1], extra]);
            assert!(one(&mut e, &mut x).is_none(), "{extra:?} is our own");
        }
        for other in [
            ("_PID", "1000"),
            ("_SYSTEMD_UNIT", "sshd.service"),
            ("_SYSTEMD_INVOCATION_ID", "def"),
            ("_UID", "0"),
        ] {
            let mut x = entry(&[base[0], base[1], other]);
            assert!(one(&mut e, &mut x).is_some(), "{other:?} is not ours");
        }
    }

    #[test]
    fn hits_and_silenced_are_counted_per_rule() {
        let mut e = engine_with(
            "[match]\nMESSAGE ~ error\n[match]\nMESSAGE ~ fail\n[ignore]\nMESSAGE ~ harmless\n",
            nobody(),
        );
        for m in ["error", "fail", "harmless fail", "ok", "error fail"] {
            e.on_entry(&mut entry(&[("MESSAGE", m), ("PRIORITY", "3")]), 1, 1);
        }
        assert_eq!(e.hits, [2, 2]);
        assert_eq!(e.silenced, [1]);
        let a = e
            .on_entry(&mut entry(&[("MESSAGE", "fail"), ("PRIORITY", "3")]), 2, 2)
            .pop()
            .unwrap();
        assert_eq!(a.0.rule, 1);
    }

    fn restart(unit: &'static str, usec: u64, seq: u64, e: &mut Engine) -> Vec<u64> {
        let mut x = entry(&[
            ("MESSAGE", "x.service: Scheduled restart job"),
            ("PRIORITY", "6"),
            ("UNIT", unit),
        ]);
        e.on_entry(&mut x, seq, usec)
            .into_iter()
            .map(|(_, m)| m.seq)
            .collect()
    }

    #[test]
    fn a_threshold_alerts_at_n_within_the_window_with_the_earlier_entries() {
        let mut e = engine_with(
            "[match]\nMESSAGE ~ Scheduled restart\nthreshold = 3 within 60s\nby = UNIT\n",
            nobody(),
        );
        let s = 1_000_000;
        assert!(restart("a", 0, 1, &mut e).is_empty());
        assert!(restart("a", 10 * s, 2, &mut e).is_empty());
        // Another unit counts apart.
        assert!(restart("b", 11 * s, 3, &mut e).is_empty());
        assert_eq!(e.holds().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(restart("a", 20 * s, 4, &mut e), [1, 2, 4]);
        // Each entry alerts once; the next one within the window alerts alone.
        assert_eq!(restart("a", 30 * s, 5, &mut e), [5]);
        assert_eq!(e.holds().map(|m| m.seq).collect::<Vec<_>>(), [3]);
        // Below the threshold within the window: b's first fell out of it.
        assert!(restart("b", 100 * s, 6, &mut e).is_empty());
        assert!(restart("b", 110 * s, 7, &mut e).is_empty());
        assert_eq!(e.holds().map(|m| m.seq).collect::<Vec<_>>(), [6, 7]);
        assert_eq!(restart("b", 115 * s, 8, &mut e), [6, 7, 8]);
    }

    #[test]
    fn a_reload_keeps_the_windows_of_rules_that_count_as_before() {
        let text = "[match]\nMESSAGE ~ Scheduled restart\nthreshold = 3 within 60s\nby = UNIT\n";
        let mut e = engine_with(text, nobody());
        let s = 1_000_000;
        assert!(restart("a", 0, 1, &mut e).is_empty());
        assert!(restart("a", s, 2, &mut e).is_empty());
        // The same rule, now second and named: it goes on counting.
        let before = "[match]\nname = other\nMESSAGE ~ unrelated\n";
        let reloaded = format!("{before}[match]\nname = loop\n{}", &text[8..]);
        e.set_rules(engine_with(&reloaded, nobody()).rules);
        assert_eq!(e.holds().map(|m| m.seq).collect::<Vec<_>>(), [1, 2]);
        let mut x = entry(&[
            ("MESSAGE", "x.service: Scheduled restart job"),
            ("PRIORITY", "6"),
            ("UNIT", "a"),
        ]);
        let alerts = e.on_entry(&mut x, 3, 2 * s);
        let got: Vec<(u64, usize)> = alerts.iter().map(|(a, m)| (m.seq, a.rule)).collect();
        // ... and the held alerts are the reloaded rule's (index 1 now).
        assert_eq!(got, [(1, 1), (2, 1), (3, 1)]);
        // A changed threshold counts afresh.
        assert!(restart("b", 3 * s, 4, &mut e).is_empty());
        e.set_rules(engine_with(&text.replace("3 within", "4 within"), nobody()).rules);
        assert_eq!(e.holds().count(), 0);
    }

    #[test]
    fn threshold_memory_is_bounded() {
        let mut e = engine_with(
            "[match]\nMESSAGE ~ Scheduled restart\nthreshold = 2 within 1h\nby = UNIT\n",
            nobody(),
        );
        let units: Vec<&'static str> = (0..MAX_KEYS * 3)
            .map(|i| &*Box::leak(format!("u{i}").into_boxed_str()))
            .collect();
        for (i, u) in units.iter().enumerate() {
            restart(u, i as u64, i as u64, &mut e);
        }
        assert_eq!(e.windows[0].len(), MAX_KEYS);
        assert_eq!(e.holds().count(), MAX_KEYS);
        // The newest keys are the ones still followed.
        let last = units[units.len() - 1];
        assert_eq!(restart(last, 10_000, 100_000, &mut e).len(), 2);
    }
}
