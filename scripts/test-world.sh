#!/usr/bin/env bash
# Bring up the "test world": the real services fleetflow's tests use.
#
#   - a Docker engine (dockerd), started in the background if `docker info` fails
#   - an OCI registry (Debian's docker-registry) on 127.0.0.1:5000 only, htpasswd auth
#   - an sshd on 127.0.0.1:2222 only, key auth, its own host and user keys
#   - a FROM-scratch image fleetflow/busybox:latest built from Debian's static
#     busybox, also pushed to 127.0.0.1:5000/fleetflow/busybox:latest
#   - PostgreSQL (Debian's) on 127.0.0.1:55432 only, its own cluster in the state
#     dir run by the unprivileged postgres user, database and role `fleetflow`
#
# Run as root on Debian bookworm. Idempotent: whatever already runs is checked
# and kept, so a second run is fast. Everything lives in the state dir
# (FLEET_TEST_WORLD_DIR, default /var/lib/fleetflow-test-world); at the end
# $STATE/env holds KEY=VALUE lines for the tests (see tests/support/mod.rs).
set -euo pipefail

STATE="${FLEET_TEST_WORLD_DIR:-/var/lib/fleetflow-test-world}"
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_USER=fleet
SSH_HOST=127.0.0.1
SSH_PORT=2222
BASE_IMAGE=fleetflow/busybox:latest
DOCKERD_WAIT=60   # seconds to wait for one dockerd attempt
SERVICE_WAIT=30   # seconds to wait for the registry and sshd

say() { printf 'test-world: %s\n' "$*"; }
die() { printf 'test-world: ERROR: %s\n' "$*" >&2; exit 1; }

# Print the last lines of a log file to stderr (for failure messages).
log_tail() {
    if [[ -f "$1" ]]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n "${2:-40}" "$1" >&2
        printf -- '--- end of %s ---\n' "$1" >&2
    fi
}

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts dockerd/sshd)"

