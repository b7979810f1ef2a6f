//! The journal as logmon reads it: open, seek, step, reopen.
//!
//! [`Reader`] owns the `sd_journal` handle and knows where it stands: the
//! [`Mark`] of the last entry read, the [`Start`] of this run, and whether
//! it sits on an entry not yet handed out (after a resume at a cursor whose
//! entry is gone, the entry it landed on is new). One [`Reader::seek`]
//! serves the start, a resume and a reopen, so they cannot disagree.
//!
//! [`Entry`] is the current entry as the engine sees it: each field is
//! looked up in the journal once per entry and kept, so 1,000 rules on
//! MESSAGE cost one lookup (each walks the entry's items), not 1,000.

use crate::batch::Alert;
use crate::cli::Since;
use crate::config::{Boot, Source};
use crate::error::{Context, Error};
use crate::jfiles;
use crate::journal::{Change, Journal};
use crate::log::{log, NOTICE, WARNING};
use crate::position::{Gap, Gaps, Mark, Start};
use crate::rules::{head, FieldSet, Fields};
use std::io;
use std::path::PathBuf;

/// Decompress at most this much of a field: rules and mails need no more.
const DATA_THRESHOLD: usize = 64 * 1024;

pub struct Reader {
    /// `None` only between closing a handle and a failed reopen: every
    /// call then fails until a reopen succeeds.
    journal: Option<Journal>,
    source: Source,
    /// Where this run started (resolved: never `Tail`).
    started: Start,
    /// The last entry handed out; its cursor is read only when needed
    /// (empty until then): the journal stays on that entry until the next
    /// step.
    last: Option<Mark>,
    /// The journal is positioned on an entry not handed out yet.
    on_unread: bool,
    /// Entries handed out in this run.
    count: u64,
    gaps: Gaps,
    cache: FieldCache,
    /// Journal files not read that were reported already.
    unopened: jfiles::Reported,
    /// A second handle for `context =`, opened when first needed.
    context_journal: Option<Journal>,
}

/// What [`Reader::check_files`] found.
pub struct FilesReport {
    /// Journal files of the source not read now (permissions aside).
    pub unread: usize,
    /// One line for the admin when files newly went unread.
    pub new_problem: Option<String>,
}

/// One step of reading.
pub enum Step {
    /// The next entry, its place in this run's reading order and its time;
    /// `gap` when a checkpoint found entries vanished before it.
    Entry {
        seq: u64,
        usec: u64,
        gap: Option<Gap>,
    },
    /// At the end for now (`gap`: as above, for the last entry read).
    End { gap: Option<Gap> },
}

/// Entries between two sequence-number checkpoints (see [`Gaps`]).
const CHECK_EVERY: u64 = 1024;

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

/// The directories a namespace's journald writes to. A socket-activated
/// namespace creates them at its first line: until one exists libsystemd
/// watches nothing, so the daemon reopens when one appears.
pub fn namespace_dirs(ns: &str) -> Vec<PathBuf> {
    let id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let id = id.trim();
    ["/var/log/journal", "/run/log/journal"]
        .iter()
        .map(|base| PathBuf::from(format!("{base}/{id}.{ns}")))
        .collect()
}

impl Reader {
    pub fn open(source: &Source) -> Result<Reader, Error> {
        Ok(Reader {
            journal: Some(open_journal(source)?),
            source: source.clone(),
            started: Start::Head,
            last: None,
            on_unread: false,
            count: 0,
            gaps: Gaps::default(),
            cache: FieldCache::default(),
            unopened: jfiles::Reported::default(),
            context_journal: None,
        })
    }

    /// A namespace source whose directories do not exist yet.
    pub fn waiting_for_namespace(&self) -> bool {
        match &self.source {
            Source::Namespace(ns) => !namespace_dirs(ns).iter().any(|d| d.is_dir()),
            _ => false,
        }
    }

    /// The open handle; an error while a reopen has failed.
    pub fn journal(&mut self) -> io::Result<&mut Journal> {
        self.journal
            .as_mut()
            .ok_or_else(|| io::Error::other("the journal is closed (a reopen failed)"))
    }

