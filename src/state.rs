//! The state file: where to resume reading (the journal position up to which
//! every alert was mailed), kept so that no crash, damage or second logmon
//! can make logmon skip entries.
//!
//! - **Format 2** is typed lines between a header and a checksum:
//!   `logmon-state 2`, `position after CURSOR` (or `at CURSOR`, `head`),
//!   an optional `position-time USEC`, one `expect RULE HOST USEC SEEN
//!   MISSING` line per `[expect]` clock (RULE and HOST %-escaped, SEEN
//!   `seen` or `start`, MISSING a Message-ID or `-`), then `crc32 XXXXXXXX`, the CRC-32 of
//!   every byte before that line. Any damage (cut, appended, flipped bytes)
//!   is detected; readers ignore line types they do not know, so later
//!   versions can add some (per-rule times) without breaking this reader.
//!   Format 1 (one line: a bare cursor, `at CURSOR` or `head`) still loads;
//!   its cursors are checked strictly, the only check it allows.
//! - **Writes are atomic** (temp file, fsync, rename, fsync of the
//!   directory), and each save is written twice, to `PATH` and `PATH.prev`,
//!   so a damaged `PATH` falls back to the last good save.
//! - **A damaged file is kept** as `PATH.bad` and never replaced by the
//!   tail: logmon resumes from `PATH.prev`, else from the damaged file's
//!   modification time minus [`RESUME_MARGIN_USEC`] (at least once).
//! - **One logmon at a time**: [`StateFile`] holds `flock(LOCK_EX)` on
//!   `PATH.lock` (a lock on `PATH` itself would be lost at each rename),
//!   which holds the holder's pid for the refusal message.
//! - **Root writes as the directory's owner**: run as root in a state
//!   directory owned by another user (the service user), every file logmon
//!   writes there is given to that user, so the service can still use it.

use crate::expect::Clock;
use crate::sys;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where to resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// After the entry this cursor names: all alerts up to it were mailed.
    After(String),
    /// At the entry this cursor names, itself included: its alert (and what
    /// follows) was not mailed yet.
    At(String),
    /// From the oldest entry (the journal was empty at the first start).
    Head,
}

/// What the state file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub position: Position,
    /// The realtime (µs since the epoch) of the entry the position names,
    /// when known: a resume by time if the cursor cannot be used.
    pub position_usec: Option<u64>,
    /// The `[expect]` clocks (format 2 `expect` lines; none in format 1).
    pub expects: Vec<Clock>,
}

/// The outcome of reading the state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// No state file: a first start.
    Missing,
    Good(State),
    /// `PATH` was damaged (`why`); `state` is the copy in `PATH.prev`.
    /// `kept_as` is where the damaged file was kept (`None` from [`read`],
    /// which changes nothing).
    Recovered {
        state: State,
        kept_as: Option<PathBuf>,
        why: String,
    },
    /// `PATH` and its copy are both unusable (`why`): resume at the time
    /// `resume_usec`.
    Damaged {
        kept_as: Option<PathBuf>,
        resume_usec: u64,
        why: String,
    },
}

/// How far before a damaged file's modification time logmon resumes when
/// no good copy is left. The file is written at most 5 s after the entry it
/// names was read (at once after a mail) and logmon normally reads an entry
/// within a second of journald storing it; the margin also covers clock
/// steps, a slow catch-up and entries stamped by other hosts (`directory =`).
/// A longer margin only re-mails more (bounded by `max_per_hour`); 15 min of
/// repeats is a price worth a lost alert.
pub const RESUME_MARGIN_USEC: u64 = 15 * 60 * 1_000_000;

/// A state file larger than this is damage: format 2 with one line per
/// `[expect]` rule stays far below.
const MAX_SIZE: u64 = 1 << 20;

const MAGIC: &str = "logmon-state ";
const VERSION: &str = "2";
const CHECKSUM: &str = "crc32 ";

/// Why [`StateFile::open`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the lock on `lock` (`pid`, if it wrote one).
    InUse {
        state: PathBuf,
        lock: PathBuf,
        pid: Option<u32>,
    },
    Io {
        what: String,
        source: io::Error,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::InUse { state, lock, pid } => {
                write!(
                    f,
                    "state file {} is in use by another logmon",
                    state.display()
                )?;
                if let Some(pid) = pid {
                    write!(f, " (pid {pid})")?;
                }
                write!(
                    f,
                    "; it holds the lock {}. Stop it first, or use --dry-run, \
                     which reads the state file without changing it",
                    lock.display()
                )
            }
            OpenError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

/// The state file, locked for this process until dropped.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    /// Holds the flock; closing it (at drop or exit) releases it. Opened
    /// O_CLOEXEC (std's default), so sendmail children never inherit it.
    _lock: File,
    /// The owner (uid, gid) to give written files: set when running as
    /// root in a directory owned by another user.
    owner: Option<(u32, u32)>,
}

