//! `make install` / `make uninstall` as packagers and admins run them: the
//! real Makefile of this repository into a DESTDIR stage, checked file by
//! file, then the installed unit through `systemd-analyze verify`.
//!
//! The binary is the one cargo built for this test run: `INSTALL_BIN=` tells
//! the Makefile to copy it instead of building `target/release/logmon`, so
//! install needs no cargo (and works as a user who cannot write `target/`).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const LOGMON: &str = env!("CARGO_BIN_EXE_logmon");
/// The unprivileged user of the non-root install (nobody on Debian).
const NOBODY: u32 = 65534;

const BIN: &str = "usr/bin/logmon";
const CONF: &str = "etc/logmon.conf";
const CONF_NEW: &str = "etc/logmon.conf.new";
const UNIT: &str = "usr/lib/systemd/system/logmon.service";
const SYSUSERS: &str = "usr/lib/sysusers.d/logmon.conf";

/// `make -C REPO TARGET DESTDIR=dest INSTALL_BIN=LOGMON` plus `extra`
/// arguments, as root.
fn make(target: &str, dest: &Path, extra: &[&str]) -> Output {
    make_in(
        Path::new(REPO),
        Path::new(LOGMON),
        target,
        dest,
        extra,
        None,
    )
}

/// `make -C repo TARGET DESTDIR=dest INSTALL_BIN=bin` plus `extra`
/// arguments, optionally as another uid/gid (via setpriv).
fn make_in(
    repo: &Path,
    bin: &Path,
    target: &str,
    dest: &Path,
    extra: &[&str],
    as_user: Option<u32>,
) -> Output {
    let mut args: Vec<String> = vec![
        "-C".into(),
        repo.display().to_string(),
        target.into(),
        format!("DESTDIR={}", dest.display()),
        format!("INSTALL_BIN={}", bin.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut cmd = match as_user {
        Some(id) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={id}"))
                .arg(format!("--regid={id}"))
                .arg("--clear-groups")
                .arg("make");
            c
        }
        None => Command::new("make"),
    };
    cmd.args(&args)
        // When the tests run under `make test`, the outer make's flags and
        // jobserver must not leak into this one.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL");
    // Nor may the caller's environment choose other directories.
    for var in ["PREFIX", "BINDIR", "SYSCONFDIR", "UNITDIR", "SYSUSERSDIR"] {
        cmd.env_remove(var);
    }
    run_ok(&mut cmd)
}

/// Every regular file and symlink below `root`, relative, with its mode.
fn files(root: &Path) -> BTreeMap<String, u32> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u32>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, meta.permissions().mode() & 0o7777);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// The values of `Key=` lines in a unit or sysusers file (comments skipped).
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// Whether `text` holds an `@NAME@` placeholder (NAME: A-Z and _) that the
/// Makefile should have replaced.
fn has_placeholder(text: &str) -> bool {
    // Between two '@': every part but the first and the last.
    let parts: Vec<&str> = text.split('@').collect();
    parts.len() > 2
        && parts[1..parts.len() - 1]
            .iter()
            .any(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
}

/// Whether the host knows the user `logmon` (a DESTDIR install must not
/// create it).
fn host_has_logmon_user() -> bool {
    run(Command::new("getent").args(["passwd", "logmon"]))
        .status
        .success()
}

/// The checks every fresh PREFIX=/usr install must pass.
fn check_fresh_install(root: &Path) {
    let want: BTreeMap<String, u32> = [
        (BIN, 0o755),
        (CONF, 0o644),
        (UNIT, 0o644),
        (SYSUSERS, 0o644),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m))
    .collect();
    assert_eq!(files(root), want, "installed files and modes");

    assert_eq!(
        fs::read(root.join(BIN)).unwrap(),
        fs::read(LOGMON).unwrap(),
        "the installed binary is the one built"
    );
    assert_eq!(
        read(root, CONF),
        fs::read_to_string(format!("{REPO}/logmon.conf")).unwrap(),
        "the shipped config"
    );

    let unit = read(root, UNIT);
    assert!(has_placeholder("ExecStart=@BINDIR@/logmon") && !has_placeholder("x=@system-service"));
    assert!(
        !has_placeholder(&unit),
        "an @NAME@ placeholder left in the unit:\n{unit}"
    );
    assert_eq!(
        values(&unit, "ExecStart"),
        ["/usr/bin/logmon -c /etc/logmon.conf"]
    );
    assert_eq!(values(&unit, "Type"), ["notify"]);
    assert_eq!(values(&unit, "StateDirectory"), ["logmon"]);

    // The sysusers.d file creates the unit's user and every group the unit
    // asks for.
    let sysusers = read(root, SYSUSERS);
    let user = values(&unit, "User");
    assert_eq!(user, ["logmon"], "the unit's User=");
    let lines: Vec<Vec<&str>> = sysusers
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        lines
            .iter()
            .any(|f| f.len() >= 3 && f[0] == "u" && f[1] == "logmon" && f[2] == "-"),
        "no `u logmon -` line in:\n{sysusers}"
    );
    assert!(
        sysusers.contains("/var/lib/logmon"),
        "the user's home is its state directory:\n{sysusers}"
    );
    for group in values(&unit, "SupplementaryGroups")
        .iter()
        .flat_map(|v| v.split_whitespace())
    {
        assert!(
            lines.contains(&vec!["m", "logmon", group]),
            "no `m logmon {group}` line for the unit's SupplementaryGroups= in:\n{sysusers}"
        );
    }
}

