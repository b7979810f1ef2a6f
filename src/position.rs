//! Where reading starts, and where a restart may resume: derived, not
//! juggled.
//!
//! Whoever still needs an entry (a pending alert, a mail being delivered)
//! holds its [`Mark`]. The position that may be saved is "at the oldest
//! held entry", else "after the last entry read", else where this run
//! started ([`savable`]). Resume at start and a reopen of the journal both
//! go through the same [`Start`] and the reader's one seek function.
//!
//! [`Gaps`] notices entries that vanished before they were read: journald
//! numbers the entries it writes (the `i=` of a cursor, per `s=` sequence
//! id), so a jump in that number between two entries read one after the
//! other means entries were vacuumed, rotated away or are in a file that
//! could not be opened.

/// An entry someone still needs: its cursor, its time and its place in
/// this run's reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub cursor: String,
    pub usec: u64,
    /// Entries read before it in this run; orders marks without parsing
    /// cursors (entries of several files interleave).
    pub seq: u64,
}

/// Where to start reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The oldest entry.
    Head,
    /// Only entries after the current last one.
    Tail,
    /// The first entry at or after this realtime (µs since the epoch).
    Time(u64),
    /// After the entry this cursor names: it was handled.
    After(String),
    /// At the entry this cursor names, itself included: it was not.
    At(String),
}

/// The position a restart must resume from: at the oldest held entry, else
/// after the last entry read, else where this run started; with the time
/// of the entry it names, when there is one.
pub fn savable<'a>(
    holds: impl IntoIterator<Item = &'a Mark>,
    last_read: Option<&Mark>,
    started: &Start,
) -> (Start, Option<u64>) {
    if let Some(oldest) = holds.into_iter().min_by_key(|m| m.seq) {
        return (Start::At(oldest.cursor.clone()), Some(oldest.usec));
    }
    match last_read {
        Some(m) => (Start::After(m.cursor.clone()), Some(m.usec)),
        None => (started.clone(), None),
    }
}

/// The sequence id and number of a cursor (`s=ID;i=HEX;...`).
pub fn seqnum(cursor: &str) -> Option<(&str, u64)> {
    let mut id = None;
    let mut num = None;
    for part in cursor.split(';') {
        if let Some(v) = part.strip_prefix("s=") {
            id = Some(v);
        } else if let Some(v) = part.strip_prefix("i=") {
            num = u64::from_str_radix(v, 16).ok();
        }
    }
    Some((id?, num?))
}

/// Entries that vanished between two that were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub count: u64,
    /// Time of the last entry read before the gap, if known.
    pub after_usec: Option<u64>,
    /// Time of the first entry read after it.
    pub before_usec: u64,
}

/// Sequence ids followed at once; a journal-remote directory holds one per
/// sending journald. Beyond this the oldest is forgotten (no false alarm,
/// only a gap that may go unseen).
const MAX_SEQUENCES: usize = 64;

#[derive(Debug, Default)]
pub struct Gaps {
    /// Per sequence id: the id, the last number read, its time, and when
    /// it was last seen (for eviction). A few entries: a Vec is enough.
    last: Vec<(String, u64, Option<u64>, u64)>,
    clock: u64,
}

impl Gaps {
    /// Expect the entry after `cursor` next (a resume after it), or
    /// `cursor` itself when `inclusive`.
    pub fn expect_after(&mut self, cursor: &str, usec: Option<u64>, inclusive: bool) {
        if let Some((id, num)) = seqnum(cursor) {
            let num = if inclusive {
                num.saturating_sub(1)
            } else {
                num
            };
            self.remember(id, num, usec);
        }
    }

    /// Note an entry read; a gap if entries of its sequence were skipped.
    pub fn observe(&mut self, cursor: &str, usec: u64) -> Option<Gap> {
        let (id, num) = seqnum(cursor)?;
        let prev = self.last.iter().find(|s| s.0 == id).map(|s| (s.1, s.2));
        let gap = match prev {
            Some((prev, prev_usec)) if num > prev + 1 => Some(Gap {
                count: num - prev - 1,
                after_usec: prev_usec,
                before_usec: usec,
            }),
            _ => None,
        };
        // Never step back: entries of one sequence come in order, and an
        // older number would make the next entry look like a gap.
        if prev.is_none_or(|(prev, _)| num > prev) {
            self.remember(id, num, Some(usec));
        }
        gap
    }

