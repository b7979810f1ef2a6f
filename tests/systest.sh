#!/usr/bin/env bash
# tests/systest.sh -- logmon under a real systemd as PID 1 (`make systest`).
#
# Boots a minimal Debian (bookworm) with systemd-nspawn and, inside it, runs
# this repository's real `make install PREFIX=/usr` on the live system
# (DESTDIR empty), then logmon.service with all its hardening next to a real
# Postfix whose mail lands in /var/mail/root. Cases, in order:
#   - `systemd-analyze verify` is clean; the security score, for the record
#   - a config error at start: the unit fails (no restart loop) and
#     `systemctl status` shows the FILE:LINE error
#   - Postfix's spool absent when logmon starts, present afterwards: an error
#     line is mailed without a restart
#   - own lines: the configured sendmail is a wrapper that logs an error line
#     (to stderr and via `logger -p err`) on every run; no mail may report it
#   - a service that echoes three lines and exits 1: with a rule using
#     `context = 5` its "Failed with result" mail shows those lines under it
#   - `systemctl reload` with a bad config fails, visibly, and the old config
#     stays in force; a good one reloads
#   - stop, the cursor, an error logged while stopped is mailed after start
#   - a journal file logmon has open is truncated under it: no SIGBUS death,
#     the next error line is mailed
#   - `make uninstall` stops and disables the service
# Then, in a second fresh container, the Debian package (`make deb`):
#   - `apt-get install ./logmon_VERSION_ARCH.deb` with Postfix present: the
#     user, enabled and started, an error line mailed with the shipped config
#   - an upgrade to a rebuilt package (newer version, a binary with a
#     marker) keeps an edited /etc/logmon.conf and restarts the service
#     (MainPID changes, the new binary runs, the edited config is read)
#   - `apt-get remove` stops it and keeps config and state; `apt-get purge`
#     leaves no file naming logmon (the system user stays)
# See shared/TESTING.md, "A real systemd as PID 1".
#
# Needs root. The Debian tree is built once (debootstrap, about a minute) and
# cached in $LOGMON_SYSTEST_CACHE (default /var/cache/logmon-systest); the
# container boots it with --volatile=overlay, so the cache stays pristine.
# Delete the cache directory to rebuild it.
#
# Environment:
#   LOGMON_SYSTEST_CACHE   where the tree is cached
#   LOGMON_SYSTEST_MIRROR  Debian mirror URL (default: the one apt uses here)
#   LOGMON_SYSTEST_UNIT    test this unit file instead of the repo's
#                          logmon.service (hardening experiments); @BINDIR@
#                          and @SYSCONFDIR@ are substituted as make install does
set -euo pipefail

cd "$(dirname "$0")/.."

CACHE=${LOGMON_SYSTEST_CACHE:-/var/cache/logmon-systest}
TREE=$CACHE/tree
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,libsystemd0,procps,bsdutils,make
# Added to a tree cached before they were in $PACKAGES.
EXTRA_PACKAGES="make"
DONE_MARK=.logmon-systest-tree-complete
START=$SECONDS

say() { echo "==> systest: $*" >&2; }
die() {
    echo "systest: FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, systemd-nspawn)"

work=$(mktemp -d /tmp/logmon-systest.XXXXXX)
building=0 # 1 while this run builds $TREE.tmp (which cleanup then removes)

# unmount_below, cleanup (the trap below) and debian_mirror
# shellcheck source=tests/lib/debian-tree.sh
. tests/lib/debian-tree.sh
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ------------------------------------------------------------------

need_tools() {
    command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null &&
        command -v dpkg-shlibdeps >/dev/null && return
    say "installing debootstrap, systemd-container and dpkg-dev"
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 \
        apt-get install -y -qq debootstrap systemd-container dpkg-dev >/dev/null
}

# --- the cached Debian tree ---------------------------------------------------

# One builder at a time, holding the lock exclusively; a booted container
# holds it shared (its overlay's lower layer must not change under it).
build_tree_locked() {
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    timeout 900 flock 9 || die "waited too long for the lock $CACHE/.lock"
    build_tree
    add_extra_packages
    timeout 900 flock -s 9 || die "waited too long for the shared lock $CACHE/.lock"
}

build_tree() {
    if [ -e "$TREE/$DONE_MARK" ]; then
        say "using the cached tree $TREE"
        return
    fi
    local url tmp=$TREE.tmp t0=$SECONDS
    url=$(debian_mirror "${LOGMON_SYSTEST_MIRROR:-}" LOGMON_SYSTEST_MIRROR)
    say "building $TREE from $url (once; about a minute)"
    building=1
    unmount_below "$tmp"
    rm -rf --one-file-system "$tmp" "$TREE"
    timeout 900 debootstrap --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$tmp" "$url" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed"
    }
    # Postfix "Local only", installed without starting anything in the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod 0755 "$tmp/usr/sbin/policy-rc.d"
    printf '%s\n' \
        'postfix postfix/main_mailer_type select Local only' \
        'postfix postfix/mailname string localhost' |
        timeout 60 chroot "$tmp" debconf-set-selections
    timeout 600 chroot "$tmp" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends postfix >"$work/postfix.log" 2>&1 || {
        tail -n 30 "$work/postfix.log" >&2
        die "installing postfix in the tree failed"
    }
    timeout 60 chroot "$tmp" apt-get clean
    rm -f "$tmp/usr/sbin/policy-rc.d"
    touch "$tmp/$DONE_MARK"
    mv "$tmp" "$TREE"
    building=0
    say "tree built in $((SECONDS - t0)) s"
}

