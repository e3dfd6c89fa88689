#!/usr/bin/env bash
# The single test command: bring up the test world (scripts/test-world.sh), run every fuzz
# target briefly after replaying its saved regressions (scripts/fuzz.sh --ci), then run every
# test with cargo-nextest. Extra args go to nextest and skip the fuzz run, e.g.
#   scripts/test.sh --test test_world
set -euo pipefail
cd "$(dirname "$0")/.."

# ---------------------------------------------------------------- prerequisites
# What this script does not install (README "Set up on a fresh machine"), checked before
# anything starts; cargo-nextest is installed when missing.
NEXTEST_VERSION=0.9.143
MIN_RUST=1.88
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }
command -v cargo >/dev/null 2>&1 \
    || die "no cargo on PATH: install Rust $MIN_RUST or later with rustup (https://rustup.rs) and add ~/.cargo/bin to PATH"
rust="$(rustc --version | awk '{print $2}')"
if [ "$(printf '%s\n%s\n' "$MIN_RUST" "${rust%%-*}" | sort -V | head -n1)" != "$MIN_RUST" ]; then
    die "rustc $rust is older than $MIN_RUST (edition 2024 and let-chains; Debian's cargo is too old): rustup update stable"
fi
command -v cc >/dev/null 2>&1 || die "no C compiler (cc): apt-get install build-essential"
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "scripts/test.sh: installing cargo-nextest $NEXTEST_VERSION (cargo install --locked)" >&2
    cargo install --locked "cargo-nextest@$NEXTEST_VERSION"
fi

# The test build (~5 GB in target/), the fuzz build (~2.5 GB) and the test world's images need
# room; a linker that meets a full disk dies of SIGBUS with no word about space, so say it first.
free_kb="$(df -Pk . | awk 'NR==2 {print $4}')"
if [ "${free_kb:-0}" -lt $((10 * 1024 * 1024)) ]; then
    echo "scripts/test.sh: warning: only $((free_kb / 1024)) MB free here; a whole run needs about 10 GB (cargo clean frees old builds)" >&2
fi

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
