//! The only caller of `sd_journal_*`: a safe, owning wrapper.
//!
//! Each C function is wrapped once; a negative return becomes
//! `io::Error::from_raw_os_error(-r)` (systemd's convention). [`Journal`] owns
//! the handle and closes it in `Drop`; it is neither `Send` nor `Sync`,
//! because sd_journal objects must stay on the thread that opened them
//! (sd_journal_open(3)). Field data borrows the journal: the next call may
//! invalidate it (sd_journal_get_data(3)).

use crate::sys::{cvt_sd, monotonic_usec};
use libsystemd_sys::journal as ffi;
use libsystemd_sys::{c_char, c_int, c_void};
use std::ffi::{CStr, CString};
use std::io;
use std::marker::PhantomData;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

pub struct Journal {
    handle: NonNull<ffi::sd_journal>,
    /// sd_journal is bound to its thread: opt out of Send and Sync.
    _not_send: PhantomData<*mut ()>,
}

/// What `sd_journal_process` reports after a wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing new.
    Nop,
    /// Entries were appended.
    Append,
    /// Files were added or removed (rotation, vacuum, a new host's file):
    /// there may be new entries too, so read on (unlike the original script).
    Invalidate,
}

type OpenNamespace = unsafe extern "C" fn(*mut *mut ffi::sd_journal, *const c_char, c_int) -> c_int;

/// Journal field names are at most 64 bytes (systemd.journal-fields(7)).
const MAX_FIELD_NAME: usize = 64;

impl Journal {
    fn from_open(open: impl FnOnce(*mut *mut ffi::sd_journal) -> c_int) -> io::Result<Journal> {
        let mut raw: *mut ffi::sd_journal = std::ptr::null_mut();
        cvt_sd(open(&mut raw))?;
        let handle =
            NonNull::new(raw).ok_or_else(|| io::Error::other("sd_journal_open returned NULL"))?;
        Ok(Journal {
            handle,
            _not_send: PhantomData,
        })
    }

    /// `sd_journal_open(SD_JOURNAL_LOCAL_ONLY)`: this machine's journal.
    pub fn open_local() -> io::Result<Journal> {
        // SAFETY: ret is a valid out-pointer; flags are a documented constant.
        Journal::from_open(|ret| unsafe { ffi::sd_journal_open(ret, ffi::SD_JOURNAL_LOCAL_ONLY) })
    }

    /// `sd_journal_open_directory`: all journal files in `dir`.
    pub fn open_directory(dir: &Path) -> io::Result<Journal> {
        let dir = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: dir is NUL-terminated and outlives the call.
        Journal::from_open(|ret| unsafe { ffi::sd_journal_open_directory(ret, dir.as_ptr(), 0) })
    }

