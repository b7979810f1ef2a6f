#!/usr/bin/python3
"""tests/corpus/synth.py -- the entries a container cannot produce.

A systemd-nspawn container has no kernel log of its own, runs on the
host's cgroup v1 (no memory.events, so systemd never sees an OOM kill),
and the host's core_pattern decides core dumps (systemd-coredump never
runs). A real server logs all of these, so the corpus carries them as
synthetic entries, built from systemd 252's sources:

- kernel lines: the fields journald-kmsg.c writes (`_TRANSPORT=kernel`,
  `SYSLOG_IDENTIFIER=kernel`, `SYSLOG_FACILITY=0`, `PRIORITY`,
  `_SOURCE_MONOTONIC_TIMESTAMP`, and for device messages `_KERNEL_DEVICE`,
  `_KERNEL_SUBSYSTEM`, `_UDEV_SYSNAME`), texts as Linux 6.1 prints them;
- systemd-coredump's entry (coredump.c: `MESSAGE_ID=fc2e22bc...`,
  `PRIORITY=2`, the `COREDUMP_*` fields);
- PID 1's OOM lines (cgroup.c `unit_check_oom`: `MESSAGE_ID=fe6faa94...`,
  then unit.c's process-exit and failure-result lines with
  `UNIT_RESULT=oom-kill`);
- journald's driver lines "Missed N kernel messages" (journald-kmsg.c,
  `MESSAGE_ID=e9bf28e6...`) and "Forwarding to syslog missed N messages."
  (journald-syslog.c, `MESSAGE_ID=0027229c...`).

Every synthetic entry copies its trusted fields (`_BOOT_ID`, `_MACHINE_ID`,
`_HOSTNAME`, and for PID 1 / journald lines the whole `_PID=1` or
`_TRANSPORT=driver` field set) from a real entry of the same run, so it
looks exactly like its neighbours. labels.conf names each synthetic class.

    synth.py event KIND [ARG...]     record that KIND happens now
    synth.py merge REAL SYNTH OUT    REAL export + SYNTH events -> OUT,
                                     in __REALTIME_TIMESTAMP order
"""
import json
import os
import random
import struct
import sys
import time
import uuid

ID_COREDUMP = "fc2e22bc6ee647b6b90729ab34a250b1"
ID_OOM = "fe6faa94e7774663a0da52717891d8ef"
ID_PROCESS_EXIT = "98e322203f7a4ed290d09fe03c09fe15"
ID_FAILURE_RESULT = "d9b373ed55a64feb8242e02dbe79a49c"
ID_RESOURCES = "ae8f7b866b0347b9af31fe1c80b127c0"
ID_STARTED = "39f53479d3a045ac8e11786248231fbf"
ID_SUCCESS = "7ad2d189f7e94e70a38c781354912448"
ID_MISSED = "e9bf28e6e834481bb6f48f548ad13606"
ID_SYSLOG_MISSED = "0027229ca0644181a76c4e92458afa2e"
ID_DROPPED = "a596d6fe7bfa4994828e72309e95d61e"
ID_JOURNAL_START = "f77379a8490b408bbe5f6940505a777b"


# --- recording events (inside the container) ---------------------------------

def now_us():
    return time.clock_gettime_ns(time.CLOCK_REALTIME) // 1000


def mono_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def record(path, kind, args):
    with open(path, "a") as f:
        f.write(json.dumps({"kind": kind, "args": args, "realtime": now_us(),
                            "monotonic": mono_us()}) + "\n")


# --- export format --------------------------------------------------------------

def read_export(data):
    """Entries of a journal export stream, each a list of (name, bytes)."""
    entries, fields, i = [], [], 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if not line:
            if fields:
                entries.append(fields)
            fields, i = [], nl + 1
            continue
        eq = line.find(b"=")
        if eq >= 0:
            fields.append((line[:eq].decode(), line[eq + 1:]))
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            fields.append((line.decode(), data[nl + 9:nl + 9 + n]))
            i = nl + 9 + n + 1
    if fields:
        entries.append(fields)
    return entries


