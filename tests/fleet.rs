//! A fleet on systemd's own transport: hosts upload their journals with
//! systemd-journal-upload to a systemd-journal-remote collector on loopback,
//! and one logmon follows the collector's directory. New files (a new host)
//! are picked up while following, and every mail names its host.

mod common;

use common::*;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Upload the journal files in `dir` once (no follow) to the collector.
fn upload(dir: &Path, port: u16) {
    run_ok(
        Command::new("/lib/systemd/systemd-journal-upload")
            .arg(format!("--url=http://127.0.0.1:{port}"))
            .arg(format!("--directory={}", dir.display()))
            .arg("--follow=no"),
    );
}

fn host_journal(root: &Path, host: &str, message: &str) -> std::path::PathBuf {
    let dir = root.join(host);
    fs::create_dir(&dir).unwrap();
    fixture_journal(
        &dir,
        &[
            entry(&[
                ("MESSAGE", "routine line"),
                ("_HOSTNAME", host),
                ("SYSLOG_IDENTIFIER", "app"),
                ("PRIORITY", "6"),
            ]),
            entry(&[
                ("MESSAGE", message),
                ("_HOSTNAME", host),
                ("_SYSTEMD_UNIT", "db.service"),
                ("_PID", "9"),
                ("PRIORITY", "3"),
            ]),
        ],
    );
    dir
}

#[test]
fn uploaded_errors_from_each_host_arrive_naming_the_host() {
    let tmp = TempDir::new("fleet");
    let collected = tmp.path().join("remote");
    fs::create_dir(&collected).unwrap();
    let port = free_loopback_port();
    let remote = Killed(
        Command::new("/lib/systemd/systemd-journal-remote")
            .arg(format!("--listen-http=127.0.0.1:{port}"))
            .arg("--split-mode=host")
            .arg(format!("--output={}/", collected.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting systemd-journal-remote"),
    );
    assert!(wait_until(WAIT, || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));

    let fake = FakeSendmail::new();
    let conf = write_file(
        tmp.path(),
        "logmon.conf",
        format!(
            "state_file = {}/cursor\nboot = current\n[mail]\nsendmail = {}\nbatch = 0\n[match]\nMESSAGE ~ (?i)error\n",
            tmp.path().display(),
            fake.path().display()
        ),
    );
    let stderr_path = tmp.path().join("logmon.stderr");
    let logmon = Killed(
        Command::new(env!("CARGO_BIN_EXE_logmon"))
            .args([
                "-c",
                conf.to_str().unwrap(),
                "--directory",
                collected.to_str().unwrap(),
            ])
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        wait_until(WAIT, || stderr().contains("started: following")),
        "{}",
        stderr()
    );

    for host in ["alpha-host", "beta-host"] {
        let dir = host_journal(tmp.path(), host, &format!("replication error on {host}"));
        upload(&dir, port);
        let subject = format!("Subject: [ALERT] Error detected in db.service on {host}");
        assert!(
            fake.wait_until(Duration::from_secs(30), |mails| mails
                .iter()
                .any(|m| m.contains(&subject))),
            "no mail for {host}; mails: {:#?}\nlogmon: {}\ncollector files: {:?}",
            fake.mails(),
            stderr(),
            fs::read_dir(&collected)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>()
        );
    }
    // A host that comes back after an outage uploads an hour-old backlog,
    // older than what logmon already read from the others: still mailed.
    let dir = tmp.path().join("gamma-host");
    fs::create_dir(&dir).unwrap();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let usec = hour_ago
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let mut late = entry(&[
        ("MESSAGE", "late error on gamma-host"),
        ("_HOSTNAME", "gamma-host"),
        ("SYSLOG_IDENTIFIER", "raid"),
        ("PRIORITY", "3"),
    ]);
    late.push(("__REALTIME_TIMESTAMP", usec.to_string().into_bytes()));
    fixture_journal(&dir, &[late]);
    upload(&dir, port);
    assert!(
        fake.wait_until(Duration::from_secs(30), |mails| mails.iter().any(
            |m| m.contains("Subject: [ALERT] Error detected in raid on gamma-host")
        )),
        "the late backlog was not mailed: {:#?}\n{}",
        fake.mails(),
        stderr()
    );

    let mails = fake.mails();
    assert_eq!(mails.len(), 3, "{mails:#?}");
    assert!(mails[0].contains(" alpha-host db.service[9]: replication error on alpha-host"));
    assert!(mails[1].contains(" beta-host db.service[9]: replication error on beta-host"));
    assert!(!mails.concat().contains("routine line"));
    drop(logmon);
    drop(remote);
}