    fn remember(&mut self, id: &str, num: u64, usec: Option<u64>) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(s) = self.last.iter_mut().find(|s| s.0 == id) {
            (s.1, s.2, s.3) = (num, usec, clock);
            return;
        }
        if self.last.len() >= MAX_SEQUENCES {
            if let Some(oldest) = (0..self.last.len()).min_by_key(|&i| self.last[i].3) {
                self.last.swap_remove(oldest);
            }
        }
        self.last.push((id.to_string(), num, usec, clock));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(i: u64, seq: u64) -> Mark {
        Mark {
            cursor: cursor("aa", i),
            usec: i * 10,
            seq,
        }
    }

    fn cursor(id: &str, i: u64) -> String {
        format!("s={id};i={i:x};b=bb;m=1;t=2;x=3")
    }

    #[test]
    fn savable_is_the_oldest_hold_else_after_the_last_read_else_the_start() {
        let started = Start::Time(5);
        assert_eq!(savable([], None, &started), (started.clone(), None));
        let last = mark(9, 9);
        assert_eq!(
            savable([], Some(&last), &started),
            (Start::After(last.cursor.clone()), Some(90))
        );
        // Holds in any order: the one read first wins, whatever its cursor.
        let (a, b) = (mark(7, 3), mark(2, 5));
        assert_eq!(
            savable([&b, &a], Some(&last), &started),
            (Start::At(a.cursor.clone()), Some(70))
        );
        // A hold counts even before anything else was read.
        assert_eq!(
            savable([&b], None, &Start::Tail),
            (Start::At(b.cursor), Some(20))
        );
    }

    #[test]
    fn seqnum_parses_cursors() {
        assert_eq!(seqnum(&cursor("ab", 0x1f)), Some(("ab", 0x1f)));
        assert_eq!(seqnum("s=ab;b=x"), None);
        assert_eq!(seqnum("garbage"), None);
        assert_eq!(seqnum("s=ab;i=zz"), None);
    }

    #[test]
    fn gaps_are_counted_per_sequence() {
        let mut g = Gaps::default();
        assert_eq!(g.observe(&cursor("a", 1), 10), None);
        assert_eq!(g.observe(&cursor("a", 2), 20), None);
        // Another journald's sequence interleaves without a false alarm.
        assert_eq!(g.observe(&cursor("b", 100), 21), None);
        assert_eq!(
            g.observe(&cursor("a", 6), 60),
            Some(Gap {
                count: 3,
                after_usec: Some(20),
                before_usec: 60
            })
        );
        assert_eq!(g.observe(&cursor("b", 101), 61), None);
        // An entry from the past (a late file) neither alarms nor resets.
        assert_eq!(g.observe(&cursor("a", 4), 40), None);
        assert_eq!(g.observe(&cursor("a", 7), 70), None);
    }

    #[test]
    fn a_vacuumed_resume_point_is_a_gap() {
        let mut g = Gaps::default();
        g.expect_after(&cursor("a", 10), Some(100), false);
        assert_eq!(g.observe(&cursor("a", 11), 110), None);
        let mut g = Gaps::default();
        g.expect_after(&cursor("a", 10), Some(100), true);
        assert_eq!(g.observe(&cursor("a", 10), 100), None);
        let mut g = Gaps::default();
        g.expect_after(&cursor("a", 10), None, false);
        let gap = g.observe(&cursor("a", 50), 500).expect("vacuumed");
        assert_eq!((gap.count, gap.after_usec), (39, None));
    }

    #[test]
    fn sequences_are_bounded() {
        let mut g = Gaps::default();
        for i in 0..1000 {
            g.observe(&cursor(&format!("id{i}"), 1), i);
        }
        assert!(g.last.len() <= MAX_SEQUENCES);
        // The newest are still followed.
        assert!(g.observe(&cursor("id999", 5), 2000).is_some());
    }
}