impl StateFile {
    /// Locks `PATH.lock` (creating the directory and the lock file if
    /// needed) without waiting: `InUse` if another logmon holds it.
    pub fn open(path: &Path) -> Result<StateFile, OpenError> {
        let io_err = |what: String| move |source| OpenError::Io { what, source };
        let dir = parent(path);
        fs::create_dir_all(dir).map_err(io_err(format!(
            "creating state directory {}",
            dir.display()
        )))?;
        let meta = fs::metadata(dir)
            .map_err(io_err(format!("reading state directory {}", dir.display())))?;
        let owner = (sys::geteuid() == 0 && meta.uid() != 0).then(|| (meta.uid(), meta.gid()));
        let lock_path = sibling(path, ".lock");
        let what = || format!("locking {}", lock_path.display());
        // O_NOFOLLOW: as root in another user's directory, never let a
        // planted symlink make us create or chown some other file.
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(&lock_path)
            .map_err(io_err(what()))?;
        let lock_meta = lock.metadata().map_err(io_err(what()))?;
        if !lock_meta.file_type().is_file() {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
            return Err(io_err(what())(e));
        }
        match sys::flock(lock.as_fd(), libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(OpenError::InUse {
                    state: path.to_path_buf(),
                    pid: read_pid(&lock),
                    lock: lock_path,
                })
            }
            Err(e) => return Err(io_err(what())(e)),
        }
        let pid = format!("{}\n", sys::getpid());
        lock.set_len(0)
            .and_then(|()| lock.write_all_at(pid.as_bytes(), 0))
            .map_err(io_err(format!(
                "writing the pid to {}",
                lock_path.display()
            )))?;
        if let Some((uid, gid)) = owner {
            if (lock_meta.uid(), lock_meta.gid()) != (uid, gid) {
                std::os::unix::fs::fchown(&lock, Some(uid), Some(gid))
                    .map_err(io_err(format!("chown of {}", lock_path.display())))?;
            }
        }
        Ok(StateFile {
            path: path.to_path_buf(),
            _lock: lock,
            owner,
        })
    }

    /// Reads the state as [`read`] does, and keeps a damaged `PATH` as
    /// `PATH.bad`. `PATH` itself stays until the next save replaces it, so
    /// a crash before that save resumes from the same place again.
    pub fn load(&self) -> io::Result<Loaded> {
        let loaded = read(&self.path)?;
        if matches!(loaded, Loaded::Good(_) | Loaded::Missing) {
            return Ok(loaded);
        }
        let bad = Some(keep_bad(&self.path)?);
        Ok(match loaded {
            Loaded::Recovered { state, why, .. } => Loaded::Recovered {
                state,
                kept_as: bad,
                why,
            },
            Loaded::Damaged {
                resume_usec, why, ..
            } => Loaded::Damaged {
                kept_as: bad,
                resume_usec,
                why,
            },
            other => other,
        })
    }

    /// Writes `state` atomically to `PATH`, then the same to `PATH.prev`.
    /// A cursor that is not in sd_journal_get_cursor(3) form is refused
    /// (`InvalidInput`): the next start would take it for damage.
    pub fn save(&mut self, state: &State) -> io::Result<()> {
        let text = encode(state)?;
        write_atomic(&self.path, text.as_bytes(), self.owner)?;
        let prev = sibling(&self.path, ".prev");
        write_atomic(&prev, text.as_bytes(), self.owner)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", prev.display())))
    }
}

/// Reads the state without changing anything (for `--dry-run`, which takes
/// no lock): `PATH`, else `PATH.prev`, else a time from `PATH`'s mtime.
/// Errors (nothing to decide on): `PATH` is unreadable, not a regular file,
/// or written by a newer logmon.
pub fn read(path: &Path) -> io::Result<Loaded> {
    let why = match read_one(path)? {
        None => return Ok(Loaded::Missing),
        Some(Ok(state)) => return Ok(Loaded::Good(state)),
        Some(Err(why)) => why,
    };
    let prev = sibling(path, ".prev");
    let prev_why = match read_one(&prev) {
        Ok(Some(Ok(state))) => {
            let why = format!("{why}; resuming from its copy {}", prev.display());
            return Ok(Loaded::Recovered {
                state,
                kept_as: None,
                why,
            });
        }
        Ok(Some(Err(w))) => w,
        Ok(None) => "missing".to_string(),
        Err(e) => e.to_string(),
    };
    let mtime = fs::metadata(path)?.modified()?;
    let resume_usec = resume_time(usec_since_epoch(mtime), usec_since_epoch(SystemTime::now()));
    let why = format!(
        "{why}; its copy {} is unusable too ({prev_why})",
        prev.display()
    );
    Ok(Loaded::Damaged {
        kept_as: None,
        resume_usec,
        why,
    })
}