# A tree cached by an older version of this script lacks what was added to
# $PACKAGES since; install it there once (under the exclusive lock).
add_extra_packages() {
    local p missing=""
    for p in $EXTRA_PACKAGES; do
        chroot "$TREE" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    say "adding to the cached tree:$missing"
    printf '#!/bin/sh\nexit 101\n' >"$TREE/usr/sbin/policy-rc.d"
    chmod 0755 "$TREE/usr/sbin/policy-rc.d"
    # shellcheck disable=SC2086 # one word per package
    { timeout 300 chroot "$TREE" apt-get update -q &&
        timeout 300 chroot "$TREE" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends $missing &&
        timeout 60 chroot "$TREE" apt-get clean; } >"$work/extra.log" 2>&1 || {
        rm -f "$TREE/usr/sbin/policy-rc.d"
        tail -n 30 "$work/extra.log" >&2
        die "adding$missing to the cached tree failed"
    }
    rm -f "$TREE/usr/sbin/policy-rc.d"
}

# --- what goes into the container -------------------------------------------

# The container runs the real `make install` from a read-only view of this
# checkout, with the binary `make systest` has just built (INSTALL_BIN: no
# cargo inside, and nothing is rebuilt as root in a target/ the user owns).
check_binary() {
    [ -x target/release/logmon ] || die "no target/release/logmon: run \`make systest\` (or \`make\` first)"
    mkdir -p "$work/ctl"
    if [ -n "${LOGMON_SYSTEST_UNIT:-}" ]; then
        say "testing the unit $LOGMON_SYSTEST_UNIT instead of the repo's"
        sed 's|@BINDIR@|/usr/bin|g; s|@SYSCONFDIR@|/etc|g' "$LOGMON_SYSTEST_UNIT" \
            >"$work/ctl/unit.override"
    fi
}

# The oneshot unit that runs the test inside and ends the container with
# the test's exit status.
write_test_unit() {
    cat >"$work/ctl/logmon-systest.service" <<'EOF'
[Unit]
Description=logmon system test
After=multi-user.target
SuccessAction=exit
FailureAction=exit

[Service]
Type=oneshot
# The script of this boot (inside.sh or deb-inside.sh), bound here.
ExecStart=/bin/bash /mnt/logmon-run.sh
# --console=pipe gives the container no /dev/console: report to the host
# through a bind-mounted file instead.
StandardOutput=file:/mnt/logmon-out/inside.log
StandardError=inherit
TimeoutStartSec=300
EOF
}

