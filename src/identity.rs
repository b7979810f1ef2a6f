//! Who logmon is in the journal, so that its own lines (and those of the
//! sendmail it runs) never alert: a sendmail that logs an error for every
//! mail would otherwise feed a mail loop.
//!
//! Four marks, any one of which makes an entry logmon's own: `_PID` (what
//! logmon writes to stderr), `_SYSTEMD_UNIT` and `_SYSTEMD_INVOCATION_ID`
//! (what its children write, and this run of the unit), and `_UID` when
//! logmon runs as its own system user `logmon`.
//!
//! The unit is hard to learn under the shipped unit: `sd_pid_get_unit` also
//! reads `/proc/1/cgroup` to find the cgroup root, and `ProtectProc=invisible`
//! hides PID 1, so it fails there. `/proc/self/cgroup` stays readable, and
//! this file parses it itself.
//!
//! The unit alone is not enough: journald learns `_SYSTEMD_UNIT` and
//! `_SYSTEMD_INVOCATION_ID` of a syslog or native datagram from
//! `/proc/PID/cgroup` of its sender, and a short-lived sender (`logger` in a
//! sendmail wrapper) is often gone by then; under `make systest` 3 of 7 such
//! lines came without them. `_UID` comes with the datagram itself
//! (SCM_CREDENTIALS), so it is always there, and for the dedicated user only
//! logmon and its children have it.

use crate::rules::Fields;
use crate::sys;

/// logmon's own marks in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnIdentity {
    /// This process, as journald writes `_PID`.
    pub pid: String,
    /// The system service logmon runs as (`logmon.service`), if any.
    pub unit: Option<String>,
    /// `$INVOCATION_ID` of that service's current run, if any.
    pub invocation_id: Option<String>,
    /// This process's uid, as journald writes `_UID`, only when it belongs
    /// to the user `logmon` (which the unit's sysusers.d file makes for
    /// logmon alone): root's or a login user's uid is shared with others.
    pub uid: Option<String>,
}

/// This process's identity, read once at start.
pub fn own_identity() -> OwnIdentity {
    let unit = sys::pid_unit(0).and_then(|u| own_service(&u)).or_else(|| {
        std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|text| unit_from_cgroup(&text))
    });
    // Only trusted together with a unit: a process outside any service (a
    // login session) may have inherited the variable from somewhere else,
    // and would then hide another unit's run.
    let invocation_id = unit
        .as_ref()
        .and_then(|_| std::env::var("INVOCATION_ID").ok())
        .filter(|id| is_invocation_id(id));
    let uid = sys::geteuid();
    let uid = std::fs::read_to_string("/etc/passwd")
        .ok()
        .filter(|passwd| user_name(passwd, uid) == Some(DEDICATED_USER))
        .map(|_| uid.to_string());
    OwnIdentity {
        pid: sys::getpid().to_string(),
        unit,
        invocation_id,
        uid,
    }
}

/// The system user logmon.service runs as (`User=` there, made by the
/// sysusers.d file `make install` writes).
const DEDICATED_USER: &str = "logmon";

/// The name of `uid` in the passwd(5) text `passwd`, if it is there.
fn user_name(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid).then_some(name)
    })
}

impl OwnIdentity {
    /// Whether the current entry is logmon's own (or its children's).
    pub fn is_own(&self, entry: &mut dyn Fields) -> bool {
        let is = |value: Option<&[u8]>, own: Option<&str>| matches!((value, own), (Some(v), Some(o)) if v == o.as_bytes());
        is(entry.field("_PID"), Some(&self.pid))
            || is(entry.field("_SYSTEMD_UNIT"), self.unit.as_deref())
            || is(
                entry.field("_SYSTEMD_INVOCATION_ID"),
                self.invocation_id.as_deref(),
            )
            || is(entry.field("_UID"), self.uid.as_deref())
    }
}

