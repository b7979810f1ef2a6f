#!/usr/bin/env bash
# tests/compat-check.sh -- the rows of README's "Supported targets" table,
# checked (`make compat-check`, part of `make test`).
#
#   - The release binaries for x86_64 (`make`), arm64 and armhf (`make
#     cross`) need no shared library but glibc's and libsystemd, and their
#     highest GLIBC_ and LIBSYSTEMD_ symbol versions are the ones README's
#     table gives for their row. Their sizes are printed.
#   - Each runs `--version`, `--check`, and `--once --dry-run --directory`
#     on fixture journals, the arm ones under qemu-user: the expected alert
#     lines (one dated 2040, past armhf's 32-bit time_t), and the warning
#     when libsystemd refuses every file (an unknown incompatible flag).
#   - Debian 11 (glibc 2.31, systemd 247) in a cached tree under
#     systemd-nspawn: the Debian 12 binary cannot start there (its glibc
#     floor); a build inside (this machine's Rust toolchain bind-mounted,
#     the crates vendored from the cargo cache, --offline) passes the same,
#     warns about the COMPACT files of systemd 252 that libsystemd 247
#     cannot read, and follows a private journald namespace.
#
# Needs root, the cross binaries (`make cross ARCH=arm64`, `ARCH=armhf`),
# qemu-user-static, debootstrap, systemd-container, systemd-journal-remote
# (`make compat-check` sees to all of it). The Debian 11 tree is built once
# (debootstrap, under a minute) and cached in $LOGMON_COMPAT_CACHE (default
# /var/cache/logmon-compat); the container runs it with --volatile=overlay,
# so the cache stays pristine. Delete the directory to rebuild it.
#
# Environment:
#   LOGMON_COMPAT_CACHE    where the tree is cached
#   LOGMON_COMPAT_MIRROR   Debian mirror URL (default: the one apt uses here)
#   LOGMON_COMPAT_SYSROOT  the Rust toolchain to build with inside (default:
#                          `rustc --print sysroot`)
#   CARGO_HOME             whose crate cache to vendor from (default ~/.cargo)
set -euo pipefail

cd "$(dirname "$0")/.."

CACHE=${LOGMON_COMPAT_CACHE:-/var/cache/logmon-compat}
SUITE=bullseye
TREE=$CACHE/$SUITE
PACKAGES=gcc,libc6-dev,pkg-config,libsystemd-dev,systemd
DONE_MARK=.logmon-compat-tree-complete
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
# The text of logmon's warning about files libsystemd reads nothing from.
UNREAD="libsystemd reads no entry from this source's journal files"
START=$SECONDS

# name | binary | how to run it
HOST_BIN=target/release/logmon
ARM64_BIN=target/aarch64-unknown-linux-gnu/release/logmon
ARMHF_BIN=target/armv7-unknown-linux-gnueabihf/release/logmon