    /// Position the journal at `start`. `known_usec` is the time of the
    /// entry a cursor names, when the state file recorded it (for the
    /// report if that entry is gone). Returns a description of what could
    /// not be resumed exactly, if anything.
    pub fn seek(
        &mut self,
        start: &Start,
        known_usec: Option<u64>,
    ) -> Result<Option<String>, Error> {
        self.on_unread = false;
        self.last = None;
        let mut problem = None;
        let resolved = match start {
            Start::Head => {
                self.seek_head()?;
                Start::Head
            }
            Start::Tail => self.seek_tail()?,
            Start::Time(usec) => {
                self.journal()
                    .and_then(|j| j.seek_realtime_usec(*usec))
                    .context(|| "seeking the journal by time".into())?;
                start.clone()
            }
            Start::After(c) | Start::At(c) => {
                let inclusive = matches!(start, Start::At(_));
                self.gaps.expect_after(c, known_usec, inclusive, self.count);
                problem = self.seek_cursor(c, inclusive, known_usec)?;
                start.clone()
            }
        };
        self.started = resolved;
        Ok(problem)
    }

    fn seek_head(&mut self) -> Result<(), Error> {
        self.journal()
            .and_then(|j| j.seek_head())
            .context(|| "seeking to the journal head".into())
    }

    /// The end of the journal: `seek_tail` then `previous`, landing on the
    /// last entry so that `next` returns only newer ones (systemd #9934);
    /// that entry counts as read. An empty journal is read from its head:
    /// from a tail position libsystemd would return only the last entry of
    /// a file that appears later.
    fn seek_tail(&mut self) -> Result<Start, Error> {
        let j = self
            .journal()
            .context(|| "seeking to the journal tail".into())?;
        j.seek_tail()
            .context(|| "seeking to the journal tail".into())?;
        if !j.previous().context(|| "reading the journal tail".into())? {
            self.seek_head()?;
            return Ok(Start::Head);
        }
        let cursor = j.cursor().context(|| "reading the tail cursor".into())?;
        let usec = j.realtime_usec().unwrap_or(0);
        self.gaps.observe(&cursor, usec, self.count);
        self.last = Some(Mark {
            cursor: cursor.clone(),
            usec,
            seq: 0,
        });
        Ok(Start::After(cursor))
    }

    fn seek_cursor(
        &mut self,
        cursor: &str,
        inclusive: bool,
        known_usec: Option<u64>,
    ) -> Result<Option<String>, Error> {
        let Some(j) = self.journal.as_mut() else {
            return Err(Error::Runtime(
                "the journal is closed (a reopen failed)".into(),
            ));
        };
        if let Err(e) = j.seek_cursor(cursor) {
            // Not a cursor libsystemd can use: its entry's time, if known,
            // else the end, the only place left that loses nothing new.
            if let Some(usec) = known_usec {
                j.seek_realtime_usec(usec)
                    .context(|| "seeking the journal by time".into())?;
                return Ok(Some(format!(
                    "the saved position is unusable ({e}); reading from its time, {}",
                    crate::daemon::format_time(usec)
                )));
            }
            self.seek_tail()?;
            return Ok(Some(format!(
                "the saved position is unusable ({e}); reading from the end"
            )));
        }
        if !j.next().context(|| "reading the journal".into())? {
            return Ok(None);
        }
        if j.test_cursor(cursor).unwrap_or(false) {
            // After(c): the saved entry itself was handled already.
            // At(c): it is the first one not handled yet.
            self.on_unread = inclusive;
            if !inclusive {
                let usec = j.realtime_usec().unwrap_or(0);
                self.last = Some(Mark {
                    cursor: cursor.to_string(),
                    usec,
                    seq: 0,
                });
            }
            return Ok(None);
        }
        // The saved entry is gone (vacuumed): the one we landed on is the
        // oldest after it, and new to us.
        self.on_unread = true;
        let when = j.realtime_usec().ok();
        Ok(Some(format!(
            "the saved journal position no longer exists (vacuumed?); resuming at the oldest entry after it{}",
            when.map(|t| format!(", from {}", crate::daemon::format_time(t))).unwrap_or_default()
        )))
    }