# What both tests inside use: failing with diagnostics, waiting, mail.
write_helpers() {
    cat >"$work/ctl/helpers.sh" <<'EOF'
# Sourced by the tests inside the container (bash).
SOFT_FAILURES=()

step() { echo "--- $*"; }
# capture VAR COMMAND...: VAR=COMMAND's stdout and stderr, whatever its
# status. (Piping into `grep -q` under pipefail fails when grep exits first.)
capture() {
    local -n capture_into=$1
    shift
    capture_into=$("$@" 2>&1) || true
}
unit_log() { timeout 10 journalctl --no-pager -b -u logmon -o cat; }
# log_has TEXT: the unit's journal holds TEXT.
log_has() {
    local text
    capture text unit_log
    grep -qF -- "$1" <<<"$text"
}
diagnostics() {
    set +e
    echo "======== diagnostics ========"
    timeout 10 systemctl --no-pager status logmon postfix@-
    echo "-------- journalctl -u logmon"
    unit_log | tail -n 60
    echo "-------- postfix log"
    timeout 10 journalctl --no-pager -b -u postfix@- -t postfix/postdrop -t postfix/sendmail -t postfix/pickup -t postfix/local | tail -n 40
    echo "-------- mailq"
    timeout 10 mailq | tail -n 20
    echo "-------- /var/mail/root"
    tail -n 60 /var/mail/root 2>/dev/null
    echo "======== end of diagnostics ========"
    set -e
}
fail() {
    echo "FAIL: $*"
    diagnostics
    # A logmon stuck in a sendmail that never finishes would hold up the
    # container's shutdown for its whole stop timeout.
    timeout 10 systemctl kill --signal=KILL logmon 2>/dev/null || true
    exit 1
}
# A failure that leaves the container usable for the cases after it.
soft_fail() {
    echo "FAIL: $*"
    diagnostics
    SOFT_FAILURES+=("$*")
}
# wait_for SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds.
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}
new_tag() { cat /proc/sys/kernel/random/uuid; }
main_pid() { systemctl show -P MainPID logmon; }
restarts() { systemctl show -P NRestarts logmon; }
# log_error TAG: an error line from this test unit, which logmon must mail.
log_error() { logger -t logmon-systest -p user.err "logmon systest error $1"; }

# subject_of TAG: the Subject: of the mail in /var/mail/root holding TAG.
subject_of() {
    awk -v tag="$1" '
        /^From / { if (found) exit; subject = ""; found = 0 }
        /^Subject: / && subject == "" { subject = $0 }
        index($0, tag) { found = 1 }
        END { if (found) print subject }' /var/mail/root 2>/dev/null
}
has_mail() { [ -n "$(subject_of "$1")" ]; }
# expect_mail TAG [SECONDS]: within SECONDS (30), a mail in /var/mail/root
# holds TAG, and that mail's subject is a single alert's.
expect_mail() {
    local secs=${2:-30}
    wait_for "$secs" has_mail "$1" || fail "no mail with $1 in /var/mail/root after $secs s"
    local subject
    subject=$(subject_of "$1")
    echo "$subject"
    case $subject in
    "Subject: [ALERT] Error detected in "*) ;;
    *) fail "the mail with $1 lacks the subject '[ALERT] Error detected in ...'" ;;
    esac
    grep -F "$1" /var/mail/root
}
# Postfix holds no message (not even in maildrop): every mail handed to it
# so far has been delivered.
queue_empty() {
    local q
    capture q timeout 10 postqueue -p
    grep -q "Mail queue is empty" <<<"$q"
}
# wait_started N: logmon has logged its N-th 'started' line (N starts so
# far in this boot).
count_started() {
    local text
    capture text unit_log
    grep -c "started: following the journal" <<<"$text" || true
}
wait_started() {
    started_n() { [ "$(count_started)" -ge "$1" ]; }
    wait_for 20 started_n "$1" || fail "no 'started' line number $1 from logmon"
    if log_has "cannot read the system journal"; then
        fail "logmon cannot read the system journal"
    fi
}

EOF
}