say() { echo "==> compat: $*" >&2; }
die() {
    echo "compat-check: FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, systemd-nspawn)"
for b in "$HOST_BIN" "$ARM64_BIN" "$ARMHF_BIN"; do
    [ -x "$b" ] || die "no $b: run \`make compat-check\` (it builds them)"
done
for tool in qemu-aarch64-static qemu-arm-static debootstrap systemd-nspawn readelf; do
    command -v "$tool" >/dev/null || die "no $tool: run \`make compat-check\` (it installs it)"
done

work=$(mktemp -d /tmp/logmon-compat.XXXXXX)
building=0 # 1 while this run builds $TREE.tmp (which cleanup then removes)

# unmount_below, cleanup (the trap below) and debian_mirror
# shellcheck source=tests/lib/debian-tree.sh
. tests/lib/debian-tree.sh
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- README's table -----------------------------------------------------------

# row_field ARCH DISTRIBUTION COLUMN: a cell of the table's row for ARCH
# whose "Tested on" cell starts with DISTRIBUTION (columns count from 1).
row_field() {
    awk -F'|' -v arch="$1" -v dist="$2" -v col="$3" '
        function trim(s) { gsub(/^[ \t`]+|[ \t`]+$/, "", s); return s }
        /^\| *Arch *\|/ { table = 1; next }
        table && /^\|/ && trim($2) == arch && index(trim($3), dist) == 1 { print trim($(col + 1)); exit }
        table && !/^\|/ { table = 0 }' README.md
}

# highest BIN PREFIX: the highest PREFIX_x.y symbol version BIN needs.
highest() {
    readelf -V "$1" | grep -o "$2_[0-9.]*" | sed "s/^$2_//" | sort -uV | tail -n1
}

# check_links NAME BIN ARCH DISTRIBUTION: only glibc and libsystemd, and
# the floors README's row states.
check_links() {
    local name=$1 bin=$2 arch=$3 dist=$4 needed glibc sd want_glibc want_sd size want_size
    needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
        grep -v -e '^libc\.so\.6$' -e '^libsystemd\.so\.0$' -e '^ld-linux[-a-z0-9_]*\.so\.[0-9]$' \
            -e '^libpthread\.so\.0$' -e '^libdl\.so\.2$' || true)
    [ -z "$needed" ] || die "$name needs more than glibc and libsystemd: $needed"
    glibc=$(highest "$bin" GLIBC)
    sd=$(highest "$bin" LIBSYSTEMD)
    size=$(stat -c %s "$bin")
    want_glibc=$(row_field "$arch" "$dist" 3)
    want_sd=$(row_field "$arch" "$dist" 4)
    want_size=$(row_field "$arch" "$dist" 5)
    echo "$name: needs GLIBC_$glibc, LIBSYSTEMD_$sd; $size bytes (README: glibc ${want_glibc:-?}, libsystemd ${want_sd:-?}, ${want_size:-?} bytes)"
    [ -n "$want_glibc" ] || die "README's table has no row '$arch | $dist'"
    [ "$glibc" = "$want_glibc" ] || die "$name needs GLIBC_$glibc, README's table says $want_glibc: fix one of them"
    [ "$sd" = "$want_sd" ] || die "$name needs LIBSYSTEMD_$sd, README's table says $want_sd: fix one of them"
}

# --- fixture journals -----------------------------------------------------------

# An export-format entry: TIME_SECS IDENT PID PRIORITY MESSAGE.
export_entry() {
    printf '__REALTIME_TIMESTAMP=%s000000\n__MONOTONIC_TIMESTAMP=1000\n' "$1"
    printf '_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=web1\n'
    printf 'SYSLOG_IDENTIFIER=%s\n' "$2"
    [ -z "$3" ] || printf '_PID=%s\n' "$3"
    printf 'PRIORITY=%s\nMESSAGE=%s\n\n' "$4" "$5"
}

make_fixtures() {
    local fx=$work/fx
    mkdir -p "$fx/readable" "$fx/compact" "$fx/refused"
    {
        export_entry 1700000000 smartd 11 3 "disk failure on sda"
        export_entry 1700000001 cron "" 6 "all quiet"
        export_entry 1700000002 fand "" 6 "fan FAIL at 0 rpm"
        export_entry 1700000003 app 13 7 "debug fail noise, below the priority"
        # Past 2038-01-19, where a 32-bit time_t ends.
        export_entry 2208988800 raid 12 2 "raid failure in 2040"
    } >"$work/fixture.export"
    cat >"$work/expected" <<'EOF'
2023-11-14 22:13:20 web1 smartd[11]: disk failure on sda
2023-11-14 22:13:22 web1 fand: fan FAIL at 0 rpm
2040-01-01 00:00:00 web1 raid[12]: raid failure in 2040
EOF
    # libsystemd 247 reads KEYED-HASH and COMPRESSED-ZSTD, not COMPACT.
    SYSTEMD_JOURNAL_COMPACT=0 /lib/systemd/systemd-journal-remote --split-mode=none \
        --output="$fx/readable/fixture.journal" - <"$work/fixture.export" 2>"$work/remote.log" ||
        die "journal-remote failed: $(cat "$work/remote.log")"
    /lib/systemd/systemd-journal-remote --split-mode=none \
        --output="$fx/compact/fixture.journal" - <"$work/fixture.export" 2>"$work/remote.log" ||
        die "journal-remote failed: $(cat "$work/remote.log")"
    journalctl --header --file "$fx/compact/fixture.journal" | grep -q "COMPACT" ||
        die "the compact fixture has no COMPACT flag"
    # An incompatible flag no systemd defines (bit 31 of the le32 at 12):
    # every libsystemd refuses the file.
    cp "$fx/readable/fixture.journal" "$fx/refused/fixture.journal"
    printf '\x80' | dd of="$fx/refused/fixture.journal" bs=1 seek=15 conv=notrunc status=none
    cat >"$work/logmon.conf" <<EOF
boot = all
state_file =
directory = /work/fx/readable

[mail]
to = root
batch = 1s

[match]
MESSAGE ~ (?i)fail
EOF
    mkdir -p "$work/host"
    sed "s|/work/fx|$fx|" "$work/logmon.conf" >"$work/host/logmon.conf"
    chmod -R go+rX "$work"
}

