# shellcheck shell=bash
# What tests/systest.sh, tests/compat-check.sh and tests/corpus/generate.sh
# share around their cached Debian trees (sourced, not run). The caller
# defines die() and the variables TREE (the tree being built goes to
# $TREE.tmp), work (its scratch directory) and building (1 while it builds
# $TREE.tmp).

# Unmount whatever a failed debootstrap/chroot left mounted below $1.
unmount_below() {
    local dir=$1 mnt
    [ -d "$dir" ] || return 0
    findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r |
        while read -r mnt; do umount -l "$mnt" || true; done
}

# The EXIT trap: a half-built tree and the scratch directory go.
cleanup() {
    local status=$?
    if [ "$building" = 1 ]; then
        unmount_below "$TREE.tmp"
        rm -rf --one-file-system "$TREE.tmp"
    fi
    rm -rf --one-file-system "$work"
    exit "$status"
}

# debian_mirror OVERRIDE VARNAME: OVERRIDE if set, else the Debian mirror
# this machine's apt already uses (never written into the repository): the
# URIs of /etc/apt/sources.list.d/*.sources (deb822) and of `deb` lines in
# /etc/apt/sources.list*, not the security archive, one naming debian
# first. VARNAME is what to set when there is none.
debian_mirror() {
    if [ -n "$1" ]; then
        echo "$1"
        return
    fi
    local urls url
    urls=$({
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            sed -n 's/\[[^]]*\]//; s/^[[:space:]]*deb[[:space:]]\+\([^[:space:]]\+\).*/\1/p'
    } | grep -E '^https?://' | grep -v security) || true
    url=$( (grep -i debian <<<"$urls" || echo "$urls") | head -n1)
    [ -n "$url" ] || die "no Debian mirror found in /etc/apt/sources.list*; set $2"
    echo "$url"
}
