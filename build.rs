//! Keep libgcc_s out of the binary's shared-library needs, so that they are
//! only libc and libsystemd (a small board may lack libgcc_s), also when
//! cross-compiling.
//!
//! std asks the linker for `-lgcc_s` (its unwinder). A release build needs
//! none: with panic = "abort" src/nounwind.rs defines the few unwinder
//! functions std refers to, and nothing is taken from libgcc_s. Builds that
//! unwind (the test harness) need a real one: a directory searched first
//! that holds only a static `libgcc_s.a` (a copy of the target's
//! `libgcc_eh.a`) gives them the unwinder statically.
//!
//! The copy must come from the target's gcc, not the host's: for a cross
//! build that is the linker cargo was told to use (`RUSTC_LINKER`), else
//! `CC_<target>` / `TARGET_CC`, else the Debian cross compiler named by the
//! target's triplet (`aarch64-linux-gnu-gcc`). If no gcc can tell where
//! libgcc_eh.a is, nothing is copied and an unwinding build links the
//! shared libgcc_s.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["CC", "TARGET_CC", "RUSTC_LINKER"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let target = env::var("TARGET").unwrap_or_default();
    let host = env::var("HOST").unwrap_or_default();
    let per_target = format!("CC_{}", target.replace('-', "_"));
    println!("cargo:rerun-if-env-changed={per_target}");
    let compiler = env::var("RUSTC_LINKER")
        .ok()
        .or_else(|| env::var(&per_target).ok())
        .or_else(|| env::var("TARGET_CC").ok())
        .or_else(|| {
            if target == host {
                Some(env::var("CC").unwrap_or_else(|_| "cc".into()))
            } else {
                debian_triplet(&target).map(|t| format!("{t}-gcc"))
            }
        });
    let Some(compiler) = compiler else {
        println!(
            "cargo:warning=no C compiler known for {target}: an unwinding build links libgcc_s"
        );
        return;
    };
    let Some(eh) = libgcc_eh(&compiler) else {
        return;
    };
    let dir =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("static-unwind");
    if std::fs::create_dir_all(&dir).is_err() || std::fs::copy(&eh, dir.join("libgcc_s.a")).is_err()
    {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}

/// Where `compiler` keeps libgcc_eh.a, if it says.
fn libgcc_eh(compiler: &str) -> Option<PathBuf> {
    let out = Command::new(compiler)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let eh = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (eh.is_absolute() && eh.is_file()).then_some(eh)
}

/// The GNU triplet Debian's cross compilers carry for a Rust target:
/// `aarch64-unknown-linux-gnu` is `aarch64-linux-gnu`, `armv7-unknown-
/// linux-gnueabihf` is `arm-linux-gnueabihf`.
fn debian_triplet(target: &str) -> Option<String> {
    let mut parts = target.split('-');
    let arch = parts.next()?;
    let rest: Vec<&str> = parts.filter(|p| *p != "unknown").collect();
    let arch = if arch.starts_with("armv7") || arch == "arm" {
        "arm"
    } else if arch == "i686" || arch == "i586" {
        "i686"
    } else {
        arch
    };
    (rest.len() == 2 && rest[0] == "linux").then(|| format!("{arch}-{}", rest.join("-")))
}
