//! The state file as the daemon keeps it: where a run resumes, and saving
//! the derived position (when, and what to say when it cannot).
//!
//! The lock is taken first, so a second logmon on the same state file (an
//! admin's `--once` beside the service) refuses and changes nothing. A
//! state directory that refuses even the lock file (full, read-only) does
//! not stop logmon: it runs on degraded, says so, and tries again at each
//! save. Progress without alerts is saved at most every
//! [`SAVE_INTERVAL_MS`] (flash wear); a delivered mail is saved at once.

use crate::error::Error;
use crate::expect::Clock;
use crate::log::{log, NOTICE};
use crate::position::Start;
use crate::state::{self, Loaded, OpenError, Position, State, StateFile};
use std::path::{Path, PathBuf};

/// Progress without alerts is saved at most this often.
pub const SAVE_INTERVAL_MS: u64 = 5000;

pub struct Keeper {
    /// The state file to keep; `None` with none configured or in
    /// `--dry-run`.
    path: Option<PathBuf>,
    /// Locked for this run, once it could be.
    file: Option<StateFile>,
    /// What the file holds now (written or loaded).
    saved: Option<Position>,
    saved_usec: Option<u64>,
    saved_expects: Vec<Clock>,
    last_ms: u64,
    /// Why saving fails, while it does.
    failing: Option<String>,
}

/// Where a run resumes from its state file.
pub struct Resume {
    pub start: Start,
    /// The time of the entry a cursor names, if the file recorded it.
    pub usec: Option<u64>,
    /// Save at once (a first start; a file recovered from its copy).
    pub save_at_once: bool,
    /// What is wrong with the file, for the log and the admin.
    pub problem: Option<String>,
    /// The `[expect]` clocks it kept.
    pub expects: Vec<Clock>,
}

impl Keeper {
    /// `path` is the configured state file; `None` keeps nothing.
    pub fn open(path: Option<&Path>, dry_run: bool) -> Result<Keeper, Error> {
        let path = path.filter(|_| !dry_run).map(Path::to_path_buf);
        let mut failing = None;
        let file = match path.as_deref().map(StateFile::open) {
            None => None,
            Some(Ok(file)) => Some(file),
            Some(Err(e @ OpenError::InUse { .. })) => return Err(Error::Runtime(e.to_string())),
            Some(Err(e)) => {
                failing = Some(format!("cannot save the journal position: {e}"));
                None
            }
        };
        Ok(Keeper {
            path,
            file,
            saved: None,
            saved_usec: None,
            saved_expects: Vec::new(),
            last_ms: 0,
            failing,
        })
    }

    /// Why saving fails, while it does.
    pub fn failing(&self) -> Option<&str> {
        self.failing.as_deref()
    }

    /// Where to resume from `path` (read only, without the lock, when this
    /// keeper keeps nothing: `--dry-run`, or a lock that was refused).
    pub fn resume(&mut self, path: &Path, asked: bool) -> Result<Resume, Error> {
        let loaded = match &self.file {
            Some(file) => file.load(),
            None => state::read(path),
        };
        // Unreadable (permissions, I/O): never overwrite it with the tail,
        // which would skip everything since; fail, and let the service
        // manager retry.
        let loaded =
            loaded.map_err(|e| Error::io(format!("reading state file {}", path.display()), e))?;
        let keeps = self.path.is_some();
        let resume = |state: State, save_at_once, problem| {
            let start = match state.position {
                Position::Head => Start::Head,
                Position::After(c) => Start::After(c),
                Position::At(c) => Start::At(c),
            };
            Resume {
                start,
                usec: state.position_usec,
                save_at_once,
                problem,
                expects: state.expects,
            }
        };
        let damaged = |why: &str, kept_as: &Option<PathBuf>| {
            let kept = kept_as
                .as_ref()
                .map(|p| format!(" (kept as {})", p.display()))
                .unwrap_or_default();
            format!("state file {} is damaged: {why}{kept}", path.display())
        };
        Ok(match loaded {
            Loaded::Missing => {
                if asked {
                    log!(NOTICE, "no saved cursor; starting at the end of the journal");
                }
                Resume {
                    start: Start::Tail,
                    usec: None,
                    save_at_once: keeps,
                    problem: None,
                    expects: Vec::new(),
                }
            }
            Loaded::Good(state) => {
                self.saved = Some(state.position.clone());
                self.saved_usec = state.position_usec;
                self.saved_expects = state.expects.clone();
                resume(state, false, None)
            }
            Loaded::Recovered {
                state,
                kept_as,
                why,
            } => resume(state, keeps, Some(damaged(&why, &kept_as))),
            Loaded::Damaged {
                kept_as,
                resume_usec,
                why,
            } => Resume {
                // The clocks are lost with the file: they start again now.
                // An absence already mailed gets no resolved mail, and one
                // still going is mailed again once `within` passes.
                expects: Vec::new(),
                start: Start::Time(resume_usec),
                usec: None,
                save_at_once: false,
                problem: Some(format!(
                    "{}; resuming {} minutes before its modification time, at {} (alerts since then may be mailed again)",
                    damaged(&why, &kept_as),
                    state::RESUME_MARGIN_USEC / 60_000_000,
                    crate::daemon::format_time(resume_usec)
                )),
            },
        })
    }

