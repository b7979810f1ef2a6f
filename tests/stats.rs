//! `logmon --stats` on real journal files: counts per rule, rules that
//! never held, templates by count, and suggested `[ignore]` blocks that,
//! pasted into the config, silence exactly their template.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_logmon");

fn stats(conf: &Path, dir: &Path) -> String {
    let out = run(Command::new(BIN)
        .args(["--stats", "--since", "2000-01-01", "-c"])
        .arg(conf)
        .arg("--directory")
        .arg(dir));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn write_conf(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("logmon.conf");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// `alerts: N` of the report.
fn alerts(report: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix("alerts: "))
        .and_then(|r| r.split(',').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no alert count in\n{report}"))
}

/// (count, header line, block) of each suggested template.
fn templates(report: &str) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    let mut lines = report.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("# ") else {
            continue;
        };
        let count = rest.split(' ').next().unwrap().parse().unwrap();
        let mut block = String::new();
        while let Some(l) = lines.next_if(|l| !l.is_empty()) {
            block.push_str(l);
            block.push('\n');
        }
        out.push((count, line.to_string(), block));
    }
    out
}

#[test]
fn stats_counts_rules_and_suggests_exact_ignore_blocks() {
    let tmp = TempDir::new("stats");
    let jdir = tmp.path().join("journal");
    fs::create_dir(&jdir).unwrap();
    let e = |unit: &str, prio: &str, msg: &str| {
        entry(&[
            ("MESSAGE", msg),
            ("PRIORITY", prio),
            ("_SYSTEMD_UNIT", unit),
            ("_HOSTNAME", "h"),
        ])
    };
    let mut entries = Vec::new();
    for i in 0..5 {
        entries.push(e(
            "ssh.service",
            "6",
            &format!("error: maximum authentication attempts exceeded for root from 10.0.{i}.7 port {} ssh2", 40000 + i),
        ));
    }
    for i in 0..3 {
        entries.push(e(
            "app.service",
            "3",
            &format!("cache error: key 'user:{i}' missing"),
        ));
    }
    // Same unit, another template: must survive the ssh block.
    entries.push(e(
        "ssh.service",
        "3",
        "error: Bind to port 22 on 0.0.0.0 failed: Address already in use.",
    ));
    entries.push(e("app.service", "6", "all good"));
    entries.push(e("app.service", "3", "harmless error we ignore"));
    fixture_journal(&jdir, &entries);
    let rules = "state_file =\n[match]\nname = errors\nMESSAGE ~ error\n\
                 [match]\nname = typo\nMESAGE ~ error\n\
                 [ignore]\nname = harmless\nMESSAGE = harmless\n";
    let conf = write_conf(tmp.path(), rules);
    let report = stats(&conf, &jdir);
    assert!(report.starts_with("entries read: 11, from "), "{report}");
    assert!(report.contains("        10  errors ("), "{report}");
    assert!(report.contains("         1  harmless ("), "{report}");
    let never = report.split("rules that never held").nth(1).unwrap();
    assert!(
        never.contains("typo (") && !never.contains("errors ("),
        "{report}"
    );
    assert_eq!(alerts(&report), 9, "{report}");
    let found = templates(&report);
    let counts: Vec<u64> = found.iter().map(|t| t.0).collect();
    assert_eq!(counts, [5, 3, 1], "sorted by count: {report}");
    assert!(found[0].1.contains("<IP> port <N> ssh2"), "{}", found[0].1);
    assert!(found[1].1.contains("key '<Q>' missing"), "{}", found[1].1);
    for (count, header, block) in &found {
        assert!(block.starts_with("[ignore]\n"), "{block}");
        assert!(block.contains("_SYSTEMD_UNIT == "), "{block}");
        // Pasted into the config, it silences exactly its template.
        let conf = write_conf(tmp.path(), &format!("{rules}{block}"));
        let after = stats(&conf, &jdir);
        assert_eq!(
            alerts(&after),
            9 - count,
            "{header}\n{block}\nsilenced more or less than its {count} alerts:\n{after}"
        );
        let left: Vec<String> = templates(&after).into_iter().map(|t| t.1).collect();
        assert!(!left.contains(header), "{header} still there:\n{after}");
        assert_eq!(left.len(), 2, "{after}");
    }
}