# The test itself, run by PID 1 inside the container.
write_inside_script() {
    cat >"$work/ctl/inside.sh" <<'EOF'
#!/bin/bash
# Runs inside the container as logmon-systest.service.
set -euo pipefail
REPO=/mnt/logmon-repo
BIN=/mnt/logmon-bin/logmon
UNIT=/usr/lib/systemd/system/logmon.service
WANTS=/etc/systemd/system/multi-user.target.wants/logmon.service
CONF=/etc/logmon.conf
GOOD_CONF=/root/logmon.conf.good
WRAPPER=/usr/local/sbin/logmon-systest-sendmail
# What the wrapper logs on every run; no mail may ever contain it.
WRAPTEXT="sendmail wrapper complains $(cat /proc/sys/kernel/random/uuid)"
. /mnt/logmon-systest/helpers.sh

step "make install PREFIX=/usr (DESTDIR empty: the live system)"
capture out timeout 60 make -s -C "$REPO" install PREFIX=/usr INSTALL_BIN="$BIN"
echo "$out"
[ -x /usr/bin/logmon ] && [ -f "$UNIT" ] || fail "make install installed no logmon or no unit"
grep -q "systemd-sysusers" <<<"$out" || fail "make install did not run systemd-sysusers"
id logmon || fail "make install did not create the user logmon"
if [ -f /mnt/logmon-systest/unit.override ]; then
    cp /mnt/logmon-systest/unit.override "$UNIT"
fi
timeout 30 systemctl daemon-reload

step "systemd-analyze verify $UNIT"
# --man=no: the minimal tree has no man pages to look Documentation= up in.
capture out timeout 60 systemd-analyze verify --man=no "$UNIT"
[ -z "$out" ] || fail "verify is not clean: $out"
timeout 60 systemd-analyze security --no-pager logmon.service | tail -n 1

# The test's config: the shipped one with batch = 0s (a mail per alert at
# once, no 10 s wait per case) and a sendmail that complains on every run.
cat >"$WRAPPER" <<WRAP
#!/bin/sh
# A sendmail that logs an error line on every run, as a misconfigured MTA
# does, then delivers: a logmon that mails its own lines mails forever.
echo "logmon-systest-sendmail: error: $WRAPTEXT (stderr)" >&2
logger -t logmon-systest-sendmail -p mail.err "error: $WRAPTEXT (syslog)"
exec /usr/sbin/sendmail "\$@"
WRAP
chmod 0755 "$WRAPPER"
sed -i "s|^batch .*|batch = 0s|; s|^sendmail .*|sendmail = $WRAPPER|" "$CONF"
grep -q "^batch = 0s" "$CONF" && grep -q "^sendmail = $WRAPPER" "$CONF" || fail "editing $CONF"
cp "$CONF" "$GOOD_CONF"
# A local pack, read before 00-systemd.conf (so the line alerts under its
# rule): the test service's "Failed with result" with its run's last lines.
cat >/etc/logmon.d/00-context-systest.conf <<'PACK'
[match]
name = systest: a failed unit and its last lines
MESSAGE_ID == d9b373ed55a64feb8242e02dbe79a49c
UNIT == logmon-systest-fail.service
context = 5
PACK
chmod 0644 /etc/logmon.d/00-context-systest.conf

step "a config error at start: the unit fails, errors in systemctl status, no restart loop"
echo "this line is not a setting" >>"$CONF"
bad=$(wc -l <"$CONF")
if timeout 30 systemctl start logmon; then
    fail "logmon started with a bad config"
fi
is_failed() { [ "$(systemctl show -P ActiveState logmon)" = failed ]; }
wait_for 10 is_failed ||
    fail "not failed after a config error but $(systemctl show -P ActiveState,SubState logmon | tr '\n' ' ')"
[ "$(restarts)" = 0 ] || fail "restarted $(restarts) times after a config error"
status_has_error() {
    capture st timeout 10 systemctl status --no-pager -n 20 logmon
    grep -qF "$CONF:$bad:" <<<"$st"
}
wait_for 10 status_has_error || fail "systemctl status does not show $CONF:$bad: $st"
grep -F "$CONF:$bad:" <<<"$st"
cp "$GOOD_CONF" "$CONF"
timeout 10 systemctl reset-failed logmon

step "Postfix's spool absent at logmon's start"
# Stopped only once its start at boot is complete: a stop that cancels the
# start job left Postfix's master running here ("Failed to kill control
# group ... Input/output error"), and the start below then failed.
wait_for 30 systemctl -q is-active postfix@- || fail "Postfix did not start at boot"
timeout 60 systemctl stop postfix
no_master() { ! pgrep -x master >/dev/null; }
wait_for 20 no_master || fail "Postfix's master still runs after systemctl stop postfix"
mv /var/spool/postfix /var/spool/postfix.away
timeout 60 systemctl enable --now logmon || fail "systemctl enable --now logmon"
wait_for 20 systemctl -q is-active logmon || fail "logmon did not become active"
wait_started 1
pid=$(main_pid)
# The sandbox logmon runs in, for the record.
grep -E '^(Uid|Gid|Groups|NoNewPrivs|Seccomp|CapEff|CapBnd):' "/proc/$pid/status" | tr -s '\t' ' '
capture text unit_log
own=$(grep "own lines:" <<<"$text" | tail -n 1) || true
echo "$own"
invocation=$(systemctl show -P InvocationID logmon)
uid=$(id -u logmon)
case $own in
*" _SYSTEMD_UNIT=logmon.service _SYSTEMD_INVOCATION_ID=$invocation _UID=$uid") ;;
*) fail "logmon does not know its unit logmon.service, invocation $invocation and uid $uid" ;;
esac

step "... and there afterwards: an error line is mailed without a restart"
mv /var/spool/postfix.away /var/spool/postfix
timeout 60 systemctl start postfix
TAG=$(new_tag)
log_error "$TAG"
# 70 s: a delivery that failed while the spool was away is retried after
# 30 s (retry = 30s), and may hold this alert until then.
expect_mail "$TAG" 70
[ "$(main_pid)" = "$pid" ] || fail "logmon was restarted (MainPID $pid -> $(main_pid))"

