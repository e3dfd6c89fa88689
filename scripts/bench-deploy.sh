#!/usr/bin/env bash
# Load script: a no-change redeploy of a 5-service stage with `fleet deploy`, against the same
# docker commands run by a plain shell script (the engine work fleet cannot avoid).
# Needs the test world (scripts/test-world.sh). Bounded: RUNS iterations (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-20}"
scripts/test-world.sh >/dev/null
cargo build --release --quiet
FLEET="$PWD/target/release/fleet"
DIR=$(mktemp -d)
trap '"$FLEET" --color never down bench --remove --file "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
mkdir -p "$DIR/.fleetflow"
{
  echo 'project "benchdeploy"'
  for s in one two three four five; do
    printf 'service "%s" {\n    image "fleetflow/busybox:latest"\n    command "sh" "-c" "trap '"'"'exit 0'"'"' TERM; while :; do sleep 1; done"\n}\n' "$s"
  done
  echo 'stage "bench"'
} > "$DIR/.fleetflow/fleet.kdl"
"$FLEET" deploy bench --yes --no-pull --file "$DIR" >/dev/null 2>&1

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# The docker commands a no-change deploy needs, as a shell script would run them.
shell_equivalent() {
  docker image inspect fleetflow/busybox:latest >/dev/null   # one distinct image
  ids=$(docker ps --all --quiet --no-trunc --filter label=io.fleetflow.project=benchdeploy --filter label=io.fleetflow.stage=bench)
  # shellcheck disable=SC2086
  docker container inspect $ids >/dev/null
}

total_fleet=0; total_shell=0; worst_fleet=0
for _ in $(seq "$RUNS"); do
  t=$(date +%s%N); "$FLEET" deploy bench --yes --no-pull --file "$DIR" >/dev/null 2>&1; d=$(ms "$t")
  total_fleet=$((total_fleet + d)); [ "$d" -gt "$worst_fleet" ] && worst_fleet=$d
  t=$(date +%s%N); shell_equivalent; d=$(ms "$t"); total_shell=$((total_shell + d))
done
mean_fleet=$((total_fleet / RUNS)); mean_shell=$((total_shell / RUNS))
ratio=$(awk -v a="$total_fleet" -v b="$total_shell" 'BEGIN { printf "%.2f", a / b }')
echo "no-change redeploy, 5 services, $RUNS runs: fleet mean ${mean_fleet} ms (worst ${worst_fleet} ms; target < 1000 ms)"
echo "same docker commands from a shell script: mean ${mean_shell} ms; fleet / shell = ${ratio} (target <= 1.2)"
