//! `make install` / `make uninstall` as packagers and admins run them: the
//! real Makefile of this repository into a DESTDIR stage, checked file by
//! file, then the installed unit through `systemd-analyze verify`; the
//! config files kept, updated or put beside as dpkg does with conffiles;
//! and `make deb` from the tracked files of a clean checkout, its contents,
//! control data and scripts, and `lintian` on it.
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
const MAN8: &str = "usr/share/man/man8/logmon.8";
const MAN5: &str = "usr/share/man/man5/logmon.conf.5";
/// What install records about the config files it installed.
const MANIFEST: &str = "usr/share/logmon/conffiles.sha256";

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
/// The files git tracks (as they are in the work tree), so a file the
/// Makefile needs but nobody added fails here as in a clean clone.
fn repo_copy(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    let listed = run_ok(Command::new("git").args(["-C", REPO, "ls-files", "-z"]));
    let tracked: Vec<String> = text(&listed.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    assert!(
        tracked.iter().any(|p| p == "Makefile"),
        "git ls-files: {tracked:?}"
    );
    for rel in tracked {
        let from = Path::new(REPO).join(&rel);
        // Tracked but deleted in the work tree: a clean clone would have it,
        // this test runs the work tree's state.
        let Ok(meta) = fs::symlink_metadata(&from) else {
            continue;
        };
        let to = src.join(&rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        if meta.is_file() {
            fs::copy(&from, &to).unwrap();
        }
    }
    src
}

/// The shipped rule packs (logmon.d/*.conf, maybe none yet), by name.
fn shipped_packs(repo: &Path) -> Vec<String> {
    let mut packs: Vec<String> = match fs::read_dir(repo.join("logmon.d")) {
        Ok(dir) => dir
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".conf"))
            .collect(),
        Err(_) => Vec::new(),
    };
    packs.sort();
    packs
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

/// The files and modes of a fresh PREFIX=/usr install of `repo`.
fn fresh_install_files(repo: &Path) -> BTreeMap<String, u32> {
    let mut want: BTreeMap<String, u32> = [
        (BIN, 0o755),
        (CONF, 0o644),
        (UNIT, 0o644),
        (SYSUSERS, 0o644),
        (MAN8, 0o644),
        (MAN5, 0o644),
        (MANIFEST, 0o644),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m))
    .collect();
    for pack in shipped_packs(repo) {
        want.insert(format!("etc/logmon.d/{pack}"), 0o644);
    }
    want
}

/// The checks every fresh PREFIX=/usr install must pass.
fn check_fresh_install(root: &Path) {
    assert_eq!(
        files(root),
        fresh_install_files(Path::new(REPO)),
        "installed files and modes"
    );
    assert!(
        root.join("etc/logmon.d").is_dir(),
        "no /etc/logmon.d for the rule packs"
    );
    for (page, source) in [(MAN8, "man/logmon.8"), (MAN5, "man/logmon.conf.5")] {
        assert_eq!(
            read(root, page),
            fs::read_to_string(Path::new(REPO).join(source)).unwrap(),
            "{page}"
        );
    }

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
    // Documentation=man:logmon(8) ... is found among the staged pages.
    let manpath = format!("{}/usr/share/man:", root.display());
    let out = run_ok(
        Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .env("MANPATH", manpath),
    );
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
    let mut want = fresh_install_files(Path::new(REPO));
    want.insert(CONF_NEW.into(), 0o644);
    assert_eq!(modes, want, "files after the upgrade");

    // Uninstall removes everything but the config.
    make("uninstall", &root, &["PREFIX=/usr"]);
    assert_eq!(
        files(&root),
        config_files(Path::new(REPO)),
        "left after uninstall"
    );
    assert_eq!(read(&root, CONF), edited);
}

/// What uninstall leaves: the config, logmon.conf and the rule packs.
fn config_files(repo: &Path) -> BTreeMap<String, u32> {
    fresh_install_files(repo)
        .into_iter()
        .filter(|(p, _)| p.starts_with("etc/"))
        .collect()
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
    assert_eq!(files(&root), config_files(&src), "left after uninstall");
}

