//! Benchmark journal reader for benches/bench.sh (part of `make bench`).
//!
//! `reader NAMESPACE LOG` follows a journald namespace the way
//! sd_journal_get_fd(3) says (and logmon does): poll the journal fd, then
//! sd_journal_process, then sd_journal_next until it returns 0. It stamps
//! CLOCK_MONOTONIC right when poll returns (the moment the entry became
//! visible to a journal reader: journald's inotify event wakes every reader
//! at once, logmon included) and again after reading the entry, and appends
//! `<tag> <wake ns> <read ns>` to LOG for every MESSAGE holding `bench-tag=`.
//! It writes `ready` to LOG once it follows. Stop it with SIGTERM.

mod shared;
use libsystemd_sys::journal as sd;
use shared::*;
use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::Write;

extern "C" {
    // systemd 245+; libsystemd-sys declares it only behind a feature that
    // logmon does not enable (it looks the symbol up at run time instead).
    fn sd_journal_open_namespace(
        ret: *mut *mut sd::sd_journal,
        namespace: *const libc::c_char,
        flags: libc::c_int,
    ) -> libc::c_int;
}

fn check(r: i32, what: &str) -> i32 {
    if r < 0 {
        eprintln!(
            "bench reader: {what}: {}",
            std::io::Error::from_raw_os_error(-r)
        );
        std::process::exit(1);
    }
    r
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(ns), Some(log)) = (args.first(), args.get(1)) else {
        eprintln!("bench reader: internal helper of benches/bench.sh; run `make bench`");
        return;
    };
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| {
            eprintln!("bench reader: {log}: {e}");
            std::process::exit(1)
        });
    let ns = CString::new(ns.as_str()).expect("namespace without NUL");
    let mut j: *mut sd::sd_journal = std::ptr::null_mut();
    // SAFETY: j is a valid out-pointer, ns is NUL-terminated.
    check(
        unsafe { sd_journal_open_namespace(&mut j, ns.as_ptr(), 0) },
        "sd_journal_open_namespace",
    );
    // SAFETY: j is the open journal handle from above, used only on this
    // thread (as are all the calls below); out-pointers point at live locals.
    check(unsafe { sd::sd_journal_seek_tail(j) }, "seek_tail");
    // Land on the last entry so `next` returns only newer ones.
    // SAFETY: see above.
    check(unsafe { sd::sd_journal_previous(j) }, "previous");
    // SAFETY: see above.
    let fd = check(unsafe { sd::sd_journal_get_fd(j) }, "get_fd");
    let _ = writeln!(out, "ready");
    let field = c"MESSAGE";
    loop {
        // SAFETY: see above.
        let events = check(unsafe { sd::sd_journal_get_events(j) }, "get_events");
        let mut pfd = libc::pollfd {
            fd,
            events: events as i16,
            revents: 0,
        };
        // SAFETY: pfd is one valid pollfd. No timeout: inotify works here.
        let r = unsafe { libc::poll(&mut pfd, 1, -1) };
        let wake = mono_ns();
        if r < 0 {
            continue; // EINTR
        }
        // SAFETY: see above.
        check(unsafe { sd::sd_journal_process(j) }, "process");
        // SAFETY: see above.
        while check(unsafe { sd::sd_journal_next(j) }, "next") > 0 {
            let mut data: *const u8 = std::ptr::null();
            let mut len: usize = 0;
            // SAFETY: see above; data/len are valid out-pointers.
            let r = unsafe {
                sd::sd_journal_get_data(
                    j,
                    field.as_ptr(),
                    &mut data as *mut *const u8 as *mut *mut u8,
                    &mut len,
                )
            };
            if r < 0 || data.is_null() {
                continue;
            }
            // SAFETY: libsystemd returned len readable bytes, valid until
            // the next call on j.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            let text = String::from_utf8_lossy(bytes);
            if let Some(rest) = text.split("bench-tag=").nth(1) {
                let read = mono_ns();
                let tag: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                let _ = writeln!(out, "{tag} {wake} {read}");
            }
        }
    }
}