step "own lines: the sendmail's error lines feed no mail loop"
# The wrapper ran for the mail above and logged before it delivered, so its
# lines are in the journal before the marker below; logmon reads in journal
# order. Once the marker's mail is in and Postfix holds nothing more, every
# mail logmon sent for what came before the marker is in /var/mail/root.
MARK=$(new_tag)
log_error "marker $MARK"
expect_mail "$MARK"
wait_for 30 queue_empty || fail "Postfix's queue did not drain"
capture wrapped timeout 10 journalctl -b -o cat
n=$(grep -cF "$WRAPTEXT" <<<"$wrapped" || true)
[ "$n" -ge 4 ] || fail "the sendmail wrapper logged $n lines, not 2 per mail"
echo "the wrapper logged $n error lines; what journald attached to them:"
timeout 10 journalctl -b -o export |
    awk -v t="$WRAPTEXT" 'BEGIN { RS = ""; FS = "\n" }
        index($0, t) {
            line = ""
            for (i = 1; i <= NF; i++)
                if ($i ~ /^(_TRANSPORT|_PID|_UID|_SYSTEMD_UNIT|_SYSTEMD_INVOCATION_ID)=/) line = line " " $i
            print "  " line
        }' || true
echo "   (logmon: _PID=$pid _UID=$uid _SYSTEMD_UNIT=logmon.service _SYSTEMD_INVOCATION_ID=$invocation)"
echo "the mails so far:"
grep '^Subject:' /var/mail/root | sed 's/^/   /'
if grep -qF "$WRAPTEXT" /var/mail/root; then
    fail "a mail reports the sendmail wrapper's own error line"
fi

step "a service that logs a few lines and fails: its mail shows them (context = 5)"
TAG=$(new_tag)
cat >/usr/local/sbin/logmon-systest-fail <<FAIL
#!/bin/sh
for i in 1 2 3; do echo "systest output step \$i $TAG"; done
# Exit once journald has the lines, as a service that logs, then fails.
n=0
until journalctl -q -o cat "_SYSTEMD_INVOCATION_ID=\$INVOCATION_ID" | grep -q "step 3 $TAG"; do
    n=\$((n + 1))
    [ "\$n" -lt 100 ] || break
    sleep 0.1
done
exit 1
FAIL
chmod 0755 /usr/local/sbin/logmon-systest-fail
cat >/etc/systemd/system/logmon-systest-fail.service <<'UNIT'
[Unit]
Description=logmon systest: a service that logs a few lines and fails
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/logmon-systest-fail
UNIT
timeout 30 systemctl daemon-reload
if timeout 60 systemctl start logmon-systest-fail; then
    fail "logmon-systest-fail.service did not fail"
fi
wait_for 30 has_mail "$TAG" || fail "no mail with $TAG in /var/mail/root after 30 s"
# mail_with TAG: the whole mail in /var/mail/root that holds TAG.
mail_with() {
    awk -v tag="$1" '
        /^From / { if (found) exit; msg = ""; found = 0 }
        { msg = msg $0 "\n" }
        index($0, tag) { found = 1 }
        END { if (found) printf "%s", msg }' /var/mail/root
}
msg=$(mail_with "$TAG")
FAILED="logmon-systest-fail.service: Failed with result 'exit-code'."
grep -q "^[^ ].* logmon-systest-fail.service\[1\]: $FAILED\$" <<<"$msg" ||
    fail "the mail with $TAG has no alert line for '$FAILED'"