    /// `sd_journal_open_namespace`, looked up at run time: it appeared in
    /// systemd 245 and the binary must still load with an older libsystemd.
    pub fn open_namespace(namespace: &str) -> io::Result<Journal> {
        let name =
            CString::new(namespace).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let open = open_namespace_fn().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "this libsystemd has no sd_journal_open_namespace (needs systemd 245 or later)",
            )
        })?;
        // SAFETY: ret is a valid out-pointer, name is NUL-terminated.
        Journal::from_open(|ret| unsafe { open(ret, name.as_ptr(), 0) })
    }

    fn raw(&self) -> *mut ffi::sd_journal {
        self.handle.as_ptr()
    }

    /// `sd_journal_set_data_threshold`: cap on what `data` decompresses.
    pub fn set_data_threshold(&mut self, bytes: usize) -> io::Result<()> {
        // SAFETY: the handle is open.
        cvt_sd(unsafe { ffi::sd_journal_set_data_threshold(self.raw(), bytes) }).map(drop)
    }

    /// `sd_journal_add_match` with `FIELD=value`.
    pub fn add_match(&mut self, field_eq_value: &[u8]) -> io::Result<()> {
        // SAFETY: the data pointer and length describe a live slice.
        cvt_sd(unsafe {
            ffi::sd_journal_add_match(
                self.raw(),
                field_eq_value.as_ptr().cast(),
                field_eq_value.len(),
            )
        })
        .map(drop)
    }

    /// `sd_journal_flush_matches`.
    pub fn flush_matches(&mut self) {
        // SAFETY: the handle is open.
        unsafe { ffi::sd_journal_flush_matches(self.raw()) }
    }

    /// `sd_journal_seek_head`.
    pub fn seek_head(&mut self) -> io::Result<()> {
        // SAFETY: the handle is open.
        cvt_sd(unsafe { ffi::sd_journal_seek_head(self.raw()) }).map(drop)
    }

    /// `sd_journal_seek_tail`. Follow it with `previous`, not `next`, to
    /// land on the last entry (systemd issue 9934).
    pub fn seek_tail(&mut self) -> io::Result<()> {
        // SAFETY: the handle is open.
        cvt_sd(unsafe { ffi::sd_journal_seek_tail(self.raw()) }).map(drop)
    }

    /// `sd_journal_seek_realtime_usec`.
    pub fn seek_realtime_usec(&mut self, usec: u64) -> io::Result<()> {
        // SAFETY: the handle is open.
        cvt_sd(unsafe { ffi::sd_journal_seek_realtime_usec(self.raw(), usec) }).map(drop)
    }

    /// `sd_journal_seek_cursor`.
    pub fn seek_cursor(&mut self, cursor: &str) -> io::Result<()> {
        let c = CString::new(cursor).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: c is NUL-terminated and outlives the call.
        cvt_sd(unsafe { ffi::sd_journal_seek_cursor(self.raw(), c.as_ptr()) }).map(drop)
    }

    /// `sd_journal_test_cursor`: is the current entry the one `cursor` names?
    pub fn test_cursor(&mut self, cursor: &str) -> io::Result<bool> {
        let c = CString::new(cursor).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: c is NUL-terminated and outlives the call.
        cvt_sd(unsafe { ffi::sd_journal_test_cursor(self.raw(), c.as_ptr()) }).map(|r| r > 0)
    }

    /// `sd_journal_next`: true when it moved to an entry.
    pub fn next(&mut self) -> io::Result<bool> {
        // SAFETY: the handle is open.
        cvt_sd(unsafe { ffi::sd_journal_next(self.raw()) }).map(|r| r > 0)
    }

    /// `sd_journal_previous`: true when it moved to an entry.
    pub fn previous(&mut self) -> io::Result<bool> {
        // SAFETY: the handle is open.
        cvt_sd(unsafe { ffi::sd_journal_previous(self.raw()) }).map(|r| r > 0)
    }

    /// `sd_journal_get_cursor` of the current entry.
    pub fn cursor(&mut self) -> io::Result<String> {
        let mut c: *mut c_char = std::ptr::null_mut();
        // SAFETY: c is a valid out-pointer for a malloc'd string.
        cvt_sd(unsafe {
            ffi::sd_journal_get_cursor(self.raw(), (&mut c as *mut *mut c_char).cast())
        })?;
        if c.is_null() {
            return Err(io::Error::other("sd_journal_get_cursor returned NULL"));
        }
        // SAFETY: c is a NUL-terminated string we now own.
        let s = unsafe { CStr::from_ptr(c) }.to_string_lossy().into_owned();
        // SAFETY: allocated with malloc by libsystemd; freed exactly once.
        unsafe { libc::free(c.cast()) };
        Ok(s)
    }

    /// `sd_journal_get_realtime_usec` of the current entry.
    pub fn realtime_usec(&mut self) -> io::Result<u64> {
        let mut usec = 0u64;
        // SAFETY: usec is a valid out-pointer.
        cvt_sd(unsafe { ffi::sd_journal_get_realtime_usec(self.raw(), &mut usec) })?;
        Ok(usec)
    }

    /// `sd_journal_get_data`: the value of `field` in the current entry,
    /// without the `FIELD=` prefix; `None` when the entry lacks it. The slice
    /// is valid until the next call on the journal.
    pub fn data(&mut self, field: &str) -> io::Result<Option<&[u8]>> {
        // A NUL-terminated copy on the stack: no allocation per lookup.
        let mut name = [0u8; MAX_FIELD_NAME + 1];
        if field.len() > MAX_FIELD_NAME || field.as_bytes().contains(&0) {
            return Ok(None);
        }
        name[..field.len()].copy_from_slice(field.as_bytes());
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut len: usize = 0;
        // SAFETY: name is NUL-terminated; data and len are valid out-pointers.
        let r = unsafe {
            ffi::sd_journal_get_data(self.raw(), name.as_ptr().cast(), &mut data, &mut len)
        };
        match cvt_sd(r) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        }
        if data.is_null() {
            return Ok(None);
        }
        // SAFETY: libsystemd returned `len` readable bytes that stay valid
        // until the next call on this journal, which &mut self prevents.
        let all = unsafe { std::slice::from_raw_parts(data.cast_const(), len) };
        Ok(Some(all.get(field.len() + 1..).unwrap_or(&[])))
    }

    /// Every item of the current entry in its stored order, `NAME=value`
    /// each (`sd_journal_restart_data` + `sd_journal_enumerate_data`): one
    /// walk over the entry's items, where `data` walks them per field. An
    /// error (an unreadable item) ends the walk; what was passed to `each`
    /// before it stays passed.
    pub fn each_item(&mut self, mut each: impl FnMut(&[u8])) -> io::Result<()> {
        // SAFETY: the handle is open.
        unsafe { ffi::sd_journal_restart_data(self.raw()) };
        loop {
            let mut data: *const u8 = std::ptr::null();
            let mut len: usize = 0;
            // SAFETY: data and len are valid out-pointers.
            let r =
                cvt_sd(unsafe { ffi::sd_journal_enumerate_data(self.raw(), &mut data, &mut len) })?;
            if r == 0 {
                return Ok(());
            }
            if data.is_null() {
                return Err(io::Error::other("sd_journal_enumerate_data returned NULL"));
            }
            // SAFETY: libsystemd returned `len` readable bytes, valid until
            // the next call on this journal; `each` cannot make one (it
            // does not get the journal) and the slice does not outlive it.
            each(unsafe { std::slice::from_raw_parts(data, len) });
        }
    }

    /// `sd_journal_get_catalog`: the catalog text for the current entry's
    /// MESSAGE_ID, with its fields filled in; `None` when there is none.
    pub fn catalog(&mut self) -> io::Result<Option<String>> {
        let mut text: *const c_char = std::ptr::null();
        // SAFETY: text is a valid out-pointer for a malloc'd string.
        let r = unsafe { ffi::sd_journal_get_catalog(self.raw(), &mut text) };
        match cvt_sd(r) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        }
        if text.is_null() {
            return Ok(None);
        }
        // SAFETY: text is a NUL-terminated string we now own.
        let s = unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: allocated with malloc by libsystemd; freed exactly once.
        unsafe { libc::free(text.cast_mut().cast()) };
        Ok(Some(s))
    }

    /// `sd_journal_get_fd`: the inotify fd to poll.
    pub fn fd(&mut self) -> io::Result<c_int> {
        // SAFETY: the handle is open.
        cvt_sd(unsafe { ffi::sd_journal_get_fd(self.raw()) })
    }

    /// `sd_journal_get_events`: the poll events to wait for on `fd`.
    pub fn events(&mut self) -> io::Result<i16> {
        // SAFETY: the handle is open.
        cvt_sd(unsafe { ffi::sd_journal_get_events(self.raw()) }).map(|e| e as i16)
    }

    /// `sd_journal_get_timeout`, turned from an absolute CLOCK_MONOTONIC time
    /// into milliseconds from now (rounded up); `None` means no timeout.
    pub fn timeout_ms(&mut self) -> io::Result<Option<u64>> {
        let mut usec = 0u64;
        // SAFETY: usec is a valid out-pointer.
        cvt_sd(unsafe { ffi::sd_journal_get_timeout(self.raw(), &mut usec) })?;
        if usec == u64::MAX {
            return Ok(None);
        }
        Ok(Some(usec.saturating_sub(monotonic_usec()).div_ceil(1000)))
    }

    /// `sd_journal_process`, after each wake-up of the fd.
    pub fn process(&mut self) -> io::Result<Change> {
        // SAFETY: the handle is open.
        let r = cvt_sd(unsafe { ffi::sd_journal_process(self.raw()) })?;
        Ok(match r {
            ffi::SD_JOURNAL_APPEND => Change::Append,
            ffi::SD_JOURNAL_INVALIDATE => Change::Invalidate,
            _ => Change::Nop,
        })
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // SAFETY: the handle is open and is never used again.
        unsafe { ffi::sd_journal_close(self.raw()) }
    }
}

