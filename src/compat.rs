//! What this libsystemd cannot do, said out loud instead of read as
//! silence: journal files it reads no entry from, and journal namespaces it
//! has no function for.
//!
//! A libsystemd older than the systemd that wrote a journal file refuses
//! the file when its header names a feature it does not know (libsystemd
//! 247 and the COMPACT files of systemd 252: journalctl says "Protocol not
//! supported"), and a reader sees an empty journal without an error: logmon
//! would "read 0 entries" and be content. [`nothing_read`] compares the
//! journal with its files: files whose headers count entries, and a journal
//! that yields none of them, mean logmon sees nothing of its source.
//! (jfiles names each file libsystemd did not open; this is the verdict on
//! the source as a whole, and it also holds when libsystemd keeps a file
//! open but yields nothing from it.)

use crate::config::Source;
use crate::jfiles;
use crate::journal::Journal;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

const SIGNATURE: &[u8; 8] = b"LPKSHHRH";
/// The header (journal-def.h, `struct Header`) up to `n_entries`.
const HEADER_TO_N_ENTRIES: usize = 160;

/// journal-def.h's incompatible header flags, with the systemd release
/// that introduced each (a libsystemd before it refuses the file).
const FLAGS: [(u32, &str, u32); 5] = [
    (1 << 0, "COMPRESSED-XZ", 201),
    (1 << 1, "COMPRESSED-LZ4", 216),
    (1 << 2, "KEYED-HASH", 246),
    (1 << 3, "COMPRESSED-ZSTD", 246),
    (1 << 4, "COMPACT", 252),
];

/// What a journal file's header says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub incompatible_flags: u32,
    pub n_entries: u64,
}

/// `head`: the first bytes of a file. `None` for a file that is no journal
/// file or too short to say how many entries it holds.
pub fn parse_header(head: &[u8]) -> Option<Header> {
    if head.len() < HEADER_TO_N_ENTRIES || &head[..SIGNATURE.len()] != SIGNATURE {
        return None;
    }
    let le32 = |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let le64 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&head[at..at + 8]);
        u64::from_le_bytes(b)
    };
    // header_size: a header too short to hold n_entries says nothing.
    if le64(88) < HEADER_TO_N_ENTRIES as u64 {
        return None;
    }
    Some(Header {
        incompatible_flags: le32(12),
        n_entries: le64(152),
    })
}

fn read_header(path: &Path) -> Option<Header> {
    let file = fs::File::open(path).ok()?;
    let mut head = Vec::with_capacity(HEADER_TO_N_ENTRIES);
    file.take(HEADER_TO_N_ENTRIES as u64)
        .read_to_end(&mut head)
        .ok()?;
    parse_header(&head)
}

/// What the flags say about who can read a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needs {
    /// No incompatible flag: any libsystemd of the last decade.
    Nothing,
    /// The newest flag set and the systemd release that introduced it.
    Release(&'static str, u32),
    /// A bit that no systemd logmon knows of sets.
    Unknown,
}

/// `KEYED-HASH COMPRESSED-ZSTD COMPACT`, named as `journalctl --header`
/// names them, and what reading them needs.
pub fn describe_flags(flags: u32) -> (String, Needs) {
    let mut names = Vec::new();
    let mut needs = Needs::Nothing;
    for (bit, name, release) in FLAGS {
        if flags & bit != 0 {
            names.push(name.to_string());
            if !matches!(needs, Needs::Release(_, r) if r >= release) {
                needs = Needs::Release(name, release);
            }
        }
    }
    let rest = FLAGS.iter().fold(flags, |rest, (bit, _, _)| rest & !bit);
    if rest != 0 {
        names.push(format!("unknown {rest:#x}"));
        needs = Needs::Unknown;
    }
    if names.is_empty() {
        names.push("none".into());
    }
    (names.join(" "), needs)
}