    /// Whether a save is due now (`force`: a mail was delivered, or exit).
    pub fn due(&self, now_ms: u64, force: bool) -> bool {
        self.path.is_some() && (force || now_ms >= self.last_ms + SAVE_INTERVAL_MS)
    }

    /// When the next save should happen for `point`, if one is needed:
    /// the position moved, or saving fails (tried again each interval).
    pub fn deadline_ms(&self, point: &Start, expects: &[Clock]) -> Option<u64> {
        self.path.as_ref()?;
        if self.saved.is_some() && self.saved_expects != expects {
            return Some(self.last_ms + SAVE_INTERVAL_MS);
        }
        let unsaved = match (point, &self.saved) {
            (Start::After(c), Some(Position::After(s))) | (Start::At(c), Some(Position::At(s))) => {
                c != s
            }
            (Start::Time(_) | Start::Tail, _) => false,
            (Start::Head, Some(Position::Head)) => false,
            _ => true,
        };
        (unsaved || self.failing.is_some()).then_some(self.last_ms + SAVE_INTERVAL_MS)
    }

    /// Save `start` and the `[expect]` clocks if the state file can hold
    /// that position and does not hold them already. Err(why) when it could
    /// not be written.
    pub fn save(
        &mut self,
        start: &Start,
        usec: Option<u64>,
        expects: &[Clock],
        now_ms: u64,
    ) -> Result<bool, String> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let (position, usec) = match (start, &self.saved) {
            (Start::After(c), _) => (Position::After(c.clone()), usec),
            (Start::At(c), _) => (Position::At(c.clone()), usec),
            (Start::Head, _) => (Position::Head, usec),
            // A start time with nothing read yet: the previous save still
            // covers it (at least once), and keeps its place when only the
            // clocks changed.
            (Start::Time(_) | Start::Tail, Some(saved)) if self.saved_expects != expects => {
                (saved.clone(), self.saved_usec)
            }
            (Start::Time(_) | Start::Tail, _) => return Ok(false),
        };
        if self.saved.as_ref() == Some(&position)
            && self.saved_expects == expects
            && self.failing.is_none()
        {
            return Ok(false);
        }
        self.last_ms = now_ms;
        let state = State {
            position: position.clone(),
            position_usec: usec,
            expects: expects.to_vec(),
        };
        let file = match &mut self.file {
            Some(file) => file,
            None => match StateFile::open(path) {
                Ok(file) => self.file.insert(file),
                Err(e) => {
                    let why = format!("cannot save the journal position: {e}");
                    self.failing = Some(why.clone());
                    return Err(why);
                }
            },
        };
        match file.save(&state) {
            Ok(()) => {
                self.saved = Some(position);
                self.saved_usec = usec;
                self.saved_expects = expects.to_vec();
                self.failing = None;
                Ok(true)
            }
            Err(e) => {
                let why = format!(
                    "cannot save the journal position to {}: {e}",
                    path.display()
                );
                self.failing = Some(why.clone());
                Err(why)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "logmon-keeper-{}-{name}-{}",
            std::process::id(),
            crate::sys::monotonic_usec()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const C1: &str =
        "s=0123456789abcdef0123456789abcdef;i=1;b=0123456789abcdef0123456789abcdef;m=1;t=1;x=1";
    const C2: &str =
        "s=0123456789abcdef0123456789abcdef;i=2;b=0123456789abcdef0123456789abcdef;m=2;t=2;x=2";

    #[test]
    fn first_start_saves_at_once_then_only_when_the_position_moves() {
        let d = dir("first");
        let path = d.join("cursor");
        let mut k = Keeper::open(Some(&path), false).unwrap();
        let r = k.resume(&path, false).unwrap();
        assert!(r.start == Start::Tail && r.save_at_once && r.problem.is_none());
        let after1 = Start::After(C1.into());
        assert_eq!(k.deadline_ms(&after1, &[]), Some(SAVE_INTERVAL_MS));
        assert_eq!(k.save(&after1, Some(10), &[], 100), Ok(true));
        assert_eq!(k.deadline_ms(&after1, &[]), None, "saved: nothing to do");
        assert_eq!(k.save(&after1, Some(10), &[], 200), Ok(false));
        // A start time with nothing read is never saved over a position.
        assert_eq!(k.save(&Start::Time(5), None, &[], 300), Ok(false));
        assert!(!k.due(100 + SAVE_INTERVAL_MS - 1, false));
        assert!(k.due(100 + SAVE_INTERVAL_MS, false) && k.due(0, true));
        let at2 = Start::At(C2.into());
        assert_eq!(k.deadline_ms(&at2, &[]), Some(100 + SAVE_INTERVAL_MS));
        assert_eq!(k.save(&at2, Some(20), &[], 400), Ok(true));
        drop(k);
        // The next run resumes there, with the entry's time.
        let mut k = Keeper::open(Some(&path), false).unwrap();
        let r = k.resume(&path, false).unwrap();
        assert_eq!((r.start, r.usec, r.save_at_once), (at2, Some(20), false));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_second_keeper_is_refused_and_dry_run_keeps_nothing() {
        let d = dir("lock");
        let path = d.join("cursor");
        let _first = Keeper::open(Some(&path), false).unwrap();
        let second = Keeper::open(Some(&path), false).err().expect("locked");
        assert!(
            second.to_string().contains("in use by another logmon"),
            "{second}"
        );
        let mut dry = Keeper::open(Some(&path), true).unwrap();
        assert_eq!(dry.save(&Start::After(C1.into()), None, &[], 0), Ok(false));
        assert_eq!(dry.deadline_ms(&Start::After(C1.into()), &[]), None);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_state_directory_that_refuses_the_lock_degrades_and_retries() {
        let d = dir("refuse");
        // A parent that is a file: nothing can be created below it.
        let blocker = d.join("file");
        std::fs::write(&blocker, "x").unwrap();
        let path = blocker.join("cursor");
        let mut k = Keeper::open(Some(&path), false).unwrap();
        assert!(k.failing().is_some());
        let p = Start::After(C1.into());
        assert_eq!(k.deadline_ms(&p, &[]), Some(SAVE_INTERVAL_MS));
        assert!(k.save(&p, None, &[], 10).is_err());
        assert_eq!(
            k.deadline_ms(&p, &[]),
            Some(10 + SAVE_INTERVAL_MS),
            "retried"
        );
        // Once the directory can be made, the next save takes the lock.
        std::fs::remove_file(&blocker).unwrap();
        assert_eq!(k.save(&p, None, &[], 20), Ok(true));
        assert!(k.failing().is_none());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn expect_clocks_are_saved_when_they_change_even_without_a_new_position() {
        let d = dir("clocks");
        let path = d.join("cursor");
        let mut k = Keeper::open(Some(&path), false).unwrap();
        k.resume(&path, false).unwrap();
        let after1 = Start::After(C1.into());
        assert_eq!(k.save(&after1, Some(10), &[], 100), Ok(true));
        let clocks = vec![Clock {
            rule: "backup".into(),
            host: "web1".into(),
            since_usec: 77,
            seen: true,
            missing: Some("<logmon.1@web1>".into()),
        }];
        assert_eq!(
            k.deadline_ms(&after1, &clocks),
            Some(100 + SAVE_INTERVAL_MS)
        );
        // Nothing read since (a start time): the saved position stays.
        assert_eq!(k.save(&Start::Tail, None, &clocks, 200), Ok(true));
        assert_eq!(k.deadline_ms(&after1, &clocks), None);
        assert_eq!(k.save(&after1, Some(10), &clocks, 300), Ok(false));
        drop(k);
        let mut k = Keeper::open(Some(&path), false).unwrap();
        let r = k.resume(&path, false).unwrap();
        assert_eq!((r.start, r.usec), (after1, Some(10)));
        assert_eq!(r.expects, clocks);
        std::fs::remove_dir_all(d).unwrap();
    }
}