/// Where to resume without a good copy: the damaged file's modification
/// time (not later than now: a clock that was ahead) minus the margin.
fn resume_time(mtime_usec: u64, now_usec: u64) -> u64 {
    mtime_usec.min(now_usec).saturating_sub(RESUME_MARGIN_USEC)
}

fn usec_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros().min(u64::MAX as u128) as u64)
}

/// `None`: no such file; `Some(Err(why))`: damaged; `Err`: cannot tell.
fn read_one(path: &Path) -> io::Result<Option<Result<State, String>>> {
    let bytes = match crate::files::read_regular(path, MAX_SIZE) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // Too large is damage (to keep and resume around); a FIFO, a
        // device or a directory is an admin's mistake: an error.
        Err(e) if fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > MAX_SIZE) => {
            return Ok(Some(Err(e.to_string())))
        }
        Err(e) => return Err(e),
    };
    match decode(&bytes) {
        Ok(state) => Ok(Some(Ok(state))),
        Err(Bad::Damaged(why)) => Ok(Some(Err(why))),
        Err(Bad::Newer(v)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("state format {v}, written by a newer logmon; not touching it"),
        )),
    }
}

/// `dir/NAME` -> `dir/NAME{suffix}`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The holder's pid from its lock file, if it wrote one yet.
fn read_pid(lock: &File) -> Option<u32> {
    let mut buf = [0u8; 32];
    let n = lock.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

/// A hard link `PATH.bad` to the damaged `PATH` (replacing an older one),
/// made under a temp name and renamed, so `PATH.bad` is always whole. Where
/// no link may be made (`fs.protected_hardlinks` and a file of another
/// user, e.g. left by root), a copy.
fn keep_bad(path: &Path) -> io::Result<PathBuf> {
    let bad = sibling(path, ".bad");
    let tmp = sibling(path, ".bad.tmp");
    let with_path = |p: &Path| {
        let p = p.display().to_string();
        move |e: io::Error| {
            io::Error::new(e.kind(), format!("keeping the damaged file as {p}: {e}"))
        }
    };
    remove_if_present(&tmp).map_err(with_path(&tmp))?;
    if fs::hard_link(path, &tmp).is_err() {
        fs::copy(path, &tmp).map_err(with_path(&bad))?;
    }
    fs::rename(&tmp, &bad).map_err(with_path(&bad))?;
    // rename(2) does nothing when both names are links to one file (the
    // same damaged file kept at an earlier start): tmp may still be there.
    remove_if_present(&tmp).map_err(with_path(&tmp))?;
    File::open(parent(path))?.sync_all()?;
    Ok(bad)
}

/// Temp file, fsync, rename, fsync of the directory: a crash leaves the old
/// or the new contents, never a mix.
fn write_atomic(path: &Path, bytes: &[u8], owner: Option<(u32, u32)>) -> io::Result<()> {
    let dir = parent(path);
    let tmp = sibling(path, ".tmp");
    // A leftover of a crash; removing it also removes a planted symlink
    // (unlink does not follow it), and create_new never follows one.
    remove_if_present(&tmp)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let written = (|| {
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        f.write_all(bytes)?;
        f.sync_all()
    })();
    drop(f);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable only once the directory is synced.
    File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------
// The format (pure)
// ---------------------------------------------------------------------------

/// Why bytes are not a state this logmon can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Damage of any kind, with a short reason.
    Damaged(String),
    /// Intact, but a format version this logmon does not know.
    Newer(String),
}

fn damaged<T>(why: &str) -> Result<T, Bad> {
    Err(Bad::Damaged(why.to_string()))
}

/// The format 2 text of `state`.
pub(crate) fn encode(state: &State) -> io::Result<String> {
    let position = match &state.position {
        Position::Head => "head".to_string(),
        Position::After(c) | Position::At(c) if !is_cursor(c) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a journal cursor: {c:?}"),
            ))
        }
        Position::After(c) => format!("after {c}"),
        Position::At(c) => format!("at {c}"),
    };
    let mut text = format!("{MAGIC}{VERSION}\nposition {position}\n");
    if let Some(usec) = state.position_usec {
        text.push_str(&format!("position-time {usec}\n"));
    }
    for c in &state.expects {
        let seen = if c.seen { "seen" } else { "start" };
        let missing = c.missing.as_deref().unwrap_or("-");
        if missing.is_empty() || missing.contains(|ch: char| ch.is_whitespace() || ch.is_control())
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a Message-ID: {missing:?}"),
            ));
        }
        text.push_str(&format!(
            "expect {} {} {} {seen} {missing}\n",
            escape(&c.rule),
            escape(&c.host),
            c.since_usec
        ));
    }
    let crc = crc32(text.as_bytes());
    text.push_str(&format!("{CHECKSUM}{crc:08x}\n"));
    Ok(text)
}

