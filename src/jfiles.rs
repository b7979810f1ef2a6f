//! Which journal files a source consists of, and which of them logmon is
//! not reading: files libsystemd could not open (open-file limit, no
//! permission) and files that were truncated under it.
//!
//! libsystemd skips a file it cannot open without telling its caller
//! (journalctl only warns because it asks sd_journal's internal error list,
//! which is not exported). So logmon lists the files the way libsystemd 252
//! does (src/libsystemd/sd-journal/sd-journal.c: `add_search_paths`,
//! `add_root_directory`, `directory_enumerate`, `add_directory`) and compares
//! them with the descriptors in /proc/self/fd, by device and inode, so that
//! a rename (journald archiving a file) or a symlink does not fool it.
//! libsystemd 252 keeps one descriptor per file for as long as it tracks the
//! file; it closes one only when the file is deleted, replaced, or fails to
//! read (then it drops it: such a file is rightly reported as not read).

use crate::config::Source;
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where sd_journal_open and sd_journal_open_namespace look.
const RUN: &str = "/run/log/journal";
const VAR: &str = "/var/log/journal";
/// Also searched when SD_JOURNAL_LOCAL_ONLY is not given (logmon opens a
/// namespace with flags 0).
const REMOTE: &str = "/var/log/journal/remote";

/// The journal header up to `arena_size` (journal-def.h, `struct Header`).
const HEADER_FIELDS: usize = 104;
const SIGNATURE: &[u8; 8] = b"LPKSHHRH";

/// Which subdirectories of a root directory libsystemd descends into.
enum Subdirs<'a> {
    /// `<id128>` (any) under /run, `<machine-id>` elsewhere:
    /// sd_journal_open with SD_JOURNAL_LOCAL_ONLY.
    Local(Option<[u8; 16]>),
    /// `<id128>.<namespace>`: sd_journal_open_namespace, flags 0.
    Namespace(&'a str),
    /// `<id128>`: sd_journal_open_directory, flags 0.
    Plain,
}

/// The `*.journal` and `*.journal~` files libsystemd would read for
/// `source`, sorted. Directories that cannot be listed are left out.
pub fn source_files(source: &Source) -> Vec<PathBuf> {
    let mut files = Vec::new();
    match source {
        Source::Local => {
            let machine = fs::read_to_string("/etc/machine-id")
                .ok()
                .and_then(|s| id128(s.trim()));
            for root in [RUN, VAR] {
                add_root(Path::new(root), &Subdirs::Local(machine), &mut files);
            }
        }
        Source::Namespace(ns) => {
            for root in [RUN, VAR, REMOTE] {
                add_root(Path::new(root), &Subdirs::Namespace(ns), &mut files);
            }
        }
        Source::Directory(dir) => add_root(dir, &Subdirs::Plain, &mut files),
    }
    files.sort();
    files.dedup();
    files
}

/// The files of `source` that no descriptor of this process refers to:
/// libsystemd did not open them (or dropped them), so their entries are
/// not read. Meaningful right after opening the journal, before journald
/// had time to create a new file.
#[allow(dead_code)] // The reader module's entry point; the daemon logs reasons.
pub fn unopened(source: &Source) -> Vec<PathBuf> {
    diagnose(source).into_iter().map(|(path, _)| path).collect()
}

/// Why a journal file is not open.
#[derive(Debug)]
pub enum Reason {
    /// (Nearly) every descriptor up to the soft limit is in use.
    Limit(u64),
    /// This user may not read it.
    Denied,
    /// logmon cannot open it either.
    Error(io::Error),
    /// logmon can open it, so libsystemd refused what is in it.
    Refused,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Limit(n) => write!(f, "the open-file limit of {n} is reached"),
            Reason::Denied => f.write_str("permission denied"),
            Reason::Error(e) => write!(f, "{e}"),
            Reason::Refused => {
                f.write_str("libsystemd refused it: damaged, truncated or a newer format?")
            }
        }
    }
}

/// Fewer free descriptors than this after opening the journal means
/// libsystemd ran out of them (it frees the directory's after the scan).
const HEADROOM: u64 = 8;