# The indented lines right under that alert line, their messages.
shown=$(awk -v l="$FAILED" '
    found && /^    / { print substr($0, index($0, "]: ") + 3); next }
    found { exit }
    !/^ / && index($0, l) { found = 1 }' <<<"$msg")
sed -n "/$FAILED/,/^\$/p" <<<"$msg"
want=$(printf 'systest output step %s '"$TAG"'\n' 1 2 3)
[ "$shown" = "$want" ] || fail "the lines under the failure are not the service's last 3: '$shown'"
grep -q "^    .* logmon-systest-fail.service\[[0-9]*\]: systest output step 1 $TAG\$" <<<"$msg" ||
    fail "the context lines lack the 'TIME HOST UNIT[PID]: MESSAGE' form"

step "systemctl reload with a bad config fails, and the old config stays in force"
echo "this line is not a setting either" >>"$CONF"
bad=$(wc -l <"$CONF")
if timeout 30 systemctl reload logmon 2>"/root/reload.err"; then
    fail "systemctl reload succeeded with a bad config"
fi
cat /root/reload.err
systemctl -q is-active logmon || fail "logmon not active after the failed reload"
[ "$(main_pid)" = "$pid" ] || fail "logmon was restarted by the failed reload"
wait_for 10 log_has "$CONF:$bad:" || fail "the failed reload's $CONF:$bad: error is not in the journal"
unit_log | grep -F "$CONF:$bad:" | tail -n 1
TAG=$(new_tag)
log_error "$TAG"
expect_mail "$TAG"
log_has "reloaded " && fail "logmon reloaded the bad config"
cp "$GOOD_CONF" "$CONF"
timeout 30 systemctl reload logmon || fail "systemctl reload logmon (good config)"
wait_for 20 log_has "reloaded " || fail "no 'reloaded' line from logmon"
systemctl -q is-active logmon || fail "logmon not active after reload"

step "systemctl stop logmon"
timeout 60 systemctl stop logmon || fail "systemctl stop logmon"
result=$(systemctl show -P Result logmon)
status=$(systemctl show -P ExecMainStatus logmon)
[ "$result" = success ] && [ "$status" = 0 ] ||
    fail "logmon did not stop cleanly: Result=$result ExecMainStatus=$status"
unit_log | grep "stopping on signal" || fail "no 'stopping on signal' line"
user=$(systemctl show -P User logmon)
owner=$(stat -c %U /var/lib/logmon/cursor) || fail "no cursor saved in /var/lib/logmon/cursor"
[ "$owner" = "${user:-root}" ] || fail "the cursor belongs to $owner, not ${user:-root}"

step "an error logged while logmon is stopped is mailed after the next start"
TAG=$(new_tag)
log_error "$TAG"
timeout 60 systemctl start logmon || fail "systemctl start logmon"
wait_started 2
expect_mail "$TAG"

step "a journal file logmon has open is truncated under it (SIGBUS)"
pid=$(main_pid)
n0=$(restarts)
timeout 30 journalctl --rotate
# open_archived: the path of an archived system journal file logmon has open.
open_archived() {
    archived=$(ls -l "/proc/$pid/fd" 2>/dev/null | sed -n 's|.* -> \(.*/system@.*\.journal\)$|\1|p' | head -n 1)
    [ -n "$archived" ]
}
wait_for 20 open_archived || fail "logmon has no archived journal file open after --rotate"
echo "truncating $archived ($(stat -c %s "$archived") bytes) to 0"
truncate -s 0 "$archived"
TAG=$(new_tag)
log_error "$TAG"
if ! wait_for 30 has_mail "$TAG"; then
    soft_fail "no mail with $TAG in /var/mail/root 30 s after the truncation"
fi
if [ "$(main_pid)" != "$pid" ] || [ "$(restarts)" != "$n0" ] || ! systemctl -q is-active logmon; then
    unit_log | grep -E "code=killed|status=7/BUS|Main process exited" || true
    soft_fail "logmon died after the truncation (MainPID $pid -> $(main_pid), restarts $n0 -> $(restarts))"
fi

step "make uninstall stops and disables the live service"
systemctl -q is-enabled logmon || fail "logmon is not enabled before uninstall"
capture out timeout 60 make -s -C "$REPO" uninstall PREFIX=/usr
echo "$out"
[ ! -e "$UNIT" ] || fail "make uninstall left $UNIT"
[ ! -L "$WANTS" ] && [ ! -e "$WANTS" ] || fail "make uninstall left the enable link $WANTS"
if pgrep -x logmon; then
    fail "logmon still runs after make uninstall"
fi
load=$(systemctl show -P LoadState logmon)
[ "$load" = not-found ] || fail "systemd still has the unit loaded ($load) after uninstall"

if [ "${#SOFT_FAILURES[@]}" -gt 0 ]; then
    echo "FAILED cases:"
    printf '  %s\n' "${SOFT_FAILURES[@]}"
    exit 1
fi
echo "PASS"
EOF
}