# --- the checks every binary passes ------------------------------------------------

# The script both the host (for x86_64 and, under qemu, for arm) and the
# Debian 11 container run: RUN is the binary (with qemu before it), FX the
# fixtures, CONF the config, ONLY_247=1 for the checks of libsystemd 247.
write_runs_script() {
    cat >"$work/runs.sh" <<'EOF'
#!/bin/bash
# usage: runs.sh NAME VERSION FX CONF EXPECTED UNREAD ONLY_247 RUN...
set -euo pipefail
name=$1 version=$2 fx=$3 conf=$4 expected=$5 unread=$6 only_247=$7
shift 7
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export TZ=UTC0
fail() { echo "compat-check: FAIL: $name: $*" >&2; exit 1; }
# run TAG ARGS...: stdout in $out/TAG.out, stderr in .err, status in .rc
run() {
    local tag=$1
    shift
    local rc=0
    timeout 60 "$@" >"$out/$tag.out" 2>"$out/$tag.err" </dev/null || rc=$?
    echo "$rc" >"$out/$tag.rc"
}
rc() { cat "$out/$1.rc"; }
show() { echo "--- stdout:"; cat "$out/$1.out"; echo "--- stderr:"; cat "$out/$1.err"; }

run version "$@" --version
[ "$(cat "$out/version.out")" = "logmon $version" ] || { show version; fail "--version"; }

run check "$@" -c "$conf" --check
[ "$(rc check)" = 0 ] && grep -q ": OK$" "$out/check.out" || { show check; fail "--check"; }

run once "$@" -c "$conf" --once --dry-run --since 2000-01-01 --directory "$fx/readable"
[ "$(rc once)" = 0 ] || { show once; fail "--once exit $(rc once)"; }
grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} ' "$out/once.out" >"$out/alerts" || true
diff -u "$expected" "$out/alerts" >&2 || { show once; fail "--once --dry-run: not the expected alert lines"; }

run refused "$@" -c "$conf" --once --dry-run --since 2000-01-01 --directory "$fx/refused"
[ "$(rc refused)" = 1 ] && grep -qF "$unread" "$out/refused.err" ||
    { show refused; fail "no warning for a file libsystemd refuses"; }

if [ "$only_247" = 1 ]; then
    # systemd 252's COMPACT files under libsystemd 247.
    run compact "$@" -c "$conf" --once --dry-run --since 2000-01-01 --directory "$fx/compact"
    [ "$(rc compact)" = 1 ] && grep -qF "$unread" "$out/compact.err" && grep -q "COMPACT needs systemd 252" "$out/compact.err" ||
        { show compact; fail "no warning for COMPACT files under libsystemd 247"; }
    run ccheck "$@" -c "$conf" --check --directory "$fx/compact"
    [ "$(rc ccheck)" = 0 ] && grep -q "^  warning:  $unread" "$out/ccheck.out" ||
        { show ccheck; fail "--check: no warning for COMPACT files under libsystemd 247"; }
    grep -F "$unread" "$out/compact.err" | sed 's/^/    /'