/// The service named by the contents of `/proc/self/cgroup`. The systemd
/// hierarchy is `N:name=systemd:PATH` under cgroup v1 (and hybrid), and
/// `0::PATH` under v2; a line with a PATH that does not name a service is
/// no answer, and the other line is tried.
pub fn unit_from_cgroup(text: &str) -> Option<String> {
    let mut v1 = None;
    let mut v2 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers == "name=systemd" {
            v1 = Some(path);
        } else if controllers.is_empty() && line.starts_with("0:") {
            v2 = Some(path);
        }
    }
    v1.and_then(unit_from_path)
        .or_else(|| v2.and_then(unit_from_path))
}

/// The unit of a cgroup path, when the process sits directly in a
/// service's cgroup: `/system.slice/logmon.service`. The last component, not
/// the first below the slices as systemd reads it: under a container that
/// has no cgroup namespace the path starts with the host's cgroups
/// (`/system.slice/runner.service/payload/system.slice/logmon.service`).
/// A process in a sub-cgroup of a service (delegation) does not own the
/// service, and a scope (a login session) holds other processes too.
fn unit_from_path(path: &str) -> Option<String> {
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    // systemd escapes a cgroup name that could clash with a kernel file or
    // controller name by prefixing `_` (cg_escape).
    own_service(last.strip_prefix('_').unwrap_or(last))
}

/// `name` if it is a system service logmon can call its own. A user
/// manager (`user@1000.service`) is the `_SYSTEMD_UNIT` of every one of
/// that user's services: claiming it would hide all of their errors.
fn own_service(name: &str) -> Option<String> {
    let valid = name.len() > ".service".len()
        && name.ends_with(".service")
        && !name.starts_with("user@")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.\\@".contains(&b));
    valid.then(|| name.to_string())
}

