#!/usr/bin/python3
"""tests/corpus/check.py -- the corpus, its labels and the rules, without logmon.

A prototype of logmon's matching semantics (SPEC.md "Rules: conditions":
`=` `==` `~` `!=` `!~` `<` `<=` `>` `>=`, `threshold = N within D` with
`by = FIELD`, `priority =`, `include =`), so that the labels and the rule
packs can be checked before, and independently of, logmon's own parser.
tests/corpus.rs measures the same numbers with the real binary.

    check.py [--rules v1|packs] [--show CLASS] [--unlabeled] [--pack NAME]

prints, for the corpus: entries per class, every label and how many
entries it holds, and for the chosen rules: alerting entries, false alerts
(noise and normal entries that alert), missed incidents, per pack. Exit 1
when an entry has no label, a label holds no entry, or (with --strict) the
packs miss an incident or pass 5 % false alerts.
"""
import argparse
import lzma
import os
import re
import struct
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# The version 1 rules: the script's keyword rule and its two false positives,
# as the version 1 logmon.conf shipped them.
V1_RULES = """
[match]
MESSAGE ~ (?i)(fail|error|alarm|problem|emerg)

[ignore]
_SYSTEMD_UNIT = postfix.service
MESSAGE       = SSL_accept error from unknown

[ignore]
_SYSTEMD_UNIT = dovecot.service
MESSAGE       = TLS handshaking: SSL_accept() failed
"""


# --- the export stream ------------------------------------------------------------