    /// The realtime of the current boot's first entry. The boot is the
    /// kernel's boot ID, or, where that cannot be read (ProcSubset=pid) or
    /// has no entries (a container logs under another ID than it reads),
    /// the boot of the newest entry in the journal.
    pub fn boot_start_usec(&mut self) -> Option<u64> {
        let kernel = crate::journal::boot_id().ok();
        if let Some(t) = kernel.and_then(|id| self.first_entry_of_boot(&id)) {
            return Some(t);
        }
        let j = self.journal().ok()?;
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
        let j = self.journal().ok()?;
        j.add_match(format!("_BOOT_ID={boot_id}").as_bytes()).ok()?;
        let found = j.seek_head().and_then(|()| j.next());
        let usec = match found {
            Ok(true) => j.realtime_usec().ok(),
            _ => None,
        };
        j.flush_matches();
        usec
    }

    /// Where `--since` starts. A start that is not a resume is limited to
    /// the current boot by `boot = current`, never for other hosts'
    /// journals (`directory =`).
    pub fn start_of(&mut self, since: &Since, boot: Boot) -> Result<Start, Error> {
        let now_usec = crate::sys::realtime_secs().max(0) as u64 * 1_000_000;
        let time = match since {
            Since::Tail | Since::Cursor => return Ok(Start::Tail),
            Since::Boot => {
                return Ok(match self.boot_start_usec() {
                    Some(t) => Start::Time(t),
                    None => {
                        log!(
                            NOTICE,
                            "no entries of the current boot found; starting at the oldest entry"
                        );
                        Start::Head
                    }
                })
            }
            Since::Ago(secs) => now_usec.saturating_sub(secs * 1_000_000),
            Since::At(y, mo, d, h, mi, s) => {
                let t = crate::sys::mktime_local(*y, *mo, *d, *h, *mi, *s)
                    .ok_or_else(|| Error::Usage("--since: no such local time".into()))?;
                t.max(0) as u64 * 1_000_000
            }
        };
        let clamp = boot == Boot::Current && !matches!(self.source, Source::Directory(_));
        Ok(
            match self.boot_start_usec().filter(|&b| clamp && b > time) {
                Some(b) => {
                    log!(
                    NOTICE,
                    "boot = current: starting at the current boot ({}); set boot = all to look further back",
                    crate::daemon::format_time(b)
                );
                    Start::Time(b)
                }
                None => Start::Time(time),
            },
        )
    }

    /// Journal files libsystemd did not open (or dropped after a read
    /// error) hold entries never read, and libsystemd says nothing: name
    /// each one in the log, once. Files this user may not read are one
    /// notice, not a failure: that is what the user may see.
    pub fn check_files(&mut self) -> FilesReport {
        let (fresh, unread) = self.unopened.update(&self.source);
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
        if denied > 0 {
            log!(
                NOTICE,
                "{denied} journal files are not readable by this user and not read"
            );
        }
        FilesReport {
            unread,
            new_problem: (fresh.len() > denied).then(|| {
                format!("{unread} journal files are not read (not opened, or dropped after a read error): see logmon's log for which")
            }),
        }
    }

    /// After a read: was a journal file truncated under us (a SIGBUS that
    /// `sigbus` survived)? Then the journal is opened afresh at the last
    /// entry read (libsystemd refuses the cut file from now on; what it
    /// held past the cut is lost, and a sequence gap may count it), and
    /// the text names the file.
    pub fn survive_truncation(&mut self) -> Result<Option<String>, Error> {
        if crate::sigbus::take() == 0 {
            return Ok(None);
        }
        let files = jfiles::truncated(&self.source);
        let text = if files.is_empty() {
            format!(
                "SIGBUS reading the journal (page {:#x}), but no journal file is shorter than its header says: a file was truncated and removed, or its storage failed",
                crate::sigbus::last_address().unwrap_or(0)
            )
        } else {
            let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
            format!(
                "journal file {} was truncated while logmon read it; its entries past the cut are lost",
                names.join(", ")
            )
        };
        if let Some(problem) = self.reopen()? {
            log!(NOTICE, "{problem}");
        }
        Ok(Some(text))
    }

