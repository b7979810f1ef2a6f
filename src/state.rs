//! The state file: the journal cursor up to which every alert was mailed.
//!
//! Written atomically (temp file in the same directory, fsync, rename, fsync
//! of the directory) so a crash at any moment leaves either the old or the
//! new cursor, never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Where to resume. In the file: the bare cursor, `at CURSOR`, or `head`.
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

const HEAD: &str = "head";
/// A state file is a few hundred bytes; anything much larger is not one.
const MAX_STATE: u64 = 64 * 1024;
const AT: &str = "at ";

/// The saved position; `Ok(None)` when there is no state file yet.
pub fn load(path: &Path) -> io::Result<Option<Position>> {
    let text = match crate::files::read_regular(path, MAX_STATE) {
        Ok(t) => String::from_utf8(t)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let line = text.trim();
    if line == HEAD {
        return Ok(Some(Position::Head));
    }
    let (cursor, make): (&str, fn(String) -> Position) = match line.strip_prefix(AT) {
        Some(c) => (c, Position::At),
        None => (line, Position::After),
    };
    // A cursor is one word of printable ASCII, `s=...;i=...;...`
    // (sd_journal_get_cursor(3)).
    let plausible = cursor.contains('=')
        && cursor.len() <= 4096
        && cursor.bytes().all(|b| b.is_ascii_graphic());
    if !plausible {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a journal cursor",
        ));
    }
    Ok(Some(make(cursor.to_string())))
}

pub fn save(path: &Path, position: &Position) -> io::Result<()> {
    let text = match position {
        Position::After(c) => c.clone(),
        Position::At(c) => format!("{AT}{c}"),
        Position::Head => HEAD.to_string(),
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut f = File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    // The rename is durable only once the directory is synced.
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_contents() {
        let dir = std::env::temp_dir().join(format!("logmon-state-{}", std::process::id()));
        let path = dir.join("sub/cursor");
        assert_eq!(load(&path).unwrap(), None);
        let c = Position::After("s=abc;i=1;b=def;m=1;t=2;x=3".into());
        save(&path, &c).unwrap();
        assert_eq!(load(&path).unwrap(), Some(c));
        save(&path, &Position::Head).unwrap();
        assert_eq!(load(&path).unwrap(), Some(Position::Head));
        let at = Position::At("s=abc;i=2".into());
        save(&path, &at).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "at s=abc;i=2\n");
        assert_eq!(load(&path).unwrap(), Some(at));
        fs::write(&path, "at \n").unwrap();
        assert!(load(&path).is_err());
        assert!(!dir.join("sub/cursor.tmp").exists());
        fs::write(&path, "two words\n").unwrap();
        assert!(load(&path).is_err());
        fs::write(&path, "").unwrap();
        assert!(load(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