else
    run compact "$@" -c "$conf" --once --dry-run --since 2000-01-01 --directory "$fx/compact"
    grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} ' "$out/compact.out" >"$out/calerts" || true
    diff -u "$expected" "$out/calerts" >&2 || { show compact; fail "COMPACT files: not the expected alert lines"; }
fi
echo "$name: --version, --check, --once --dry-run --directory: ok"
EOF
    chmod 0755 "$work/runs.sh"
}

check_host_and_cross() {
    local conf=$work/host/logmon.conf
    check_links "x86_64 (Debian 12)" "$HOST_BIN" x86_64 "Debian 12"
    "$work/runs.sh" "x86_64 (Debian 12)" "$VERSION" "$work/fx" "$conf" "$work/expected" "$UNREAD" 0 "$HOST_BIN"
    check_links "arm64 (Debian 12)" "$ARM64_BIN" arm64 "Debian 12"
    "$work/runs.sh" "arm64 (Debian 12, qemu-user)" "$VERSION" "$work/fx" "$conf" "$work/expected" "$UNREAD" 0 \
        qemu-aarch64-static "$ARM64_BIN"
    check_links "armhf (Debian 12)" "$ARMHF_BIN" armhf "Debian 12"
    "$work/runs.sh" "armhf (Debian 12, qemu-user)" "$VERSION" "$work/fx" "$conf" "$work/expected" "$UNREAD" 0 \
        qemu-arm-static "$ARMHF_BIN"
}

# --- the cached Debian 11 tree -------------------------------------------------------

# One builder at a time, holding the lock exclusively; a container holds
# it shared (its overlay's lower layer must not change under it).
tree_locked() {
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    timeout 900 flock 9 || die "waited too long for the lock $CACHE/.lock"
    build_tree
    timeout 900 flock -s 9 || die "waited too long for the shared lock $CACHE/.lock"
}

build_tree() {
    if [ -e "$TREE/$DONE_MARK" ]; then
        say "using the cached Debian 11 tree $TREE"
        return
    fi
    local url tmp=$TREE.tmp t0=$SECONDS
    url=$(debian_mirror "${LOGMON_COMPAT_MIRROR:-}" LOGMON_COMPAT_MIRROR)
    say "building the Debian 11 tree $TREE from $url (once; under a minute)"
    building=1
    unmount_below "$tmp"
    rm -rf --one-file-system "$tmp" "$TREE"
    timeout 600 debootstrap --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$tmp" "$url" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap $SUITE failed"
    }
    timeout 60 chroot "$tmp" apt-get clean
    touch "$tmp/$DONE_MARK"
    mv "$tmp" "$TREE"
    building=0
    say "tree built in $((SECONDS - t0)) s"
}

# The crates of Cargo.lock, for a build that has no network.
vendor_crates() {
    local cargo=$SYSROOT/bin/cargo
    [ -x "$cargo" ] || die "no cargo in $SYSROOT (set LOGMON_COMPAT_SYSROOT)"
    CARGO_HOME=${CARGO_HOME:-$HOME/.cargo} timeout 120 "$cargo" vendor --locked --offline \
        "$work/vendor" >/dev/null 2>"$work/vendor.log" || {
        cat "$work/vendor.log" >&2
        die "cargo vendor --offline failed: build once with network first (\`make\`)"
    }
    mkdir -p "$work/src"
    tar --exclude=./target --exclude=./.git -cf - . | tar -xf - -C "$work/src"
    cp "$HOST_BIN" "$work/logmon-debian12"
}