    /// Move to the next entry.
    pub fn step(&mut self) -> io::Result<Step> {
        if self.on_unread {
            self.on_unread = false;
        } else if !self.journal()?.next()? {
            // Still on the last entry read: a checkpoint if one is due.
            let unchecked = self.last.as_ref().is_some_and(|m| m.cursor.is_empty());
            let gap = if unchecked { self.checkpoint() } else { None };
            return Ok(Step::End { gap });
        }
        self.cache.clear();
        self.count += 1;
        let usec = self.journal()?.realtime_usec()?;
        self.last = Some(Mark {
            cursor: String::new(),
            usec,
            seq: self.count,
        });
        let gap = if self.count % CHECK_EVERY == 0 {
            self.checkpoint()
        } else {
            None
        };
        Ok(Step::Entry {
            seq: self.count,
            usec,
            gap,
        })
    }

    /// Read the last entry's cursor, and look for a sequence gap up to it.
    fn checkpoint(&mut self) -> Option<Gap> {
        let cursor = self.journal.as_mut()?.cursor().ok()?;
        let last = self.last.as_mut()?;
        last.cursor = cursor;
        self.gaps.observe(&last.cursor, last.usec, self.count)
    }

    /// The current entry's fields, each looked up once (none while the
    /// journal is closed).
    pub fn entry(&mut self) -> Entry<'_> {
        Entry {
            journal: self.journal.as_mut(),
            cache: &mut self.cache,
        }
    }

    /// Up to `n` entries logged just before the current one by the same
    /// unit run, oldest first: the same `_SYSTEMD_INVOCATION_ID` (for
    /// systemd's own lines about a unit, the run their `INVOCATION_ID`
    /// names), else the same unit name, host and boot. Any priority. Read
    /// back from the journal with a second handle and matches, so nothing
    /// is kept per unit in memory.
    pub fn context(&mut self, n: u8, alert: &Alert) -> Vec<Alert> {
        let mut entry = self.entry();
        let mut matches: Vec<Vec<u8>> = Vec::new();
        let about_unit = entry_has(&mut entry, "UNIT") || entry_has(&mut entry, "USER_UNIT");
        let run = entry
            .field("INVOCATION_ID")
            .filter(|_| about_unit)
            .map(<[u8]>::to_vec)
            .or_else(|| entry.field("_SYSTEMD_INVOCATION_ID").map(<[u8]>::to_vec));
        match run {
            Some(id) => matches.push([b"_SYSTEMD_INVOCATION_ID=".as_slice(), &id].concat()),
            None => {
                let unit_field = crate::engine::UNIT_FIELDS
                    .iter()
                    .find(|f| entry.field(f).is_some());
                for field in unit_field.into_iter().chain(&["_HOSTNAME", "_BOOT_ID"]) {
                    if let Some(v) = entry.field(field) {
                        matches.push([field.as_bytes(), b"=", v].concat());
                    }
                }
            }
        }
        let Some(cursor) = self.journal.as_mut().and_then(|j| j.cursor().ok()) else {
            return Vec::new();
        };
        if self.context_journal.is_none() {
            self.context_journal = open_journal(&self.source).ok();
        }
        let Some(j) = self.context_journal.as_mut() else {
            return Vec::new();
        };
        j.flush_matches();
        let mut out = Vec::new();
        if matches.iter().any(|m| j.add_match(m).is_err()) || j.seek_cursor(&cursor).is_err() {
            j.flush_matches();
            return out;
        }
        while out.len() < n as usize && j.previous().unwrap_or(false) {
            if j.test_cursor(&cursor).unwrap_or(false) {
                continue;
            }
            out.push(context_line(j, alert.rule));
        }
        j.flush_matches();
        out.reverse();
        out
    }

    /// The catalog text of the current entry's MESSAGE_ID, if any.
    pub fn catalog(&mut self) -> Option<String> {
        self.journal.as_mut()?.catalog().ok().flatten()
    }

    /// The last entry handed out, with its cursor.
    pub fn last(&mut self) -> Option<Mark> {
        if self.last.as_ref()?.cursor.is_empty() {
            let cursor = self.journal.as_mut()?.cursor().ok()?;
            if let Some(last) = self.last.as_mut() {
                last.cursor = cursor;
            }
        }
        self.last.clone()
    }

    pub fn started(&self) -> &Start {
        &self.started
    }

    /// Entries handed out in this run.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Where this reader would go on from: after the last entry handed
    /// out, else at an unread entry it sits on, else its start.
    pub fn resume_point(&mut self) -> Start {
        if self.on_unread {
            if let Some(Ok(c)) = self.journal.as_mut().map(|j| j.cursor()) {
                return Start::At(c);
            }
        }
        match self.last() {
            Some(m) => Start::After(m.cursor),
            None => self.started.clone(),
        }
    }

    /// Open the journal afresh where this reader stands (new files, a
    /// rotation without inotify, a namespace that appeared, a file that
    /// was truncated under us).
    pub fn reopen(&mut self) -> Result<Option<String>, Error> {
        let point = self.resume_point();
        let last = self.last();
        let usec = last.as_ref().map(|m| m.usec);
        let count = self.count;
        let started = self.started.clone();
        // Close first: with few descriptors left (a low open-file limit)
        // the new handle needs the old one's.
        self.journal = None;
        self.context_journal = None;
        self.journal = Some(open_journal(&self.source)?);
        let problem = self.seek(&point, usec)?;
        // Still the same run: its start and count stay.
        self.started = started;
        self.count = count;
        if self.last.is_none() {
            self.last = last;
        }
        Ok(problem)
    }

    pub fn fd(&mut self) -> io::Result<libc::c_int> {
        self.journal()?.fd()
    }

    pub fn process(&mut self) -> io::Result<Change> {
        let change = self.journal()?.process()?;
        if change == Change::Invalidate {
            // Files came or went: the context handle knows only the files
            // of its opening (it has no inotify of its own), so a line in a
            // new file had no context, and a vacuumed file stayed open.
            // Opened again, with today's files, when next needed.
            self.context_journal = None;
        }
        Ok(change)
    }
}

