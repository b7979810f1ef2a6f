//! The state file against the real binary, a real journald namespace and a
//! recording fake sendmail: every kind of damage seen in the field is kept
//! as `PATH.bad` and loses no alert logged while logmon was down; a second
//! logmon on the same state file (an admin's `--once`) refuses and changes
//! nothing; a root logmon leaves the files to the state directory's owner.

mod common;

use common::*;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_logmon");
const STARTED: &str = "started: following the journal";
/// nobody / nogroup on Debian: the stand-in for the service user.
const NOBODY: u32 = 65534;

/// A journald namespace that already holds an entry, so logmon's first
/// start saves a real cursor.
fn journald(prefix: &str) -> Journald {
    let jd = Journald::start(&unique_name(prefix));
    assert!(
        wait_until(WAIT, || !jd.cat().trim().is_empty()),
        "journald wrote no entry; log:\n{}",
        jd.log_text()
    );
    jd
}

fn write_config(dir: &Path, state: &Path, sendmail: &Path, mail: &str, tag: &str) -> PathBuf {
    let text = format!(
        "state_file = {}\n[mail]\nto = root\nsendmail = {}\n{mail}\n[match]\nMESSAGE ~ {tag}\n",
        state.display(),
        sendmail.display()
    );
    write_file(dir, "logmon.conf", text)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// One running logmon, killed and reaped on drop.
struct Logmon {
    child: Child,
    stderr: PathBuf,
}

impl Logmon {
    fn follow(conf: &Path, ns: &str, stderr: PathBuf) -> Logmon {
        let err = File::create(&stderr).expect("creating stderr file");
        let child = Command::new(BIN)
            .arg("-c")
            .arg(conf)
            .args(["--namespace", ns])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawning logmon");
        let mut lm = Logmon { child, stderr };
        let up = wait_until(Duration::from_secs(30), || {
            lm.stderr().contains(STARTED) || !matches!(lm.child.try_wait(), Ok(None))
        });
        assert!(
            up && lm.stderr().contains(STARTED),
            "logmon did not start; stderr:\n{}",
            lm.stderr()
        );
        lm
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn term(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let mut status = None;
        let done = wait_until(Duration::from_secs(30), || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        assert!(done, "no exit within 30 s of SIGTERM:\n{}", self.stderr());
        status.expect("exit status")
    }
}

impl Drop for Logmon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The damage seen in the field, applied to either format (format 1's one
/// cursor line of the old code, or format 2's lines).
fn damage(case: &str, file: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(file).into_owned();
    match case {
        "empty" => Vec::new(),
        "garbage" => b"\x8f\x01garbage \xff\n".to_vec(),
        "junk" => {
            let x = text.find(";x=").expect("a cursor in the state file") + 3;
            let end = x + text[x..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(text.len() - x);
            format!("{};junk{}", &text[..end], &text[end..]).into_bytes()
        }
        "nul" => [file, b"\0"].concat(),
        "second-line" => [file, b"second line\n"].concat(),
        "first-char-cut" => file[1..].to_vec(),
        _ => panic!("no damage case {case}"),
    }
}

/// Stopped logmon, three alerts logged while it is down, the state file
/// damaged (`prev_too`: its copy as well): the next start mails all three,
/// keeps the damaged file as `PATH.bad` and says so.
fn damaged_state_loses_nothing(case: &str, prev_too: bool) {
    let jd = journald("stdmg");
    let fake = FakeSendmail::new();
    let tmp = TempDir::new("stdmg");
    let state = tmp.path().join("cursor");
    let tag = format!("statetest-{}", unique_name("t"));
    let conf = write_config(tmp.path(), &state, fake.path(), "batch = 0", &tag);

    let mut lm = Logmon::follow(&conf, jd.name(), tmp.path().join("first.log"));
    jd.log("stdmg", 3, &format!("{tag} before"));
    assert!(
        fake.wait_until(WAIT, |m| m.concat().contains(&format!("{tag} before"))),
        "the first alert was not mailed; stderr:\n{}",
        lm.stderr()
    );
    assert!(lm.term().success(), "{}", lm.stderr());
    drop(lm);

    let down: Vec<String> = (0..3).map(|i| format!("{tag} down-{i}")).collect();
    for m in &down {
        jd.log("stdmg", 3, m);
    }
    assert!(jd.wait_for_count(&format!("{tag} down-"), 3, WAIT));
    let good = fs::read(&state).expect("a state file after the first run");
    let bad = damage(case, &good);
    fs::write(&state, &bad).unwrap();
    let prev = sibling(&state, ".prev");
    if prev_too {
        if let Ok(p) = fs::read(&prev) {
            fs::write(&prev, damage(case, &p)).unwrap();
        }
    }

    let before = fake.mails().len();
    let lm = Logmon::follow(&conf, jd.name(), tmp.path().join("second.log"));
    let all = fake.wait_until(Duration::from_secs(30), |m| {
        let text = m[before..].concat();
        down.iter().all(|d| text.contains(d.as_str()))
    });
    let stderr = lm.stderr();
    assert!(
        all,
        "{case}: not every alert logged while logmon was down was mailed after the restart \
         (state file was {:?}, damaged to {:?}); mails:\n{:#?}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&good),
        String::from_utf8_lossy(&bad),
        &fake.mails()[before..]
    );
    assert_eq!(
        fs::read(sibling(&state, ".bad")).ok(),
        Some(bad),
        "{case}: the damaged file is not kept as cursor.bad; stderr:\n{stderr}"
    );
    for said in [
        format!("state file {} is damaged", state.display()),
        format!("kept as {}.bad", state.display()),
    ] {
        assert!(
            stderr.contains(&said),
            "{case}: {said:?} not said; stderr:\n{stderr}"
        );
    }
    assert!(
        stderr.contains(if prev_too {
            "modification time"
        } else {
            "cursor.prev"
        }),
        "{case}: where it resumed is not said; stderr:\n{stderr}"
    );
}

#[test]
fn damaged_empty() {
    damaged_state_loses_nothing("empty", false);
}

#[test]
fn damaged_garbage() {
    damaged_state_loses_nothing("garbage", false);
}

#[test]
fn damaged_junk_after_the_cursor() {
    damaged_state_loses_nothing("junk", false);
}

#[test]
fn damaged_trailing_nul() {
    damaged_state_loses_nothing("nul", false);
}

#[test]
fn damaged_second_line() {
    damaged_state_loses_nothing("second-line", false);
}

#[test]
fn damaged_first_character_cut() {
    damaged_state_loses_nothing("first-char-cut", false);
}

#[test]
fn damaged_junk_and_its_copy_too() {
    damaged_state_loses_nothing("junk", true);
}

#[test]
fn damaged_empty_and_its_copy_too() {
    damaged_state_loses_nothing("empty", true);
}

/// While the service follows (as root, in a state directory owned by the
/// service user), an admin's `logmon --once` with the same config refuses,
/// names the file and the holder, mails nothing and leaves the state file
/// as it was; `--once --dry-run` takes no lock and still works.
#[test]
fn a_second_logmon_refuses_and_changes_nothing() {
    let jd = journald("stlock");
    let fake = FakeSendmail::new();
    let tmp = TempDir::new("stlock");
    let lib = tmp.path().join("lib");
    fs::create_dir(&lib).unwrap();
    std::os::unix::fs::chown(&lib, Some(NOBODY), Some(NOBODY)).unwrap();
    let state = lib.join("cursor");
    let tag = format!("locktest-{}", unique_name("t"));
    // A long batch window: the alerts stay held, so the state file is
    // `at` the first of them, and a `--once` from it would mail them.
    let conf = write_config(tmp.path(), &state, fake.path(), "batch = 1h", &tag);
    let service = Logmon::follow(&conf, jd.name(), tmp.path().join("service.log"));
    for i in 0..2 {
        jd.log("stlock", 3, &format!("{tag} held-{i}"));
    }
    assert!(jd.wait_for_count(&format!("{tag} held-"), 2, WAIT));
    let held = wait_until(Duration::from_secs(30), || {
        fs::read_to_string(&state).is_ok_and(|s| s.contains("at s="))
    });
    assert!(
        held,
        "the held position was not saved: {:?}; stderr:\n{}",
        fs::read_to_string(&state),
        service.stderr()
    );
    let bytes = fs::read(&state).unwrap();
    let meta = fs::metadata(&state).unwrap();

    let out =
        run(Command::new(BIN)
            .arg("-c")
            .arg(&conf)
            .args(["--namespace", jd.name(), "--once"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--once beside the service: {err}");
    for needle in [
        format!("state file {} is in use by another logmon", state.display()),
        format!("pid {}", service.child.id()),
    ] {
        assert!(err.contains(&needle), "no {needle:?} in: {err}");
    }
    assert!(
        fake.mails().is_empty(),
        "the refused --once mailed: {:#?}",
        fake.mails()
    );
    let after = fs::metadata(&state).unwrap();
    assert_eq!(fs::read(&state).unwrap(), bytes, "state file changed");
    assert_eq!(
        (
            after.ino(),
            after.uid(),
            after.gid(),
            after.mtime(),
            after.mtime_nsec()
        ),
        (
            meta.ino(),
            meta.uid(),
            meta.gid(),
            meta.mtime(),
            meta.mtime_nsec()
        ),
        "state file replaced"
    );

    // --dry-run writes nothing and so needs no lock: it shows the held alerts.
    let out = run(Command::new(BIN).arg("-c").arg(&conf).args([
        "--namespace",
        jd.name(),
        "--once",
        "--dry-run",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("{tag} held-1")),
        "--once --dry-run beside the service ({}): {}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(&state).unwrap(), bytes, "state file changed");
    assert!(fake.mails().is_empty());

    // The service user can still use what the root service wrote.
    for name in ["", ".prev", ".lock"] {
        let m = fs::metadata(sibling(&state, name)).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (NOBODY, NOBODY),
            "a root logmon left cursor{name} to root in the service user's directory"
        );
    }
    drop(service);
}

/// The service user (here nobody, via setpriv) finds a damaged state file
/// that a root run left behind, owned by root: it may not hard-link it
/// (fs.protected_hardlinks), so it keeps a copy, and carries on.
#[test]
fn the_service_user_keeps_a_damaged_file_that_root_left() {
    let tmp = TempDir::new("stroot");
    let jdir = tmp.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    let journal = fixture_journal(
        &jdir,
        &[entry(&[("MESSAGE", "rootleft error"), ("PRIORITY", "3")])],
    );
    run_ok(Command::new("chmod").arg("a+r").arg(&journal));
    let lib = tmp.path().join("lib");
    fs::create_dir(&lib).unwrap();
    std::os::unix::fs::chown(&lib, Some(NOBODY), Some(NOBODY)).unwrap();
    let state = lib.join("cursor");
    fs::write(&state, "garbage\n").unwrap();
    // Reads the whole message and exits 0 (/bin/true may exit before it is
    // written: a failed delivery).
    let src = write_file(tmp.path(), "sendmail.src", "#!/bin/sh\ncat >/dev/null\n");
    let sendmail = tmp.path().join("sendmail");
    run_ok(
        Command::new("install")
            .arg("-m0755")
            .arg(&src)
            .arg(&sendmail),
    );
    let conf = write_config(tmp.path(), &state, &sendmail, "batch = 0", "rootleft");
    let out = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .arg("-c")
        .arg(&conf)
        .arg("--once")
        .arg("--directory")
        .arg(&jdir));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {err}", out.status);
    assert!(err.contains("1 alerts, 1 mails"), "{err}");
    assert!(
        err.contains(&format!("kept as {}.bad", state.display())),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(sibling(&state, ".bad")).unwrap(),
        "garbage\n"
    );
    let m = fs::metadata(&state).unwrap();
    assert_eq!((m.uid(), m.gid()), (NOBODY, NOBODY));
    assert!(fs::read_to_string(&state)
        .unwrap()
        .starts_with("logmon-state 2\n"));
}
