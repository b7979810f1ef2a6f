#!/usr/bin/env bash
# tests/corpus/generate.sh -- rebuild the real-daemon corpus (tests/corpus/).
#
# Boots a Debian 12 tree under systemd-nspawn (loopback only, no network)
# with the daemons of a small mail/web server -- openssh-server, Postfix,
# Dovecot, nginx, Apache (port 8080), cron, fail2ban, certbot,
# unattended-upgrades, sudo -- and runs tests/corpus/scenario.sh inside it as
# a oneshot unit. The scenario plays a compressed "day": internet background
# from many 127.x.y.z "attackers" (ssh password guessing, TLS garbage, web
# scanners, dictionary SMTP) and the admin's real trouble (a bounce, failed
# and crash-looping units, a segfault, a watchdog, a failing cron job, a full
# disk, config errors, certbot and apt without network). What a container
# cannot produce (kernel lines, OOM kills, systemd-coredump, journald's
# "Missed" lines) is added by tests/corpus/synth.py from the field sets in
# systemd 252's sources, each entry named synthetic in labels.conf.
#
# Output (in this directory): corpus.export.xz, the merged journal export
# stream (`journalctl -o export` plus the synthetic entries, in time order).
# labels.conf is written by hand and says what each entry is; after a
# rebuild run `tests/corpus/check.py` to see which entries lost their label.
#
# Needs root, debootstrap and systemd-container. The tree is built once
# (about five minutes) and cached in $LOGMON_CORPUS_CACHE (default
# /var/cache/logmon-corpus); it boots with --volatile=overlay, so the cache
# stays pristine. Delete the cache to rebuild it. The scenario takes about
# ten minutes of wall time (it waits for real timeouts and timers).
#
# Environment:
#   LOGMON_CORPUS_CACHE   where the tree is cached
#   LOGMON_CORPUS_MIRROR  Debian mirror URL (default: the one apt uses here)
#   LOGMON_CORPUS_OUT     where to write corpus.export.xz (default: here)
#   LOGMON_CORPUS_DAY     seconds of internet background (default 720)
#   LOGMON_CORPUS_KEEP    a directory to keep the run's raw files in
#                         (real.export, synthetic.jsonl, scenario.log, ...)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${LOGMON_CORPUS_CACHE:-/var/cache/logmon-corpus}
OUT=${LOGMON_CORPUS_OUT:-$HERE}
TREE=$CACHE/tree
SUITE=bookworm
BASE=systemd,systemd-sysv,dbus,libsystemd0,procps,bsdutils,python3
# Installed in a chroot after debconf is preseeded (Postfix asks).
PACKAGES="postfix openssh-server openssh-client sshpass dovecot-imapd nginx
apache2 cron fail2ban python3-systemd nftables certbot unattended-upgrades
apt-utils sudo openssl curl netcat-openbsd ssl-cert iproute2 libpam-systemd"
DONE_MARK=.logmon-corpus-tree-complete

