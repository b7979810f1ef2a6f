#!/usr/bin/env bash
# tests/systest.sh -- logmon under a real systemd as PID 1 (`make systest`).
#
# Boots a minimal Debian (bookworm) with systemd-nspawn, installs there what
# `make install DESTDIR=... PREFIX=/usr` produces, starts logmon.service next
# to a real Postfix, logs an error line and waits for the alert mail in
# /var/mail/root. Also checks `systemd-analyze verify`, reload and stop.
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
PACKAGES=systemd,systemd-sysv,dbus,libsystemd0,procps,bsdutils
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

# Unmount whatever a failed debootstrap/chroot left mounted below $1.
unmount_below() {
    local dir=$1 mnt
    [ -d "$dir" ] || return 0
    findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r |
        while read -r mnt; do umount -l "$mnt" || true; done
}

cleanup() {
    local status=$?
    if [ "$building" = 1 ]; then
        unmount_below "$TREE.tmp"
        rm -rf --one-file-system "$TREE.tmp"
    fi
    rm -rf --one-file-system "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ------------------------------------------------------------------

need_tools() {
    command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null && return
    say "installing debootstrap and systemd-container"
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 \
        apt-get install -y -qq debootstrap systemd-container >/dev/null
}

# The Debian mirror this machine's apt already uses (never hard-coded here):
# the first URI of /etc/apt/sources.list.d/*.sources (deb822) or of a `deb`
# line in /etc/apt/sources.list*, skipping the security archive.
mirror_url() {
    if [ -n "${LOGMON_SYSTEST_MIRROR:-}" ]; then
        echo "$LOGMON_SYSTEST_MIRROR"
        return
    fi
    local url
    url=$({
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            sed -n 's/\[[^]]*\]//; s/^[[:space:]]*deb[[:space:]]\+\([^[:space:]]\+\).*/\1/p'
    } | grep -E '^https?://' | grep -v security | head -n1) || true
    [ -n "$url" ] || die "no Debian mirror found in /etc/apt/sources.list*; set LOGMON_SYSTEST_MIRROR"
    echo "$url"
}

# --- the cached Debian tree ---------------------------------------------------

# One builder at a time; other runs wait for it and then use its tree.
build_tree_locked() {
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    timeout 900 flock 9 || die "waited too long for the lock $CACHE/.lock"
    build_tree
    exec 9>&-
}

build_tree() {
    if [ -e "$TREE/$DONE_MARK" ]; then
        say "using the cached tree $TREE"
        return
    fi
    local url tmp=$TREE.tmp t0=$SECONDS
    url=$(mirror_url)
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

# --- what goes into the container -------------------------------------------

# `make systest` has just built target/release/logmon. Naming it by its
# absolute path keeps this root-run install from rebuilding it (as root, in
# a target/ the user owns).
stage_install() {
    local bin=$PWD/target/release/logmon
    [ -x "$bin" ] || die "no $bin: run \`make systest\` (or \`make\` first)"
    say "make install DESTDIR=$work/stage PREFIX=/usr"
    timeout 600 make -s install DESTDIR="$work/stage" PREFIX=/usr INSTALL_BIN="$bin" \
        >"$work/install.log" 2>&1 || {
        cat "$work/install.log" >&2
        die "make install failed"
    }
    if [ -n "${LOGMON_SYSTEST_UNIT:-}" ]; then
        say "testing the unit $LOGMON_SYSTEST_UNIT instead of the installed one"
        sed 's|@BINDIR@|/usr/bin|g; s|@SYSCONFDIR@|/etc|g' "$LOGMON_SYSTEST_UNIT" \
            >"$work/stage/usr/lib/systemd/system/logmon.service"
    fi
}

# The oneshot unit that runs the test inside and ends the container with
# the test's exit status.
write_test_unit() {
    mkdir -p "$work/ctl"
    cat >"$work/ctl/logmon-systest.service" <<'EOF'
[Unit]
Description=logmon system test
After=multi-user.target
SuccessAction=exit
FailureAction=exit

[Service]
Type=oneshot
ExecStart=/bin/bash /mnt/logmon-systest/inside.sh
# --console=pipe gives the container no /dev/console: report to the host
# through a bind-mounted file instead.
StandardOutput=file:/mnt/logmon-out/inside.log
StandardError=inherit
TimeoutStartSec=240
EOF
}

# The test itself, run by PID 1 inside the container.
write_inside_script() {
    cat >"$work/ctl/inside.sh" <<'EOF'
#!/bin/bash
# Runs inside the container as logmon-systest.service.
set -euo pipefail
STAGE=/mnt/logmon-stage
UNIT=/usr/lib/systemd/system/logmon.service
TAG=$(cat /proc/sys/kernel/random/uuid)

step() { echo "--- $*"; }
diagnostics() {
    set +e
    echo "======== diagnostics ========"
    timeout 10 systemctl --no-pager status logmon postfix@-
    echo "-------- journalctl -u logmon"
    timeout 10 journalctl --no-pager -b -u logmon
    echo "-------- postfix log"
    timeout 10 journalctl --no-pager -b -u postfix@- -t postfix/postdrop -t postfix/sendmail -t postfix/pickup -t postfix/local | tail -n 40
    echo "-------- mailq"
    timeout 10 mailq | tail -n 20
    echo "-------- /var/mail/root"
    tail -n 40 /var/mail/root 2>/dev/null
}
fail() {
    echo "FAIL: $*"
    diagnostics
    # A logmon stuck in a sendmail that never finishes would hold up the
    # container's shutdown for its whole stop timeout.
    timeout 10 systemctl kill --signal=KILL logmon 2>/dev/null || true
    exit 1
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

step "install what make install staged, as a package would"
tar -C "$STAGE" -c . | tar -C / -x --no-overwrite-dir
# What `make install` runs itself when DESTDIR is empty.
timeout 30 systemd-sysusers /usr/lib/sysusers.d/logmon.conf
id logmon
timeout 30 systemctl daemon-reload

step "systemd-analyze verify $UNIT"
# --man=no: the minimal tree has no man pages to look Documentation= up in.
out=$(timeout 60 systemd-analyze verify --man=no "$UNIT" 2>&1) || fail "verify failed: $out"
[ -z "$out" ] || fail "verify is not clean: $out"
timeout 60 systemd-analyze security --no-pager logmon.service | tail -n 1

step "start postfix and logmon"
timeout 60 systemctl enable --now postfix
timeout 60 systemctl enable --now logmon || fail "systemctl enable --now logmon"
wait_for 20 systemctl -q is-active logmon || fail "logmon did not become active"
is_started() { timeout 10 journalctl -b -u logmon -o cat | grep -q "started: following the journal"; }
wait_for 20 is_started || fail "no 'started' line from logmon"
if timeout 10 journalctl -b -u logmon -o cat | grep -q "cannot read the system journal"; then
    fail "logmon cannot read the system journal"
fi
# The sandbox logmon runs in, for the record.
pid=$(systemctl show -P MainPID logmon)
grep -E '^(Uid|Gid|Groups|NoNewPrivs|Seccomp|CapEff|CapBnd):' "/proc/$pid/status" | tr -s '\t' ' '

step "systemctl reload logmon"
timeout 30 systemctl reload logmon || fail "systemctl reload logmon"
is_reloaded() { timeout 10 journalctl -b -u logmon -o cat | grep -q "^reloaded "; }
wait_for 20 is_reloaded || fail "no 'reloaded' line from logmon"
systemctl -q is-active logmon || fail "logmon not active after reload"

# expect_mail TAG: within 30 s, a mail in /var/mail/root holds TAG, and that
# mail's subject is a single alert's.
subject_of() {
    awk -v tag="$1" '
        /^From / { if (found) exit; subject = ""; found = 0 }
        /^Subject: / && subject == "" { subject = $0 }
        index($0, tag) { found = 1 }
        END { if (found) print subject }' /var/mail/root 2>/dev/null
}
has_mail() { [ -n "$(subject_of "$1")" ]; }
expect_mail() {
    wait_for 30 has_mail "$1" || fail "no mail with $1 in /var/mail/root after 30 s"
    local subject
    subject=$(subject_of "$1")
    echo "$subject"
    case $subject in
    "Subject: [ALERT] Error detected in "*) ;;
    *) fail "the mail with $1 lacks the subject '[ALERT] Error detected in ...'" ;;
    esac
    grep -F "$1" /var/mail/root
}

step "logger -t logmon-systest -p user.err ... $TAG; waiting for the mail"
logger -t logmon-systest -p user.err "logmon systest error $TAG"
expect_mail "$TAG"
systemctl -q is-active logmon || fail "logmon not active after the mail"

step "systemctl stop logmon"
timeout 60 systemctl stop logmon || fail "systemctl stop logmon"
result=$(systemctl show -P Result logmon)
status=$(systemctl show -P ExecMainStatus logmon)
[ "$result" = success ] && [ "$status" = 0 ] ||
    fail "logmon did not stop cleanly: Result=$result ExecMainStatus=$status"
timeout 10 journalctl -b -u logmon -o cat | grep "stopping on signal" || fail "no 'stopping on signal' line"
user=$(systemctl show -P User logmon)
owner=$(stat -c %U /var/lib/logmon/cursor) || fail "no cursor saved in /var/lib/logmon/cursor"
[ "$owner" = "${user:-root}" ] || fail "the cursor belongs to $owner, not ${user:-root}"

step "an error logged while logmon is stopped is mailed after the next start"
TAG2=$(cat /proc/sys/kernel/random/uuid)
logger -t logmon-systest -p user.err "logmon systest error $TAG2"
timeout 60 systemctl start logmon || fail "systemctl start logmon"
expect_mail "$TAG2"
timeout 60 systemctl stop logmon || fail "systemctl stop logmon (second)"

echo "PASS"
EOF
}

# --- run ----------------------------------------------------------------------

boot() {
    say "booting the container"
    local t0=$SECONDS status=0
    mkdir -p "$work/out"
    timeout -k 10 300 systemd-nspawn -q -D "$TREE" --register=no --keep-unit \
        --private-network --volatile=overlay --console=pipe \
        --bind-ro="$work/stage:/mnt/logmon-stage" \
        --bind="$work/out:/mnt/logmon-out" \
        --bind-ro="$work/ctl:/mnt/logmon-systest" \
        --bind-ro="$work/ctl/logmon-systest.service:/etc/systemd/system/logmon-systest.service" \
        --boot systemd.show_status=error systemd.wants=logmon-systest.service \
        </dev/null 2>"$work/nspawn.log" || status=$?
    cat "$work/out/inside.log" 2>/dev/null || echo "(the test wrote no output)"
    # nspawn's own messages (e.g. "Attempted to remove disk file system
    # under ...", harmless) only when something went wrong.
    [ "$status" = 0 ] || cat "$work/nspawn.log" >&2
    say "container ran $((SECONDS - t0)) s, exit status $status"
    return "$status"
}

need_tools
build_tree_locked
stage_install
write_test_unit
write_inside_script
if boot; then
    say "PASS in $((SECONDS - START)) s"
else
    die "the test inside the container failed (see above); $((SECONDS - START)) s"
fi
