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

/// Follows the sequence numbers of the entries read, at checkpoints: the
/// cursor (which holds the number) costs ~4,000 instructions, more than a
/// field lookup, so it is not read for every entry. Between two
/// checkpoints of one sequence, `n` entries read mean the number grew by
/// `n` at most; more means entries vanished. Entries of other sequences
/// read in between only raise the bound, so they can hide a gap, never
/// fake one.
#[derive(Debug, Default)]
pub struct Gaps {
    /// Per sequence id: the id, the last number seen, its time, and the
    /// count of entries read then. A few entries: a Vec is enough.
    last: Vec<(String, u64, Option<u64>, u64)>,
}

impl Gaps {
    /// Expect the entry after `cursor` next (a resume after it), or
    /// `cursor` itself when `inclusive`; `read` entries were read so far.
    pub fn expect_after(&mut self, cursor: &str, usec: Option<u64>, inclusive: bool, read: u64) {
        if let Some((id, num)) = seqnum(cursor) {
            let num = if inclusive {
                num.saturating_sub(1)
            } else {
                num
            };
            self.remember(id, num, usec, read);
        }
    }

    /// A checkpoint: the entry at `cursor` is the `read`-th read. A gap if
    /// entries of its sequence were skipped since the last checkpoint.
    pub fn observe(&mut self, cursor: &str, usec: u64, read: u64) -> Option<Gap> {
        let (id, num) = seqnum(cursor)?;
        let prev = self
            .last
            .iter()
            .find(|s| s.0 == id)
            .map(|s| (s.1, s.2, s.3));
        let gap = match prev {
            Some((prev, prev_usec, prev_read)) => {
                let most = prev.saturating_add(read.saturating_sub(prev_read));
                (num > most).then(|| Gap {
                    count: num - most,
                    after_usec: prev_usec,
                    before_usec: usec,
                })
            }
            None => None,
        };
        // Never step back: an older number (a late file) would make the
        // next checkpoint look like a gap.
        if prev.is_none_or(|(prev, ..)| num > prev) {
            self.remember(id, num, Some(usec), read);
        }
        gap
    }

    fn remember(&mut self, id: &str, num: u64, usec: Option<u64>, read: u64) {
        if let Some(s) = self.last.iter_mut().find(|s| s.0 == id) {
            (s.1, s.2, s.3) = (num, usec, read);
            return;
        }
        if self.last.len() >= MAX_SEQUENCES {
            // Forget the one checked longest ago.
            if let Some(oldest) = (0..self.last.len()).min_by_key(|&i| self.last[i].3) {
                self.last.swap_remove(oldest);
            }
        }
        self.last.push((id.to_string(), num, usec, read));
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
        assert_eq!(g.observe(&cursor("a", 1), 10, 1), None);
        // 4 entries later, number 5: nothing missing.
        assert_eq!(g.observe(&cursor("a", 5), 50, 5), None);
        // Another journald's sequence interleaves without a false alarm.
        assert_eq!(g.observe(&cursor("b", 100), 51, 6), None);
        // 3 entries read since a:5 (one of them b's), yet number 12.
        assert_eq!(
            g.observe(&cursor("a", 12), 120, 8),
            Some(Gap {
                count: 4,
                after_usec: Some(50),
                before_usec: 120
            })
        );
        assert_eq!(g.observe(&cursor("b", 104), 121, 12), None);
        // An entry from the past (a late file) neither alarms nor resets.
        assert_eq!(g.observe(&cursor("a", 4), 40, 13), None);
        assert_eq!(g.observe(&cursor("a", 13), 130, 14), None);
    }

    #[test]
    fn a_vacuumed_resume_point_is_a_gap() {
        let mut g = Gaps::default();
        g.expect_after(&cursor("a", 10), Some(100), false, 0);
        assert_eq!(g.observe(&cursor("a", 11), 110, 1), None);
        let mut g = Gaps::default();
        g.expect_after(&cursor("a", 10), Some(100), true, 0);
        assert_eq!(g.observe(&cursor("a", 10), 100, 1), None);
        let mut g = Gaps::default();
        g.expect_after(&cursor("a", 10), None, false, 0);
        let gap = g.observe(&cursor("a", 50), 500, 1).expect("vacuumed");
        assert_eq!((gap.count, gap.after_usec), (39, None));
    }

    #[test]
    fn sequences_are_bounded() {
        let mut g = Gaps::default();
        for i in 0..1000 {
            g.observe(&cursor(&format!("id{i}"), 1), i, i);
        }
        assert!(g.last.len() <= MAX_SEQUENCES);
        // The newest are still followed.
        assert!(g.observe(&cursor("id999", 5), 2000, 1000).is_some());
    }
}