/// systemd's invocation IDs are 128-bit, written as 32 lowercase hex digits.
fn is_invocation_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests::MapEntry;

    const V2: &str = "0::/system.slice/logmon.service\n";
    const HYBRID: &str = "\
12:pids:/system.slice/logmon.service
11:memory:/system.slice/logmon.service
1:name=systemd:/system.slice/logmon.service
0::/system.slice/logmon.service
";
    // What the nspawn container of `make systest` shows (hybrid, v1 paths).
    const NSPAWN: &str = "\
9:name=systemd:/system.slice/logmon.service
8:pids:/
4:memory:/
1:cpu:/
0::/system.slice/logmon.service
";

    #[test]
    fn cgroup_v2_and_v1_name_the_service() {
        for text in [V2, HYBRID, NSPAWN] {
            assert_eq!(
                unit_from_cgroup(text).as_deref(),
                Some("logmon.service"),
                "{text}"
            );
        }
        let v1_only = "3:cpu,cpuacct:/\n1:name=systemd:/system.slice/cron.service\n";
        assert_eq!(unit_from_cgroup(v1_only).as_deref(), Some("cron.service"));
    }

    #[test]
    fn templates_and_escapes() {
        assert_eq!(
            unit_from_cgroup("0::/system.slice/system-postfix.slice/postfix@-.service\n")
                .as_deref(),
            Some("postfix@-.service")
        );
        assert_eq!(
            unit_from_cgroup("0::/system.slice/_cpu.service\n").as_deref(),
            Some("cpu.service")
        );
        assert_eq!(
            unit_from_cgroup("0::/system.slice/a\\x2db.service/\n").as_deref(),
            Some("a\\x2db.service")
        );
    }

    #[test]
    fn a_container_prefix_is_skipped() {
        let text = "1:name=systemd:/system.slice/ci.service/payload/system.slice/logmon.service\n";
        assert_eq!(unit_from_cgroup(text).as_deref(), Some("logmon.service"));
    }

    #[test]
    fn no_service_no_unit() {
        for text in [
            // A login session: the admin's shell's errors must still alert.
            "0::/user.slice/user-1000.slice/session-3.scope\n",
            "1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n0::/user.slice/user-1000.slice/session-3.scope\n",
            // A user manager's own cgroup, and the manager itself.
            "0::/user.slice/user-1000.slice/user@1000.service/init.scope\n",
            "0::/user.slice/user-1000.slice/user@1000.service\n",
            // A sub-cgroup of a service that delegates.
            "0::/system.slice/ci.service/job-7\n",
            // The root, nothing, garbage.
            "0::/\n",
            "1:name=systemd:/\n",
            "",
            "garbage\n",
            "0::/system.slice/.service\n",
            "0::/system.slice/evil service.service\n",
            "0::/init.scope\n",
        ] {
            assert_eq!(unit_from_cgroup(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_v1_line_without_a_service_falls_back_to_v2() {
        let text = "1:name=systemd:/\n0::/system.slice/logmon.service\n";
        assert_eq!(unit_from_cgroup(text).as_deref(), Some("logmon.service"));
    }

    #[test]
    fn a_user_service_is_its_own_unit_not_the_manager() {
        let text = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/logmon.service\n";
        // journald writes user@1000.service as _SYSTEMD_UNIT of this
        // process's lines, so this never hides another service's lines.
        assert_eq!(unit_from_cgroup(text).as_deref(), Some("logmon.service"));
    }

    #[test]
    fn invocation_ids() {
        assert!(is_invocation_id("74ae3affe1734b4fad663c3e73a82c8a"));
        assert!(!is_invocation_id("74AE3AFFE1734B4FAD663C3E73A82C8A"));
        assert!(!is_invocation_id("74ae3affe1734b4fad663c3e73a82c8"));
        assert!(!is_invocation_id(""));
    }

    #[test]
    fn passwd_names() {
        let passwd = "\
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin

broken
logmon:x:997:997:logmon journal monitor:/var/lib/logmon:/usr/sbin/nologin
";
        assert_eq!(user_name(passwd, 997), Some("logmon"));
        assert_eq!(user_name(passwd, 0), Some("root"));
        assert_eq!(user_name(passwd, 1000), None);
        assert_eq!(user_name("", 0), None);
    }

    fn me() -> OwnIdentity {
        OwnIdentity {
            pid: "42".into(),
            unit: Some("logmon.service".into()),
            invocation_id: Some("74ae3affe1734b4fad663c3e73a82c8a".into()),
            uid: Some("997".into()),
        }
    }

    #[test]
    fn own_entries() {
        let me = me();
        for fields in [
            &[("_PID", "42")][..],
            &[("_PID", "7"), ("_SYSTEMD_UNIT", "logmon.service")],
            &[
                ("_PID", "7"),
                ("_SYSTEMD_INVOCATION_ID", "74ae3affe1734b4fad663c3e73a82c8a"),
            ],
            // A child's syslog line that journald could not place in a unit.
            &[("_PID", "7"), ("_UID", "997"), ("_TRANSPORT", "syslog")],
        ] {
            assert!(me.is_own(&mut MapEntry::new(fields)), "{fields:?}");
        }
    }

    #[test]
    fn other_entries() {
        let me = me();
        for fields in [
            &[][..],
            &[("_PID", "420")],
            &[("_PID", "4")],
            &[("_SYSTEMD_UNIT", "logmon.service.d")],
            &[("_SYSTEMD_UNIT", "postfix@-.service")],
            // Only trusted fields count: anyone may send these.
            &[("UNIT", "logmon.service"), ("SYSLOG_PID", "42")],
            &[("_SYSTEMD_INVOCATION_ID", "00000000000000000000000000000000")],
            &[("_UID", "0")],
            &[("_UID", "9970")],
        ] {
            assert!(!me.is_own(&mut MapEntry::new(fields)), "{fields:?}");
        }
    }

    #[test]
    fn without_a_unit_only_the_pid_counts() {
        let me = OwnIdentity {
            unit: None,
            invocation_id: None,
            uid: None,
            ..me()
        };
        assert!(me.is_own(&mut MapEntry::new(&[("_PID", "42")])));
        // A None must never equal an entry that lacks the field, nor any value.
        assert!(!me.is_own(&mut MapEntry::new(&[("_SYSTEMD_UNIT", "")])));
        assert!(!me.is_own(&mut MapEntry::new(&[("_SYSTEMD_UNIT", "logmon.service")])));
        assert!(!me.is_own(&mut MapEntry::new(&[("_UID", "997")])));
    }
}