#[test]
fn install_default_prefix_is_usr_local() {
    let dir = TempDir::new("install");
    let root = dir.path().join("stage");
    make("install", &root, &[]);
    let got: Vec<PathBuf> = files(&root)
        .into_keys()
        .filter(|p| !p.starts_with("etc/logmon.d/"))
        .map(PathBuf::from)
        .collect();
    let want: Vec<PathBuf> = [
        "etc/logmon.conf",
        "usr/local/bin/logmon",
        "usr/local/lib/systemd/system/logmon.service",
        "usr/local/lib/sysusers.d/logmon.conf",
        "usr/local/share/logmon/conffiles.sha256",
        "usr/local/share/man/man5/logmon.conf.5",
        "usr/local/share/man/man8/logmon.8",
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
    // The config it runs with has the shipped rules: the relative
    // `include = logmon.d` would find nothing in target/.
    let check = run(Command::new(LOGMON).args([
        "-c",
        src.join("target/run.conf").to_str().unwrap(),
        "--check",
    ]));
    assert!(check.status.success(), "{}", text(&check.stderr));
    let summary = text(&check.stdout);
    assert!(
        !summary.contains(" 0 match,"),
        "make run's config has no rules: {summary}"
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

/// The config files as dpkg treats conffiles (packaging/install-conf.sh):
/// an unchanged file is updated in place, a changed one is kept with the
/// shipped one beside it as *.new, a deleted rule pack stays deleted (the
/// main config is put back: logmon cannot start without it), a new pack
/// is installed, and *.new goes once the file is the shipped one again.
#[test]
fn install_treats_config_files_as_conffiles() {
    let dir = TempDir::new("install");
    let src = repo_copy(dir.path());
    let packs = src.join("logmon.d");
    let _ = fs::remove_dir_all(&packs);
    fs::create_dir(&packs).unwrap();
    let rules = |n: u32| format!("[match]\nMESSAGE = release {n}\n");
    for name in ["10-a.conf", "20-b.conf", "30-c.conf"] {
        write_file(&packs, name, rules(1));
    }
    // Not a pack: install takes *.conf only.
    write_file(&packs, "README", "not a pack\n");
    let root = dir.path().join("stage");
    let install = || {
        let out = make_in(
            &src,
            Path::new(LOGMON),
            "install",
            &root,
            &["PREFIX=/usr"],
            None,
        );
        text(&out.stdout)
    };
    let etc = |rel: &str| root.join("etc").join(rel);
    let etc_files = || -> Vec<String> {
        files(&root.join("etc"))
            .into_keys()
            .filter(|p| p != "logmon.conf")
            .collect()
    };

    install();
    assert_eq!(
        etc_files(),
        [
            "logmon.d/10-a.conf",
            "logmon.d/20-b.conf",
            "logmon.d/30-c.conf"
        ]
    );

    // The admin edits a, deletes b, leaves c and the main config alone;
    // a new release changes every pack and the main config, adds d.
    let edited = format!("{}# mine\n", rules(1));
    fs::write(etc("logmon.d/10-a.conf"), &edited).unwrap();
    fs::remove_file(etc("logmon.d/20-b.conf")).unwrap();
    for name in ["10-a.conf", "20-b.conf", "30-c.conf", "40-d.conf"] {
        write_file(&packs, name, rules(2));
    }
    let conf2 = format!("{}\n# release 2\n", read(&src, "logmon.conf"));
    write_file(&src, "logmon.conf", &conf2);
    let said = install();
    assert_eq!(
        fs::read_to_string(etc("logmon.d/10-a.conf")).unwrap(),
        edited
    );
    assert_eq!(
        fs::read_to_string(etc("logmon.d/10-a.conf.new")).unwrap(),
        rules(2)
    );
    assert!(said.contains("kept your"), "{said}");
    assert!(
        !etc("logmon.d/20-b.conf").exists(),
        "a deleted pack came back"
    );
    assert!(said.contains("20-b.conf was removed"), "{said}");
    assert_eq!(
        fs::read_to_string(etc("logmon.d/30-c.conf")).unwrap(),
        rules(2)
    );
    assert_eq!(
        fs::read_to_string(etc("logmon.d/40-d.conf")).unwrap(),
        rules(2)
    );
    assert_eq!(
        fs::read_to_string(etc("logmon.conf")).unwrap(),
        conf2,
        "unchanged main config not updated"
    );
    assert_eq!(
        etc_files(),
        [
            "logmon.d/10-a.conf",
            "logmon.d/10-a.conf.new",
            "logmon.d/30-c.conf",
            "logmon.d/40-d.conf"
        ]
    );

    // The admin takes the shipped a and deletes the main config: the .new
    // goes, the main config comes back.
    fs::rename(etc("logmon.d/10-a.conf.new"), etc("logmon.d/10-a.conf")).unwrap();
    fs::remove_file(etc("logmon.conf")).unwrap();
    install();
    assert_eq!(fs::read_to_string(etc("logmon.conf")).unwrap(), conf2);
    assert_eq!(
        etc_files(),
        [
            "logmon.d/10-a.conf",
            "logmon.d/30-c.conf",
            "logmon.d/40-d.conf"
        ]
    );

    // Uninstall keeps the config, packs included.
    make_in(
        &src,
        Path::new(LOGMON),
        "uninstall",
        &root,
        &["PREFIX=/usr"],
        None,
    );
    assert_eq!(
        files(&root).into_keys().collect::<Vec<_>>(),
        [
            "etc/logmon.conf",
            "etc/logmon.d/10-a.conf",
            "etc/logmon.d/30-c.conf",
            "etc/logmon.d/40-d.conf"
        ]
    );
}

/// `make deb` from a clean checkout's files and the binary `make` built:
/// the package's files, modes, control data, conffiles and scripts, the
/// binary and pages exactly the built ones, and lintian without errors.
#[test]
fn deb_package() {
    let dir = TempDir::new("deb");
    let src = repo_copy(dir.path());
    let debdir = dir.path().join("out");
    let deb_make = |extra: &[&str]| {
        let mut args = vec![format!("DEBDIR={}", debdir.display())];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Who builds it is not what the test checks.
        run(make_command(&src, "deb", &args, None)
            .env_remove("DEBEMAIL")
            .env_remove("DEBFULLNAME"))
    };

    // Nothing built: a clear failure.
    let out = deb_make(&[]);
    assert!(!out.status.success(), "make deb without a binary succeeded");
    assert!(
        text(&out.stderr).contains("run `make` first"),
        "{}",
        text(&out.stderr)
    );

    let built = src.join("target/release/logmon");
    fs::create_dir_all(built.parent().unwrap()).unwrap();
    fs::copy(LOGMON, &built).unwrap();
    let out = deb_make(&[]);
    assert!(
        out.status.success(),
        "make deb: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let version = cargo_version();
    let arch = text(&run_ok(Command::new("dpkg").arg("--print-architecture")).stdout)
        .trim()
        .to_string();
    let deb = debdir.join(format!("logmon_{version}_{arch}.deb"));
    assert!(
        deb.is_file(),
        "no {}: {:?}",
        deb.display(),
        fs::read_dir(&debdir).unwrap().collect::<Vec<_>>()
    );
    eprintln!(
        "{}: {} bytes",
        deb.display(),
        fs::metadata(&deb).unwrap().len()
    );

    // Its files, owned by root, with their modes.
    let listing = text(&run_ok(Command::new("dpkg-deb").arg("-c").arg(&deb)).stdout);
    eprintln!("{listing}");
    let mut got = BTreeMap::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[1], "root/root", "{line}");
        if !f[0].starts_with('d') {
            got.insert(f[5].trim_start_matches("./").to_string(), f[0].to_string());
        }
    }
    let mut want: BTreeMap<String, String> = [
        ("etc/logmon.conf", "-rw-r--r--"),
        ("lib/systemd/system/logmon.service", "-rw-r--r--"),
        ("usr/bin/logmon", "-rwxr-xr-x"),
        ("usr/lib/sysusers.d/logmon.conf", "-rw-r--r--"),
        ("usr/share/doc/logmon/changelog.gz", "-rw-r--r--"),
        ("usr/share/doc/logmon/copyright", "-rw-r--r--"),
        ("usr/share/man/man5/logmon.conf.5.gz", "-rw-r--r--"),
        ("usr/share/man/man8/logmon.8.gz", "-rw-r--r--"),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .collect();
    for pack in shipped_packs(&src) {
        want.insert(format!("etc/logmon.d/{pack}"), "-rw-r--r--".into());
    }
    assert_eq!(got, want, "the package's files");
    assert!(
        listing.contains(" ./etc/logmon.d/\n"),
        "no /etc/logmon.d in the package"
    );

    // The contents: the built binary, the unit for /usr/bin, the pages.
    let x = dir.path().join("x");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x));
    assert_eq!(
        fs::read(x.join("usr/bin/logmon")).unwrap(),
        fs::read(LOGMON).unwrap()
    );
    let unit = read(&x, "lib/systemd/system/logmon.service");
    assert_eq!(
        values(&unit, "ExecStart"),
        ["/usr/bin/logmon -c /etc/logmon.conf"]
    );
    assert_eq!(
        values(&unit, "Documentation"),
        ["man:logmon(8) man:logmon.conf(5)"]
    );
    assert_eq!(
        read(&x, "usr/lib/sysusers.d/logmon.conf"),
        read(&src, "logmon.sysusers")
    );
    assert_eq!(read(&x, "etc/logmon.conf"), read(&src, "logmon.conf"));
    for (page, source) in [
        ("usr/share/man/man8/logmon.8.gz", "man/logmon.8"),
        ("usr/share/man/man5/logmon.conf.5.gz", "man/logmon.conf.5"),
    ] {
        let out = run_ok(Command::new("gzip").arg("-dc").arg(x.join(page)));
        assert_eq!(text(&out.stdout), read(&src, source), "{page}");
    }

    // Control data.
    let field = |name: &str| {
        text(&run_ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name)).stdout)
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "logmon");
    assert_eq!(field("Version"), version);
    assert_eq!(field("Architecture"), arch);
    let depends = field("Depends");
    for dep in [
        "libc6 (>=",
        "libsystemd0",
        "systemd | systemd-standalone-sysusers",
    ] {
        assert!(depends.contains(dep), "Depends: {depends}");
    }
    assert!(field("Recommends").contains("mail-transport-agent"));
    let control = dir.path().join("control");
    run_ok(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let mut conffiles: Vec<String> = read(&control, "conffiles")
        .lines()
        .map(String::from)
        .collect();
    conffiles.sort();
    let mut want_conffiles: Vec<String> = want
        .keys()
        .filter(|p| p.starts_with("etc/"))
        .map(|p| format!("/{p}"))
        .collect();
    want_conffiles.sort();
    assert_eq!(
        conffiles, want_conffiles,
        "conffiles: every file under /etc"
    );
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{script}");
        run_ok(Command::new("sh").arg("-n").arg(&path));
    }
    let postinst = read(&control, "postinst");
    for step in [
        "systemd-sysusers",
        "deb-systemd-helper enable 'logmon.service'",
        "systemctl --system daemon-reload",
        "deb-systemd-invoke try-restart 'logmon.service'",
        "deb-systemd-invoke start 'logmon.service'",
    ] {
        assert!(postinst.contains(step), "postinst lacks {step}");
    }
    assert!(read(&control, "prerm").contains("deb-systemd-invoke stop 'logmon.service'"));
    let postrm = read(&control, "postrm");
    assert!(postrm.contains("deb-systemd-helper purge 'logmon.service'"));
    assert!(postrm.contains("/var/lib/logmon"));

    // lintian: no errors (the accepted tags are listed in the README).
    let out = run(Command::new("lintian")
        .args(["--tag-display-limit", "0", "-I", "--pedantic"])
        .arg(&deb));
    let said = text(&out.stdout);
    eprintln!("lintian:\n{said}{}", text(&out.stderr));
    let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));
    assert!(
        out.status.success(),
        "lintian failed: {}",
        text(&out.stderr)
    );
}

/// The package version: Cargo.toml's [package] version.
fn cargo_version() -> String {
    let toml = fs::read_to_string(Path::new(REPO).join("Cargo.toml")).unwrap();
    let package = toml.split("[package]").nth(1).unwrap();
    let line = package
        .lines()
        .find(|l| l.trim_start().starts_with("version"))
        .unwrap();
    line.split('"').nth(1).unwrap().to_string()
}