impl crate::rules::Fields for Journal {
    /// Unreadable data (EBADMSG, a corrupt file) counts as a missing field:
    /// one bad entry must not stop the monitor.
    fn field(&mut self, name: &str) -> Option<&[u8]> {
        self.data(name).ok().flatten()
    }
}

/// This libsystemd's `sd_journal_open_namespace`, if it has one.
fn open_namespace_fn() -> Option<OpenNamespace> {
    // SAFETY: the symbol name is NUL-terminated; RTLD_DEFAULT searches the
    // libraries already loaded, libsystemd among them.
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"sd_journal_open_namespace".as_ptr()) };
    if sym.is_null() {
        return None;
    }
    // SAFETY: the symbol has this C signature (sd_journal_open(3)).
    Some(unsafe { std::mem::transmute::<*mut c_void, OpenNamespace>(sym) })
}

/// Whether this libsystemd can open a journal namespace (systemd 245+).
pub fn has_namespaces() -> bool {
    open_namespace_fn().is_some()
}

/// `sd_id128_get_boot` as 32 hex digits, for a `_BOOT_ID=` match.
pub fn boot_id() -> io::Result<String> {
    let mut id = libsystemd_sys::id128::sd_id128_t { bytes: [0; 16] };
    // SAFETY: id is a valid out-pointer.
    cvt_sd(unsafe { libsystemd_sys::id128::sd_id128_get_boot(&mut id) })?;
    Ok(id.bytes.iter().map(|b| format!("{b:02x}")).collect())
}
