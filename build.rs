//! Link the unwinder statically so that the binary's only shared-library
//! needs are libc and libsystemd (a small board may lack libgcc_s).
//!
//! std asks the linker for `-lgcc_s`. A directory searched first that holds
//! only a static `libgcc_s.a` (a copy of gcc's `libgcc_eh.a`) satisfies that
//! request statically. With panic = "abort" the unwinder is only used to
//! print backtraces, so nothing changes at run time. If gcc cannot tell
//! where libgcc_eh.a is, the build falls back to the shared library.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let eh = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !eh.is_absolute() || !eh.is_file() {
        return;
    }
    let dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("static-unwind");
    if std::fs::create_dir_all(&dir).is_err() || std::fs::copy(&eh, dir.join("libgcc_s.a")).is_err()
    {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}