/// [`unopened`], each file with the likely reason.
pub fn diagnose(source: &Source) -> Vec<(PathBuf, Reason)> {
    let (open, fds) = open_files();
    let limit = crate::sys::nofile_soft_limit().ok();
    let at_limit = limit.filter(|&n| fds.saturating_add(HEADROOM) >= n);
    source_files(source)
        .into_iter()
        .filter(|path| match fs::metadata(path) {
            Ok(m) => !open.contains(&(m.dev(), m.ino())),
            // Gone since it was listed: nothing left to read.
            Err(_) => false,
        })
        .map(|path| {
            let reason = match (at_limit, fs::File::open(&path)) {
                (_, Err(e)) if e.kind() == io::ErrorKind::PermissionDenied => Reason::Denied,
                (Some(n), _) => Reason::Limit(n),
                (None, Err(e)) => Reason::Error(e),
                (None, Ok(_)) => Reason::Refused,
            };
            (path, reason)
        })
        .collect()
}

/// What was reported already: without inotify the daemon reopens the
/// journal every 2 s, and the same 141 warnings each time would be a flood.
#[derive(Debug, Default)]
pub struct Reported(BTreeSet<PathBuf>);

impl Reported {
    /// [`diagnose`] again: the files not opened that were not reported last
    /// time (one opened since and lost again is new again), and how many
    /// are not opened now for another reason than permissions.
    pub fn update(&mut self, source: &Source) -> (Vec<(PathBuf, Reason)>, usize) {
        let now = diagnose(source);
        let total = now
            .iter()
            .filter(|(_, r)| !matches!(r, Reason::Denied))
            .count();
        let paths = now.iter().map(|(p, _)| p.clone()).collect();
        let before = std::mem::replace(&mut self.0, paths);
        let fresh = now
            .into_iter()
            .filter(|(p, _)| !before.contains(p))
            .collect();
        (fresh, total)
    }
}

/// The files of `source` that are shorter than their own header says:
/// cut while being written or read. libsystemd refuses to open such a file
/// (ENODATA), and a reader that had it mapped faults (SIGBUS).
pub fn truncated(source: &Source) -> Vec<PathBuf> {
    source_files(source)
        .into_iter()
        .filter(|path| is_truncated(path).unwrap_or(false))
        .collect()
}

fn is_truncated(path: &Path) -> io::Result<bool> {
    let file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::with_capacity(HEADER_FIELDS);
    file.take(HEADER_FIELDS as u64).read_to_end(&mut head)?;
    Ok(header_says_truncated(&head, len))
}

/// `head`: the first bytes of a file of `len` bytes. A file is truncated
/// when it is shorter than `header_size + arena_size`, or too short to
/// hold those fields at all; a file that is no journal is not.
fn header_says_truncated(head: &[u8], len: u64) -> bool {
    if head.len() < SIGNATURE.len() {
        return true;
    }
    if &head[..SIGNATURE.len()] != SIGNATURE {
        return false;
    }
    if head.len() < HEADER_FIELDS {
        return true;
    }
    let le64 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&head[at..at + 8]);
        u64::from_le_bytes(b)
    };
    match le64(88).checked_add(le64(96)) {
        Some(needed) => len < needed,
        None => false,
    }
}

/// (device, inode) of everything this process has open, and how many
/// descriptors it uses. Without a spare descriptor to list /proc/self/fd
/// (every one in use), each possible descriptor number is looked at
/// instead; stat(2) needs none.
fn open_files() -> (HashSet<(u64, u64)>, u64) {
    let paths: Box<dyn Iterator<Item = PathBuf>> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => Box::new(dir.flatten().map(|e| e.path())),
        Err(_) => {
            let limit = crate::sys::nofile_soft_limit().unwrap_or(1024).min(1 << 20);
            Box::new((0..limit).map(|fd| PathBuf::from(format!("/proc/self/fd/{fd}"))))
        }
    };
    let mut fds = 0;
    let mut files = HashSet::new();
    for path in paths {
        if let Ok(m) = fs::metadata(path) {
            fds += 1;
            files.insert((m.dev(), m.ino()));
        }
    }
    (files, fds)
}

