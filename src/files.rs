//! Reading files logmon did not write (config, rule files, the state file)
//! without trusting what they are: only regular files of a sane size.
//!
//! A FIFO given as a config would block `open(2)` and `read(2)` forever,
//! `/dev/zero` never ends, and a sparse 1 GiB state file would be read whole.
//! So the file is opened with `O_NONBLOCK` (an open of a FIFO returns at
//! once), checked with `fstat` on the open descriptor (no race with a rename
//! in between), and read only up to its limit.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The whole contents of `path`, a regular file of at most `max` bytes.
/// Errors: `NotFound` as usual; `InvalidInput` for anything that is not a
/// regular file; `FileTooLarge` past `max`.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() > max {
        return Err(too_large(max));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    // The file may grow between fstat and read: never read past the limit.
    (&file).take(max + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(data)
}

fn too_large(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("larger than {max} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_sane_size() {
        let dir = std::env::temp_dir().join(format!("logmon-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, b"abc").unwrap();
        assert_eq!(read_regular(&small, 3).unwrap(), b"abc");
        assert_eq!(
            read_regular(&small, 2).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        // A sparse file is judged by its length, not read.
        let sparse = dir.join("sparse");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        assert_eq!(
            read_regular(&sparse, 1 << 20).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        assert_eq!(
            read_regular(Path::new("/dev/zero"), 1 << 20)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            read_regular(&dir, 1 << 20).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        // A FIFO with no writer: the open must not block.
        let fifo = dir.join("fifo");
        // mkfifo(1) rather than an unsafe libc call in a safe module.
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if made {
            assert_eq!(
                read_regular(&fifo, 1 << 20).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
        }
        assert_eq!(
            read_regular(&dir.join("missing"), 10).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