/// The current entry's fields, read on first use: all of them in one walk
/// over the entry's items ([`Journal::each_item`]), so that the ~20 fields
/// the rules ask about cost one walk, not one each. Should the walk fail (an
/// unreadable item), the entry falls back to one `sd_journal_get_data` per
/// field asked for, which skips unreadable items.
#[derive(Default)]
struct FieldCache {
    /// `NAME=value` of each item, one after another. Reused from entry to
    /// entry: no allocation per entry once it has grown.
    bytes: Vec<u8>,
    /// Per item, in the entry's order: the first 8 bytes of `NAME=value`
    /// (0-padded), which tell most names apart, so that a lookup is a
    /// tight loop over these and rarely compares more.
    heads: Vec<u64>,
    /// Per item: (start, end) of `NAME=value` in `bytes`, and whether
    /// the entry has it (falling back, a field asked for and missing is
    /// remembered too, as `NAME=`).
    spans: Vec<(usize, usize, bool)>,
    state: CacheState,
    /// For [`Entry::values`]: the names found.
    seen: Vec<bool>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum CacheState {
    /// Nothing read for this entry yet.
    #[default]
    Empty,
    /// Every item read.
    Whole,
    /// The walk failed: fields are read one by one as they are asked for.
    PerField,
}

impl FieldCache {
    fn clear(&mut self) {
        self.bytes.clear();
        self.heads.clear();
        self.spans.clear();
        self.state = CacheState::Empty;
    }