def write_export(entries, out):
    for fields in entries:
        for name, value in fields:
            if b"\n" in value or any(b < 0x20 and b != 0x09 for b in value):
                out.write(name.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n")
            else:
                out.write(name.encode() + b"=" + value + b"\n")
        out.write(b"\n")


def get(fields, name):
    for k, v in fields:
        if k == name:
            return v.decode(errors="replace")
    return None


def find(entries, **want):
    for e in entries:
        if all(get(e, k) == v for k, v in want.items()):
            return e
    raise SystemExit("synth.py: no real entry with %s to copy fields from" % want)


# --- building entries ---------------------------------------------------------------

# Per-entry fields that must not be copied from a template.
VOLATILE = {"__CURSOR", "__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP", "__SEQNUM",
            "__SEQNUM_ID", "_SOURCE_REALTIME_TIMESTAMP", "_SOURCE_MONOTONIC_TIMESTAMP",
            "MESSAGE", "MESSAGE_ID", "PRIORITY", "UNIT", "INVOCATION_ID", "UNIT_RESULT",
            "EXIT_CODE", "EXIT_STATUS", "COMMAND", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
            "JOB_ID", "JOB_TYPE", "JOB_RESULT", "N_DROPPED", "CPU_USAGE_NSEC", "N_RESTARTS",
            "ERRNO", "TID"}


class Builder:
    def __init__(self, real):
        self.real = real
        anchor = real[0]
        self.boot = get(anchor, "_BOOT_ID")
        self.machine = get(anchor, "_MACHINE_ID")
        self.host = get(anchor, "_HOSTNAME")
        self.pid1 = find(real, _PID="1", MESSAGE_ID=ID_FAILURE_RESULT)
        self.driver = find(real, _TRANSPORT="driver")
        self.rng = random.Random(252)

    def base(self, t, mono, template=None):
        f = [("__REALTIME_TIMESTAMP", str(t).encode()), ("__MONOTONIC_TIMESTAMP", str(mono).encode())]
        if template is None:
            f += [("_BOOT_ID", self.boot.encode()), ("_MACHINE_ID", self.machine.encode()),
                  ("_HOSTNAME", self.host.encode())]
        else:
            f += [(k, v) for k, v in template if k not in VOLATILE]
        return f

    def kernel(self, t, mono, priority, message, device=None):
        f = self.base(t, mono)
        f += [("_SOURCE_MONOTONIC_TIMESTAMP", str(mono - 37).encode()),
              ("_TRANSPORT", b"kernel"), ("PRIORITY", str(priority).encode()),
              ("SYSLOG_FACILITY", b"0"), ("SYSLOG_IDENTIFIER", b"kernel")]
        if device:
            subsystem, sysname = device
            f += [("_KERNEL_DEVICE", ("+%s:%s" % (subsystem, sysname)).encode()),
                  ("_KERNEL_SUBSYSTEM", subsystem.encode()), ("_UDEV_SYSNAME", sysname.encode())]
        f.append(("MESSAGE", message.encode()))
        return f

    def systemd(self, t, mono, priority, message_id, unit, invocation, message, extra=(),
                code=("src/core/unit.c", "5639", "unit_log_failure")):
        f = self.base(t, mono, self.pid1)
        f += [("PRIORITY", str(priority).encode()), ("CODE_FILE", code[0].encode()),
              ("CODE_LINE", code[1].encode()), ("CODE_FUNC", code[2].encode()), ("TID", b"1"),
              ("MESSAGE_ID", message_id.encode()), ("UNIT", unit.encode()),
              ("INVOCATION_ID", invocation.encode()),
              ("MESSAGE", ("%s: %s" % (unit, message) if message_id not in (ID_STARTED,) else message).encode())]
        f += [(k, str(v).encode()) for k, v in extra]
        return f

    def journald(self, t, mono, message_id, message, extra=()):
        f = self.base(t, mono, self.driver)
        f += [("PRIORITY", b"6"), ("MESSAGE_ID", message_id.encode()), ("MESSAGE", message.encode())]
        f += [(k, str(v).encode()) for k, v in extra]
        return f

    # Each event returns its entries; times advance by a few µs to ms.

    def ev_kernel_boot(self, t, mono, args):
        """Lines of a KVM guest's Linux 6.1 boot that a monitor sees: most are
        harmless, several contain "error"/"fail", one is at err."""
        lines = [
            (5, "Linux version 6.1.0-21-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)", None),
            (6, "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-21-amd64 root=UUID=3b9b2f52-59b4-4c64-a4b3-9f1d0e1b8c2a ro console=ttyS0 quiet", None),
            (6, "DMI: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014", None),
            (6, "Memory: 1969568K/2096600K available (14336K kernel code, 2332K rwdata, 9084K rodata, 2792K init, 17360K bss, 126772K reserved, 0K cma-reserved)", None),
            (6, "ACPI: Interpreter enabled", None),
            (4, "acpi PNP0A03:00: fail to add MMCONFIG information, can't access extended PCI configuration space under this bridge.", ("acpi", "PNP0A03:00")),
            (6, "PCI: Using configuration type 1 for base access", None),
            (6, "RAS: Correctable Errors collector initialized.", None),
            (6, "ERST: Error Record Serialization Table (ERST) support is initialized.", None),
            (6, "clocksource: Switched to clocksource kvm-clock", None),
            (6, "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.", None),
            (3, "piix4_smbus 0000:00:01.3: SMBus Host Controller not enabled!", ("pci", "0000:00:01.3")),
            (4, "platform regulatory.0: Direct firmware load for regulatory.db failed with error -2", ("platform", "regulatory.0")),
            (6, "cfg80211: failed to load regulatory.db", None),
            (6, "virtio_net virtio1 ens3: renamed from eth0", ("virtio", "virtio1")),
            (6, "EXT4-fs (vda1): re-mounted. Quota mode: none.", None),
            (6, "audit: type=1400 audit(1716195601.123:2): apparmor=\"STATUS\" operation=\"profile_load\" profile=\"unconfined\" name=\"nvidia_modprobe\" pid=312 comm=\"apparmor_parser\"", None),
            (5, "random: crng init done", None),
            (6, "IPv6: ADDRCONF(NETDEV_CHANGE): ens3: link becomes ready", None),
        ]
        start = t - 4_000_000
        out = []
        for i, (prio, msg, dev) in enumerate(lines):
            out.append(self.kernel(start + i * 97_000, max(mono - 4_000_000 + i * 97_000, 1), prio, msg, dev))
        return out

    def ev_kernel_noise(self, t, mono, args):
        """Kernel lines an internet-facing VM logs now and then."""
        msgs = [
            (6, "TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.  Check SNMP counters."),
            (4, "hrtimer: interrupt took 3561418 ns"),
            (6, "perf: interrupt took too long (2511 > 2500), lowering kernel.perf_event_max_sample_rate to 79500"),
            (4, "workqueue: drm_fb_helper_damage_work hogged CPU for >10000us 4 times, consider switching to WQ_UNBOUND"),
        ]
        prio, msg = msgs[int(args[0]) % len(msgs)]
        return [self.kernel(t, mono, prio, msg)]

    def ev_segfault(self, t, mono, args):
        """The kernel's lines and systemd-coredump's entry for a real crash:
        args PID COMM EXE UNIT UID."""
        pid, comm, exe, unit, uid = args
        ip = 0x7F3A5C2B1D3E
        f = [self.kernel(t, mono, 6, "%s[%s]: segfault at 0 ip %016x sp 00007ffc8a4e1f28 error 4 in libc.so.6[7f3a5c183000+155000] likely on CPU 1 (core 1, socket 0)" % (comm, pid, ip)),
             self.kernel(t + 11, mono + 11, 6, "Code: 00 00 00 48 89 f8 48 89 fa c5 f9 ef c0 25 ff 0f 00 00 3d e0 0f 00 00 0f 87 22 01 00 00 <c5> fd 74 0f c5 fd d7 c1 85 c0 74 5a f3 0f bc c0 c5 f8 77 c3 66 0f")]
        cd_pid = int(pid) + 3
        cd_unit = "systemd-coredump@0-%d-0.service" % cd_pid
        inv = uuid.UUID(int=self.rng.getrandbits(128)).hex
        f.append(self.systemd(t + 2_000, mono + 2_000, 6, ID_STARTED, cd_unit, inv,
                              "Started %s - Process Core Dump (PID %d/UID 0)." % (cd_unit, cd_pid),
                              [("JOB_ID", 1200), ("JOB_TYPE", "start"), ("JOB_RESULT", "done")],
                              code=("src/core/job.c", "768", "job_emit_done_message")))
        stack = ("Process %s (%s) of user %s dumped core.\n\n"
                 "Module libffi.so.8 from deb libffi-3.4.4-1.amd64\n"
                 "Stack trace of thread %s:\n"
                 "#0  0x00007f3a5c2b1d3e __strlen_avx2 (libc.so.6 + 0x15ed3e)\n"
                 "#1  0x00007f3a5c46a9b1 n/a (_ctypes.cpython-311-x86_64-linux-gnu.so + 0x109b1)\n"
                 "#2  0x0000000000539d4e n/a (python3.11 + 0x139d4e)\n"
                 "#3  0x000000000052a6d8 _PyEval_EvalFrameDefault (python3.11 + 0x12a6d8)\n"
                 "#4  0x0000000000628a5d n/a (python3.11 + 0x228a5d)\n"
                 "#5  0x00007f3a5c17c24a __libc_start_call_main (libc.so.6 + 0x2724a)\n"
                 "ELF object binary architecture: AMD x86-64") % (pid, comm, uid, pid)
        cd = self.base(t + 180_000, mono + 180_000)
        cd += [("_TRANSPORT", b"journal"), ("_UID", b"0"), ("_GID", b"0"),
               ("_CAP_EFFECTIVE", b"0"), ("_SELINUX_CONTEXT", b"unconfined\n"),
               ("_COMM", b"systemd-coredum"), ("_EXE", b"/usr/lib/systemd/systemd-coredump"),
               ("_CMDLINE", b"/lib/systemd/systemd-coredump"), ("_PID", str(cd_pid).encode()),
               ("_SYSTEMD_CGROUP", ("/system.slice/system-systemd\\x2dcoredump.slice/%s" % cd_unit).encode()),
               ("_SYSTEMD_UNIT", cd_unit.encode()), ("_SYSTEMD_SLICE", b"system-systemd\\x2dcoredump.slice"),
               ("_SYSTEMD_INVOCATION_ID", inv.encode()),
               ("SYSLOG_IDENTIFIER", b"systemd-coredump"),
               ("MESSAGE_ID", ID_COREDUMP.encode()), ("PRIORITY", b"2"),
               ("COREDUMP_PID", pid.encode()), ("COREDUMP_UID", uid.encode()), ("COREDUMP_GID", uid.encode()),
               ("COREDUMP_SIGNAL", b"11"), ("COREDUMP_TIMESTAMP", str(t).encode()),
               ("COREDUMP_RLIMIT", b"18446744073709551615"), ("COREDUMP_HOSTNAME", self.host.encode()),
               ("COREDUMP_COMM", comm.encode()), ("COREDUMP_EXE", exe.encode()),
               ("COREDUMP_UNIT", unit.encode()), ("COREDUMP_SLICE", b"system.slice"),
               ("COREDUMP_SIGNAL_NAME", b"SIGSEGV"),
               ("COREDUMP_CMDLINE", b"/usr/bin/python3 -c import ctypes, time; print(\"imgconv: ready\", flush=True); time.sleep(2); ctypes.string_at(0)"),
               ("COREDUMP_CGROUP", ("/system.slice/%s" % unit).encode()), ("COREDUMP_CWD", b"/"),
               ("COREDUMP_ROOT", b"/"), ("COREDUMP_OWNER_UID", uid.encode()),
               ("COREDUMP_FILENAME", ("/var/lib/systemd/coredump/core.%s.0.%s.%s.%d.zst" % (comm, uuid.UUID(self.boot).hex, pid, t)).encode()),
               ("MESSAGE", stack.encode())]
        f.append(cd)
        f.append(self.systemd(t + 190_000, mono + 190_000, 6, ID_SUCCESS, cd_unit, inv,
                              "Deactivated successfully.", code=("src/core/unit.c", "5631", "unit_log_success")))
        return f

    def ev_oom(self, t, mono, args):
        """The kernel OOM-kills the main process of UNIT; systemd notices
        (cgroup v2 memory.events) and the unit fails: args UNIT COMM PID."""
        unit, comm, pid = args
        inv = uuid.UUID(int=self.rng.getrandbits(128)).hex
        k = [
            (4, "%s invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0" % comm),
            (4, "CPU: 1 PID: %s Comm: %s Not tainted 6.1.0-21-amd64 #1  Debian 6.1.90-1" % (pid, comm)),
            (4, "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"),
            (6, "Mem-Info:"),
            (6, "active_anon:452133 inactive_anon:14021 isolated_anon:0"),
            (6, "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name"),
            (6, "[%7s]     0 %5s   510601   478102  3891200        0             0 %s" % (pid, pid, comm)),
            (6, "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/%s,task=%s,pid=%s,uid=0" % (unit, comm, pid)),
            (3, "Out of memory: Killed process %s (%s) total-vm:2042404kB, anon-rss:1912344kB, file-rss:64kB, shmem-rss:0kB, UID:0 pgtables:3800kB oom_score_adj:0" % (pid, comm)),
            (6, "oom_reaper: reaped process %s (%s), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB" % (pid, comm)),
        ]
        out = [self.kernel(t + i * 40, mono + i * 40, p, m) for i, (p, m) in enumerate(k)]
        t2, m2 = t + 30_000, mono + 30_000
        out.append(self.systemd(t2, m2, 5, ID_OOM, unit, inv, "A process of this unit has been killed by the OOM killer.",
                                code=("src/core/cgroup.c", "3172", "unit_check_oom")))
        out.append(self.systemd(t2 + 700, m2 + 700, 4, ID_PROCESS_EXIT, unit, inv, "Main process exited, code=killed, status=9/KILL",
                                [("EXIT_CODE", "killed"), ("EXIT_STATUS", 9), ("COMMAND", "ExecStart")],
                                code=("src/core/unit.c", "5681", "unit_log_process_exit")))
        out.append(self.systemd(t2 + 900, m2 + 900, 4, ID_FAILURE_RESULT, unit, inv, "Failed with result 'oom-kill'.",
                                [("UNIT_RESULT", "oom-kill")]))
        out.append(self.systemd(t2 + 1000, m2 + 1000, 6, ID_RESOURCES, unit, inv, "Consumed 41.237s CPU time.",
                                [("CPU_USAGE_NSEC", 41237000000)], code=("src/core/unit.c", "2334", "unit_log_resources")))
        return out

    def ev_disk(self, t, mono, args):
        """A failing second disk: block layer, buffer cache and ext4 errors."""
        k = [
            (3, "I/O error, dev vdb, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2", None),
            (3, "Buffer I/O error on dev vdb1, logical block 0, async page read", None),
            (2, "EXT4-fs error (device vdb1): __ext4_find_entry:1683: inode #2: comm ls: reading directory lblock 0", None),
            (3, "EXT4-fs (vdb1): Remounting filesystem read-only", None),
        ]
        return [self.kernel(t + i * 300, mono + i * 300, p, m, d) for i, (p, m, d) in enumerate(k)]

    def ev_conntrack(self, t, mono, args):
        """The connection table is full: the kernel drops packets."""
        return [self.kernel(t + i * 1000, mono + i * 1000, 4, "nf_conntrack: nf_conntrack: table full, dropping packet")
                for i in range(3)]

    def ev_journald_missed(self, t, mono, args):
        """journald could not keep up with the kernel, and with syslog."""
        return [self.journald(t, mono, ID_MISSED, "Missed 37 kernel messages"),
                self.journald(t + 800_000, mono + 800_000, ID_SYSLOG_MISSED, "Forwarding to syslog missed 12 messages.")]

    def build(self, ev):
        fn = getattr(self, "ev_" + ev["kind"].replace("-", "_"))
        return fn(ev["realtime"], ev["monotonic"], ev["args"])


def merge(real_path, synth_path, out_path):
    with open(real_path, "rb") as f:
        real = read_export(f.read())
    b = Builder(real)
    synthetic = []
    if os.path.exists(synth_path):
        with open(synth_path) as f:
            for line in f:
                synthetic += b.build(json.loads(line))
    # Cursors and sequence numbers belong to the source journal; a journal
    # file written from this stream makes its own.
    entries = [[(k, v) for k, v in e if k not in ("__CURSOR", "__SEQNUM", "__SEQNUM_ID")]
               for e in real + synthetic]
    entries.sort(key=lambda e: int(get(e, "__REALTIME_TIMESTAMP")))
    with open(out_path, "wb") as out:
        write_export(entries, out)
    print("synth.py: %d real + %d synthetic entries -> %s" % (len(real), len(synthetic), out_path))


def main():
    if sys.argv[1] == "event":
        record(os.environ.get("SYNTH_EVENTS", "/mnt/corpus-out/synthetic.jsonl"), sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "merge":
        merge(*sys.argv[2:5])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