/// A root directory: its own journal files, and those of the
/// subdirectories the source includes (one level only, as libsystemd).
fn add_root(root: &Path, subdirs: &Subdirs, files: &mut Vec<PathBuf>) {
    let Ok(dir) = fs::read_dir(root) else { return };
    let mut dirs = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_journal_name(name) {
            if path.is_file() {
                files.push(path);
            }
        } else if wanted_subdir(root, name, subdirs) && path.is_dir() {
            dirs.push(path);
        }
    }
    for dir in dirs {
        let Ok(listing) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in listing.flatten() {
            let path = entry.path();
            if entry.file_name().to_str().is_some_and(is_journal_name) && path.is_file() {
                files.push(path);
            }
        }
    }
}

fn is_journal_name(name: &str) -> bool {
    name.ends_with(".journal") || name.ends_with(".journal~")
}

/// sd-journal.c's `add_directory` filters for `name` under `root`.
fn wanted_subdir(root: &Path, name: &str, subdirs: &Subdirs) -> bool {
    let (id, namespace) = match name.split_once('.') {
        Some((id, ns)) => (id, Some(ns)),
        None => (name, None),
    };
    let Some(id) = id128(id) else { return false };
    match subdirs {
        Subdirs::Plain => namespace.is_none(),
        Subdirs::Namespace(ns) => namespace == Some(ns),
        Subdirs::Local(machine) => {
            namespace.is_none() && (root.starts_with(RUN) || *machine == Some(id))
        }
    }
}