/// The files of `source` that hold entries by their headers, when the
/// journal opened on it yields no entry at all: one line for the admin.
/// `None` when the journal yields an entry, or no file claims to hold one
/// (a new, empty journal is no problem). Files this process cannot read
/// are left out: permissions are reported elsewhere, and they are not
/// libsystemd's fault. Moves the journal: seek afterwards.
pub fn nothing_read(source: &Source, journal: io::Result<&mut Journal>) -> Option<String> {
    let files: Vec<(PathBuf, Header)> = jfiles::source_files(source)
        .into_iter()
        .filter_map(|path| read_header(&path).map(|h| (path, h)))
        .filter(|(_, h)| h.n_entries > 0)
        .collect();
    let (first, header) = files.first()?;
    let failure = match journal.and_then(|j| {
        j.seek_head()?;
        j.next()
    }) {
        Ok(true) => return None,
        Ok(false) => String::new(),
        Err(e) => format!(" (reading fails: {e})"),
    };
    let (flags, needs) = describe_flags(header.incompatible_flags);
    let why = match needs {
        Needs::Release(name, release) => format!(
            "{name} needs systemd {release} or later: a newer systemd than this libsystemd wrote them, or they are damaged"
        ),
        Needs::Nothing => "damaged?".to_string(),
        Needs::Unknown => "written by a systemd newer than logmon knows, or damaged".to_string(),
    };
    let entries = files
        .iter()
        .map(|(_, h)| h.n_entries)
        .fold(0u64, u64::saturating_add);
    Some(format!(
        "libsystemd reads no entry from this source's journal files ({} files, {entries} entries by their headers){failure}: logmon sees nothing of it; e.g. {} has flags {flags}: {why}",
        files.len(),
        first.display(),
    ))
}

/// Why `source` cannot be read with this libsystemd at all, for
/// `--check`: a namespace where libsystemd lacks `sd_journal_open_namespace`
/// (systemd before 245). `None` when it can be opened.
pub fn unsupported_source(source: &Source) -> Option<&'static str> {
    match source {
        Source::Namespace(_) if !crate::journal::has_namespaces() => Some(
            "this libsystemd has no sd_journal_open_namespace (it needs systemd 245 or later); read the namespace's files with directory = instead",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u32, header_size: u64, n_entries: u64) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_TO_N_ENTRIES];
        h[..8].copy_from_slice(SIGNATURE);
        h[12..16].copy_from_slice(&flags.to_le_bytes());
        h[88..96].copy_from_slice(&header_size.to_le_bytes());
        h[152..160].copy_from_slice(&n_entries.to_le_bytes());
        h
    }

    #[test]
    fn a_header_gives_its_flags_and_entry_count() {
        let h = parse_header(&header(0x1c, 272, 7)).expect("a header");
        assert_eq!(
            h,
            Header {
                incompatible_flags: 0x1c,
                n_entries: 7
            }
        );
    }

    #[test]
    fn no_journal_or_a_short_header_gives_nothing() {
        assert_eq!(parse_header(b""), None);
        assert_eq!(parse_header(&header(0, 272, 7)[..159]), None);
        let mut not = header(0, 272, 7);
        not[0] = b'X';
        assert_eq!(parse_header(&not), None);
        // A header that ends before n_entries.
        assert_eq!(parse_header(&header(0, 152, 7)), None);
    }

    #[test]
    fn flags_are_named_as_journalctl_names_them_with_the_newest_release() {
        assert_eq!(
            describe_flags(0x1c),
            (
                "KEYED-HASH COMPRESSED-ZSTD COMPACT".to_string(),
                Needs::Release("COMPACT", 252)
            )
        );
        assert_eq!(
            describe_flags(0x2),
            (
                "COMPRESSED-LZ4".to_string(),
                Needs::Release("COMPRESSED-LZ4", 216)
            )
        );
        assert_eq!(describe_flags(0), ("none".to_string(), Needs::Nothing));
        // The newest wins whatever the bit order.
        assert_eq!(
            describe_flags(0x9).1,
            Needs::Release("COMPRESSED-ZSTD", 246)
        );
        assert_eq!(
            describe_flags(0x8000_0004),
            ("KEYED-HASH unknown 0x80000000".to_string(), Needs::Unknown)
        );
    }
}