write_inside_script() {
    cat >"$work/inside.sh" <<'EOF'
#!/bin/bash
# Runs in the Debian 11 container.
set -euo pipefail
export TZ=UTC0 PATH=/opt/rust/bin:/usr/sbin:/usr/bin:/sbin:/bin
fail() { echo "compat-check: FAIL: Debian 11: $*" >&2; exit 1; }
grep -q '^11\.' /etc/debian_version || fail "not Debian 11: $(cat /etc/debian_version)"
echo "Debian $(cat /etc/debian_version), $(ldd --version | head -n1), systemd $(dpkg-query -W -f='${Version}' libsystemd0)"

# The Debian 12 binary does not start here: its glibc is newer.
if err=$(/work/logmon-debian12 --version 2>&1); then
    fail "the Debian 12 binary ran: $err"
fi
grep -q "GLIBC_2.3[0-9]' not found" <<<"$err" || fail "the Debian 12 binary failed otherwise: $err"
echo "Debian 12 binary: $(head -n1 <<<"$err" | sed 's/^[^:]*: //')"

# The build README's "Old distributions" shows, with the same paths.
cd /src
t0=$(date +%s)
timeout 300 cargo build --release --locked --offline -q --target-dir /root/target \
    --config 'source.crates-io.replace-with="vendor"' --config 'source.vendor.directory="/vendor"' \
    2>/work/build.log || { cat /work/build.log; fail "cargo build"; }
echo "built in $(( $(date +%s) - t0 )) s with $(rustc --version)"
BIN=/root/target/release/logmon
cp "$BIN" /work/logmon-debian11
/work/runs.sh "x86_64 (Debian 11)" "$VERSION" /work/fx /work/logmon.conf /work/expected "$UNREAD" 1 "$BIN"

# Follow a private journald namespace (systemd 247 has them).
ns=logmoncompat
/lib/systemd/systemd-journald "$ns" >/work/journald.log 2>&1 &
jpid=$!
trap 'kill "$jpid" "${lpid:-}" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "/run/systemd/journal.$ns/dev-log" ] && break; sleep 0.1; done
[ -S "/run/systemd/journal.$ns/dev-log" ] || { cat /work/journald.log; fail "no namespace journald"; }
since=$(date '+%Y-%m-%d %H:%M:%S')
"$BIN" -c /work/logmon.conf --dry-run --namespace "$ns" --since "$since" >/work/follow.out 2>/work/follow.err &
lpid=$!
tag="namespace disk failure $(cat /proc/sys/kernel/random/uuid)"
logger -u "/run/systemd/journal.$ns/dev-log" -t compatns -p user.err "$tag"
for _ in $(seq 300); do grep -qF "$tag" /work/follow.out && break; sleep 0.1; done
grep -qF "$tag" /work/follow.out || { cat /work/follow.out /work/follow.err; fail "following namespace $ns: no alert within 30 s"; }
grep -F "$tag" /work/follow.out | sed 's/^/    /'
kill -TERM "$lpid"
wait "$lpid" || { cat /work/follow.err; fail "logmon exited $? after SIGTERM"; }
echo "x86_64 (Debian 11): followed journald namespace $ns"
EOF
    chmod 0755 "$work/inside.sh"
}

check_debian11() {
    tree_locked
    vendor_crates
    write_inside_script
    say "Debian 11: building and running inside the tree"
    timeout 400 systemd-nspawn -q -D "$TREE" --register=no --keep-unit --private-network \
        --volatile=overlay --as-pid2 \
        --bind-ro="$SYSROOT:/opt/rust" --bind-ro="$work/vendor:/vendor" \
        --bind-ro="$work/src:/src" --bind="$work:/work" \
        -E VERSION="$VERSION" -E UNREAD="$UNREAD" \
        /work/inside.sh 2> >(grep -v 'Attempted to remove disk file system' >&2) ||
        die "the Debian 11 checks failed (above)"
    check_links "x86_64 (Debian 11)" "$work/logmon-debian11" x86_64 "Debian 11"
}

# --- main ---------------------------------------------------------------------------

SYSROOT=${LOGMON_COMPAT_SYSROOT:-$(rustc --print sysroot 2>/dev/null || true)}
[ -n "$SYSROOT" ] || die "no Rust toolchain: set LOGMON_COMPAT_SYSROOT"
make_fixtures
write_runs_script
check_host_and_cross
check_debian11
say "all rows checked in $((SECONDS - START)) s"