export DEBIAN_FRONTEND=noninteractive
# dockerd and sshd live in sbin, which a non-login root shell may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# ---------------------------------------------------------------- packages
need_pkgs=()
need_cmd() { # need_cmd COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2")
}
need_cmd dockerd docker.io
need_cmd docker docker.io
need_cmd docker-registry docker-registry
need_cmd htpasswd apache2-utils
need_cmd sqlite3 sqlite3
need_cmd ssh openssh-client
need_cmd ssh-keygen openssh-client
need_cmd ssh-keyscan openssh-client
need_cmd curl curl
need_cmd flock util-linux
need_cmd openssl openssl   # the App tests make an RSA key at test time
# scripts/action-image.sh (tests/action_image.rs) assembles the Action's base from host files.
need_cmd git git
need_cmd readelf binutils
need_cmd strip binutils
[[ -s /etc/ssl/certs/ca-certificates.crt ]] || need_pkgs+=(ca-certificates)
# PostgreSQL: the App's several-replica backend (issue 16); Debian's server, our own cluster.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
[[ -x /usr/sbin/sshd ]] || need_pkgs+=(openssh-server)
# examples/replicas (tests/serve_replicas.rs): two replicas behind haproxy, started with compose.
need_cmd docker-compose docker-compose
[[ -x /usr/sbin/haproxy ]] || need_pkgs+=(haproxy)
# tests/app_create.rs: a headless browser follows GitHub's App-manifest flow.
need_cmd chromium chromium
# tests/deploy_pages.rs: the same browser driven over WebDriver (the deploy and overview pages).
need_cmd chromedriver chromium-driver
# The image is FROM scratch, so /bin/busybox must be the static build.
if [[ ! -x /bin/busybox ]] || [[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)" != "install ok installed" ]]; then
    need_pkgs+=(busybox-static)
fi

if ((${#need_pkgs[@]})); then
    # de-duplicate
    mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
    say "installing ${need_pkgs[*]}"
    # Keep package scripts from starting daemons on their default (public)
    # ports: we start our own, bound to loopback only.
    policy_added=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt_log="$(mktemp /tmp/test-world-apt.XXXXXX.log)"
    # Lock::Timeout: wait for another apt/dpkg run instead of failing at once.
    apt_opts=(-q -o DPkg::Lock::Timeout=600)
    if ! { apt-get "${apt_opts[@]}" update \
            && NEEDRESTART_SUSPEND=1 apt-get "${apt_opts[@]}" install -y --no-install-recommends "${need_pkgs[@]}"; \
         } >"$apt_log" 2>&1; then
        [[ -n "$policy_added" ]] && rm -f /usr/sbin/policy-rc.d
        log_tail "$apt_log" 40
        die "apt-get install ${need_pkgs[*]} failed (full log: $apt_log)"
    fi
    [[ -n "$policy_added" ]] && rm -f /usr/sbin/policy-rc.d
    rm -f "$apt_log"
    say "packages installed"
else
    say "packages present"
fi

# ---------------------------------------------------------------- state dir
mkdir -p "$STATE"
chmod 755 "$STATE"
# One run at a time (two concurrent runs would race to start the same daemons).
exec 9>"$STATE/.lock"
flock -w 300 9 || die "another test-world.sh holds $STATE/.lock"

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" >/dev/null 2>&1
}

# Kill the process whose pid is in file $1 if it is still the command $2.
kill_pidfile() {
    local pidfile="$1" name="$2" pid
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -qa -- "$name" "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# ---------------------------------------------------------------- dockerd
docker_up() { timeout 10 docker info >/dev/null 2>&1; }

# Start dockerd with the given extra flags; succeed once `docker info`
# answers, fail (and kill that dockerd) if it exits or is not up in time.
try_dockerd() {
    local log="$STATE/dockerd.log" pid
    {
        printf '\n===== %s: dockerd %s =====\n' "$(date -u +%FT%TZ)" "$*"
    } >>"$log"
    # 9>&-: the daemon must not inherit (and so hold) our lock.
    setsid nohup dockerd "$@" >>"$log" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$STATE/dockerd.pid"
    for _ in $(seq 1 "$DOCKERD_WAIT"); do
        if docker_up; then
            printf '%s\n' "$*" >"$STATE/dockerd.flags"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1   # it died: no point waiting
        sleep 1
    done
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    return 1
}

# True if pid $1 is a live (not zombie) process whose command line has $2.
live_proc() {
    [[ -n "$1" && -r "/proc/$1/stat" ]] || return 1
    [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]] || return 1
    grep -qa -- "$2" "/proc/$1/cmdline" 2>/dev/null
}

# The flag sets to try, in order: default first, then the usual fallbacks
# for sandboxes without overlayfs on this filesystem and/or without a usable
# iptables. A set that worked before is tried first, so that the storage
# driver (and with it the images) stays the same from run to run.
DOCKERD_FLAG_SETS=(
    ""
    "--storage-driver=vfs"
    "--storage-driver=vfs --iptables=false --ip-masq=false --bridge=none"
)

start_dockerd() {
    local running ours stale f p pidfile prev s up="" sets=()
    # A dockerd that runs but does not answer yet: give it time first.
    # (zombies of a killed one, not yet reaped, do not count)
    running=""
    for p in $(pgrep -x dockerd || true); do
        if live_proc "$p" dockerd; then running="${running:+$running }$p"; fi
    done
    if [[ -n "$running" ]]; then
        for _ in $(seq 1 "$DOCKERD_WAIT"); do
            if docker_up; then say "dockerd up (it was starting)"; return 0; fi
            sleep 1
        done
        ours="$(cat "$STATE/dockerd.pid" 2>/dev/null || true)"
        [[ -n "$ours" && " $running " == *" $ours "* ]] \
            || die "a dockerd (pid $running) runs but does not answer 'docker info'"
        kill "$ours" 2>/dev/null || true
        for _ in $(seq 1 100); do live_proc "$ours" dockerd || break; sleep 0.1; done
        kill -9 "$ours" 2>/dev/null || true
    fi
    # A killed dockerd leaves its containerd behind (orphaned, or a zombie
    # until reaped) and pid files naming them; dockerd then waits for that
    # containerd's socket and fails after 15 s.
    stale="$(pgrep -f '^containerd --config /var/run/docker/containerd/containerd.toml' || true)"
    if [[ -n "$stale" ]]; then
        # shellcheck disable=SC2086
        kill $stale 2>/dev/null || true
        for _ in $(seq 1 50); do pgrep -f '^containerd --config /var/run/docker/containerd/containerd.toml' >/dev/null || break; sleep 0.1; done
    fi
    for pidfile in /var/run/docker/containerd/containerd.pid:containerd /var/run/docker.pid:dockerd; do
        f="${pidfile%%:*}"
        if [[ -f "$f" ]] && ! live_proc "$(cat "$f" 2>/dev/null || true)" "${pidfile##*:}"; then
            rm -f "$f"
        fi
    done

    prev="$(cat "$STATE/dockerd.flags" 2>/dev/null || true)"
    for s in "${DOCKERD_FLAG_SETS[@]}"; do
        if [[ -f "$STATE/dockerd.flags" && "$s" == "$prev" ]]; then sets=("$s" "${sets[@]}"); else sets+=("$s"); fi
    done
    for s in "${sets[@]}"; do
        # shellcheck disable=SC2086
        if try_dockerd $s; then
            say "dockerd up (${s:-default flags})"
            up=1
            break
        fi
    done
    if [[ -z "$up" ]]; then
        log_tail "$STATE/dockerd.log" 60
        die "dockerd did not come up with any flag set (log: $STATE/dockerd.log)"
    fi
}

if docker_up; then
    say "dockerd already up"
else
    start_dockerd
fi

# Leftovers of earlier test runs (each test project makes a network `{project}-fleet`) would
# exhaust Docker's default address pools (~30 bridge networks). Remove the fleetflow
# containers and networks of earlier runs; nothing else is touched.
stale_containers=$(docker ps -aq --filter label=io.fleetflow.project || true)
if [[ -n "$stale_containers" ]]; then
    # shellcheck disable=SC2086
    docker rm -f $stale_containers >/dev/null 2>&1 || true
fi
stale_networks=$(docker network ls -q --filter label=io.fleetflow.project || true)
if [[ -n "$stale_networks" ]]; then
    # shellcheck disable=SC2086
    docker network rm $stale_networks >/dev/null 2>&1 || true
fi
say "no fleetflow containers or networks left from earlier runs"

# ---------------------------------------------------------------- registry
REG_DIR="$STATE/registry"
mkdir -p "$REG_DIR/data"
chmod 700 "$REG_DIR"
if [[ ! -s "$REG_DIR/password" ]]; then
    (umask 077; od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$REG_DIR/password")
fi
REGISTRY_PASSWORD="$(cat "$REG_DIR/password")"
# bcrypt htpasswd; (re)written only when it does not match the password.
if [[ ! -s "$REG_DIR/htpasswd" ]] || ! htpasswd -vi "$REG_DIR/htpasswd" "$REGISTRY_USER" <<<"$REGISTRY_PASSWORD" >/dev/null 2>&1; then
    htpasswd -ciB "$REG_DIR/htpasswd" "$REGISTRY_USER" <<<"$REGISTRY_PASSWORD" >/dev/null 2>&1 \
        || die "htpasswd failed"
fi
if [[ ! -s "$REG_DIR/config.yml" ]]; then
    http_secret="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    cat >"$REG_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: fleetflow-test-registry
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  secret: $http_secret
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: fleetflow-test-registry
    path: $REG_DIR/htpasswd
EOF
fi

registry_code() { # registry_code [with-auth]: HTTP status of GET /v2/
    if [[ "${1:-}" == auth ]]; then
        curl -s -o /dev/null -w '%{http_code}' --max-time 5 -K - "http://$REGISTRY_ADDR/v2/" \
            <<<"user = \"$REGISTRY_USER:$REGISTRY_PASSWORD\"" || true
    else
        curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$REGISTRY_ADDR/v2/" || true
    fi
}

registry_ok() { [[ "$(registry_code)" == 401 && "$(registry_code auth)" == 200 ]]; }

if registry_ok; then
    say "registry already up on $REGISTRY_ADDR"
else
    if port_open 5000; then
        # Something answers but not with our credentials: ours from an older
        # config? Restart it; anything else is in the way.
        kill_pidfile "$REG_DIR/registry.pid" docker-registry
        port_open 5000 && die "127.0.0.1:5000 is taken by something that is not this test world's registry"
    fi
    setsid nohup docker-registry serve "$REG_DIR/config.yml" >>"$REG_DIR/registry.log" 2>&1 </dev/null 9>&- &
    echo $! >"$REG_DIR/registry.pid"
    up=""
    for _ in $(seq 1 $((SERVICE_WAIT * 5))); do
        if registry_ok; then up=1; break; fi
        kill -0 "$(cat "$REG_DIR/registry.pid")" 2>/dev/null || break
        sleep 0.2
    done
    if [[ -z "$up" ]]; then
        log_tail "$REG_DIR/registry.log" 40
        die "registry did not come up on $REGISTRY_ADDR (want 401 without auth, 200 with; got $(registry_code)/$(registry_code auth))"
    fi
    say "registry up on $REGISTRY_ADDR"
fi

# A docker client config logged in to the registry, away from ~/.docker.
DOCKER_CFG="$STATE/docker-config"
mkdir -p "$DOCKER_CFG"
chmod 700 "$DOCKER_CFG"
want_auth="$(printf '%s:%s' "$REGISTRY_USER" "$REGISTRY_PASSWORD" | base64 -w0)"
if [[ -f "$DOCKER_CFG/config.json" ]] && grep -q -- "$want_auth" "$DOCKER_CFG/config.json"; then
    say "docker config already logged in to $REGISTRY_ADDR"
else
    if ! out="$(DOCKER_CONFIG="$DOCKER_CFG" docker login "$REGISTRY_ADDR" -u "$REGISTRY_USER" --password-stdin \
            <<<"$REGISTRY_PASSWORD" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "docker login $REGISTRY_ADDR failed"
    fi
    grep -q -- "$want_auth" "$DOCKER_CFG/config.json" \
        || die "docker login did not store credentials in $DOCKER_CFG/config.json (a credential helper configured?)"
    say "docker config logged in to $REGISTRY_ADDR"
fi

# The tests' "remote server" is this machine, reached over SSH as root. Like a real deploy
# server, it is logged in to the registry its fleets pull from: root's default docker config.
REMOTE_DOCKER_CFG="${FLEET_TEST_REMOTE_DOCKER_CONFIG:-/root/.docker}"
mkdir -p "$REMOTE_DOCKER_CFG"
chmod 700 "$REMOTE_DOCKER_CFG"
if grep -q -- "$want_auth" "$REMOTE_DOCKER_CFG/config.json" 2>/dev/null; then
    say "the remote side's docker config is logged in to $REGISTRY_ADDR"
else
    if ! out="$(DOCKER_CONFIG="$REMOTE_DOCKER_CFG" docker login "$REGISTRY_ADDR" -u "$REGISTRY_USER" \
            --password-stdin <<<"$REGISTRY_PASSWORD" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "docker login $REGISTRY_ADDR for the remote side failed"
    fi
    say "the remote side's docker config logged in to $REGISTRY_ADDR"
fi

# ---------------------------------------------------------------- sshd
SSH_DIR="$STATE/ssh"
mkdir -p "$SSH_DIR"
chmod 700 "$SSH_DIR"
[[ -s "$SSH_DIR/ssh_host_ed25519_key" ]] \
    || ssh-keygen -q -t ed25519 -N '' -C fleetflow-test-world-host -f "$SSH_DIR/ssh_host_ed25519_key"
[[ -s "$SSH_DIR/id_ed25519" ]] \
    || ssh-keygen -q -t ed25519 -N '' -C fleetflow-test-world-user -f "$SSH_DIR/id_ed25519"
cp "$SSH_DIR/id_ed25519.pub" "$SSH_DIR/authorized_keys"
chmod 600 "$SSH_DIR/authorized_keys"
SSH_HOST_KEY="$(awk '{print $1" "$2}' "$SSH_DIR/ssh_host_ed25519_key.pub")"
printf '[%s]:%s %s\n' "$SSH_HOST" "$SSH_PORT" "$SSH_HOST_KEY" >"$SSH_DIR/known_hosts"
cat >"$SSH_DIR/sshd_config" <<EOF
# fleetflow test world: loopback-only sshd, key auth only.
Port $SSH_PORT
ListenAddress $SSH_HOST
HostKey $SSH_DIR/ssh_host_ed25519_key
PidFile $SSH_DIR/sshd.pid
AuthorizedKeysFile $SSH_DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
# No PAM: pam_loginuid and friends fail in sandboxes without an audit/loginuid.
UsePAM no
# The state dir may be under a world-writable dir (FLEET_TEST_WORLD_DIR=/tmp/...).
StrictModes no
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
EOF
# sshd (also its -t config check) needs its privilege separation dir.
mkdir -p /run/sshd
chmod 755 /run/sshd
/usr/sbin/sshd -t -f "$SSH_DIR/sshd_config" || die "sshd config $SSH_DIR/sshd_config is invalid"

# True if 127.0.0.1:2222 presents our host key.
sshd_ours() {
    local got
    got="$(ssh-keyscan -T 5 -t ed25519 -p "$SSH_PORT" "$SSH_HOST" 2>/dev/null | awk '{print $2" "$3}' | head -n1)"
    [[ "$got" == "$SSH_HOST_KEY" ]]
}

if port_open "$SSH_PORT" && sshd_ours; then
    say "sshd already up on $SSH_HOST:$SSH_PORT"
else
    if port_open "$SSH_PORT"; then
        kill_pidfile "$SSH_DIR/sshd.pid" sshd
        port_open "$SSH_PORT" && die "$SSH_HOST:$SSH_PORT is taken by something that is not this test world's sshd"
    fi
    # sshd daemonizes itself; -E sends its log to a file.
    /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$SSH_DIR/sshd.log" 9>&- \
        || { log_tail "$SSH_DIR/sshd.log" 20; die "sshd failed to start"; }
    up=""
    for _ in $(seq 1 $((SERVICE_WAIT * 5))); do
        if port_open "$SSH_PORT" && sshd_ours; then up=1; break; fi
        sleep 0.2
    done
    if [[ -z "$up" ]]; then
        log_tail "$SSH_DIR/sshd.log" 40
        die "sshd did not come up on $SSH_HOST:$SSH_PORT"
    fi
    say "sshd up on $SSH_HOST:$SSH_PORT"
fi

# ---------------------------------------------------------------- base image
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "image $BASE_IMAGE present"
else
    ctx="$STATE/busybox-image"
    rm -rf "$ctx"
    mkdir -p "$ctx"
    cp /bin/busybox "$ctx/busybox"
    cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]
EOF
    if ! out="$(DOCKER_CONFIG="$DOCKER_CFG" docker build --network none -t "$BASE_IMAGE" "$ctx" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "docker build of $BASE_IMAGE failed"
    fi
    docker run --rm --network none "$BASE_IMAGE" sh -c '[ -x /bin/wget ] && [ -x /bin/httpd ] && wget --help >/dev/null 2>&1' \
        || die "$BASE_IMAGE built but sh/wget/httpd do not work in it"
    say "image $BASE_IMAGE built"
fi

# The same image in the registry: its manifest digest must be one of the
# local image's RepoDigests (else the registry holds some other build).
REG_IMAGE="$REGISTRY_ADDR/$BASE_IMAGE"
registry_digest() {
    curl -s -I --max-time 5 -K - \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REGISTRY_ADDR/v2/${BASE_IMAGE%%:*}/manifests/${BASE_IMAGE##*:}" \
        <<<"user = \"$REGISTRY_USER:$REGISTRY_PASSWORD\"" 2>/dev/null \
        | awk 'tolower($0) ~ /^docker-content-digest:/ { sub(/^[^:]*: */, ""); sub(/\r$/, ""); print }' || true
}
registry_in_sync() {
    local digest repo_digests
    digest="$(registry_digest)"
    [[ -n "$digest" ]] || return 1
    repo_digests="$(docker image inspect -f '{{range .RepoDigests}}{{.}} {{end}}' "$BASE_IMAGE" 2>/dev/null || true)"
    [[ " $repo_digests " == *" $REGISTRY_ADDR/${BASE_IMAGE%%:*}@$digest "* ]]
}
if registry_in_sync; then
    say "image $REG_IMAGE present in registry"
else
    docker tag "$BASE_IMAGE" "$REG_IMAGE"
    if ! out="$(DOCKER_CONFIG="$DOCKER_CFG" docker push "$REG_IMAGE" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "docker push $REG_IMAGE failed"
    fi
    registry_in_sync || die "pushed $REG_IMAGE but the registry's manifest digest does not match the local image"
    say "image $REG_IMAGE pushed"
fi

# ---------------------------------------------------------------- PostgreSQL
# A cluster of our own in $STATE/postgres, owned by the unprivileged `postgres` user (initdb
# refuses root), on 127.0.0.1 only, with a generated password.
PG_PORT=55432
PG_DIR="$STATE/postgres"
PG_BIN="$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n1)"
[[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL's initdb is missing under /usr/lib/postgresql"
id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PG_DIR" --shell /usr/sbin/nologin postgres
PG_PASSWORD_FILE="$STATE/postgres.password"
[[ -s "$PG_PASSWORD_FILE" ]] || { openssl rand -hex 16 >"$PG_PASSWORD_FILE"; chmod 600 "$PG_PASSWORD_FILE"; }
PG_PASSWORD="$(cat "$PG_PASSWORD_FILE")"
pg() { runuser -u postgres -- "$@"; }
if [[ ! -s "$PG_DIR/data/PG_VERSION" ]]; then
    mkdir -p "$PG_DIR"
    chown postgres: "$PG_DIR"
    chmod 700 "$PG_DIR"
    pwfile="$PG_DIR/.pw"
    printf '%s\n' "$PG_PASSWORD" >"$pwfile"
    chown postgres: "$pwfile"
    pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U fleetflow --pwfile="$pwfile" --auth=scram-sha-256 \
        >"$PG_DIR/initdb.log" 2>&1 || { log_tail "$PG_DIR/initdb.log" 20; die "initdb failed"; }
    rm -f "$pwfile"
fi
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }
if pg_ready; then
    say "PostgreSQL already up on 127.0.0.1:$PG_PORT"
else
    port_open "$PG_PORT" && die "127.0.0.1:$PG_PORT is taken by something that is not this test world's PostgreSQL"
    pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t "$SERVICE_WAIT" \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200" start >/dev/null 9>&- \
        || { log_tail "$PG_DIR/server.log" 30; die "PostgreSQL did not start"; }
    say "PostgreSQL up on 127.0.0.1:$PG_PORT"
fi
export PGPASSWORD="$PG_PASSWORD"
if ! psql -h 127.0.0.1 -p "$PG_PORT" -U fleetflow -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'fleetflow'" | grep -q 1; then
    psql -q -h 127.0.0.1 -p "$PG_PORT" -U fleetflow -d postgres -c "CREATE DATABASE fleetflow" \
        || die "cannot create the fleetflow database"
fi
unset PGPASSWORD

# ---------------------------------------------------------------- env file
# Shell-sourceable KEY=VALUE lines; values with anything beyond [A-Za-z0-9._/:@,+=-]
# are single-quoted (the host key line has a space).
emit() {
    if [[ "$2" =~ ^[A-Za-z0-9._/:@,+=-]*$ ]]; then
        printf '%s=%s\n' "$1" "$2"
    else
        [[ "$2" != *"'"* ]] || die "value of $1 contains a single quote"
        printf "%s='%s'\n" "$1" "$2"
    fi
}
env_tmp="$(mktemp "$STATE/.env.XXXXXX")"
{
    echo "# written by scripts/test-world.sh; source it or read KEY=VALUE lines"
    emit FLEET_TEST_WORLD_DIR "$STATE"
    emit FLEET_TEST_REGISTRY "$REGISTRY_ADDR"
    emit FLEET_TEST_REGISTRY_USER "$REGISTRY_USER"
    emit FLEET_TEST_REGISTRY_PASSWORD "$REGISTRY_PASSWORD"
    emit FLEET_TEST_DOCKER_CONFIG "$DOCKER_CFG"
    emit FLEET_TEST_SSH_HOST "$SSH_HOST"
    emit FLEET_TEST_SSH_PORT "$SSH_PORT"
    emit FLEET_TEST_SSH_USER root
    emit FLEET_TEST_SSH_KEY "$SSH_DIR/id_ed25519"
    emit FLEET_TEST_SSH_KNOWN_HOSTS "$SSH_DIR/known_hosts"
    emit FLEET_TEST_SSH_HOST_KEY "$SSH_HOST_KEY"
    emit FLEET_TEST_BASE_IMAGE "$BASE_IMAGE"
    emit FLEET_TEST_POSTGRES_URL "postgres://fleetflow:$PG_PASSWORD@127.0.0.1:$PG_PORT/fleetflow"
} >"$env_tmp"
chmod 600 "$env_tmp"
mv -f "$env_tmp" "$STATE/env"
say "env written to $STATE/env"
say "ready"
