#!/bin/bash
# logmon's benchmark: `make bench`, or benches/bench.sh [build|run|all].
#
#   build  build logmon and the helpers (benches/{gen,tool,reader}.rs) as
#          the calling user and copy the helpers to target/bench/
#   run    run the benchmark (needs root: a private journald namespace)
#   all    both (the default)
#
# What it measures (see the table it prints at the end):
#   scan    `logmon --once --dry-run --since 2000-01-01 --directory DIR` with
#           the shipped rules against `journalctl -D DIR -o cat >/dev/null`
#           on the same synthetic journals, alternating, after a warm-up;
#           every logmon run must find exactly the generator's alerts.
#           In the same alternation, logmon with all the shipped packs
#           (logmon.d): their CPU time against journalctl's.
#   follow  a private journald namespace, logmon with batch = 0 and a fake
#           sendmail, tagged error lines at random intervals: per line, the
#           time from the entry becoming visible to a journal reader (our
#           reader's poll() returning on journald's inotify event) to the
#           fake sendmail's main() running.
#   idle    CPU time and context switches of a logmon following a quiet
#           namespace.
#   memory  RssAnon etc. from /proc/PID/status while following and after a
#           scan of the largest journal; binary size and what it links.
#   rules   the cost of rule sets on the smallest journal, in instructions
#           (callgrind: deterministic) against `journalctl -o cat`: the one
#           keyword rule of version 1, the shipped packs, the packs plus 100
#           keyword [match] rules, the packs plus 1,000 logcheck-style
#           [ignore] rules (both generated here); and loading a config
#           with those 1,000 rules (start-up, SIGHUP).
#
# Knobs (environment):
#   SIZES="100000 1000000"  journal sizes to scan (the largest is used for
#                           the memory figure)
#   RUNS=5                  timed runs per tool and size, after one warm-up
#   SHAPE=full              full: ~20 fields per entry like journald
#                           records for a service; lean: 9 fields
#   IDLE_SECS=60            length of the idle measurement
#   RULESETS=1              0: skip the rule-set measurement (callgrind
#                           runs take ~5 min); without valgrind it reports
#                           CPU seconds (median of RUNS) instead
#   FOLLOW_N=40             tagged lines in the follow measurement
#   FOLLOW_MIN_MS=300 FOLLOW_MAX_MS=1200   random gap between them
#   BENCH_CACHE=target/bench-cache         generated journals (kept)
#   LOGMON=target/release/logmon           the binary under test
#   KEEP_WORK=1                            keep the scratch directory (logs)
#
# Timings live here, never in a test: nothing below fails on a slow
# machine. It exits 1 only when something is broken (logmon found the wrong
# number of alerts, a step could not run).

set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CARGO=${CARGO:-cargo}
HELPERS=$ROOT/target/bench
SIZES=${SIZES:-"100000 1000000"}
RUNS=${RUNS:-5}
SHAPE=${SHAPE:-full}
IDLE_SECS=${IDLE_SECS:-60}
RULESETS=${RULESETS:-1}
FOLLOW_N=${FOLLOW_N:-40}
FOLLOW_MIN_MS=${FOLLOW_MIN_MS:-300}
FOLLOW_MAX_MS=${FOLLOW_MAX_MS:-1200}
BENCH_CACHE=${BENCH_CACHE:-$ROOT/target/bench-cache}
LOGMON=${LOGMON:-$ROOT/target/release/logmon}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# build

build() {
    say "building logmon and the bench helpers (cargo build --release)"
    "$CARGO" build --release --locked
    mkdir -p "$HELPERS"
    local json
    json=$("$CARGO" build --release --locked --bench gen --bench tool --bench reader \
        --message-format=json-render-diagnostics)
    local name exe
    for name in gen tool reader; do
        exe=$(printf '%s\n' "$json" | grep -o "\"executable\":\"[^\"]*/deps/$name-[^\"]*\"" |
            tail -n 1 | sed 's/^"executable":"//; s/"$//')
        [ -x "$exe" ] || die "cargo did not report the $name helper"
        cp "$exe" "$HELPERS/$name.tmp" && mv "$HELPERS/$name.tmp" "$HELPERS/$name"
    done
}

# ---------------------------------------------------------------------------
# helpers for run

