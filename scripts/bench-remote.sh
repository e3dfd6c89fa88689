#!/usr/bin/env bash
# Load script: `fleet registry deploy` of 1 route vs 10 routes in parallel (10 servers, here all
# the test-world sshd under different names), and 1 route against the same ssh + docker steps in
# a shell script (with one ControlMaster connection too). No-change redeploys, RUNS each (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-10}"
scripts/test-world.sh >/dev/null
set -a; . "${FLEET_TEST_WORLD_DIR:-/var/lib/fleetflow-test-world}/env"; set +a
cargo build --release --quiet
# A deploy user with a plain /bin/sh login shell (root's bash here runs `pyenv init` for every SSH
# channel, ~0.35 s of CPU, which would dominate and is not what a server's deploy user pays).
id fleetbench >/dev/null 2>&1 || useradd --create-home --shell /bin/sh --groups docker fleetbench
usermod -p '*' fleetbench   # key login only; a new account is locked ('!') otherwise
# sshd reads the (shared, public) authorized_keys as the logging-in user.
chmod o+x "$(dirname "$FLEET_TEST_SSH_KEY")"; chmod o+r "$(dirname "$FLEET_TEST_SSH_KEY")/authorized_keys"
FLEET="$PWD/target/release/fleet"
DIR=$(mktemp -d)
chmod 755 "$DIR"
cleanup() {
  docker ps -aq --filter label=io.fleetflow.project=benchremote | xargs -r docker rm -f >/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR/fleets/benchremote/.fleetflow"
{
  echo 'registry "bench"'
  echo 'fleet "benchremote" {'; echo '    path "fleets/benchremote"'; echo '}'
  for i in $(seq 0 9); do
    printf 'server "vps-%s" {\n    ssh-host "127.0.0.1"\n    ssh-port %s\n    ssh-user "fleetbench"\n    ssh-key "%s"\n    ssh-host-key "%s"\n    deploy-path "%s/remote-%s"\n}\n' \
      "$i" "$FLEET_TEST_SSH_PORT" "$FLEET_TEST_SSH_KEY" "$FLEET_TEST_SSH_HOST_KEY" "$DIR" "$i"
  done
  echo 'deployment {'
  for i in $(seq 0 9); do printf '    route fleet="benchremote" stage="s%s" server="vps-%s"\n' "$i" "$i"; done
  echo '}'
} > "$DIR/fleet-registry.kdl"
{
  echo 'project "benchremote"'
  printf 'service "web" {\n    image "fleetflow/busybox:latest"\n    command "sh" "-c" "trap '"'"'exit 0'"'"' TERM; while :; do sleep 1; done"\n}\n'
  for i in $(seq 0 9); do echo "stage \"s$i\""; done
} > "$DIR/fleets/benchremote/.fleetflow/fleet.kdl"
for i in $(seq 0 9); do mkdir -p "$DIR/remote-$i"; chown fleetbench "$DIR/remote-$i"; done
cd "$DIR"
"$FLEET" registry deploy benchremote --yes --no-pull >"$DIR/first-deploy.log" 2>&1 || { cat "$DIR/first-deploy.log"; exit 1; }   # install binary + first deploy

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
SSH=(ssh -i "$FLEET_TEST_SSH_KEY" -p "$FLEET_TEST_SSH_PORT" -o BatchMode=yes -o StrictHostKeyChecking=yes
     -o UserKnownHostsFile="$FLEET_TEST_SSH_KNOWN_HOSTS" -o ControlMaster=auto -o ControlPath="$DIR/cm-%C" -o ControlPersist=no)
shell_route() {
  local dp="$DIR/remote-0" lock="$DIR/remote-0/.fleetflow/locks/benchremote-s0"
  "${SSH[@]}" -o ControlMaster=yes -o ControlPersist=yes -fN fleetbench@127.0.0.1
  # The same two round trips fleet makes: lock + ship + version, then deploy + audit + unlock.
  tar -C fleets/benchremote -cf - .fleetflow | "${SSH[@]}" fleetbench@127.0.0.1 "set -e; mkdir -p '$dp/.fleetflow/locks'; mkdir '$lock'; echo me > '$lock/owner'; d='$dp/benchremote'; mkdir -p \"\$d\"; t=\$(mktemp -d \"\$d/.t.XXXXXX\"); tar -xf - -C \"\$t\"; rm -rf \"\$d/.fleetflow\"; mv \"\$t/.fleetflow\" \"\$d/.fleetflow\"; rm -rf \"\$t\"; '$dp/.fleetflow/bin/fleet' --version" >/dev/null
  "${SSH[@]}" fleetbench@127.0.0.1 "cd '$dp/benchremote' && CI=true '$dp/.fleetflow/bin/fleet' deploy s0 --yes --no-pull; printf '%s\n' 'audit' >> '$dp/.fleetflow/audit.log'; rm -rf '$lock'" >/dev/null 2>&1
  "${SSH[@]}" -O exit fleetbench@127.0.0.1 2>/dev/null || true
}

one=0; ten=0; shell=0
for _ in $(seq "$RUNS"); do
  t=$(date +%s%N); "$FLEET" registry deploy benchremote -s s0 --yes --no-pull >/dev/null; one=$((one + $(ms "$t")))
  t=$(date +%s%N); "$FLEET" registry deploy benchremote --yes --no-pull >/dev/null; ten=$((ten + $(ms "$t")))
  t=$(date +%s%N); shell_route; shell=$((shell + $(ms "$t")))
done
# CPU the whole machine spent (client, sshd, remote fleet, docker) during one run of each.
busy() { # busy CMD... → "wall W ms, CPU C ms (P% of all cores)"
  local u n s i io irq sirq st b1 t1 b2 t2 w1 w2
  read -r _ u n s i io irq sirq st _ < /proc/stat; b1=$((u+n+s+irq+sirq+st)); t1=$((b1+i+io)); w1=$(date +%s%N)
  "$@" >/dev/null 2>&1
  read -r _ u n s i io irq sirq st _ < /proc/stat; b2=$((u+n+s+irq+sirq+st)); t2=$((b2+i+io)); w2=$(date +%s%N)
  echo "wall $(( (w2 - w1) / 1000000 )) ms, CPU $(( (b2 - b1) * 1000 / $(getconf CLK_TCK) )) ms ($(( (b2 - b1) * 100 / (t2 - t1 + 1) ))% of $(nproc) cores)"
}
echo "1 route:   $(busy "$FLEET" registry deploy benchremote -s s0 --yes --no-pull)"
echo "10 routes: $(busy "$FLEET" registry deploy benchremote --yes --no-pull)"
echo "registry deploy, no change, $RUNS runs: 1 route mean $((one / RUNS)) ms; 10 routes (10 servers) mean $((ten / RUNS)) ms; 10/1 = $(awk -v a=$ten -v b=$one 'BEGIN{printf "%.2f", a/b}') (target <= 2)"
echo "same ssh + docker steps for 1 route from a shell script: mean $((shell / RUNS)) ms; fleet / shell = $(awk -v a=$one -v b=$shell 'BEGIN{printf "%.2f", a/b}') (target <= 1.2)"
