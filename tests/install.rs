//! `make install` / `make uninstall` as packagers and admins run them: the
//! real Makefile of this repository into a DESTDIR stage, checked file by
//! file, then the installed unit through `systemd-analyze verify`.
//!
//! The binary is the one cargo built for this test run: `INSTALL_BIN=` tells
//! the Makefile to copy it instead of `target/release/logmon`. Install never
//! builds and never needs cargo (`sudo make install` after `make`: root's
//! PATH has no cargo); that, the warning without a sendmail, and `make run`
//! on a machine without a journal are checked here with fake tools on PATH.

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
/// arguments, optionally as another uid/gid (via setpriv); it must succeed.
fn make_in(
    repo: &Path,
    bin: &Path,
    target: &str,
    dest: &Path,
    extra: &[&str],
    as_user: Option<u32>,
) -> Output {
    let mut args: Vec<String> = vec![
        format!("DESTDIR={}", dest.display()),
        format!("INSTALL_BIN={}", bin.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&mut make_command(repo, target, &args, as_user))
}

/// `make -C repo TARGET ARGS...`, optionally as another uid/gid (via
/// setpriv), in an environment that names no directories and no cargo.
fn make_command(repo: &Path, target: &str, extra: &[&str], as_user: Option<u32>) -> Command {
    let mut args: Vec<String> = vec!["-C".into(), repo.display().to_string(), target.into()];
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
    // Nor may the caller's environment choose other directories, or the
    // cargo to run (cargo sets CARGO for the tests it runs; sudo would not).
    for var in [
        "PREFIX",
        "BINDIR",
        "SYSCONFDIR",
        "UNITDIR",
        "SYSUSERSDIR",
        "CARGO",
        "SENDMAIL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A copy of what the Makefile reads, in a directory of its own: `make`
/// there finds no target/release/logmon unless the test puts one there.
fn repo_copy(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    fs::create_dir(&src).unwrap();
    for name in ["Makefile", "logmon.conf", "logmon.service"] {
        fs::copy(Path::new(REPO).join(name), src.join(name)).unwrap();
    }
    src
}

/// A directory for PATH whose `cargo` only records that it ran (and fails,
/// as a missing cargo would), with the standard directories after it.
struct FakeCargo {
    dir: PathBuf,
}

impl FakeCargo {
    fn new(dir: &Path, exit: i32) -> FakeCargo {
        let bin = dir.join("fakebin");
        fs::create_dir(&bin).unwrap();
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> '{}/cargo-ran'\nexit {exit}\n",
            dir.display()
        );
        let src = write_file(dir, "cargo.src", script);
        run_ok(
            Command::new("install")
                .arg("-m0755")
                .arg(&src)
                .arg(bin.join("cargo")),
        );
        FakeCargo {
            dir: dir.to_path_buf(),
        }
    }

    fn path_var(&self) -> String {
        format!(
            "{}/fakebin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.dir.display()
        )
    }

    fn ran(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("cargo-ran")).ok()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
    let src = repo_copy(dir.path());
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

/// `make`, then `sudo make install`: install copies what `make` built and
/// never runs cargo (root's PATH has none); with nothing built it fails and
/// says what to do. With INSTALL_BIN naming a missing file, the same.
#[test]
fn install_uses_the_built_binary_and_never_cargo() {
    let dir = TempDir::new("install");
    let src = repo_copy(dir.path());
    let cargo = FakeCargo::new(dir.path(), 1);
    let path = cargo.path_var();
    // This PATH finds no real cargo, only the fake one.
    let found = run_ok(
        Command::new("sh")
            .args(["-c", "command -v cargo"])
            .env("PATH", &path),
    );
    assert_eq!(
        text(&found.stdout).trim(),
        format!("{}/fakebin/cargo", dir.path().display())
    );

    let root = dir.path().join("stage");
    let install = |extra: &[&str]| {
        let mut args = vec![format!("DESTDIR={}", root.display()), "PREFIX=/usr".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(make_command(&src, "install", &args, None).env("PATH", &path))
    };

    // Nothing built yet.
    let missing = dir.path().join("no-such-logmon");
    for extra in [vec![], vec![format!("INSTALL_BIN={}", missing.display())]] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let out = install(&extra);
        let err = text(&out.stderr);
        assert!(
            !out.status.success(),
            "install without a binary succeeded: {err}"
        );
        assert!(
            err.contains("run `make` first"),
            "no clear message without a binary ({extra:?}):\n{err}"
        );
        assert_eq!(cargo.ran(), None, "install ran cargo");
        assert!(
            !root.exists(),
            "install without a binary installed something"
        );
    }

    // What `make` built, where it builds it.
    let built = src.join("target/release/logmon");
    fs::create_dir_all(built.parent().unwrap()).unwrap();
    fs::copy(LOGMON, &built).unwrap();
    let out = install(&[]);
    assert!(
        out.status.success(),
        "install failed: {}",
        text(&out.stderr)
    );
    assert_eq!(cargo.ran(), None, "install ran cargo");
    check_fresh_install(&root);
}

/// Without /usr/sbin/sendmail, install warns that an MTA must be installed
/// first, and succeeds; with one, it says nothing about it.
#[test]
fn install_warns_without_sendmail() {
    let dir = TempDir::new("install");
    let fake = write_file(dir.path(), "sendmail", "#!/bin/sh\nexit 0\n");
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let missing = dir.path().join("no-sendmail");
    for (sendmail, warns) in [(&missing, true), (&fake, false)] {
        let root = dir.path().join(format!("stage-{warns}"));
        let arg = format!("SENDMAIL={}", sendmail.display());
        let out = make("install", &root, &["PREFIX=/usr", &arg]);
        let said = text(&out.stdout);
        let warning = format!(
            "warning: no {}: install Postfix (or another MTA) first",
            sendmail.display()
        );
        assert_eq!(
            said.contains(&warning),
            warns,
            "SENDMAIL={}:\n{said}",
            sendmail.display()
        );
        // Nothing else warns.
        let rest = said.replace(&warning, "");
        assert!(!rest.contains("warning"), "{rest}");
        check_fresh_install(&root);
    }
}

/// `make run` on a machine without a journal (no journald socket, no journal
/// files of this machine) says so and fails instead of following nothing
/// forever; with the socket or with files it starts logmon.
#[test]
fn run_says_when_there_is_no_journal() {
    let dir = TempDir::new("run");
    let src = repo_copy(dir.path());
    fs::create_dir(src.join("target")).unwrap();
    let cargo = FakeCargo::new(dir.path(), 0);
    let ran = dir.path().join("logmon-ran");
    let fake_logmon = write_file(
        dir.path(),
        "logmon",
        format!("#!/bin/sh\necho \"$@\" > '{}'\n", ran.display()),
    );
    fs::set_permissions(&fake_logmon, fs::Permissions::from_mode(0o755)).unwrap();
    let journal_dirs = [
        dir.path().join("var-log-journal"),
        dir.path().join("run-log-journal"),
    ];
    for d in &journal_dirs {
        fs::create_dir(d).unwrap();
    }
    // A journald namespace's files are not this machine's journal.
    let ns = journal_dirs[0].join(format!("{}.somenamespace", machine_id()));
    fs::create_dir(&ns).unwrap();
    write_file(&ns, "system.journal", "");
    let socket = dir.path().join("journal-socket");
    let run_make = |socket: &Path| {
        let dirs = format!(
            "JOURNAL_DIRS={} {}",
            journal_dirs[0].display(),
            journal_dirs[1].display()
        );
        let args = [
            format!("JOURNAL_SOCKET={}", socket.display()),
            dirs,
            format!("BIN={}", fake_logmon.display()),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = fs::remove_file(&ran);
        run(make_command(&src, "run", &args, None).env("PATH", cargo.path_var()))
    };

    let out = run_make(&socket);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "make run without a journal succeeded: {err}"
    );
    assert!(err.contains("no journal on this machine"), "{err}");
    assert!(!ran.exists(), "make run started logmon without a journal");

    // journald's socket is there ...
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let out = run_make(&socket);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("following the journal"));
    assert_eq!(
        fs::read_to_string(&ran).unwrap().trim(),
        "-c target/run.conf"
    );
    drop(listener);

    // ... or only this machine's files (journald not running), in either place.
    for d in &journal_dirs {
        let own = d.join(machine_id());
        fs::create_dir(&own).unwrap();
        write_file(&own, "system.journal", "");
        let out = run_make(&dir.path().join("no-socket"));
        assert!(
            out.status.success(),
            "files in {}: {}",
            d.display(),
            text(&out.stderr)
        );
        assert!(ran.exists(), "make run did not start logmon");
        fs::remove_dir_all(&own).unwrap();
    }
}
