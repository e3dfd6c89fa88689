#!/usr/bin/env bash
# The single test command: bring up the test world (scripts/test-world.sh),
# then run every test with cargo-nextest. Extra args go to nextest, e.g.
#   scripts/test.sh --test test_world
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-world.sh

export FLEET_TEST_WORLD_ENV="${FLEET_TEST_WORLD_DIR:-/var/lib/fleetflow-test-world}/env"
exec cargo nextest run --workspace --all-targets --no-fail-fast "$@"
