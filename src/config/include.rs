//! `include = PATH`: the rule files a config pulls in, and StrictModes
//! for every file logmon reads and the directory holding it.
//!
//! A PATH is a file, or a directory whose `*.conf` files are read in byte
//! order of their names (`00-systemd.conf` before `10-priority.conf`). A
//! missing or empty directory is no error: a pack directory may be empty
//! until packs are installed. A missing file (a name ending in `.conf`)
//! is. A file, or the directory holding it, that someone other than root
//! or this user owns, or that group or others may write (a sticky
//! directory of root's such as /tmp aside), is refused: its rules would
//! decide what is mailed, and the config names the program logmon runs.

use super::{read_config, safe_to_trust};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Rule files in one include directory, at most: far above any real set.
const MAX_FILES: usize = 1000;

/// The files `target` names, each with its contents; or every problem,
/// one line each.
pub fn read(target: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, Vec<String>> {
    let meta = match std::fs::metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let is_file = target.extension().is_some_and(|x| x == "conf");
            return if is_file {
                Err(vec!["no such file".into()])
            } else {
                Ok(Vec::new())
            };
        }
        Err(e) => return Err(vec![e.to_string()]),
    };
    let files = if meta.is_dir() {
        trusted_dir(target).map_err(|e| vec![e])?;
        let listing = std::fs::read_dir(target).map_err(|e| vec![e.to_string()])?;
        let mut files: Vec<PathBuf> = listing
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        // Byte order of the names, as `ls` in the C locale shows them.
        files.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        if files.len() > MAX_FILES {
            return Err(vec![format!("more than {MAX_FILES} rule files")]);
        }
        files
    } else {
        vec![target.to_path_buf()]
    };
    let mut read = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let text = trusted(&file).and_then(|()| {
            read_config(&file).map_err(|e| match e {
                crate::error::Error::Config(lines) => lines.join("; "),
                other => other.to_string(),
            })
        });
        match text {
            Ok(text) => read.push((file, text)),
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(read)
    } else {
        Err(problems)
    }
}

/// StrictModes for a file logmon reads: the file and its directory.
pub fn trusted(file: &Path) -> Result<(), String> {
    safe_to_trust(file)?;
    match file.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => trusted_dir(dir),
        None => trusted_dir(Path::new(".")),
    }
}

/// A directory whose files nobody else can swap: owned by root or this
/// user, not writable by group or others unless it is root's and sticky.
fn trusted_dir(dir: &Path) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let shown = dir.display();
    let me = crate::sys::geteuid();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "{shown}: refusing a directory owned by uid {} (not root or this user): chown root {shown}",
            meta.uid()
        ));
    }
    let sticky_roots = meta.uid() == 0 && meta.mode() & 0o1000 != 0;
    if meta.mode() & 0o022 != 0 && !sticky_roots {
        return Err(format!(
            "{shown}: refusing a directory that group or others can write (mode {:o}): chmod go-w {shown}",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}