now() { printf '%s' "$EPOCHREALTIME"; }
# elapsed seconds since a now() value, 1 decimal
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# key=value files
kv() { sed -n "s/^$2=//p" "$1" | head -n 1; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fmt_rate() { awk -v r="$1" 'BEGIN { if (r >= 1e6) printf "%.2fM", r / 1e6; else printf "%.0fk", r / 1e3 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }
human() { awk -v n="$1" 'BEGIN { if (n >= 1e6 && n % 1e6 == 0) printf "%dM", n / 1e6; else if (n >= 1e3 && n % 1e3 == 0) printf "%dk", n / 1e3; else print n }'; }
idle_verdict() { # wake-ups, CPU s, inotify events by others
    if [ "$1" = 0 ] && [ "$2" = 0.00 ]; then
        echo PASS
    elif [ "$2" = 0.00 ] && [ "$1" -le "${3:-0}" ]; then
        echo "MISS, but all $1 can be other processes' doing ($3 directory events)"
    else
        echo MISS
    fi
}
# The CPU time of the packs' scan of size $1 over journalctl's.
cpu_ratio() { awk -v a="${CPU_P[$1]}" -v b="${CPU_J[$1]}" 'BEGIN { printf "%.4f", a / b }'; }
pass() { if awk -v v="$1" -v t="$2" 'BEGIN { exit !(v + 0 <= t + 0) }'; then echo PASS; else echo MISS; fi; }

find_journal_remote() {
    local p
    for p in /lib/systemd/systemd-journal-remote /usr/lib/systemd/systemd-journal-remote; do
        [ -x "$p" ] && { echo "$p"; return; }
    done
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        say "installing Debian package systemd-journal-remote"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-journal-remote >&2 ||
            { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-journal-remote >&2; }
        for p in /lib/systemd/systemd-journal-remote /usr/lib/systemd/systemd-journal-remote; do
            [ -x "$p" ] && { echo "$p"; return; }
        done
    fi
    die "systemd-journal-remote not found: apt-get install systemd-journal-remote"
}

# Entries in the journal files of a directory, from their headers.
journal_entries() {
    journalctl -D "$1" --header 2>/dev/null | awk -F: '/^Entry objects:/ { n += $2 } END { print n + 0 }'
}

# Under sudo, leave what we write in target/ to the user who called us.
give_back() {
    [ -z "${SUDO_UID:-}" ] || chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$@" 2>/dev/null || true
}

# The journal directory for N entries, generated once and cached.
journal_for() {
    local n=$1 key dir tmp t0
    key=$(cat benches/gen.rs benches/shared/mod.rs | sha256sum | cut -c1-12)
    dir=$BENCH_CACHE/$SHAPE-$n-$key
    if [ -f "$dir/complete" ]; then
        echo "$dir"
        return
    fi
    local jr
    jr=$(find_journal_remote)
    rm -rf "$BENCH_CACHE/$SHAPE-$n-"*
    tmp=$dir.tmp
    mkdir -p "$tmp"
    say "generating a $SHAPE journal of $n entries in $dir (cached for later runs)"
    t0=$(now)
    "$HELPERS/gen" "$n" "$tmp/meta" "$SHAPE" |
        "$jr" --split-mode=none --output="$tmp/x.journal" - 2>"$tmp/journal-remote.log" ||
        { cat "$tmp/journal-remote.log" >&2; die "systemd-journal-remote failed"; }
    local got
    got=$(journal_entries "$tmp")
    [ "$got" = "$n" ] || die "journal-remote stored $got of $n entries (see $tmp/journal-remote.log)"
    echo "gen_secs=$(since "$t0")" >>"$tmp/meta"
    touch "$tmp/complete"
    mv "$tmp" "$dir"
    give_back "$BENCH_CACHE"
    echo "$dir"
}

# Alerts in an mbox written by --dry-run: a mail says "This mail reports N
# alerts" when it holds more than one.
mbox_alerts() {
    awk '/^From logmon / { if (open) t += n; open = 1; n = 1; m++; next }
         open && n == 1 && /^This mail reports [0-9]+ alerts/ { n = $4 }
         END { if (open) t += n; printf "%d %d\n", m, t }' "$1"
}

PIDS_TO_STOP=()
NS=""
WORK=""
# Stop what we started, by PID, newest first; remove the namespace's files.
stop_started() {
    local pid i
    for ((i = ${#PIDS_TO_STOP[@]} - 1; i >= 0; i--)); do
        pid=${PIDS_TO_STOP[i]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS_TO_STOP[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS_TO_STOP=()
    if [ -n "$NS" ]; then
        rm -rf /run/systemd/journal."$NS" /var/log/journal/*."$NS" /run/log/journal/*."$NS"
        NS=""
    fi
}
cleanup() {
    stop_started
    if [ -n "$WORK" ]; then
        if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; else say "kept $WORK"; fi
    fi
}

wait_for() { # seconds, then a command; true once the command succeeds
    local limit=$1 t0
    shift
    t0=$SECONDS
    until "$@"; do
        ((SECONDS - t0 < limit)) || return 1
        sleep 0.05
    done
}

# ---------------------------------------------------------------------------
# rule sets

# keyword_rules N: N [match] rules, one case-insensitive keyword each, as a
# local keyword list would be written.
keyword_rules() {
    local i words=(segfault panic corrupt denied timeout refused unreachable overflow degraded abort)
    for ((i = 0; i < $1; i++)); do
        printf '[match]\nname = keyword %d\nMESSAGE ~ (?i)\\b%s%d\\b\n\n' "$i" "${words[i % 10]}" "$i"
    done
}

# ignore_rules N: N logcheck-style [ignore] rules: an anchored regex over
# the whole message with POSIX classes, one program name each.
ignore_rules() {
    local i
    for ((i = 0; i < $1; i++)); do
        printf '[ignore]\nname = logcheck %d\nMESSAGE ~ ^worker%d\\[[[:digit:]]+\\]: (job|task) [[:alnum:]_-]+ (started|finished|skipped)( after [[:digit:]]+ ?ms)?$\n\n' "$i" "$i"
    done
}

# cost OUT CMD...: instructions (callgrind) or CPU seconds (median of RUNS)
# of CMD, written to OUT; CMD's stdout goes to OUT.stdout.
cost() {
    local out=$1
    shift
    if command -v valgrind >/dev/null; then
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" >"$out.stdout" 2>"$out.err" ||
            { cat "$out.err" >&2; die "failed under callgrind: $*"; }
        sed -n 's/.*Collected : \([0-9]*\)/\1/p' "$out.err" | tail -n 1 >"$out"
    else
        local r
        : >"$out.runs"
        for ((r = 0; r < RUNS; r++)); do
            "$HELPERS/tool" run "$out.res" -- "$@" >"$out.stdout" 2>"$out.err"
            [ "$(kv "$out.res" exit)" = 0 ] || { cat "$out.err" >&2; die "failed: $*"; }
            awk -v u="$(kv "$out.res" user_s)" -v s="$(kv "$out.res" sys_s)" 'BEGIN { print u + s }' >>"$out.runs"
        done
        median <"$out.runs" >"$out"
    fi
}

# The rule-set figures for journal directory $1, into $WORK/rules.*; sets
# RULES_UNIT (what the figures count).
rulesets() {
    local dir=$1 d name
    mkdir -p "$WORK/rules"
    sed 's|^include .*||' "$WORK/scan.conf" >"$WORK/rules/v1.conf"
    printf '\n[match]\nMESSAGE ~ (?i)(fail|error|alarm|problem|emerg)\n' >>"$WORK/rules/v1.conf"
    for name in kw100 ign1000; do
        d=$WORK/rules/$name.d
        mkdir -p "$d"
        cp logmon.d/*.conf "$d/"
        case $name in
        kw100) keyword_rules 100 >"$d/90-keywords.conf" ;;
        ign1000) ignore_rules 1000 >"$d/90-logcheck.conf" ;;
        esac
        sed "s|^include .*|include = $d|" "$WORK/scan.conf" >"$WORK/rules/$name.conf"
    done
    sed "s|^include .*|include = $ROOT/logmon.d|" "$WORK/scan.conf" >"$WORK/rules/packs.conf"
    "$LOGMON" -c "$WORK/rules/ign1000.conf" --check >/dev/null || die "the generated 1,000-rule config does not load"
    RULES_UNIT="G instructions (callgrind)"
    command -v valgrind >/dev/null || RULES_UNIT="CPU s (median of $RUNS; no valgrind)"
    say "rules: journalctl -o cat and logmon with 4 rule sets on $(kv "$dir/meta" entries) entries ($RULES_UNIT)"
    cost "$WORK/rules.journalctl" journalctl -D "$dir" -o cat
    for name in v1 packs kw100 ign1000; do
        cost "$WORK/rules.$name" "$LOGMON" -c "$WORK/rules/$name.conf" --once --dry-run --since 2000-01-01 --directory "$dir"
    done
    # Loading the config (what start-up and SIGHUP do), and start-up as a
    # whole: a --once run over an empty directory.
    mkdir -p "$WORK/rules/empty"
    for name in packs ign1000; do
        cost "$WORK/rules.load-$name" "$LOGMON" -c "$WORK/rules/$name.conf" --check
        cost "$WORK/rules.start-$name" "$LOGMON" -c "$WORK/rules/$name.conf" --once --dry-run --since 2000-01-01 --directory "$WORK/rules/empty"
    done
    "$HELPERS/tool" run "$WORK/rules.start-wall" -- "$LOGMON" -c "$WORK/rules/ign1000.conf" --once --dry-run \
        --since 2000-01-01 --directory "$WORK/rules/empty" >/dev/null 2>&1 || true
}

# A rule-set figure: G instructions with 2 decimals, or CPU s as measured.
rfig() {
    local v
    v=$(cat "$WORK/rules.$1")
    if command -v valgrind >/dev/null; then awk -v v="$v" 'BEGIN { printf "%.2f", v / 1e9 }'; else printf '%s' "$v"; fi
}
rratio() { awk -v a="$(cat "$WORK/rules.$1")" -v b="$(cat "$WORK/rules.$2")" 'BEGIN { printf "%.2f", a / b }'; }

# ---------------------------------------------------------------------------
# run

run() {
    [ "$(id -u)" = 0 ] || die "run needs root (a private journald namespace); try: sudo $0 run"
    for h in gen tool reader; do
        [ -x "$HELPERS/$h" ] || die "missing $HELPERS/$h: run '$0 build' first"
    done
    [ -x "$LOGMON" ] || die "missing $LOGMON: run '$0 build' first"
    [ -x /lib/systemd/systemd-journald ] || die "no /lib/systemd/systemd-journald"
    local TOOL=$HELPERS/tool READER=$HELPERS/reader
    local T_START
    T_START=$(now)
    local LOAD_START
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    WORK=$(mktemp -d /tmp/logmon-bench.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    local failures=()

    # The shipped priority and the script's keyword rule with its two
    # exceptions (logmon.d/20-keywords.conf: the rules whose alerts the
    # generator counts); no state file. The packs are measured below
    # (rulesets).
    sed -e 's|^state_file .*|state_file =|' \
        -e "s|^include .*|include = $ROOT/logmon.d/20-keywords.conf|" logmon.conf >"$WORK/scan.conf"
    grep -q "^include = $ROOT/logmon.d/20-keywords.conf" "$WORK/scan.conf" || die "could not set include in scan.conf"
    # The same with all the shipped packs: its CPU time is the issue 9
    # target (the generator does not count what the packs alert on).
    sed "s|^include .*|include = $ROOT/logmon.d|" "$WORK/scan.conf" >"$WORK/packs.conf"

    # ---- journals
    local n dir dirs=() sizes_sorted
    sizes_sorted=$(printf '%s\n' $SIZES | sort -n | tr '\n' ' ')
    local t_gen
    t_gen=$(now)
    for n in $sizes_sorted; do
        dir=$(journal_for "$n") || exit 1
        dirs+=("$dir")
    done
    local gen_wall
    gen_wall=$(since "$t_gen")

    # ---- scan
    local -A RATE_L RATE_J RATIO CPU_L CPU_J CPU_P ALERTS_OK JDESC
    local i exp mails found
    for i in "${!dirs[@]}"; do
        dir=${dirs[i]}
        n=$(kv "$dir/meta" entries)
        exp=$(kv "$dir/meta" alerts)
        JDESC[$n]="$(du -sm "$dir" | cut -f1) MiB in $(ls "$dir"/*.journal | wc -l) files, $exp alerts expected, generated in $(kv "$dir/meta" gen_secs) s"
        say "scan: $(human "$n") entries ($RUNS runs each after a warm-up, alternating)"
        : >"$WORK/l.times"
        : >"$WORK/j.times"
        : >"$WORK/ratios"
        : >"$WORK/l.cpu"
        : >"$WORK/j.cpu"
        : >"$WORK/p.cpu"
        local r bad=0
        for ((r = 0; r <= RUNS; r++)); do
            "$TOOL" run "$WORK/l.res" -- "$LOGMON" -c "$WORK/scan.conf" --once --dry-run \
                --since 2000-01-01 --directory "$dir" >"$WORK/scan.mbox" 2>"$WORK/scan.err"
            "$TOOL" run "$WORK/j.res" -- journalctl -D "$dir" -o cat >/dev/null 2>"$WORK/journalctl.err"
            "$TOOL" run "$WORK/p.res" -- "$LOGMON" -c "$WORK/packs.conf" --once --dry-run \
                --since 2000-01-01 --directory "$dir" >/dev/null 2>"$WORK/packs.err"
            [ "$(kv "$WORK/p.res" exit)" = 0 ] || { cat "$WORK/packs.err" >&2; die "logmon --once with the packs exited $(kv "$WORK/p.res" exit)"; }
            [ "$(kv "$WORK/l.res" exit)" = 0 ] || { cat "$WORK/scan.err" >&2; die "logmon --once exited $(kv "$WORK/l.res" exit)"; }
            [ "$(kv "$WORK/j.res" exit)" = 0 ] || { cat "$WORK/journalctl.err" >&2; die "journalctl exited $(kv "$WORK/j.res" exit)"; }
            read -r mails found < <(mbox_alerts "$WORK/scan.mbox")
            if [ "$found" != "$exp" ]; then
                bad=1
                say "logmon found $found alerts in $mails mails, expected $exp (run $r); its log:"
                cat "$WORK/scan.err" >&2
                cp "$WORK/scan.mbox" "$ROOT/target/bench-wrong-$n.mbox"
                give_back "$ROOT/target/bench-wrong-$n.mbox"
                say "its mails: target/bench-wrong-$n.mbox"
            fi
            ((r > 0)) || continue # warm-up
            local lw jw
            lw=$(kv "$WORK/l.res" wall_s)
            jw=$(kv "$WORK/j.res" wall_s)
            echo "$lw" >>"$WORK/l.times"
            echo "$jw" >>"$WORK/j.times"
            awk -v a="$lw" -v b="$jw" 'BEGIN { print a / b }' >>"$WORK/ratios"
            awk -v u="$(kv "$WORK/l.res" user_s)" -v s="$(kv "$WORK/l.res" sys_s)" 'BEGIN { print u + s }' >>"$WORK/l.cpu"
            awk -v u="$(kv "$WORK/j.res" user_s)" -v s="$(kv "$WORK/j.res" sys_s)" 'BEGIN { print u + s }' >>"$WORK/j.cpu"
            awk -v u="$(kv "$WORK/p.res" user_s)" -v s="$(kv "$WORK/p.res" sys_s)" 'BEGIN { print u + s }' >>"$WORK/p.cpu"
        done
        RATE_L[$n]=$(awk -v n="$n" -v t="$(median <"$WORK/l.times")" 'BEGIN { print n / t }')
        RATE_J[$n]=$(awk -v n="$n" -v t="$(median <"$WORK/j.times")" 'BEGIN { print n / t }')
        RATIO[$n]=$(median <"$WORK/ratios")
        CPU_L[$n]=$(median <"$WORK/l.cpu")
        CPU_J[$n]=$(median <"$WORK/j.cpu")
        CPU_P[$n]=$(median <"$WORK/p.cpu")
        if ((bad)); then
            ALERTS_OK[$n]="WRONG (found $found, expected $exp)"
            failures+=("scan $(human "$n"): logmon found $found alerts, expected $exp")
        else
            ALERTS_OK[$n]="ok ($exp in $mails mails, every run)"
        fi
        say "scan $(human "$n"): logmon $(fmt_rate "${RATE_L[$n]}")/s, journalctl $(fmt_rate "${RATE_J[$n]}")/s, ratio $(printf '%.2f' "${RATIO[$n]}")"
    done

    # ---- rule sets, on the smallest journal
    if [ "$RULESETS" = 1 ]; then
        rulesets "${dirs[0]}"
    fi

    # ---- memory after a scan of the largest journal
    local big_dir=${dirs[${#dirs[@]} - 1]} big_n
    big_n=$(kv "$big_dir/meta" entries)
    say "memory: logmon following $(human "$big_n") entries of backlog (NOTIFY_SOCKET tells when it is through)"
    "$TOOL" memwatch "$(kv "$big_dir/meta" readable)" 600 "$WORK/mem.res" -- \
        "$LOGMON" -c "$WORK/scan.conf" --dry-run --since 2000-01-01 --directory "$big_dir" \
        >"$WORK/mem.mbox" 2>"$WORK/mem.err" || die "memwatch failed"
    [ "$(kv "$WORK/mem.res" reached)" = true ] || { cat "$WORK/mem.err" >&2; die "logmon did not get through the backlog: $(kv "$WORK/mem.res" last_status)"; }
    say "memory: logmon --once over $(human "$big_n") entries, RssAnon sampled every 5 ms"
    "$TOOL" run "$WORK/once.res" --sample-ms 5 -- "$LOGMON" -c "$WORK/scan.conf" --once --dry-run \
        --since 2000-01-01 --directory "$big_dir" >/dev/null 2>"$WORK/once.err"

    # ---- follow and idle: a private journald namespace
    NS=lmbench-$$
    say "follow/idle: journald namespace $NS"
    rm -rf /run/systemd/journal."$NS"
    /lib/systemd/systemd-journald "$NS" >"$WORK/journald.log" 2>&1 </dev/null &
    local JD=$!
    PIDS_TO_STOP+=("$JD")
    "$TOOL" keepalive /run/systemd/journal."$NS"/stdout >"$WORK/keepalive.out" 2>&1 &
    PIDS_TO_STOP+=($!)
    wait_for 10 grep -qs ok "$WORK/keepalive.out" || { cat "$WORK/journald.log" "$WORK/keepalive.out" >&2; die "journald namespace did not come up"; }

    cp "$TOOL" "$WORK/fake-sendmail"
    chmod 0755 "$WORK/fake-sendmail"
    sed -e 's|^state_file .*|state_file =|' \
        -e "s|^sendmail .*|sendmail = $WORK/fake-sendmail|" \
        -e 's|^batch .*|batch = 0|' \
        -e 's|^max_per_hour .*|max_per_hour = 100000|' \
        -e "s|^include .*|include = $ROOT/logmon.d/20-keywords.conf|" logmon.conf >"$WORK/follow.conf"
    grep -q "^sendmail = $WORK/fake-sendmail" "$WORK/follow.conf" || die "could not set sendmail in follow.conf"
    grep -q '^batch = 0' "$WORK/follow.conf" || die "could not set batch in follow.conf"

    "$LOGMON" -c "$WORK/follow.conf" --namespace "$NS" 2>"$WORK/follow.err" >/dev/null &
    local LM=$!
    PIDS_TO_STOP+=("$LM")
    wait_for 10 grep -qs 'started: following' "$WORK/follow.err" || { cat "$WORK/follow.err" >&2; die "logmon did not start following"; }
    "$TOOL" procstat "$LM" >"$WORK/start.stat"

    # journald keeps touching its files for a few seconds after it starts
    # (each touch wakes every reader): wait until logmon has not woken for 3 s.
    local v prev=-1 still=0
    for _ in $(seq 30); do
        v=$("$TOOL" procstat "$LM" | sed -n 's/^voluntary=//p')
        if [ "$v" = "$prev" ]; then still=$((still + 1)); else still=0; fi
        prev=$v
        ((still < 3)) || break
        sleep 1
    done
    say "idle: ${IDLE_SECS} s"
    local jn0 jn1 jfiles jtouched
    jn0=$(journalctl --namespace="$NS" -o cat 2>/dev/null | wc -l)
    touch "$WORK/idle.marker"
    local mid
    mid=$(cat /etc/machine-id 2>/dev/null || true)
    "$TOOL" procstat "$LM" >"$WORK/idle0.stat"
    # What else touches the directories logmon's sd-journal watches (other
    # journald namespaces coming and going wake it too).
    "$TOOL" watch-dirs "$IDLE_SECS" /var/log/journal /run/log/journal \
        /var/log/journal/"$mid.$NS" /run/log/journal/"$mid.$NS" >"$WORK/idle.dirs" &
    local WD=$!
    sleep "$IDLE_SECS"
    "$TOOL" procstat "$LM" >"$WORK/idle1.stat"
    wait "$WD" || true
    jn1=$(journalctl --namespace="$NS" -o cat 2>/dev/null | wc -l)
    # Did journald change its files meanwhile (which wakes every reader)?
    jfiles=$(find /run/log/journal/*."$NS" /var/log/journal/*."$NS" -name '*.journal' 2>/dev/null || true)
    jtouched=0
    [ -z "$jfiles" ] || jtouched=$(find $jfiles -newer "$WORK/idle.marker" | wc -l)
    local idle_cpu idle_vol idle_nonvol tck
    tck=$(kv "$WORK/idle0.stat" clk_tck)
    idle_cpu=$(awk -v a="$(kv "$WORK/idle0.stat" cpu_ticks)" -v b="$(kv "$WORK/idle1.stat" cpu_ticks)" -v t="$tck" 'BEGIN { printf "%.2f", (b - a) / t }')
    idle_vol=$(($(kv "$WORK/idle1.stat" voluntary) - $(kv "$WORK/idle0.stat" voluntary)))
    idle_nonvol=$(($(kv "$WORK/idle1.stat" nonvoluntary) - $(kv "$WORK/idle0.stat" nonvoluntary)))

    kill -0 "$JD" 2>/dev/null || { cat "$WORK/journald.log" >&2; die "the journald namespace exited during the idle time"; }
    kill -0 "$LM" 2>/dev/null || { cat "$WORK/follow.err" >&2; die "logmon exited during the idle time"; }
    say "follow: $FOLLOW_N tagged error lines, ${FOLLOW_MIN_MS}-${FOLLOW_MAX_MS} ms apart"
    "$READER" "$NS" "$WORK/reader.log" 2>"$WORK/reader.err" &
    PIDS_TO_STOP+=($!)
    wait_for 10 grep -qs ready "$WORK/reader.log" || { cat "$WORK/reader.err" >&2; die "the bench reader did not start"; }
    : >"$WORK/sendmail.log"
    "$TOOL" writer /run/systemd/journal."$NS"/socket "$FOLLOW_N" "$FOLLOW_MIN_MS" "$FOLLOW_MAX_MS" "$WORK/writer.log"
    count_mailed() { [ "$(grep -o ' f[0-9]*' "$WORK/sendmail.log" | sort -u | wc -l)" -ge "$FOLLOW_N" ]; }
    wait_for 20 count_mailed || say "not every line was mailed within 20 s"
    sleep 0.5
    "$TOOL" latency "$WORK/writer.log" "$WORK/reader.log" "$WORK/sendmail.log" >"$WORK/latency.out"
    "$TOOL" procstat "$LM" >"$WORK/follow.stat"
    say "follow: fork+exec cost of the fake sendmail, started the way logmon starts it"
    "$TOOL" spawn-cost 30 "$WORK/fake-sendmail" | "$TOOL" stats 1e6 >"$WORK/spawn.out"
    local missing
    missing=$(kv "$WORK/latency.out" missing)
    [ "$missing" = 0 ] || failures+=("follow: $missing of $FOLLOW_N lines not both seen by the reader and mailed")
    stop_started

    # ---- binary
    local size stripped needed
    size=$(stat -c %s "$LOGMON")
    if command -v strip >/dev/null; then
        strip -o "$WORK.stripped" "$LOGMON" && stripped=$(stat -c %s "$WORK.stripped") && rm -f "$WORK.stripped"
    fi
    stripped=${stripped:-$size}
    needed=$(readelf -d "$LOGMON" 2>/dev/null | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
    local ldd_all
    ldd_all=$(ldd "$LOGMON" | awk '{ print $1 }' | grep -v -e '^linux-vdso' -e '^/lib64/ld-linux' | sed 's/\.so.*//' | tr '\n' ' ')

    # ---- the table
    local total
    total=$(since "$T_START")
    local lat p50 p95 max share_n floor own sp50 net50 net95
    lat=$(sed -n 's/^logmon_share //p' "$WORK/latency.out")
    floor=$(sed -n 's/^journald_floor //p' "$WORK/latency.out")
    own=$(sed -n 's/^reader_own //p' "$WORK/latency.out")
    field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
    p50=$(field "$lat" p50)
    p95=$(field "$lat" p95)
    max=$(field "$lat" max)
    share_n=$(field "$lat" n)
    sp50=$(field "$(cat "$WORK/spawn.out")" p50)
    net50=$(awk -v a="$p50" -v b="$sp50" 'BEGIN { printf "%.3f", a - b }')
    net95=$(awk -v a="$p95" -v b="$sp50" 'BEGIN { printf "%.3f", a - b }')
    local cpu
    cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
    local gitrev
    gitrev=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
    git diff --quiet HEAD -- src Cargo.toml Cargo.lock build.rs 2>/dev/null || gitrev="$gitrev+local changes"
    local big_ratio=${RATIO[$big_n]}

    {
        echo
        echo "logmon benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "machine:  $cpu, $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; $(. /etc/os-release && echo "$PRETTY_NAME"); kernel $(uname -r); $(journalctl --version | head -n 1)"
        echo "load:     $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end (other work on the machine makes figures noisy)"
        echo "logmon:   $("$LOGMON" --version) (git $gitrev), $LOGMON"
        for n in $sizes_sorted; do
            echo "journal:  $(human "$n") $SHAPE entries: ${JDESC[$n]}"
        done
        echo
        printf '%-44s %-16s %-16s %s\n' "SCAN (median of $RUNS, alternating)" "logmon" "journalctl -o cat" "ratio (logmon time / journalctl time)"
        for n in $sizes_sorted; do
            printf '%-44s %-16s %-16s %.2f\n' "  $(human "$n") entries: entries/s" "$(fmt_rate "${RATE_L[$n]}")" "$(fmt_rate "${RATE_J[$n]}")" "${RATIO[$n]}"
            printf '%-44s %-16s %-16s\n' "  $(human "$n") entries: CPU s (user+sys)" "$(printf '%.3f' "${CPU_L[$n]}")" "$(printf '%.3f' "${CPU_J[$n]}")"
            printf '%-44s %s\n' "  $(human "$n") entries: alerts found" "${ALERTS_OK[$n]}"
            printf '%-44s %-16s %-16s %.2f (CPU)\n' "  $(human "$n") entries: CPU s, shipped packs" "$(printf '%.3f' "${CPU_P[$n]}")" "$(printf '%.3f' "${CPU_J[$n]}")" "$(cpu_ratio "$n")"
        done
        echo
        echo "FOLLOW (batch = 0; $share_n of $FOLLOW_N lines; ms from visible to a reader -> fake sendmail's main())"
        printf '  %-46s p50 %-8s p95 %-8s max %s\n' "logmon's share, incl. fork+exec of sendmail" "$p50" "$p95" "$max"
        printf '  %-46s p50 %-8s p95 %-8s max %s\n' "  bare fork+exec+ld.so of that sendmail (n=30)" "$sp50" "$(field "$(cat "$WORK/spawn.out")" p95)" "$(field "$(cat "$WORK/spawn.out")" max)"
        printf '  %-46s p50 %-8s p95 %s\n' "  logmon's own share (above minus bare p50)" "$net50" "$net95"
        printf '  %-46s p50 %-8s p95 %-8s max %s\n' "ref: minimal C-API reader, wake -> entry read" "$(field "$own" p50)" "$(field "$own" p95)" "$(field "$own" max)"
        printf '  %-46s p50 %-8s p95 %-8s max %s\n' "journald: write -> visible (not logmon's)" "$(field "$floor" p50)" "$(field "$floor" p95)" "$(field "$floor" max)"
        echo
        echo "IDLE (${IDLE_SECS} s following a quiet namespace)"
        echo "  CPU s: $idle_cpu   voluntary ctx switches (wake-ups): $idle_vol   involuntary: $idle_nonvol   journal entries added meanwhile: $((jn1 - jn0))"
        echo "  meanwhile in the directories sd-journal watches: $(kv "$WORK/idle.dirs" events) inotify events by other processes$( [ "$(kv "$WORK/idle.dirs" events)" = 0 ] || echo " (e.g. namespaces $(kv "$WORK/idle.dirs" names))"), $jtouched journal files modified"
        echo
        echo "MEMORY (from /proc/PID/status; mapped journal files are RssFile, not logmon's)"
        echo "  following, just started:        RssAnon $(mib "$(kv "$WORK/start.stat" rss_anon_kib)"), RssFile $(mib "$(kv "$WORK/start.stat" rss_file_kib)"), VmHWM $(mib "$(kv "$WORK/start.stat" vm_hwm_kib)")"
        echo "  following, after the follow run: RssAnon $(mib "$(kv "$WORK/follow.stat" rss_anon_kib)"), RssFile $(mib "$(kv "$WORK/follow.stat" rss_file_kib)"), VmHWM $(mib "$(kv "$WORK/follow.stat" vm_hwm_kib)")"
        echo "  after a $(human "$big_n") backlog (follow mode): RssAnon $(mib "$(kv "$WORK/mem.res" after_rss_anon_kib)") (peak seen $(mib "$(kv "$WORK/mem.res" peak_rss_anon_kib)")), RssFile $(mib "$(kv "$WORK/mem.res" after_rss_file_kib)"), VmHWM $(mib "$(kv "$WORK/mem.res" after_vm_hwm_kib)"); backlog read in $(printf '%.2f' "$(kv "$WORK/mem.res" scan_s)") s"
        echo "  $(human "$big_n") --once scan:             peak RssAnon $(mib "$(kv "$WORK/once.res" peak_rss_anon_kib)") (sampled every 5 ms), ru_maxrss $(mib "$(kv "$WORK/once.res" maxrss_kib)") incl. mapped journal"
        echo
        if [ "$RULESETS" = 1 ]; then
            local rn
            rn=$(human "$(kv "${dirs[0]}/meta" entries)")
            echo "RULE SETS ($rn entries; $RULES_UNIT; ratio to journalctl -o cat, and to the shipped packs)"
            printf '  %-52s %8s\n' "journalctl -D DIR -o cat" "$(rfig journalctl)"
            printf '  %-52s %8s  %5sx journalctl\n' "version 1: one keyword rule" "$(rfig v1)" "$(rratio v1 journalctl)"
            printf '  %-52s %8s  %5sx journalctl\n' "shipped packs (logmon.d)" "$(rfig packs)" "$(rratio packs journalctl)"
            printf '  %-52s %8s  %5sx journalctl  %5sx packs\n' "packs + 100 keyword [match] rules" "$(rfig kw100)" "$(rratio kw100 journalctl)" "$(rratio kw100 packs)"
            printf '  %-52s %8s  %5sx journalctl  %5sx packs\n' "packs + 1,000 logcheck-style [ignore] rules" "$(rfig ign1000)" "$(rratio ign1000 journalctl)" "$(rratio ign1000 packs)"
            printf '  %-52s %8s\n' "config load (--check), shipped packs" "$(rfig load-packs)"
            printf '  %-52s %8s\n' "config load (--check), packs + 1,000 rules" "$(rfig load-ign1000)"
            printf '  %-52s %8s  (%s s wall)\n' "start-up (--once, empty journal), packs + 1,000 rules" "$(rfig start-ign1000)" "$(kv "$WORK/rules.start-wall" wall_s)"
            echo
        fi
        echo "BINARY"
        echo "  size $((size / 1024)) KiB as built, $((stripped / 1024)) KiB stripped; NEEDED: $needed"
        echo "  ldd (libsystemd's own deps included): $ldd_all"
        echo
        echo "TARGETS (informative)"
        printf '  %-62s %s\n' "scan ratio <= 1.0 on $(human "$big_n") (aim 0.7): $(printf '%.2f' "$big_ratio")" "$(pass "$big_ratio" 1.0)"
        printf '  %-62s %s\n' "scan with the shipped packs: CPU <= 0.55x journalctl on $(human "$big_n"): $(printf '%.2f' "$(cpu_ratio "$big_n")")" "$(pass "$(cpu_ratio "$big_n")" 0.55)"
        printf '  %-62s %s\n' "follow: own share p95 <= 2 ms (fork+exec excluded): $net95 ms" "$(pass "$net95" 2)"
        printf '  %-62s %s\n' "idle: 0 wake-ups, 0.00 CPU s: $idle_vol, $idle_cpu" "$(idle_verdict "$idle_vol" "$idle_cpu" "$(kv "$WORK/idle.dirs" events)")"
        printf '  %-62s %s\n' "memory: <= 1 MiB anon following: $(mib "$(kv "$WORK/follow.stat" rss_anon_kib)")" "$(pass "$(kv "$WORK/follow.stat" rss_anon_kib)" 1024)"
        printf '  %-62s %s\n' "memory: <= 4 MiB anon after $(human "$big_n"): $(mib "$(kv "$WORK/mem.res" after_rss_anon_kib)")" "$(pass "$(kv "$WORK/mem.res" after_rss_anon_kib)" 4096)"
        printf '  %-62s %s\n' "binary: <= 500 KiB stripped: $((stripped / 1024)) KiB" "$(pass "$stripped" 512000)"
        local only
        only=$(printf '%s\n' $needed | grep -v -e '^libc\.so' -e '^libsystemd\.so' | tr '\n' ' ' || true)
        printf '  %-62s %s\n' "binary: links only libc and libsystemd: $needed" "$( [ -z "$only" ] && echo PASS || echo MISS)"
        if [ "$RULESETS" = 1 ]; then
            printf '  %-62s %s\n' "rules: shipped packs <= 0.55x journalctl: $(rratio packs journalctl)" "$(pass "$(rratio packs journalctl)" 0.55)"
            printf '  %-62s %s\n' "rules: + 100 keyword rules <= 1.5x packs: $(rratio kw100 packs)" "$(pass "$(rratio kw100 packs)" 1.5)"
            printf '  %-62s %s\n' "rules: + 1,000 [ignore] rules <= 2x packs: $(rratio ign1000 packs)" "$(pass "$(rratio ign1000 packs)" 2)"
        fi
        echo
        echo "bench took $total s, of which generating journals $gen_wall s (0 when cached)"
        if ((${#failures[@]})); then
            echo
            printf 'BROKEN: %s\n' "${failures[@]}"
        fi
    } | tee "$ROOT/target/bench-result.txt"
    give_back "$ROOT/target/bench-result.txt"
    ((${#failures[@]} == 0)) || exit 1
}

case ${1:-all} in
build) build ;;
run) run ;;
all) build && run ;;
*) die "usage: $0 [build|run|all]" ;;
esac
