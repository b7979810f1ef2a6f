//! Survive a journal file that is truncated while logmon has it mapped.
//!
//! libsystemd reads journal files through mmap(2). When a file shrinks under
//! a reader (an admin's `truncate`, a full disk during a copy), touching a
//! mapped page past the new end raises SIGBUS, whose default action kills
//! logmon. journalctl survives because it installs systemd's internal
//! `sigbus_install()` (src/basic/sigbus.c): the handler maps an anonymous
//! page over the faulting one, so the access goes on and reads zeros, which
//! libsystemd then rejects as a bad object. That function is not exported,
//! so this is the same idea in logmon's own handler.
//!
//! The handler only does async-signal-safe things (signal-safety(7)): raw
//! system calls, lock-free atomics, no allocation, no panics. It recovers
//! only a fault that the kernel reports as `BUS_ADRERR` at an address inside
//! a mapping of a `*.journal` or `*.journal~` file (read from
//! `/proc/self/maps`); anything else restores the default action and
//! re-raises, so a genuine bug still crashes with SIGBUS. When the maps file
//! cannot be opened (every descriptor in use) it falls back to systemd's own
//! test, `BUS_ADRERR` alone. libsystemd's mmap cache never learns of the
//! fault (its queue is internal to it); the daemon asks [`take`] after each
//! read and looks for the truncated file itself.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Faults recovered since the last [`take`].
static FAULTS: AtomicU64 = AtomicU64::new(0);
/// Page address of the last recovered fault.
static LAST_ADDRESS: AtomicUsize = AtomicUsize::new(0);
/// sysconf(3) is not async-signal-safe: read once in [`install`].
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Install the SIGBUS handler for the whole process.
pub fn install() -> io::Result<()> {
    // SAFETY: sysconf only returns a value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page <= 0 || (page as usize).count_ones() != 1 {
        return Err(io::Error::other("sysconf(_SC_PAGESIZE) gave no page size"));
    }
    PAGE_SIZE.store(page as usize, Ordering::SeqCst);
    // SAFETY: an all-zero sigaction is a valid value to fill in.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = handler;
    sa.sa_sigaction = handler as usize;
    // No SA_NODEFER: SIGBUS stays blocked while the handler runs, so a
    // re-raise from inside it is delivered (with the default action) only
    // after the handler returns.
    sa.sa_flags = libc::SA_SIGINFO;
    // SAFETY: sa_mask is a valid sigset_t inside sa.
    crate::sys::cvt(unsafe { libc::sigemptyset(&mut sa.sa_mask) })?;
    // SAFETY: sa is initialised and its handler has the SA_SIGINFO signature;
    // the old action is not needed (we restore the default, not Rust's).
    crate::sys::cvt(unsafe { libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()) })?;
    Ok(())
}

/// Faults recovered since the last call (0 almost always).
pub fn take() -> u64 {
    FAULTS.swap(0, Ordering::SeqCst)
}

/// Page address of the last recovered fault, if any: for the log.
pub fn last_address() -> Option<usize> {
    Some(LAST_ADDRESS.load(Ordering::SeqCst)).filter(|&a| a != 0)
}