/// `systemd-analyze verify` on the installed unit. It checks that ExecStart=
/// is executable, so the staged binary must be at /usr/bin/logmon: in a
/// private mount namespace (unshare -m), an overlay puts the stage's usr/bin
/// over the host's, and nothing outside sees it. (systemd 252's `--root=`
/// would also look for /bin/kill and sysinit.target inside the stage.)
fn verify_unit(root: &Path) {
    // Documentation=man:... is checked only where man pages are installed.
    let man = run(Command::new("sh").args(["-c", "man -w journalctl"]))
        .status
        .success();
    let script = format!(
        "set -e
         mount --make-rprivate /
         mount -t overlay overlay -o lowerdir={stage}/usr/bin:/usr/bin /usr/bin
         test -x /usr/bin/logmon
         exec systemd-analyze verify --man={man} {unit}",
        stage = root.display(),
        man = if man { "yes" } else { "no" },
        unit = root.join(UNIT).display()
    );
    let out = run_ok(Command::new("unshare").args(["-m", "sh", "-c", &script]));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.trim().is_empty(),
        "systemd-analyze verify is not clean:\n{text}"
    );
}

#[test]
fn install_upgrade_uninstall() {
    let dir = TempDir::new("install");
    let root = dir.path().join("stage");
    let had_user = host_has_logmon_user();

    make("install", &root, &["PREFIX=/usr"]);
    check_fresh_install(&root);
    verify_unit(&root);
    assert_eq!(
        host_has_logmon_user(),
        had_user,
        "make install with DESTDIR must not run systemd-sysusers on the host"
    );

    // An upgrade keeps the admin's config and puts the shipped one beside it.
    let edited = format!("{}\n# edited by the admin\n", read(&root, CONF));
    fs::write(root.join(CONF), &edited).unwrap();
    make("install", &root, &["PREFIX=/usr"]);
    assert_eq!(
        read(&root, CONF),
        edited,
        "install overwrote an edited config"
    );
    assert_eq!(
        read(&root, CONF_NEW),
        fs::read_to_string(format!("{REPO}/logmon.conf")).unwrap()
    );
    let modes = files(&root);
    assert_eq!(modes.get(CONF_NEW), Some(&0o644));
    assert_eq!(modes.len(), 5, "files after the upgrade: {modes:?}");

    // Uninstall removes everything but the config.
    make("uninstall", &root, &["PREFIX=/usr"]);
    let left: Vec<String> = files(&root).into_keys().collect();
    assert_eq!(left, [CONF], "left after uninstall");
    assert_eq!(read(&root, CONF), edited);
}

#[test]
fn install_as_non_root() {
    let dir = TempDir::new("install");
    // The checkout may sit where nobody cannot read it (/root/...): give
    // the user copies of the real Makefile and what install reads.
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    for name in ["Makefile", "logmon.conf", "logmon.service"] {
        fs::copy(Path::new(REPO).join(name), src.join(name)).unwrap();
    }
    let bin = src.join("logmon");
    fs::copy(LOGMON, &bin).unwrap();
    for path in [&dir.path().to_path_buf(), &src] {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let root = dir.path().join("stage");
    fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(NOBODY), Some(NOBODY)).unwrap();

    // No chown, no systemd-sysusers, nothing outside DESTDIR: a plain user
    // can stage a package.
    let nobody = Some(NOBODY);
    make_in(&src, &bin, "install", &root, &["PREFIX=/usr"], nobody);
    check_fresh_install(&root);
    for rel in files(&root).keys() {
        let meta = fs::metadata(root.join(rel)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (NOBODY, NOBODY),
            "{rel} not owned by the installing user"
        );
    }
    make_in(&src, &bin, "uninstall", &root, &["PREFIX=/usr"], nobody);
    let left: Vec<String> = files(&root).into_keys().collect();
    assert_eq!(left, [CONF], "left after uninstall");
}

#[test]
fn install_default_prefix_is_usr_local() {
    let dir = TempDir::new("install");
    let root = dir.path().join("stage");
    make("install", &root, &[]);
    let got: Vec<PathBuf> = files(&root).into_keys().map(PathBuf::from).collect();
    let want: Vec<PathBuf> = [
        "etc/logmon.conf",
        "usr/local/bin/logmon",
        "usr/local/lib/systemd/system/logmon.service",
        "usr/local/lib/sysusers.d/logmon.conf",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(got, want);
    let unit = read(&root, "usr/local/lib/systemd/system/logmon.service");
    assert_eq!(
        values(&unit, "ExecStart"),
        ["/usr/local/bin/logmon -c /etc/logmon.conf"]
    );
}