pub(crate) fn decode(bytes: &[u8]) -> Result<State, Bad> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return damaged("not text (invalid UTF-8)");
    };
    if bytes.is_empty() {
        return damaged("empty");
    }
    match text.strip_prefix(MAGIC) {
        Some(_) => decode_v2(text),
        None => decode_v1(text).map(|position| State {
            position,
            position_usec: None,
            expects: Vec::new(),
        }),
    }
}

/// Format 1: one line, with or without its newline.
fn decode_v1(text: &str) -> Result<Position, Bad> {
    let line = text.strip_suffix('\n').unwrap_or(text);
    if line.contains('\n') {
        return damaged("more than one line, and no 'logmon-state' header");
    }
    position(line, None)
}

/// `head`, `at CURSOR`, or `AFTER CURSOR`: format 1 has no word before a
/// bare cursor (`after` is `None`), format 2 has `after`.
fn position(value: &str, after: Option<&str>) -> Result<Position, Bad> {
    if value == "head" {
        return Ok(Position::Head);
    }
    let (cursor, make): (&str, fn(String) -> Position) = match value.strip_prefix("at ") {
        Some(c) => (c, Position::At),
        None => match after {
            None => (value, Position::After),
            Some(word) => match value.strip_prefix(word) {
                Some(c) => (c, Position::After),
                None => return damaged("bad position"),
            },
        },
    };
    if !is_cursor(cursor) {
        return damaged("not a journal cursor");
    }
    Ok(make(cursor.to_string()))
}

fn decode_v2(text: &str) -> Result<State, Bad> {
    let Some(body) = text.strip_suffix('\n') else {
        return damaged("does not end with a newline (cut short or bytes appended)");
    };
    let (covered, last) = match body.rfind('\n') {
        Some(i) => (&text[..=i], &body[i + 1..]),
        None => return damaged("cut short (no checksum line)"),
    };
    let Some(stored) = last.strip_prefix(CHECKSUM).filter(|h| is_hex(h, 8, 8)) else {
        return damaged("no checksum line at the end");
    };
    if format!("{:08x}", crc32(covered.as_bytes())) != stored {
        return damaged("checksum mismatch");
    }
    let mut lines = covered.lines();
    let version = lines.next().and_then(|l| l.strip_prefix(MAGIC));
    match version {
        Some(VERSION) => {}
        Some(v) if is_decimal(v) => return Err(Bad::Newer(v.to_string())),
        _ => return damaged("bad header line"),
    }
    let mut pos = None;
    let mut usec = None;
    let mut expects = Vec::new();
    for line in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let key_ok = key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !key_ok || value.chars().any(char::is_control) {
            return damaged("bad line");
        }
        match key {
            "position" if pos.is_none() => pos = Some(position(value, Some("after "))?),
            "position-time" if usec.is_none() && is_decimal(value) => match value.parse() {
                Ok(t) => usec = Some(t),
                Err(_) => return damaged("bad position-time"),
            },
            "expect" => match clock(value) {
                Some(c) => expects.push(c),
                None => return damaged("bad expect line"),
            },
            "position" | "position-time" => return damaged("bad or repeated line"),
            // A line type of a later version: not for us.
            _ => {}
        }
    }
    let Some(position) = pos else {
        return damaged("no position line");
    };
    Ok(State {
        position,
        position_usec: usec,
        expects,
    })
}

/// `RULE HOST USEC SEEN MISSING` of an `expect` line.
fn clock(value: &str) -> Option<Clock> {
    let mut words = value.split(' ');
    let mut next = || words.next().filter(|w| !w.is_empty());
    let (rule, host, usec, seen, missing) = (next()?, next()?, next()?, next()?, next()?);
    // More words: fields of a later version, not for us.
    if !is_decimal(usec) {
        return None;
    }
    Some(Clock {
        rule: unescape(rule)?,
        host: unescape(host)?,
        since_usec: usec.parse().ok()?,
        seen: match seen {
            "seen" => true,
            "start" => false,
            _ => return None,
        },
        missing: (missing != "-").then(|| missing.to_string()),
    })
}

