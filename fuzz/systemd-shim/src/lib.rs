//! What `src/sys.rs` uses of libsystemd-sys, with the same paths and
//! signatures (copied from libsystemd-sys 0.10), linked against the real
//! libsystemd. The fuzz targets never call these; they only have to exist
//! for sys.rs to compile. A new libsystemd call in sys.rs needs a line here.

pub mod daemon {
    use std::os::raw::{c_char, c_int};

    #[link(name = "systemd")]
    extern "C" {
        pub fn sd_notify(unset_environment: c_int, state: *const c_char) -> c_int;
        pub fn sd_watchdog_enabled(unset_environment: c_int, usec: *mut u64) -> c_int;
    }
}

pub mod login {
    use std::os::raw::{c_char, c_int};

    #[link(name = "systemd")]
    extern "C" {
        pub fn sd_pid_get_unit(pid: libc_pid_t, unit: *mut *mut c_char) -> c_int;
    }

    #[allow(non_camel_case_types)]
    type libc_pid_t = i32;
}
