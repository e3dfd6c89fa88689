#!/usr/bin/env bash
# The single test command: bring up the test world (scripts/test-world.sh), run every fuzz
# target briefly after replaying its saved regressions (scripts/fuzz.sh --ci), then run every
# test with cargo-nextest. Extra args go to nextest and skip the fuzz run, e.g.
#   scripts/test.sh --test test_world
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-world.sh

fuzz_status=0
if [ $# -eq 0 ]; then
    # Without a sanitizer: the build takes half as long, and a stack overflow or any other
    # deadly signal still fails the run (see fuzz/README.md).
    scripts/fuzz.sh --ci --sanitizer none || fuzz_status=$?
fi

export FLEET_TEST_WORLD_ENV="${FLEET_TEST_WORLD_DIR:-/var/lib/fleetflow-test-world}/env"
test_status=0
cargo nextest run --workspace --all-targets --no-fail-fast "$@" || test_status=$?
if [ "$fuzz_status" -ne 0 ]; then
    echo "scripts/test.sh: the fuzz run failed (exit $fuzz_status): see its lines above" >&2
    exit "$fuzz_status"
fi
exit "$test_status"
