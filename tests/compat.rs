//! What this libsystemd cannot read is said, not read as silence (logmon
//! issue 13): a journal file libsystemd refuses (an incompatible header flag
//! it does not know, as libsystemd 247 refuses systemd 252's COMPACT files)
//! is no "0 entries, all well" for `--once` or `--check`; an empty journal
//! and a readable one give no such warning; and `--check` rejects
//! `namespace =` under a libsystemd without `sd_journal_open_namespace`
//! (a stand-in libsystemd.so.0 built here that lacks it, as systemd 244 and
//! older do). The old libsystemd itself is tested by `make compat-check`
//! (tests/compat-check.sh, a Debian 11 tree).

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LOGMON: &str = env!("CARGO_BIN_EXE_logmon");
const WARNING: &str = "libsystemd reads no entry from this source's journal files";

fn config(dir: &Path, global: &str) -> PathBuf {
    write_file(
        dir,
        "logmon.conf",
        format!("{global}\n[mail]\nto = root\n\n[match]\nMESSAGE ~ (?i)fail\n"),
    )
}

fn logmon(args: &[&str]) -> Output {
    run(Command::new(LOGMON).args(args))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn alerting_fixture(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    fixture_journal(
        dir,
        &[entry(&[
            ("MESSAGE", "disk failure on sda"),
            ("SYSLOG_IDENTIFIER", "smartd"),
            ("_HOSTNAME", "web1"),
            ("PRIORITY", "3"),
        ])],
    )
}

/// Sets an incompatible header flag no systemd defines (bit 31), so that
/// libsystemd refuses the file as it refuses a newer systemd's files
/// (journal-def.h: `incompatible_flags` is the le32 at offset 12).
fn set_unknown_incompatible_flag(file: &Path) {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut flags = [0u8; 4];
    f.read_exact_at(&mut flags, 12).unwrap();
    let flags = u32::from_le_bytes(flags) | 0x8000_0000;
    f.write_all_at(&flags.to_le_bytes(), 12).unwrap();
}

fn once(conf: &Path, dir: &Path) -> Output {
    logmon(&[
        "-c",
        &conf.display().to_string(),
        "--once",
        "--dry-run",
        "--since",
        "2000-01-01",
        "--directory",
        &dir.display().to_string(),
    ])
}

fn check(conf: &Path, extra: &[&str]) -> Output {
    let conf = conf.display().to_string();
    let mut args = vec!["-c", &conf, "--check"];
    args.extend_from_slice(extra);
    logmon(&args)
}

#[test]
fn files_libsystemd_refuses_are_reported_not_read_as_an_empty_journal() {
    let tmp = TempDir::new("compat-bad");
    let dir = tmp.path().join("journal");
    let file = alerting_fixture(&dir);
    let conf = config(tmp.path(), "");
    let dir_s = dir.display().to_string();

    // Readable: the alert, and no warning.
    let good = once(&conf, &dir);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));
    assert!(text(&good.stdout).contains("disk failure on sda"));
    assert!(
        !text(&good.stderr).contains(WARNING),
        "{}",
        text(&good.stderr)
    );

    set_unknown_incompatible_flag(&file);
    let bad = once(&conf, &dir);
    let stderr = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(
        !text(&bad.stdout).contains("disk failure"),
        "{}",
        text(&bad.stdout)
    );
    let line = stderr
        .lines()
        .find(|l| l.contains(WARNING))
        .unwrap_or_else(|| panic!("no warning in:\n{stderr}"));
    assert!(line.starts_with("<3>"), "not an error: {line}");
    assert!(line.contains("1 files, 1 entries"), "{line}");
    assert!(line.contains(&file.display().to_string()), "{line}");
    assert!(line.contains("unknown 0x80000000"), "{line}");

    let checked = check(&conf, &["--directory", &dir_s]);
    let stdout = text(&checked.stdout);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stderr));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  warning:") && l.contains(WARNING)),
        "{stdout}"
    );
}