extern "C" fn handler(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: errno is thread-local; the code we interrupted may be about
    // to read it, so the system calls below must not change it.
    let errno = unsafe { *libc::__errno_location() };
    // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
    let info = unsafe { &*info };
    if !recover(info) {
        crash();
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Map zeros over the faulting page, if the fault is one we survive.
fn recover(info: &libc::siginfo_t) -> bool {
    if info.si_code != libc::BUS_ADRERR {
        return false;
    }
    // SAFETY: for a SIGBUS from the kernel, si_addr is the field in use.
    let addr = unsafe { info.si_addr() } as usize;
    let page_size = PAGE_SIZE.load(Ordering::SeqCst);
    if addr == 0 || page_size == 0 {
        return false;
    }
    if maps_entry_is_journal(addr) == Some(false) {
        return false;
    }
    let page = addr & !(page_size - 1);
    // SAFETY: MAP_FIXED replaces exactly the one page that faulted, which
    // belongs to a read-only journal mapping of libsystemd; its contents
    // become zeros, which libsystemd rejects as an invalid object. mmap is a
    // plain system call on Linux (systemd's handler relies on the same).
    let r = unsafe {
        libc::mmap(
            page as *mut libc::c_void,
            page_size,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if r as usize != page {
        return false;
    }
    LAST_ADDRESS.store(page, Ordering::SeqCst);
    FAULTS.fetch_add(1, Ordering::SeqCst);
    true
}

/// Restore the default action and re-raise: a genuine fault kills the
/// process with SIGBUS, as if logmon had never installed a handler.
fn crash() {
    // SAFETY: an all-zero sigaction with SIG_DFL (0) is the default action.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = libc::SIG_DFL;
    // SAFETY: sa is initialised; sigaction and raise are async-signal-safe.
    // The raised signal is blocked until the handler returns, then kills.
    unsafe {
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        libc::raise(libc::SIGBUS);
    }
}

/// Whether the mapping holding `addr` is a journal file, from
/// /proc/self/maps read with raw system calls and a stack buffer. `None`
/// when the file cannot be read.
fn maps_entry_is_journal(addr: usize) -> Option<bool> {
    // SAFETY: the path is NUL-terminated; open is async-signal-safe.
    let fd = unsafe {
        libc::open(
            c"/proc/self/maps".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // Longer than any line: a path is at most PATH_MAX (4096) bytes.
    let mut buf = [0u8; 8192];
    let mut have = 0;
    let mut found = Some(false);
    loop {
        // SAFETY: the range buf[have..] is writable and owned by us.
        let n = unsafe { libc::read(fd, buf[have..].as_mut_ptr().cast(), buf.len() - have) };
        if n < 0 {
            // SAFETY: errno is thread-local (restored by the handler).
            if unsafe { *libc::__errno_location() } == libc::EINTR {
                continue;
            }
            found = None;
            break;
        }
        let eof = n == 0;
        have += n as usize;
        let mut start = 0;
        while let Some(len) = buf[start..have].iter().position(|&b| b == b'\n') {
            if let Some(is_journal) = journal_mapping(&buf[start..start + len], addr) {
                found = Some(is_journal);
            }
            start += len + 1;
        }
        if start == 0 && have == buf.len() {
            // A line longer than the buffer cannot be a mapping we know.
            have = 0;
        } else {
            buf.copy_within(start..have, 0);
            have -= start;
        }
        if eof {
            if have > 0 {
                if let Some(is_journal) = journal_mapping(&buf[..have], addr) {
                    found = Some(is_journal);
                }
            }
            break;
        }
    }
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    found
}

/// For one /proc/self/maps line (`start-end perms offset dev inode  path`):
/// `None` when it does not cover `addr`, else whether it maps a journal
/// file (a file with an inode, named `*.journal` or `*.journal~`, maybe
/// `(deleted)` since).
fn journal_mapping(line: &[u8], addr: usize) -> Option<bool> {
    let mut fields = line.splitn(6, |&b| b == b' ');
    let range = fields.next()?;
    let dash = range.iter().position(|&b| b == b'-')?;
    let start = hex(&range[..dash])?;
    let end = hex(&range[dash + 1..])?;
    if addr < start || addr >= end {
        return None;
    }
    let (_perms, _offset, _dev) = (fields.next(), fields.next(), fields.next());
    let inode = fields.next().unwrap_or(b"0");
    let path = trim_start(fields.next().unwrap_or(b""));
    let path = path.strip_suffix(b" (deleted)").unwrap_or(path);
    let named = path.ends_with(b".journal") || path.ends_with(b".journal~");
    Some(inode != b"0" && path.first() == Some(&b'/') && named)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

fn hex(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0usize, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        Some(acc << 4 | d as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    const LINE: &[u8] = b"7f0000000000-7f0000800000 r--s 00000000 fe:01 1234567                    /var/log/journal/abc/system.journal";

    #[test]
    fn a_journal_line_covers_its_range_only() {
        assert_eq!(journal_mapping(LINE, 0x7f0000000000), Some(true));
        assert_eq!(journal_mapping(LINE, 0x7f00007fffff), Some(true));
        assert_eq!(journal_mapping(LINE, 0x7f0000800000), None);
        assert_eq!(journal_mapping(LINE, 0x7effffffffff), None);
    }

    #[test]
    fn archived_and_deleted_journal_files_count() {
        let l = b"1000-2000 r--s 00000000 fe:01 99  /x/system@0005-0006.journal~ (deleted)";
        assert_eq!(journal_mapping(l, 0x1800), Some(true));
        let l = b"1000-2000 r--s 00000000 fe:01 99  /x/a.journal (deleted)";
        assert_eq!(journal_mapping(l, 0x1000), Some(true));
    }

    #[test]
    fn other_mappings_do_not_count() {
        for l in [
            &b"1000-2000 r-xp 00000000 fe:01 42  /usr/lib/x86_64-linux-gnu/libc.so.6"[..],
            b"1000-2000 rw-p 00000000 00:00 0 ",
            b"1000-2000 rw-p 00000000 00:00 0  [heap]",
            b"1000-2000 rw-s 00000000 00:01 0  /memfd:x.journal (deleted)",
            b"1000-2000 r--s 00000000 fe:01 7  /x/journal.conf",
        ] {
            assert_eq!(journal_mapping(l, 0x1000), Some(false), "{l:?}");
        }
        assert_eq!(
            journal_mapping(b"zzzz-2000 r--s 0 0:0 1 /a.journal", 0x1000),
            None
        );
        assert_eq!(journal_mapping(b"", 0x1000), None);
    }

    #[test]
    fn hex_parses_addresses() {
        assert_eq!(hex(b"7ffd1a2b3000"), Some(0x7ffd1a2b3000));
        assert_eq!(hex(b"DEADbeef"), Some(0xdeadbeef));
        assert_eq!(hex(b""), None);
        assert_eq!(hex(b"12g"), None);
        assert_eq!(hex(b"11112222333344445"), None);
    }

    #[test]
    fn the_maps_file_is_read_whole_and_tells_journal_mappings_apart() {
        let path = std::env::temp_dir().join(format!("logmon-maps-{}.journal", std::process::id()));
        std::fs::write(&path, [1u8; 4096]).expect("writing the test file");
        let f = std::fs::File::open(&path).expect("opening the test file");
        // SAFETY: a fresh shared read-only mapping of a file we own.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let on_stack = 0u8;
        let journal = maps_entry_is_journal(p as usize + 100);
        let stack = maps_entry_is_journal(&on_stack as *const u8 as usize);
        let code = maps_entry_is_journal(hex as fn(&[u8]) -> Option<usize> as usize);
        // SAFETY: the mapping made above, unmapped once.
        unsafe { libc::munmap(p, 4096) };
        let _ = std::fs::remove_file(&path);
        assert_eq!(journal, Some(true));
        assert_eq!(stack, Some(false));
        assert_eq!(code, Some(false));
    }

    /// Map a two-page file, cut it to one page, read the second page.
    fn read_past_truncation(extension: &str) -> u8 {
        let page = PAGE_SIZE.load(Ordering::SeqCst);
        let name = format!("logmon-sigbus-{}.{extension}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("creating the test file");
        f.write_all(&vec![0xa5u8; 2 * page]).expect("writing");
        // SAFETY: a fresh shared read-only mapping of a file we own.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let p = p as *const u8;
        // SAFETY: the first page is within the file and mapped.
        assert_eq!(unsafe { p.read_volatile() }, 0xa5);
        f.set_len(page as u64).expect("truncating");
        let _ = std::fs::remove_file(&path);
        // SAFETY: mapped; past the end of the file now, so this faults and
        // the handler maps zeros there (or the process dies, by design).
        let byte = unsafe { p.add(page + 17).read_volatile() };
        // SAFETY: the mapping made above, unmapped once.
        unsafe { libc::munmap(p as *mut libc::c_void, 2 * page) };
        byte
    }

    #[test]
    fn a_fault_in_a_truncated_journal_file_reads_zeros_and_is_counted() {
        install().expect("installing the handler");
        let before = take();
        assert_eq!(read_past_truncation("journal"), 0);
        assert_eq!(take(), 1, "(faults before: {before})");
        assert!(last_address().is_some());
        assert_eq!(take(), 0);
    }

    /// Run in a child (see below): a fault in a file that is no journal
    /// must still kill the process with SIGBUS.
    #[test]
    #[ignore = "run by the test below, in a child process"]
    fn child_faults_in_a_file_that_is_no_journal() {
        if std::env::var_os("LOGMON_SIGBUS_CHILD").is_none() {
            return;
        }
        install().expect("installing the handler");
        read_past_truncation("data");
        std::process::exit(0);
    }

    #[test]
    fn a_fault_elsewhere_still_kills_with_sigbus() {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "sigbus::tests::child_faults_in_a_file_that_is_no_journal",
                "--ignored",
                "--nocapture",
            ])
            .env("LOGMON_SIGBUS_CHILD", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("running the child");
        assert_eq!(
            status.signal(),
            Some(libc::SIGBUS),
            "child ended with {status}"
        );
    }
}