    fn add(&mut self, item: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(item);
        self.heads.push(head(item));
        self.spans.push((start, self.bytes.len(), true));
    }

    /// `Some(value)` when the cache knows: `Some(None)` for a missing
    /// field.
    fn lookup(&self, name: &str) -> Option<Option<&[u8]>> {
        let name = name.as_bytes();
        // Match `NAME=` on its first 8 bytes (or all of it, if shorter).
        let prefix = name.len() + 1;
        let want = match name.len() {
            0..8 => head(name) | u64::from(b'=') << (8 * name.len()),
            _ => head(name),
        };
        let mask = match prefix {
            0..8 => (1u64 << (8 * prefix)) - 1,
            _ => u64::MAX,
        };
        let mut from = 0;
        while let Some(i) = self.heads[from..].iter().position(|&h| h & mask == want) {
            let (start, end, present) = self.spans[from + i];
            let item = &self.bytes[start..end];
            if item.len() >= prefix && item[..name.len()] == *name && item[name.len()] == b'=' {
                return Some(present.then(|| &item[prefix..]));
            }
            from += i + 1;
        }
        (self.state == CacheState::Whole).then_some(None)
    }

    fn read_all(&mut self, journal: &mut Journal) {
        self.clear();
        let result = journal.each_item(|item| self.add(item));
        if result.is_ok() {
            self.state = CacheState::Whole;
        } else {
            self.clear();
            self.state = CacheState::PerField;
        }
    }
}

pub struct Entry<'r> {
    journal: Option<&'r mut Journal>,
    cache: &'r mut FieldCache,
}

impl Fields for Entry<'_> {
    fn cursor(&mut self) -> String {
        self.journal
            .as_mut()
            .and_then(|j| j.cursor().ok())
            .unwrap_or_default()
    }

    /// One walk over the entry's items, without keeping those not asked
    /// for; should it fail, one lookup per name not found before.
    fn values(&mut self, set: &FieldSet, each: &mut dyn FnMut(usize, &[u8])) {
        let Some(journal) = self.journal.as_deref_mut() else {
            return;
        };
        let seen = &mut self.cache.seen;
        seen.clear();
        seen.resize(set.names.len(), false);
        let walk = journal.each_item(|item| {
            if let Some((i, value_at)) = set.find(item) {
                // The first item of a name counts, as for sd_journal_get_data.
                if !seen[i] {
                    seen[i] = true;
                    each(i, &item[value_at..]);
                }
            }
        });
        if walk.is_err() {
            for (i, name) in set.names.iter().enumerate() {
                if !seen[i] {
                    if let Ok(Some(v)) = journal.data(name) {
                        each(i, v);
                    }
                }
            }
        }
    }

    /// Unreadable data (EBADMSG, a corrupt file) counts as a missing field:
    /// one bad entry must not stop the monitor.
    fn field(&mut self, name: &str) -> Option<&[u8]> {
        let journal = self.journal.as_deref_mut()?;
        let c = &mut *self.cache;
        if c.state == CacheState::Empty {
            c.read_all(journal);
        }
        if c.lookup(name).is_none() {
            // Falling back: remember the answer.
            let value = journal.data(name).ok().flatten();
            let start = c.bytes.len();
            c.bytes.extend_from_slice(name.as_bytes());
            c.bytes.push(b'=');
            c.bytes.extend_from_slice(value.unwrap_or_default());
            c.heads.push(head(&c.bytes[start..]));
            c.spans.push((start, c.bytes.len(), value.is_some()));
        }
        c.lookup(name).flatten()
    }
}

fn entry_has(entry: &mut Entry, field: &str) -> bool {
    entry.field(field).is_some()
}

/// Bytes of a context line's message kept: enough for a mail line.
const CONTEXT_MESSAGE: usize = 500;

