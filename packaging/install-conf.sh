#!/bin/sh
# packaging/install-conf.sh -- install shipped config files the way dpkg
# treats conffiles, for `make install` (the Debian package leaves this to
# dpkg itself).
#
#   install-conf.sh MANIFEST ETCDIR FILE... [--keep-deleted FILE...]
#
# Each FILE (a path relative to the repository, e.g. logmon.conf or
# logmon.d/10-x.conf) goes to ETCDIR/FILE:
#   - missing there: installed; with --keep-deleted, only if no earlier
#     install put it there (a rule pack the admin deleted stays deleted;
#     the main config is always put back, logmon cannot start without it);
#   - the same as the shipped one: left alone;
#   - unchanged since the last install (its checksum is the one MANIFEST
#     recorded then): updated in place;
#   - changed by the admin: kept, and the shipped one is put beside it as
#     FILE.new, so *.new appears only beside files the admin changed.
# A FILE.new left by an earlier install goes once FILE is the shipped one.
# MANIFEST (sha256sum format) then records the shipped checksums.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 MANIFEST ETCDIR FILE... [--keep-deleted FILE...]" >&2; exit 2; }
manifest=$1
etc=$2
shift 2

sum() { sha256sum <"$1" | cut -d ' ' -f 1; }
# The checksum MANIFEST recorded for FILE at the last install, if any.
last_sum() { [ -f "$manifest" ] && awk -v f="$1" '$2 == f { print $1; exit }' "$manifest" || true; }

new_manifest=$(mktemp)
trap 'rm -f "$new_manifest"' EXIT
keep_deleted=0
for f in "$@"; do
    if [ "$f" = --keep-deleted ]; then
        keep_deleted=1
        continue
    fi
    target=$etc/$f
    shipped=$(sum "$f")
    last=$(last_sum "$f")
    printf '%s  %s\n' "$shipped" "$f" >>"$new_manifest"
    if [ ! -e "$target" ]; then
        if [ "$keep_deleted" = 1 ] && [ -n "$last" ]; then
            echo "==> $target was removed after an earlier install: not put back (the shipped one is $f in the source)"
            continue
        fi
        install -D -m 0644 "$f" "$target"
        echo "installed $target"
        rm -f "$target.new"
        continue
    fi
    current=$(sum "$target")
    if [ "$current" = "$shipped" ]; then
        rm -f "$target.new"
    elif [ -n "$last" ] && [ "$current" = "$last" ]; then
        install -m 0644 "$f" "$target"
        echo "updated $target (you had not changed it)"
        rm -f "$target.new"
    else
        install -m 0644 "$f" "$target.new"
        echo "==> kept your $target; the shipped one is $target.new"
    fi
done
install -D -m 0644 "$new_manifest" "$manifest"