def read_export(data):
    entries, fields, i = [], {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if not line:
            if fields:
                entries.append(fields)
            fields, i = {}, nl + 1
            continue
        eq = line.find(b"=")
        if eq >= 0:
            name, value, i = line[:eq].decode(), line[eq + 1:], nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            name, value, i = line.decode(), data[nl + 9:nl + 9 + n], nl + 9 + n + 1
        # The first value of a field, as sd_journal_get_data returns it.
        fields.setdefault(name, value)
    if fields:
        entries.append(fields)
    return entries


def load_corpus(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        data = lzma.decompress(data)
    return read_export(data)


# --- conditions -----------------------------------------------------------------------

OPS = ["==", "!=", "!~", "<=", ">=", "=", "~", "<", ">"]
COND = re.compile(r"^([A-Za-z0-9_]+)\s*(==|!=|!~|<=|>=|=|~|<|>)\s*(.*?)\s*$")
INT = re.compile(r"^-?[0-9]+$")


def as_int(b):
    s = b.decode("ascii", "replace") if isinstance(b, bytes) else b
    if not INT.match(s):
        return None
    v = int(s)
    return v if -(1 << 63) <= v < (1 << 63) else None


class Cond:
    def __init__(self, field, op, value, where):
        self.field, self.op, self.value, self.where = field, op, value, where
        if op in ("~", "!~"):
            self.re = re.compile(value)
        if op in ("<", "<=", ">", ">="):
            self.num = as_int(value)
            if self.num is None:
                raise SystemExit("%s: %s needs an integer, not %r" % (where, op, value))

    def holds(self, e):
        v = e.get(self.field)
        op = self.op
        if op == "!=":
            return v is None or v != self.value.encode()
        if op == "!~":
            return v is None or not self.re.search(v.decode("utf-8", "replace"))
        if v is None:
            return False
        if op == "=":
            return self.value.encode() in v
        if op == "==":
            return v == self.value.encode()
        if op == "~":
            return bool(self.re.search(v.decode("utf-8", "replace")))
        n = as_int(v)
        if n is None:
            return False
        return {"<": n < self.num, "<=": n <= self.num, ">": n > self.num, ">=": n >= self.num}[op]


class Section:
    def __init__(self, kind, where):
        self.kind, self.where = kind, where
        self.conds, self.opts = [], {}

    def holds(self, e):
        return all(c.holds(e) for c in self.conds)

    @property
    def name(self):
        return self.opts.get("name", self.where)


def parse_sections(text, path, sections=("match", "ignore"), allow_global=True):
    """Sections of one file, plus its global key = value lines."""
    out, glob, cur = [], {}, None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = "%s:%d" % (path, n)
        if line.startswith("["):
            kind = line[1:-1].strip()
            cur = Section(kind, where) if kind in sections else None
            if cur is not None:
                out.append(cur)
            elif kind != "mail":
                raise SystemExit("%s: unknown section [%s]" % (where, kind))
            continue
        m = COND.match(line)
        if not m:
            raise SystemExit("%s: not FIELD OP VALUE: %r" % (where, line))
        key, op, value = m.groups()
        if cur is None:
            if allow_global and op == "=":
                glob.setdefault(key, []).append(value)
            continue
        if key.islower():
            if op != "=":
                raise SystemExit("%s: option %s takes =" % (where, key))
            cur.opts[key] = value
        else:
            cur.conds.append(Cond(key, op, value, where))
    return out, glob


# --- rules --------------------------------------------------------------------------------

PRIORITIES = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
DURATION = re.compile(r"^(\d+)([smhd])$")
UNIT_FIELDS = ["UNIT", "USER_UNIT", "COREDUMP_UNIT", "OBJECT_SYSTEMD_UNIT", "_SYSTEMD_UNIT",
               "SYSLOG_IDENTIFIER", "_COMM"]


def unit_name(e):
    for f in UNIT_FIELDS:
        if f in e:
            return e[f].decode("utf-8", "replace")
    return ""


class Rules:
    def __init__(self, main_path=None, text=None, include=None):
        if text is None:
            with open(main_path) as f:
                text = f.read()
        path = main_path or "<v1>"
        self.sections, glob = parse_sections(text, path)
        p = glob.get("priority", ["info"])[-1]
        self.priority = PRIORITIES[p] if p in PRIORITIES else int(p)
        incs = glob.get("include", []) + ([include] if include else [])
        for inc in incs:
            if not os.path.isabs(inc):
                inc = os.path.join(os.path.dirname(os.path.abspath(path)), inc)
            files = [inc] if os.path.isfile(inc) else \
                [os.path.join(inc, n) for n in sorted(os.listdir(inc)) if n.endswith(".conf")] \
                if os.path.isdir(inc) else []
            for fp in files:
                with open(fp) as f:
                    secs, g = parse_sections(f.read(), os.path.relpath(fp, REPO), allow_global=False)
                self.sections += secs
        self.matches = [s for s in self.sections if s.kind == "match"]
        self.ignores = [s for s in self.sections if s.kind == "ignore"]
        for s in self.matches:
            if "threshold" in s.opts:
                m = re.match(r"^(\d+)\s+within\s+(\d+[smhd])$", s.opts["threshold"])
                if not m:
                    raise SystemExit("%s: bad threshold %r" % (s.where, s.opts["threshold"]))
                d = DURATION.match(m.group(2))
                s.threshold = (int(m.group(1)),
                               int(d.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[d.group(2)] * 1_000_000)

    def run(self, entries):
        """Per entry: the name of the rule it alerts under, or None; plus
        how many entries each [ignore] silenced."""
        out = [None] * len(entries)
        silenced = Counter()
        windows = defaultdict(list)  # (rule index, by value) -> [(time, entry index)]
        for i, e in enumerate(entries):
            p = e.get("PRIORITY")
            if p is None or as_int(p) is None or not 0 <= as_int(p) <= self.priority:
                continue
            hit = None
            for k, r in enumerate(self.matches):
                if not r.holds(e):
                    continue
                if hasattr(r, "threshold"):
                    n, within = r.threshold
                    by = r.opts.get("by")
                    key = e.get(by).decode("utf-8", "replace") if by and by in e else unit_name(e)
                    t = int(e["__REALTIME_TIMESTAMP"])
                    w = windows[(k, key)]
                    w.append((t, i))
                    while w and w[0][0] < t - within:
                        w.pop(0)
                    if len(w) < n:
                        continue
                    # The earlier entries of the window alert with it.
                    for _, j in w[:-1]:
                        if out[j] is None and not self.ignored(entries[j]):
                            out[j] = r.name
                hit = r
                break
            if hit is None:
                continue
            ign = self.ignored(e)
            if ign is not None:
                silenced[ign.name] += 1
                continue
            out[i] = hit.name
        return out, silenced

    def ignored(self, e):
        for r in self.ignores:
            if r.holds(e):
                return r
        return None


# --- labels -----------------------------------------------------------------------------------

class Labels:
    def __init__(self, path):
        with open(path) as f:
            self.labels, _ = parse_sections(f.read(), os.path.relpath(path, REPO), sections=("label",),
                                            allow_global=False)
        for l in self.labels:
            c = l.opts.get("class")
            if c not in ("problem", "noise", "normal"):
                raise SystemExit("%s: class must be problem, noise or normal" % l.where)
            if c == "problem" and "incident" not in l.opts:
                raise SystemExit("%s: a problem needs an incident" % l.where)
            if l.opts.get("origin", "real") not in ("real", "synthetic"):
                raise SystemExit("%s: origin must be real or synthetic" % l.where)

    def of(self, e):
        for l in self.labels:
            if l.holds(e):
                return l
        return None


def short(e, width=150):
    return ("%s: %s" % (unit_name(e), e.get("MESSAGE", b"").decode("utf-8", "replace").split("\n")[0]))[:width]


def measure(entries, labels, rules):
    alerts, silenced = rules.run(entries)
    res = {"alerting": 0, "false": 0, "true": 0, "incidents": set(), "hit": set(),
           "by_pack": defaultdict(Counter), "false_entries": [], "rules": Counter(alerts)}
    for e, l, a in zip(entries, labels, alerts):
        if l is None:
            continue
        c = l.opts["class"]
        pack = l.opts.get("pack", "-")
        if c == "problem":
            res["incidents"].add(l.opts["incident"])
        res["by_pack"][pack][c + ("_alert" if a else "_quiet")] += 1
        if not a:
            continue
        res["alerting"] += 1
        if c == "problem":
            res["true"] += 1
            res["hit"].add(l.opts["incident"])
        else:
            res["false"] += 1
            res["false_entries"].append((l, e))
    res["missed"] = sorted(res["incidents"] - res["hit"])
    res["silenced"] = silenced
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus.export.xz"))
    ap.add_argument("--labels", default=os.path.join(HERE, "labels.conf"))
    ap.add_argument("--packs", default=os.path.join(REPO, "logmon.d"))
    ap.add_argument("--unlabeled", action="store_true", help="list entries without a label")
    ap.add_argument("--show", help="list alerting entries of this class (noise, normal, problem)")
    ap.add_argument("--quiet-problems", action="store_true", help="list problem entries that do not alert")
    ap.add_argument("--labels-only", action="store_true")
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()

    entries = load_corpus(args.corpus)
    labels = Labels(args.labels)
    of = [labels.of(e) for e in entries]
    bad = 0

    count = Counter(l.where for l in of if l is not None)
    klass = Counter(l.opts["class"] for l in of if l is not None)
    origin = Counter(l.opts.get("origin", "real") for l in of if l is not None)
    unlabeled = [e for e, l in zip(entries, of) if l is None]
    print("corpus: %d entries; %s; %s; %d unlabeled" % (
        len(entries), ", ".join("%s %d" % kv for kv in sorted(klass.items())),
        ", ".join("%s %d" % kv for kv in sorted(origin.items())), len(unlabeled)))
    incidents = sorted({l.opts["incident"] for l in labels.labels if l.opts["class"] == "problem"})
    print("incidents: %d (%s)" % (len(incidents), " ".join(incidents)))
    empty = [l for l in labels.labels if count[l.where] == 0]
    for l in empty:
        print("label holds no entry: %s (%s)" % (l.where, l.opts.get("note", "")))
        bad = 1
    if unlabeled:
        bad = 1
        if args.unlabeled:
            for e in unlabeled:
                print("  unlabeled: %s" % short(e, 300))
    if args.labels_only:
        return bad

    results = {}
    for name, rules in (("v1", Rules(text=V1_RULES)),
                        ("packs", Rules(text="include = %s\n" % args.packs))):
        r = measure(entries, of, rules)
        results[name] = r
        print("%-5s: %4d alerting entries, %4d false (%.1f %%), %d/%d incidents alerted, missed: %s" % (
            name, r["alerting"], r["false"], 100.0 * r["false"] / max(r["alerting"], 1),
            len(r["hit"]), len(r["incidents"]), " ".join(r["missed"]) or "none"))
    p = results["packs"]
    print("per pack (packs): noise silenced / noise, problem entries alerting / problems")
    for pack, c in sorted(p["by_pack"].items()):
        print("  %-22s noise %4d/%-4d problems %3d/%-3d normal alerting %d" % (
            pack, c["noise_quiet"], c["noise_quiet"] + c["noise_alert"],
            c["problem_alert"], c["problem_alert"] + c["problem_quiet"], c["normal_alert"]))
    print("rules that alerted (packs):")
    for name, n in p["rules"].most_common():
        if name:
            print("  %5d %s" % (n, name))
    print("ignores that silenced (packs):")
    for name, n in p["silenced"].most_common():
        print("  %5d %s" % (n, name))
    if args.show:
        which = results["packs"]
        alerts, _ = Rules(text="include = %s\n" % args.packs).run(entries)
        for e, l, a in zip(entries, of, alerts):
            if a and l is not None and l.opts["class"] == args.show:
                print("  [%s] %s <- %s" % (a, short(e, 200), l.where))
    if args.quiet_problems:
        alerts, _ = Rules(text="include = %s\n" % args.packs).run(entries)
        for e, l, a in zip(entries, of, alerts):
            if not a and l is not None and l.opts["class"] == "problem":
                print("  quiet %s: %s" % (l.opts["incident"], short(e, 200)))
    if args.strict and (p["missed"] or p["false"] * 20 >= p["alerting"]):
        bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