/// The entry the context handle is on, as a mail line shows it.
fn context_line(j: &mut Journal, rule: usize) -> Alert {
    let text = |j: &mut Journal, f: &str, max: usize| {
        j.field(f)
            .map(|v| String::from_utf8_lossy(&v[..v.len().min(max)]).into_owned())
            .unwrap_or_default()
    };
    Alert {
        time_usec: j.realtime_usec().unwrap_or(0),
        unit: crate::engine::unit_name(j),
        host: text(j, "_HOSTNAME", 256),
        pid: text(j, "_PID", 32),
        message: text(j, "MESSAGE", CONTEXT_MESSAGE),
        rule,
        message_id: None,
        context: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(items: &[&str]) -> FieldCache {
        let mut c = FieldCache::default();
        for i in items {
            c.add(i.as_bytes());
        }
        c.state = CacheState::Whole;
        c
    }

    /// Names shorter than, as long as and longer than the 8 bytes a
    /// lookup compares first; the first of a repeated name; no value, or
    /// `=` in it; names that are prefixes of others.
    #[test]
    fn the_cache_finds_what_sd_journal_get_data_would() {
        let c = cache(&[
            "_PID=1",
            "MESSAGE=hello=x",
            "_SYSTEMD_UNIT=a.service",
            "_SYSTEMD_UNIT_X=b",
            "_SYSTEMD_UNIT=second",
            "UNIT=",
            "X=1",
            "no equals sign",
            "LONGER_THAN_EIGHT_BYTES=1",
            "MESSAGE_ID=abc",
        ]);
        let get = |n: &str| {
            c.lookup(n)
                .expect("a whole entry knows")
                .map(|v| v.to_vec())
        };
        let some = |s: &str| Some(s.as_bytes().to_vec());
        assert_eq!(get("_PID"), some("1"));
        assert_eq!(get("MESSAGE"), some("hello=x"));
        assert_eq!(get("MESSAGE_ID"), some("abc"));
        assert_eq!(get("_SYSTEMD_UNIT"), some("a.service"));
        assert_eq!(get("_SYSTEMD_UNIT_X"), some("b"));
        assert_eq!(get("UNIT"), some(""));
        assert_eq!(get("X"), some("1"));
        assert_eq!(get("LONGER_THAN_EIGHT_BYTES"), some("1"));
        for missing in [
            "_SYSTEMD",
            "_PI",
            "MESSAG",
            "LONGER_THAN_EIGHT",
            "Y",
            "no equals sign",
        ] {
            assert_eq!(get(missing), None, "{missing}");
        }
    }

    #[test]
    fn falling_back_the_cache_remembers_answers_and_knows_nothing_else() {
        let mut c = FieldCache {
            state: CacheState::PerField,
            ..FieldCache::default()
        };
        assert_eq!(c.lookup("MESSAGE"), None);
        for (name, value) in [("MESSAGE", Some("hi")), ("UNIT", None)] {
            let start = c.bytes.len();
            c.bytes
                .extend_from_slice(format!("{name}={}", value.unwrap_or("")).as_bytes());
            c.heads.push(head(&c.bytes[start..]));
            c.spans.push((start, c.bytes.len(), value.is_some()));
        }
        assert_eq!(c.lookup("MESSAGE"), Some(Some(&b"hi"[..])));
        assert_eq!(c.lookup("UNIT"), Some(None));
        assert_eq!(c.lookup("PRIORITY"), None);
        c.clear();
        assert_eq!(c.lookup("MESSAGE"), None);
    }

    #[test]
    fn a_field_set_picks_its_names_out_of_items() {
        let set = FieldSet::new(vec!["MESSAGE".into(), "_SYSTEMD_UNIT".into(), "U".into()]);
        assert_eq!(set.find(b"MESSAGE=x"), Some((0, 8)));
        assert_eq!(set.find(b"_SYSTEMD_UNIT=a"), Some((1, 14)));
        assert_eq!(set.find(b"U="), Some((2, 2)));
        for other in [
            &b"MESSAGE_ID=x"[..],
            b"_SYSTEMD_UNITS=a",
            b"UNIT=x",
            b"MESSAGE",
            b"M",
            b"",
        ] {
            assert_eq!(
                set.find(other),
                None,
                "{:?}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