say() { echo "==> corpus: $*" >&2; }
die() {
    echo "corpus: FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, systemd-nspawn)"
command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null ||
    die "needs debootstrap and systemd-nspawn (apt-get install debootstrap systemd-container)"

work=$(mktemp -d /tmp/logmon-corpus.XXXXXX)
building=0

# unmount_below, cleanup (the trap below) and debian_mirror
# shellcheck source=tests/lib/debian-tree.sh
. "$HERE/../lib/debian-tree.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

build_tree() {
    if [ -e "$TREE/$DONE_MARK" ]; then
        say "using the cached tree $TREE"
        return
    fi
    local url tmp=$TREE.tmp t0=$SECONDS
    url=$(debian_mirror "${LOGMON_CORPUS_MIRROR:-}" LOGMON_CORPUS_MIRROR)
    say "building $TREE (once; a few minutes)"
    building=1
    unmount_below "$tmp"
    rm -rf --one-file-system "$tmp" "$TREE"
    mkdir -p "$CACHE"
    timeout 1200 debootstrap --variant=minbase --include="$BASE" \
        "$SUITE" "$tmp" "$url" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed"
    }
    # Nothing may start inside the chroot while packages are installed.
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod 0755 "$tmp/usr/sbin/policy-rc.d"
    echo srv1 >"$tmp/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tsrv1.example.org srv1\n' >"$tmp/etc/hosts"
    printf '%s\n' \
        'postfix postfix/main_mailer_type select Internet Site' \
        'postfix postfix/mailname string srv1.example.org' |
        timeout 60 chroot "$tmp" debconf-set-selections
    # shellcheck disable=SC2086 # one word per package
    timeout 1200 chroot "$tmp" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends $PACKAGES >"$work/apt.log" 2>&1 || {
        tail -n 30 "$work/apt.log" >&2
        die "installing the daemons in the tree failed"
    }
    timeout 60 chroot "$tmp" apt-get clean
    rm -f "$tmp/usr/sbin/policy-rc.d"
    touch "$tmp/$DONE_MARK"
    mv "$tmp" "$TREE"
    building=0
    say "tree built in $((SECONDS - t0)) s"
}

build_tree

# --- the run --------------------------------------------------------------------

# A fresh copy of the cached tree per run, configured by configure.sh: the
# cache stays pristine and every run starts from the same state.
prepare_root() {
    say "copying and configuring the tree"
    cp -a "$TREE" "$work/root"
    cp "$HERE/configure.sh" "$work/root/tmp/configure.sh"
    timeout 300 chroot "$work/root" /bin/bash /tmp/configure.sh >"$work/configure.log" 2>&1 || {
        tail -n 30 "$work/configure.log" >&2
        die "configure.sh failed"
    }
    rm "$work/root/tmp/configure.sh"
    cat >"$work/root/etc/systemd/system/corpus-scenario.service" <<'UNIT'
[Unit]
Description=Corpus scenario
After=multi-user.target
SuccessAction=exit
FailureAction=exit

[Service]
Type=oneshot
ExecStart=/bin/bash /mnt/corpus/scenario.sh
StandardOutput=file:/mnt/corpus-out/scenario.log
StandardError=inherit
TimeoutStartSec=1200
UNIT
    if [ -n "${LOGMON_CORPUS_DAY:-}" ]; then
        echo "Environment=CORPUS_DAY=$LOGMON_CORPUS_DAY" >>"$work/root/etc/systemd/system/corpus-scenario.service"
    fi
}

boot() {
    say "booting the container (about ten minutes)"
    mkdir -p "$work/out"
    local status=0
    timeout -k 10 1500 systemd-nspawn -q -D "$work/root" --register=no --keep-unit \
        --private-network --console=pipe \
        --bind-ro="$HERE:/mnt/corpus" --bind="$work/out:/mnt/corpus-out" \
        --boot systemd.show_status=error systemd.wants=corpus-scenario.service \
        </dev/null >"$work/nspawn.log" 2>&1 || status=$?
    cat "$work/out/scenario.log" 2>/dev/null >&2 || true
    [ "$status" = 0 ] || { tail -n 30 "$work/nspawn.log" >&2; die "the container exited with status $status"; }
    [ -s "$work/out/corpus.export" ] || die "the scenario exported nothing"
}

prepare_root
boot
xz -9e -T1 -c "$work/out/corpus.export" >"$OUT/corpus.export.xz.tmp"
mv "$OUT/corpus.export.xz.tmp" "$OUT/corpus.export.xz"
if [ -n "${LOGMON_CORPUS_KEEP:-}" ]; then
    mkdir -p "$LOGMON_CORPUS_KEEP"
    cp "$work/out/"* "$LOGMON_CORPUS_KEEP/"
fi
say "wrote $OUT/corpus.export.xz ($(stat -c %s "$OUT/corpus.export.xz") bytes, $(grep -c '^__REALTIME_TIMESTAMP=' "$work/out/corpus.export") entries)"