/// A 128-bit ID as libsystemd spells it: 32 hex digits, or the UUID form
/// with dashes at 8, 13, 18 and 23; either case.
fn id128(s: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = match s.len() {
        32 => s.bytes().collect(),
        36 => {
            let b = s.as_bytes();
            if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
                return None;
            }
            s.bytes().filter(|&c| c != b'-').collect()
        }
        _ => return None,
    };
    if digits.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        id[i] = (hi << 4 | lo) as u8;
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MID: &str = "3d1219c7c4c5404aaa1f6d2a48adfda4";

    fn header(header_size: u64, arena_size: u64) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_FIELDS];
        h[..8].copy_from_slice(SIGNATURE);
        h[88..96].copy_from_slice(&header_size.to_le_bytes());
        h[96..104].copy_from_slice(&arena_size.to_le_bytes());
        h
    }

    #[test]
    fn a_file_shorter_than_its_header_says_is_truncated() {
        let h = header(264, 8_388_344);
        assert!(!header_says_truncated(&h, 8_388_608));
        assert!(!header_says_truncated(&h, 9_000_000));
        assert!(header_says_truncated(&h, 8_388_607));
        assert!(header_says_truncated(&h, 4_194_304));
    }

    #[test]
    fn too_short_for_the_header_is_truncated_but_not_a_journal_is_not() {
        assert!(header_says_truncated(b"", 0));
        assert!(header_says_truncated(b"LPKS", 4));
        assert!(header_says_truncated(&header(264, 0)[..50], 50));
        assert!(!header_says_truncated(b"not a journal file at all", 25));
        assert!(!header_says_truncated(&header(u64::MAX, 2), 4096));
    }

    #[test]
    fn ids_in_both_spellings() {
        let id = id128(MID).unwrap();
        assert_eq!(id[0], 0x3d);
        assert_eq!(id128("3D1219C7C4C5404AAA1F6D2A48ADFDA4"), Some(id));
        assert_eq!(id128("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"), Some(id));
        assert_eq!(id128("3d1219c7c4c5404aaa1f6d2a48adfda"), None);
        assert_eq!(id128("3d1219c7-c4c5404a-aa1f-6d2a48adfda4"), None);
        assert_eq!(id128("3d1219c7c4c5404aaa1f6d2a48adfdxx"), None);
        assert_eq!(id128("remote"), None);
    }

    #[test]
    fn subdirectories_as_libsystemd_picks_them() {
        let other = "0123456789abcdef0123456789abcdef";
        let run = Path::new(RUN);
        let var = Path::new(VAR);
        let local = Subdirs::Local(id128(MID));
        assert!(wanted_subdir(var, MID, &local));
        assert!(!wanted_subdir(var, other, &local));
        // Everything under /run counts as local.
        assert!(wanted_subdir(run, other, &local));
        assert!(!wanted_subdir(var, &format!("{MID}.ns"), &local));
        assert!(!wanted_subdir(var, "remote", &local));

        let ns = Subdirs::Namespace("ns");
        assert!(wanted_subdir(var, &format!("{MID}.ns"), &ns));
        assert!(wanted_subdir(var, &format!("{other}.ns"), &ns));
        assert!(!wanted_subdir(var, &format!("{MID}.ns2"), &ns));
        assert!(!wanted_subdir(var, MID, &ns));

        let dir = Path::new("/srv/j");
        assert!(wanted_subdir(dir, other, &Subdirs::Plain));
        assert!(!wanted_subdir(dir, &format!("{other}.ns"), &Subdirs::Plain));
        assert!(!wanted_subdir(dir, "old", &Subdirs::Plain));
    }

    #[test]
    fn journal_names() {
        assert!(is_journal_name("system.journal"));
        assert!(is_journal_name("system@x-y.journal~"));
        assert!(!is_journal_name("system.journal.gz"));
        assert!(!is_journal_name("journal"));
    }

    #[test]
    fn a_directory_source_lists_its_files_and_plain_id_subdirectories() {
        let root = std::env::temp_dir().join(format!("logmon-jfiles-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let sub = root.join("0123456789abcdef0123456789abcdef");
        let ns = root.join("0123456789abcdef0123456789abcdef.ns");
        let deeper = sub.join("0123456789abcdef0123456789abcdee");
        for d in [&sub, &ns, &deeper] {
            fs::create_dir_all(d).unwrap();
        }
        for f in [
            root.join("a.journal"),
            root.join("b.journal~"),
            root.join("c.txt"),
            sub.join("d.journal"),
            ns.join("e.journal"),
            deeper.join("f.journal"),
        ] {
            fs::write(f, b"x").unwrap();
        }
        fs::create_dir(root.join("g.journal")).unwrap();
        let got = source_files(&Source::Directory(root.clone()));
        let _ = fs::remove_dir_all(&root);
        let want = vec![
            sub.join("d.journal"),
            root.join("a.journal"),
            root.join("b.journal~"),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_file_this_process_holds_open_is_not_unopened() {
        let root = std::env::temp_dir().join(format!("logmon-jfiles-open-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("held.journal"), b"x").unwrap();
        fs::write(root.join("loose.journal"), b"x").unwrap();
        let held = fs::File::open(root.join("held.journal")).unwrap();
        let source = Source::Directory(root.clone());
        let got = unopened(&source);
        drop(held);
        let after = unopened(&source);
        let _ = fs::remove_dir_all(&root);
        assert_eq!(got, vec![root.join("loose.journal")]);
        assert_eq!(after.len(), 2);
    }

    #[test]
    fn each_unopened_file_is_reported_once_until_it_was_open_again() {
        let root = std::env::temp_dir().join(format!("logmon-jfiles-rep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("a.journal"), b"x").unwrap();
        fs::write(root.join("b.journal"), b"x").unwrap();
        let source = Source::Directory(root.clone());
        let mut reported = Reported::default();
        let first = reported.update(&source);
        let again = reported.update(&source);
        let held = fs::File::open(root.join("a.journal")).unwrap();
        let while_open = reported.update(&source);
        drop(held);
        let lost_again = reported.update(&source);
        let _ = fs::remove_dir_all(&root);
        assert_eq!((first.0.len(), first.1), (2, 2));
        assert_eq!((again.0.len(), again.1), (0, 2));
        assert_eq!((while_open.0.len(), while_open.1), (0, 1));
        let names: Vec<_> = lost_again.0.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(names, vec![root.join("a.journal")]);
        assert_eq!(lost_again.1, 2);
        assert!(
            matches!(lost_again.0[0].1, Reason::Refused),
            "{:?}",
            lost_again.0[0].1
        );
    }
}