#[test]
fn an_empty_journal_or_a_readable_one_gets_no_warning_from_check() {
    let tmp = TempDir::new("compat-nil");
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    // journal-remote with nothing on stdin writes a journal of 0 entries,
    // as a journald that has just started does.
    run_ok(
        Command::new("/lib/systemd/systemd-journal-remote")
            .arg("--split-mode=none")
            .arg(format!("--output={}/e.journal", empty.display()))
            .arg("-")
            .stdin(std::process::Stdio::null()),
    );
    let readable = tmp.path().join("readable");
    alerting_fixture(&readable);
    let conf = config(tmp.path(), "");
    for dir in [&empty, &readable] {
        let out = check(&conf, &["--directory", &dir.display().to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            !text(&out.stdout).contains(WARNING),
            "{}: {}",
            dir.display(),
            text(&out.stdout)
        );
    }
}

/// A libsystemd.so.0 with every `LIBSYSTEMD_209` function the binary
/// imports (each failing with -ENOSYS) and no `sd_journal_open_namespace`:
/// what the binary finds on a system with systemd 244 or older.
fn libsystemd_without_namespaces(dir: &Path) -> PathBuf {
    let syms = run_ok(Command::new("readelf").args(["--dyn-syms", "-W", LOGMON]));
    let mut names: Vec<String> = text(&syms.stdout)
        .lines()
        .filter(|l| l.contains(" UND "))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.split_once("@LIBSYSTEMD_"))
        })
        .map(|(name, _)| name.to_string())
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 10, "imports not found: {names:?}");
    assert!(!names.iter().any(|n| n == "sd_journal_open_namespace"));
    let c: String = names
        .iter()
        .map(|n| format!("int {n}(void) {{ return -38; }}\n"))
        .collect();
    let src = write_file(dir, "stub.c", c);
    let script = write_file(dir, "stub.map", "LIBSYSTEMD_209 { global: *; };\n");
    let lib = dir.join("libsystemd.so.0");
    run_ok(
        Command::new("cc")
            .args(["-shared", "-fPIC", "-Wl,-soname,libsystemd.so.0"])
            .arg(format!("-Wl,--version-script={}", script.display()))
            .arg("-o")
            .arg(&lib)
            .arg(&src),
    );
    lib
}

#[test]
fn check_rejects_a_namespace_where_libsystemd_has_none() {
    let tmp = TempDir::new("compat-ns");
    let libdir = tmp.path().join("lib");
    fs::create_dir(&libdir).unwrap();
    libsystemd_without_namespaces(&libdir);
    let conf = config(tmp.path(), "namespace = app");
    let conf_s = conf.display().to_string();
    let with_old = |extra: &[&str]| {
        let mut args = vec!["-c", &conf_s, "--check"];
        args.extend_from_slice(extra);
        run(Command::new(LOGMON)
            .args(&args)
            .env("LD_LIBRARY_PATH", &libdir))
    };

    // The real libsystemd 252 has namespaces: accepted.
    let real = check(&conf, &[]);
    assert_eq!(real.status.code(), Some(0), "{}", text(&real.stderr));

    let old = with_old(&[]);
    let stderr = text(&old.stderr);
    assert_eq!(old.status.code(), Some(2), "{stderr}{}", text(&old.stdout));
    assert!(
        stderr.starts_with(&format!("{conf_s}: namespace = app: "))
            && stderr.contains("sd_journal_open_namespace"),
        "{stderr}"
    );

    let cli = with_old(&["--namespace", "other"]);
    let stderr = text(&cli.stderr);
    assert_eq!(cli.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("--namespace other: "), "{stderr}");

    // Other sources do not need the function.
    let dir = with_old(&["--directory", &tmp.path().display().to_string()]);
    assert_eq!(dir.status.code(), Some(0), "{}", text(&dir.stderr));
}