/// A rule label or host name as one word: `%`, blanks and control
/// characters as `%XX`; an empty one as `%`.
fn escape(s: &str) -> String {
    if s.is_empty() {
        return "%".into();
    }
    let mut out = String::new();
    for c in s.chars() {
        if c == '%' || c.is_whitespace() || c.is_control() {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    if s == "%" {
        return Some(String::new());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The sd_journal_get_cursor(3) form, exactly as libsystemd writes it:
/// `s=<32 hex>;i=<hex>;b=<32 hex>;m=<hex>;t=<hex>;x=<hex>`, lower case,
/// 64-bit numbers. Anything else (a cut first character, `;junk`) is damage.
pub fn is_cursor(c: &str) -> bool {
    let mut parts = c.split(';');
    let expected = [
        ("s=", 32, 32),
        ("i=", 1, 16),
        ("b=", 32, 32),
        ("m=", 1, 16),
        ("t=", 1, 16),
        ("x=", 1, 16),
    ];
    let all_ok = expected.iter().all(|&(key, min, max)| {
        parts
            .next()
            .and_then(|p| p.strip_prefix(key))
            .is_some_and(|v| is_hex(v, min, max))
    });
    all_ok && parts.next().is_none()
}

fn is_hex(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_decimal(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// CRC-32 (IEEE 802.3, as zlib's `crc32`): every burst of up to 32 flipped
/// bits is detected, anything else misses with odds of 2^-32. Bitwise, as
/// a state file is a few hundred bytes.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    /// A cursor as libsystemd writes it.
    const CURSOR: &str = "s=0123456789abcdef0123456789abcdef;i=1a2b;b=fedcba9876543210fedcba9876543210;m=3c4d5e;t=61234567890ab;x=89abcdef01234567";

    fn state(position: Position, usec: Option<u64>) -> State {
        State {
            position,
            position_usec: usec,
            expects: Vec::new(),
        }
    }

    #[test]
    fn expect_clocks_round_trip_and_older_readers_skip_them() {
        let mut s = good();
        s.expects = vec![
            Clock {
                rule: "nightly backup".into(),
                host: "web1".into(),
                since_usec: 1_700_000_000_000_000,
                seen: true,
                missing: Some("<logmon.1.2.3@web1>".into()),
            },
            Clock {
                rule: "/etc/logmon.d/x.conf:3 100% \u{7}".into(),
                host: String::new(),
                since_usec: 5,
                seen: false,
                missing: None,
            },
        ];
        let text = encode(&s).unwrap();
        assert!(
            text.contains(
                "\nexpect nightly%20backup web1 1700000000000000 seen <logmon.1.2.3@web1>\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nexpect /etc/logmon.d/x.conf:3%20100%25%20%07 % 5 start -\n"),
            "{text}"
        );
        assert_eq!(decode(text.as_bytes()), Ok(s.clone()));
        // A later version's extra words on an expect line are not damage.
        let covered = format!(
            "logmon-state 2\nposition after {CURSOR}\nposition-time 1700000000123456\nexpect x h 5 seen - later words\n"
        );
        let text = format!("{covered}crc32 {:08x}\n", crc32(covered.as_bytes()));
        let later = decode(text.as_bytes()).expect("loads");
        assert_eq!(later.expects[0].rule, "x");
        for bad in [
            "expect a b 5 seen",
            "expect a b x seen -",
            "expect a b 5 maybe -",
            "expect a%2 b 5 seen -",
            "expect a%FF b 5 seen -",
            "expect a  b 5 seen -",
        ] {
            let covered = format!("logmon-state 2\nposition at {CURSOR}\n{bad}\n");
            let text = format!("{covered}crc32 {:08x}\n", crc32(covered.as_bytes()));
            assert!(is_damaged(text.as_bytes()), "{bad:?}");
        }
    }

    fn good() -> State {
        state(Position::After(CURSOR.into()), Some(1_700_000_000_123_456))
    }

    fn is_damaged(bytes: &[u8]) -> bool {
        matches!(decode(bytes), Err(Bad::Damaged(_)))
    }

    /// The damage seen in the field, applied to a file's bytes.
    fn damage_cases(file: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let text = String::from_utf8(file.to_vec()).unwrap();
        // `;junk` right after the cursor (it ends with `x=<hex>`).
        let x = text.find(";x=").unwrap() + 3;
        let end = x + text[x..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(text.len() - x);
        let junk = format!("{};junk{}", &text[..end], &text[end..]);
        vec![
            ("empty", Vec::new()),
            ("garbage", b"\x8f\x01garbage \xff\n".to_vec()),
            ("cursor;junk", junk.into_bytes()),
            ("trailing NUL", [file, b"\0"].concat()),
            ("second line", [file, b"second line\n"].concat()),
            ("first character cut", file[1..].to_vec()),
        ]
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn format_2_round_trip() {
        for s in [
            good(),
            state(Position::At(CURSOR.into()), Some(5)),
            state(Position::After(CURSOR.into()), None),
            state(Position::Head, None),
        ] {
            let text = encode(&s).unwrap();
            assert!(text.starts_with("logmon-state 2\nposition "), "{text}");
            assert_eq!(decode(text.as_bytes()), Ok(s));
        }
        assert_eq!(
            encode(&good()).unwrap(),
            format!("logmon-state 2\nposition after {CURSOR}\nposition-time 1700000000123456\ncrc32 {:08x}\n",
                crc32(format!("logmon-state 2\nposition after {CURSOR}\nposition-time 1700000000123456\n").as_bytes()))
        );
    }

    #[test]
    fn unknown_line_types_are_for_later_versions() {
        let covered = format!(
            "logmon-state 2\nseen backup.conf:3 1700000000000000\nposition at {CURSOR}\nfuture\n"
        );
        let text = format!("{covered}crc32 {:08x}\n", crc32(covered.as_bytes()));
        assert_eq!(
            decode(text.as_bytes()),
            Ok(state(Position::At(CURSOR.into()), None))
        );
        // A later, incompatible format is not damage: left alone.
        let covered = format!("logmon-state 3\nposition at {CURSOR}\n");
        let text = format!("{covered}crc32 {:08x}\n", crc32(covered.as_bytes()));
        assert_eq!(decode(text.as_bytes()), Err(Bad::Newer("3".into())));
    }

    #[test]
    fn intact_but_malformed_format_2_is_damage() {
        for covered in [
            "logmon-state 2\n".to_string(),
            format!("logmon-state 2\nposition at {CURSOR}\nposition head\n"),
            format!("logmon-state 2\nposition at {CURSOR}\nposition-time -1\n"),
            format!("logmon-state 2\nposition at {CURSOR}\nposition-time 99999999999999999999\n"),
            format!("logmon-state 2\nposition at {CURSOR};junk\n"),
            format!("logmon-state 2\nposition {CURSOR}\n"),
            "logmon-state 2\nposition after\n".to_string(),
            format!("logmon-state 2\nPosition at {CURSOR}\n"),
            format!("logmon-state x\nposition at {CURSOR}\n"),
        ] {
            let text = format!("{covered}crc32 {:08x}\n", crc32(covered.as_bytes()));
            assert!(is_damaged(text.as_bytes()), "{covered:?}");
        }
    }

    #[test]
    fn format_1_still_loads() {
        for (text, want) in [
            (format!("{CURSOR}\n"), Position::After(CURSOR.into())),
            (CURSOR.to_string(), Position::After(CURSOR.into())),
            (format!("at {CURSOR}\n"), Position::At(CURSOR.into())),
            ("head\n".to_string(), Position::Head),
        ] {
            assert_eq!(decode(text.as_bytes()), Ok(state(want, None)), "{text:?}");
        }
    }

    #[test]
    fn every_damage_seen_is_detected_in_both_formats() {
        let v2 = encode(&good()).unwrap().into_bytes();
        let v1 = format!("{CURSOR}\n").into_bytes();
        let v1_at = format!("at {CURSOR}\n").into_bytes();
        for file in [v2, v1, v1_at] {
            for (name, bytes) in damage_cases(&file) {
                assert!(
                    is_damaged(&bytes),
                    "{name} not detected in {:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
        for bad in [
            "",
            "\n",
            "at \n",
            "after \n",
            "head\nhead\n",
            " head\n",
            "two words\n",
        ] {
            assert!(is_damaged(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn cursors_are_checked_strictly() {
        assert!(is_cursor(CURSOR));
        assert!(is_cursor(
            "s=0123456789abcdef0123456789abcdef;i=1;b=fedcba9876543210fedcba9876543210;m=0;t=0;x=0"
        ));
        for bad in [
            &CURSOR[1..],
            &CURSOR[..CURSOR.len() - 17],
            &format!("{CURSOR};junk"),
            &format!("{CURSOR};"),
            &CURSOR.replace("s=0", "s=O"),
            &CURSOR.replace("i=1a2b", "i=1A2B"),
            &CURSOR.replace("i=1a2b", "i="),
            &CURSOR.replace("m=3c4d5e", "m=12345678901234567"),
            &CURSOR.replace(";b=", ";B="),
            &CURSOR.replace("0123456789abcdef;i", "0123456789abcde;i"),
            &CURSOR.replace(";m=3c4d5e;t=61234567890ab", ";t=61234567890ab;m=3c4d5e"),
            "s=abc;i=1;b=def;m=1;t=2;x=3",
            "",
        ] {
            assert!(!is_cursor(bad), "{bad:?}");
        }
        assert_eq!(
            encode(&state(Position::At("s=abc;i=2".into()), None))
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn every_cut_and_every_single_byte_change_is_detected() {
        let file = encode(&good()).unwrap().into_bytes();
        for len in 0..file.len() {
            assert!(is_damaged(&file[..len]), "cut to {len}");
        }
        for i in 0..file.len() {
            for x in 1..=255u8 {
                let mut b = file.clone();
                b[i] ^= x;
                assert!(is_damaged(&b), "byte {i} ^ {x:#x}");
            }
        }
    }

    #[test]
    fn random_byte_flips_are_detected() {
        let seed = crate::testing::seed("random_byte_flips_are_detected");
        let mut rng = crate::testing::Rng::new(seed);
        let files = [
            encode(&good()).unwrap().into_bytes(),
            encode(&state(Position::At(CURSOR.into()), None))
                .unwrap()
                .into_bytes(),
            encode(&state(Position::Head, None)).unwrap().into_bytes(),
        ];
        for round in 0..20_000 {
            let mut b = files[round % files.len()].clone();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 + rng.below(255) as u8;
            }
            if b == files[round % files.len()] {
                continue; // two flips undid each other
            }
            assert!(
                is_damaged(&b),
                "seed {seed} round {round}: not detected: {:?}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    #[test]
    fn the_resume_time_is_before_the_mtime_and_never_in_the_future() {
        let min15 = 15 * 60 * 1_000_000;
        assert_eq!(resume_time(10 * min15, 20 * min15), 9 * min15);
        assert_eq!(resume_time(30 * min15, 20 * min15), 19 * min15);
        assert_eq!(resume_time(5, 20 * min15), 0);
    }

    // --- files -----------------------------------------------------------

    /// A fresh directory, removed on drop.
    struct Dir(PathBuf);
    impl Dir {
        fn new(name: &str) -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir()
                .join(format!("logmon-state-{name}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn save_load_and_the_copy() {
        let dir = Dir::new("save");
        let path = dir.0.join("sub/cursor");
        let mut f = StateFile::open(&path).unwrap();
        assert_eq!(f.load().unwrap(), Loaded::Missing);
        f.save(&good()).unwrap();
        assert_eq!(f.load().unwrap(), Loaded::Good(good()));
        assert_eq!(
            fs::read(&path).unwrap(),
            fs::read(sibling(&path, ".prev")).unwrap()
        );
        for tmp in [".tmp", ".prev.tmp", ".bad", ".bad.tmp"] {
            assert!(!sibling(&path, tmp).exists(), "{tmp}");
        }
        // A format 1 file from before the upgrade.
        fs::write(&path, format!("at {CURSOR}\n")).unwrap();
        assert_eq!(
            f.load().unwrap(),
            Loaded::Good(state(Position::At(CURSOR.into()), None))
        );
    }

    #[test]
    fn a_damaged_file_is_kept_and_the_copy_used() {
        let dir = Dir::new("copy");
        let path = dir.0.join("cursor");
        let mut f = StateFile::open(&path).unwrap();
        f.save(&good()).unwrap();
        let saved = fs::read(&path).unwrap();
        for (name, bytes) in damage_cases(&saved) {
            fs::write(&path, &bytes).unwrap();
            // --dry-run's read changes nothing.
            assert!(
                matches!(read(&path).unwrap(), Loaded::Recovered { .. }),
                "{name}"
            );
            assert!(
                !sibling(&path, ".bad").exists(),
                "{name}: read() changed nothing"
            );
            match f.load().unwrap() {
                Loaded::Recovered {
                    state,
                    kept_as,
                    why,
                } => {
                    assert_eq!(state, good(), "{name}");
                    assert_eq!(kept_as, Some(sibling(&path, ".bad")));
                    assert!(why.contains("cursor.prev"), "{why}");
                }
                other => panic!("{name}: {other:?}"),
            }
            assert_eq!(fs::read(sibling(&path, ".bad")).unwrap(), bytes, "{name}");
            // Until the next save, a restart finds the same.
            assert!(
                matches!(f.load().unwrap(), Loaded::Recovered { .. }),
                "{name}"
            );
            assert_eq!(fs::read(sibling(&path, ".bad")).unwrap(), bytes, "{name}");
            assert!(!sibling(&path, ".bad.tmp").exists());
            f.save(&good()).unwrap();
            assert_eq!(f.load().unwrap(), Loaded::Good(good()));
            assert_eq!(
                fs::read(sibling(&path, ".bad")).unwrap(),
                bytes,
                "{name}: kept"
            );
            fs::remove_file(sibling(&path, ".bad")).unwrap();
        }
    }

    #[test]
    fn without_a_good_copy_resume_before_the_mtime() {
        let dir = Dir::new("mtime");
        let path = dir.0.join("cursor");
        let mut f = StateFile::open(&path).unwrap();
        f.save(&good()).unwrap();
        let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for prev in ["missing", "damaged"] {
            match prev {
                "missing" => fs::remove_file(sibling(&path, ".prev")).unwrap(),
                _ => fs::write(sibling(&path, ".prev"), "x").unwrap(),
            }
            fs::write(&path, "garbage\n").unwrap();
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
            match f.load().unwrap() {
                Loaded::Damaged {
                    kept_as,
                    resume_usec,
                    why,
                } => {
                    assert_eq!(kept_as, Some(sibling(&path, ".bad")));
                    assert_eq!(resume_usec, 1_700_000_000_000_000 - RESUME_MARGIN_USEC);
                    assert!(why.contains("not a journal cursor"), "{why}");
                    assert!(why.contains(prev) || why.contains("cursor"), "{why}");
                }
                other => panic!("{prev}: {other:?}"),
            }
            assert_eq!(fs::read(sibling(&path, ".bad")).unwrap(), b"garbage\n");
        }
        // Too large is damage too; not a regular file is an error.
        let big = File::create(&path).unwrap();
        big.set_len(MAX_SIZE + 1).unwrap();
        assert!(matches!(read(&path).unwrap(), Loaded::Damaged { .. }));
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert_eq!(read(&path).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_newer_format_is_an_error_and_left_alone() {
        let dir = Dir::new("newer");
        let path = dir.0.join("cursor");
        let covered = format!("logmon-state 3\nposition at {CURSOR}\n");
        let text = format!("{covered}crc32 {:08x}\n", crc32(covered.as_bytes()));
        fs::write(&path, &text).unwrap();
        let f = StateFile::open(&path).unwrap();
        let e = f.load().unwrap_err();
        assert!(e.to_string().contains("newer logmon"), "{e}");
        assert!(!sibling(&path, ".bad").exists());
    }

    #[test]
    fn a_second_open_is_refused_with_the_holders_pid() {
        let dir = Dir::new("lock");
        let path = dir.0.join("cursor");
        let first = StateFile::open(&path).unwrap();
        // flock belongs to the open file description: a second open in the
        // same process conflicts like another process would.
        match StateFile::open(&path).unwrap_err() {
            e @ OpenError::InUse { .. } => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("pid {}", std::process::id())),
                    "{msg}"
                );
                assert!(msg.contains(&path.display().to_string()), "{msg}");
            }
            e => panic!("{e}"),
        }
        drop(first);
        let _again = StateFile::open(&path).unwrap();
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let dir = Dir::new("symlink");
        let path = dir.0.join("cursor");
        let victim = dir.0.join("victim");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, sibling(&path, ".tmp")).unwrap();
        let mut f = StateFile::open(&path).unwrap();
        f.save(&good()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        drop(f);
        fs::remove_file(sibling(&path, ".lock")).unwrap();
        std::os::unix::fs::symlink(&victim, sibling(&path, ".lock")).unwrap();
        assert!(matches!(StateFile::open(&path), Err(OpenError::Io { .. })));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn root_gives_the_files_to_the_directorys_owner() {
        if sys::geteuid() != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = Dir::new("owner");
        let state_dir = dir.0.join("lib");
        fs::create_dir(&state_dir).unwrap();
        let (uid, gid) = (65534, 65534); // nobody, nogroup
        std::os::unix::fs::chown(&state_dir, Some(uid), Some(gid)).unwrap();
        fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o700)).unwrap();
        let path = state_dir.join("cursor");
        // A lock file left by an earlier root run.
        fs::write(sibling(&path, ".lock"), "").unwrap();
        let mut f = StateFile::open(&path).unwrap();
        f.save(&good()).unwrap();
        for name in ["", ".prev", ".lock"] {
            let m = fs::metadata(sibling(&path, name)).unwrap();
            assert_eq!((m.uid(), m.gid()), (uid, gid), "cursor{name}");
        }
        // A directory of root's own: files stay root's.
        let path = dir.0.join("cursor");
        let mut f = StateFile::open(&path).unwrap();
        f.save(&good()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().uid(), 0);
    }
}
