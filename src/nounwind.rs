//! The unwinder functions std refers to, defined here so that a release
//! binary (panic = "abort") links no unwinder at all: not libgcc_s (a
//! shared-library need a small board may not meet) and not gcc's static
//! libgcc_eh, whose gcc 12 build calls `_dl_find_object` and so alone
//! raised the glibc floor from 2.34 to 2.35 (and weighed 24 KiB).
//!
//! With panic = "abort" nothing ever unwinds: std's landing pads and its
//! personality routine are linked but never entered, so every function
//! here except [`_Unwind_Backtrace`] aborts if reached at all. What is lost
//! is the frame list of `RUST_BACKTRACE=1` after a panic, which in this
//! stripped binary held addresses only; the panic message and its source
//! location are still printed. A build that unwinds (the test harness)
//! does not compile this module and links the real unwinder (build.rs).
//!
//! Sound because these are the only definitions of the names in the
//! program: the linker takes them instead of libgcc's and the binary
//! exports none of them, so libc and libsystemd never call them.

use std::ffi::{c_int, c_void};

/// `_Unwind_Reason_Code`'s `_URC_END_OF_STACK`.
const END_OF_STACK: c_int = 5;

type Trace = extern "C" fn(*mut c_void, *mut c_void) -> c_int;

/// std's backtrace printer walks the stack with this: report an empty
/// stack at once.
#[no_mangle]
pub extern "C" fn _Unwind_Backtrace(_trace: Trace, _arg: *mut c_void) -> c_int {
    END_OF_STACK
}

// Unwinding never starts (panic = "abort"), so nothing below is called:
// abort, as the unwinder itself would on a broken stack.
macro_rules! never {
    ($($name:ident($($arg:ty),*) $(-> $ret:ty)?;)*) => {$(
        #[no_mangle]
        pub extern "C" fn $name($(_: $arg),*) $(-> $ret)? {
            std::process::abort()
        }
    )*};
}

never! {
    _Unwind_Resume(*mut c_void);
    _Unwind_RaiseException(*mut c_void) -> c_int;
    _Unwind_DeleteException(*mut c_void);
    _Unwind_GetLanguageSpecificData(*mut c_void) -> *mut c_void;
    _Unwind_GetRegionStart(*mut c_void) -> usize;
    _Unwind_GetTextRelBase(*mut c_void) -> usize;
    _Unwind_GetDataRelBase(*mut c_void) -> usize;
    _Unwind_FindEnclosingFunction(*mut c_void) -> *mut c_void;
}

// The DWARF unwinder's context accessors (x86_64, aarch64).
#[cfg(not(target_arch = "arm"))]
never! {
    _Unwind_GetIP(*mut c_void) -> usize;
    _Unwind_GetIPInfo(*mut c_void, *mut c_int) -> usize;
    _Unwind_SetIP(*mut c_void, usize);
    _Unwind_GetGR(*mut c_void, c_int) -> usize;
    _Unwind_SetGR(*mut c_void, c_int, usize);
    _Unwind_GetCFA(*mut c_void) -> usize;
}

// ARM EHABI (armhf): the register accessors std uses instead, and the
// personality routines every unwind table entry names.
#[cfg(target_arch = "arm")]
never! {
    _Unwind_VRS_Get(*mut c_void, c_int, u32, c_int, *mut c_void) -> c_int;
    _Unwind_VRS_Set(*mut c_void, c_int, u32, c_int, *mut c_void) -> c_int;
    __gnu_unwind_frame(*mut c_void, *mut c_void) -> c_int;
    __aeabi_unwind_cpp_pr0(c_int, *mut c_void, *mut c_void) -> c_int;
    __aeabi_unwind_cpp_pr1(c_int, *mut c_void, *mut c_void) -> c_int;
    __aeabi_unwind_cpp_pr2(c_int, *mut c_void, *mut c_void) -> c_int;
}
