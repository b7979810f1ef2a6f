//! sd_notify: READY=1, STATUS=, WATCHDOG=1, RELOADING=1 and STOPPING=1
//! arrive on a NOTIFY_SOCKET the test owns, in order.

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// As [`start_notified_child`], killed when the test ends, pass or fail.
fn start_notified(
    jd: &Journald,
    dir: &TempDir,
    config: &str,
    watchdog_usec: &str,
) -> (Killed, UnixDatagram) {
    let (child, sock) = start_notified_child(jd, dir, config, watchdog_usec);
    (Killed(child), sock)
}

/// logmon following `jd` with `config` (the text after `state_file =`'s
/// line), a NOTIFY_SOCKET the test reads and a watchdog of `watchdog_usec`.
fn start_notified_child(
    jd: &Journald,
    dir: &TempDir,
    config: &str,
    watchdog_usec: &str,
) -> (Child, UnixDatagram) {
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let conf = write_file(dir.path(), "logmon.conf", config);
    let child = Command::new(env!("CARGO_BIN_EXE_logmon"))
        .args(["-c", conf.to_str().unwrap(), "--namespace", jd.name()])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", watchdog_usec)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, sock)
}

#[test]
fn notify_protocol_in_order() {
    let fake = FakeSendmail::new();
    let jd = Journald::start(&unique_name("notify"));
    let dir = TempDir::new("notify");
    let config = format!(
        // A sendmail that reads the message and exits 0. (/bin/true may exit
        // before the message is written, which counts as not delivered.)
        "state_file = {}/cursor\n[mail]\nsendmail = {}\nbatch = 0\n[match]\nMESSAGE ~ notify-error\n",
        dir.path().display(),
        fake.path().display()
    );
    let (mut child, sock) = start_notified(&jd, &dir, &config, "200000");
    let mut messages: Vec<String> = Vec::new();
    let receive_until = |messages: &mut Vec<String>, want: &str| {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = m.lines().any(|l| l.contains(want));
                messages.push(m);
                if done {
                    return true;
                }
            }
        }
        false
    };
    assert!(receive_until(&mut messages, "READY=1"), "{messages:?}");
    assert!(receive_until(&mut messages, "STATUS="), "{messages:?}");
    // The watchdog interval is 200 ms: pings come every 100 ms.
    assert!(receive_until(&mut messages, "WATCHDOG=1"), "{messages:?}");
    assert!(receive_until(&mut messages, "WATCHDOG=1"), "{messages:?}");
    jd.log("app", 3, "notify-error here");
    // The journal holds entries before logmon starts (Journald::start sees
    // to that), so logmon starts at its tail and reads exactly this one.
    assert!(receive_until(&mut messages, "1 mails sent"), "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m == "STATUS=1 entries read, 1 alerts, 1 mails sent, 0 pending"),
        "{messages:?}"
    );
    run_ok(Command::new("kill").args(["-HUP", &child.0.id().to_string()]));
    assert!(receive_until(&mut messages, "RELOADING=1"), "{messages:?}");
    assert!(receive_until(&mut messages, "READY=1"), "{messages:?}");
    run_ok(Command::new("kill").args(["-TERM", &child.0.id().to_string()]));
    assert!(receive_until(&mut messages, "STOPPING=1"), "{messages:?}");
    assert_eq!(child.0.wait().unwrap().code(), Some(0));

    let first = |prefix: &str| messages.iter().position(|m| m.starts_with(prefix)).unwrap();
    let last = |prefix: &str| {
        messages
            .iter()
            .rposition(|m| m.starts_with(prefix))
            .unwrap()
    };
    assert_eq!(first("READY=1"), 0, "READY=1 comes first: {messages:?}");
    assert!(first("STATUS=") > first("READY=1"));
    assert!(first("WATCHDOG=1") > first("READY=1"));
    assert!(first("RELOADING=1") < last("READY=1"));
    assert_eq!(
        last("STOPPING=1"),
        messages.len() - 1,
        "STOPPING=1 comes last: {messages:?}"
    );
}

/// A sendmail that hangs until its timeout is not a hung logmon: the
/// watchdog keeps being fed while logmon waits for it.
#[test]
fn watchdog_is_fed_while_sendmail_hangs() {
    let jd = Journald::start(&unique_name("wdhang"));
    let dir = TempDir::new("wdhang");
    let fake = FakeSendmail::new();
    fake.set_hang(true);
    let config = format!(
        "state_file =\n[mail]\nsendmail = {}\nbatch = 0\ntimeout = 4s\n[match]\nMESSAGE ~ wd-error\n",
        fake.path().display()
    );
    let (_logmon, sock) = start_notified(&jd, &dir, &config, "400000");
    let mut buf = [0u8; 4096];
    let mut recv = || {
        sock.recv(&mut buf)
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline && recv().as_deref() != Some("READY=1") {}
    jd.log("app", 3, "wd-error now");
    assert!(wait_until(WAIT, || fake
        .attempts()
        .iter()
        .any(|a| a.ends_with("hang"))));
    // Pings sent before the hang began do not count: drain them.
    sock.set_nonblocking(true).unwrap();
    while sock.recv(&mut [0u8; 4096]).is_ok() {}
    sock.set_nonblocking(false).unwrap();
    // During the hang (4 s), pings must keep coming: 5 within 2 s (one per
    // 200 ms is due with a 400 ms watchdog). Done as soon as the 5th comes.
    let started = Instant::now();
    let until = started + Duration::from_secs(2);
    let mut pings = 0;
    while pings < 5 && Instant::now() < until {
        if recv().as_deref() == Some("WATCHDOG=1") {
            pings += 1;
        }
    }
    let took = started.elapsed();
    assert!(
        fake.attempts().len() == 1,
        "still the first, hanging attempt: {:?}",
        fake.attempts()
    );
    assert!(
        pings >= 5,
        "only {pings} watchdog pings in {took:?} with a 400 ms watchdog"
    );
}