# The Debian package, in a container of its own (a fresh overlay: no
# make install before it): install, upgrade, remove, purge.
write_deb_script() {
    cat >"$work/ctl/deb-inside.sh" <<'EOF'
#!/bin/bash
# Runs inside the container as logmon-systest.service.
set -euo pipefail
DEBS=/mnt/logmon-systest/debs
CONF=/etc/logmon.conf
UNIT=/lib/systemd/system/logmon.service
. /mnt/logmon-systest/helpers.sh
FIRST=$(cat $DEBS/first.name)
UPGRADE=$(cat $DEBS/upgrade.name)
MARKER=$(cat $DEBS/marker)

# apt reads local packages as the user _apt: give it a readable copy.
mkdir -m 0755 /tmp/logmon-debs
cp "$DEBS/$FIRST" "$DEBS/$UPGRADE" /tmp/logmon-debs/
chmod 0644 /tmp/logmon-debs/*
apt_get() { timeout 120 env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends "$@"; }
pkg_status() { dpkg-query -W -f='${db:Status-Abbrev} ${Version}' logmon 2>/dev/null || true; }
# A mail holding TAG in /var/mail/root within SECONDS, whatever its
# subject: with the shipped batch = 10s, other alerts may share it.
mail_within() {
    wait_for "$2" has_mail "$1" || fail "no mail with $1 in /var/mail/root after $2 s"
    subject_of "$1"
}
running() { systemctl -q is-active logmon && [ "$(main_pid)" != 0 ]; }

step "apt-get install ./$FIRST (Postfix present)"
dpkg-query -W -f='${Status}\n' postfix | grep -q "ok installed" || fail "no Postfix in the tree"
capture out apt_get install "/tmp/logmon-debs/$FIRST"
tail -n 12 <<<"$out"
case $(pkg_status) in
"ii "*) ;;
*) fail "logmon not installed: $(pkg_status)" ;;
esac
id logmon || fail "the package did not create the user logmon"
id -nG logmon | tr ' ' '\n' | grep -qx systemd-journal || fail "logmon is not in systemd-journal"
id -nG logmon | tr ' ' '\n' | grep -qx postdrop || fail "logmon is not in postdrop"
[ "$(systemctl is-enabled logmon)" = enabled ] || fail "not enabled on first install: $(systemctl is-enabled logmon)"
wait_for 20 running || fail "not started on first install"
wait_started 1
capture out timeout 60 systemd-analyze verify --man=no "$UNIT"
[ -z "$out" ] || fail "verify is not clean: $out"
for f in /usr/share/man/man8/logmon.8.gz /usr/share/man/man5/logmon.conf.5.gz /usr/lib/sysusers.d/logmon.conf; do
    [ -f "$f" ] || fail "the package installed no $f"
done

step "an error line is mailed (the shipped config: batch = 10s)"
TAG=$(new_tag)
log_error "$TAG"
mail_within "$TAG" 40

step "edit $CONF, upgrade to $UPGRADE (a changed binary): config kept, service restarted"
EDIT="edited by the systest $(new_tag)"
sed -i 's|^batch .*|batch = 0s|' "$CONF"
printf '# %s\n' "$EDIT" >>"$CONF"
cp "$CONF" /root/conf.edited
pid=$(main_pid)
capture out apt_get install "/tmp/logmon-debs/$UPGRADE"
tail -n 12 <<<"$out"
case $(pkg_status) in
"ii "*+systest*) echo "upgraded: $(pkg_status)" ;;
*) fail "not upgraded: $(pkg_status)" ;;
esac
cmp -s "$CONF" /root/conf.edited || fail "the upgrade changed the edited $CONF"
for leftover in "$CONF.dpkg-new" "$CONF.dpkg-dist" "$CONF.dpkg-old"; do
    [ ! -e "$leftover" ] || fail "the upgrade left $leftover"
done
grep -qF "$MARKER" /usr/bin/logmon || fail "/usr/bin/logmon is not the upgraded binary"
restarted() { running && [ "$(main_pid)" != "$pid" ]; }
wait_for 20 restarted || fail "not restarted by the upgrade (MainPID $pid -> $(main_pid))"
newpid=$(main_pid)
echo "MainPID $pid -> $newpid"
grep -qF "$MARKER" "/proc/$newpid/exe" || fail "the running logmon is not the upgraded binary"
[ "$(systemctl is-enabled logmon)" = enabled ] || fail "not enabled after the upgrade"
wait_started 2
TAG=$(new_tag)
log_error "$TAG"
# batch = 0s: the restarted logmon reads the edited config.
mail_within "$TAG" 20

step "apt-get remove logmon: stopped, config and state kept"
capture out apt_get remove logmon
tail -n 6 <<<"$out"
case $(pkg_status) in
"rc "*) ;;
*) fail "not removed: $(pkg_status)" ;;
esac
! systemctl -q is-active logmon || fail "logmon still active after remove"
if pgrep -x logmon; then
    fail "logmon still runs after remove"
fi
[ ! -e /usr/bin/logmon ] && [ ! -e "$UNIT" ] || fail "remove left the binary or the unit"
[ "$(systemctl show -P LoadState logmon)" = not-found ] || fail "systemd still has the unit after remove"
cmp -s "$CONF" /root/conf.edited || fail "remove changed $CONF"
[ -f /var/lib/logmon/cursor ] || fail "remove took the state (only purge may)"

step "apt-get purge logmon: no logmon files left"
capture out apt_get purge logmon
tail -n 6 <<<"$out"
[ -z "$(pkg_status)" ] || fail "dpkg still knows logmon: $(pkg_status)"
rm -rf /tmp/logmon-debs
# Any path naming logmon, but this test's own (the unit that runs it, the
# tree's cache mark, the bind mounts under /mnt).
left=$(find / \( -path /proc -o -path /sys -o -path /dev -o -path /mnt \) -prune -o \
    -name '*logmon*' ! -name '*logmon-systest*' -print 2>/dev/null || true)
if [ -n "$left" ]; then
    fail "purge left: $left"
fi
if getent passwd logmon >/dev/null; then
    echo "the system user logmon stays (as Debian does with system users)"
fi

if [ "${#SOFT_FAILURES[@]}" -gt 0 ]; then
    echo "FAILED cases:"
    printf '  %s\n' "${SOFT_FAILURES[@]}"
    exit 1
fi
echo "PASS"
EOF
}

# Two packages from this tree's `make deb` (run as root here, into $work
# only): the built binary, and an upgrade with a newer version whose binary
# carries a marker (bytes after the ELF image, ignored by the loader), so
# the test can tell which binary is installed and which one runs.
build_debs() {
    local version marker d=$work/ctl/debs
    mkdir -p "$d"
    version=$(sed -n '/^\[package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
    marker="logmon-systest-upgrade-$(cat /proc/sys/kernel/random/uuid)"
    cp target/release/logmon "$work/logmon.upgrade"
    printf '%s' "$marker" >>"$work/logmon.upgrade"
    { make -s --no-print-directory deb DEBDIR="$work/deb-first" INSTALL_BIN=target/release/logmon &&
        make -s --no-print-directory deb DEBDIR="$work/deb-upgrade" INSTALL_BIN="$work/logmon.upgrade" \
            DEB_VERSION="$version+systest1"; } >"$work/deb.log" 2>&1 || {
        cat "$work/deb.log" >&2
        die "make deb failed"
    }
    cp "$work"/deb-first/*.deb "$work"/deb-upgrade/*.deb "$d/"
    basename "$work"/deb-first/*.deb >"$d/first.name"
    basename "$work"/deb-upgrade/*.deb >"$d/upgrade.name"
    echo "$marker" >"$d/marker"
    say "built $(cat "$d/first.name") and $(cat "$d/upgrade.name")"
}

# --- run ----------------------------------------------------------------------

# boot NAME: a fresh container (the cached tree under a new overlay) that
# runs $work/ctl/NAME.sh as its test.
boot() {
    local name=$1 t0=$SECONDS status=0 out=$work/out-$1
    say "booting the container: $name"
    mkdir -p "$out"
    timeout -k 10 360 systemd-nspawn -q -D "$TREE" --register=no --keep-unit \
        --private-network --volatile=overlay --console=pipe \
        --bind-ro="$PWD:/mnt/logmon-repo" \
        --bind-ro="$PWD/target/release:/mnt/logmon-bin" \
        --bind="$out:/mnt/logmon-out" \
        --bind-ro="$work/ctl:/mnt/logmon-systest" \
        --bind-ro="$work/ctl/$name.sh:/mnt/logmon-run.sh" \
        --bind-ro="$work/ctl/logmon-systest.service:/etc/systemd/system/logmon-systest.service" \
        --boot systemd.show_status=error systemd.wants=logmon-systest.service \
        </dev/null 2>"$work/nspawn-$name.log" || status=$?
    cat "$out/inside.log" 2>/dev/null || echo "(the test wrote no output)"
    # nspawn's own messages (e.g. "Attempted to remove disk file system
    # under ...", harmless) only when something went wrong.
    [ "$status" = 0 ] || cat "$work/nspawn-$name.log" >&2
    say "container $name ran $((SECONDS - t0)) s, exit status $status"
    return "$status"
}

need_tools
build_tree_locked
check_binary
build_debs
write_test_unit
write_helpers
write_inside_script
write_deb_script
failed=""
boot inside || failed="$failed make-install"
boot deb-inside || failed="$failed deb"
if [ -z "$failed" ]; then
    say "PASS in $((SECONDS - START)) s"
else
    die "the test inside the container failed:$failed (see above); $((SECONDS - START)) s"
fi
