#!/bin/sh
# Validates and plans FleetFlow's own configuration files with `fleet`: every *.kdl under DIR
# (e.g. FleetFlow's templates, examples and .fleetflow/ files, fetched by hand — they are not
# vendored here) is copied alone into a fleet directory of its own and checked with
# `fleet validate` and `fleet plan --base none`. Usage: scripts/fleetflow-upstream.sh DIR [FLEET]
set -u
dir=${1:?usage: $0 DIR [FLEET-BINARY]}
fleet=${2:-fleet}
case "$fleet" in */*) fleet=$(realpath "$fleet") ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
find "$dir" -name '*.kdl' | sort | while read -r file; do
    # A directory named as a fleet may be (its name is the project when the file names none).
    n=$((n + 1))
    case_dir="$work/f$n-$(basename "$file" .kdl | tr 'A-Z' 'a-z' | tr -c 'a-z0-9._\n-' '-')"
    mkdir -p "$case_dir/.fleetflow"
    cp "$file" "$case_dir/.fleetflow/fleet.kdl"
    if out=$(cd "$case_dir" && NO_COLOR=1 "$fleet" validate 2>&1) \
        && plan=$(cd "$case_dir" && NO_COLOR=1 "$fleet" plan --base none 2>&1) && plan=$(printf '%s' "$plan" | tail -n 1); then
        printf 'ok   %s: %s | %s\n' "$file" "$(printf '%s' "$out" | grep '^ok:' | sed 's/^ok: [^ ]* — //')" "$plan"
    else
        printf 'FAIL %s\n%s\n%s\n' "$file" "$out" "${plan:-}"
        echo 1 > "$work/failed"
    fi
done
[ -f "$work/failed" ] && exit 1
exit 0
