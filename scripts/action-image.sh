#!/usr/bin/env bash
# Build the Action's image (the repository's Dockerfile) on this machine, without Docker Hub
# and without network:
#
#   1. a static `fleet` binary: --fleet PATH, else built here
#      (cargo build --profile dist: fat LTO, glibc with +crt-static, for the host's target); a dynamic one
#      given with --fleet (the tests pass the binary cargo built for them) brings its libraries;
#   2. a local base image assembled from this machine's files: Debian's static busybox (sh and
#      the coreutils), the docker CLI, the ssh client, git, ca-certificates and the shared
#      libraries `ldd` lists for ssh and git, imported with `docker import` and tagged by the
#      sha256 of its (reproducible) tarball, fleetflow/action-base:<hash> — so a second run
#      with the same host files reuses it;
#   3. the Dockerfile built with the classic builder (no buildx needed) and --network none, the
#      base given as both RUST_IMAGE and BASE_IMAGE and the binary as prebuilt/fleet in the build
#      context — so the Dockerfile's `fleet` stage copies it instead of compiling, and the final
#      stage finds docker, ssh and git in the base and installs nothing;
#   4. prints the image's size (`docker image inspect -f '{{.Size}}'`).
#
# Usage: scripts/action-image.sh [--fleet PATH] [--target action|serve] [--tag TAG]
#   --target: the Dockerfile's stage — action (the Action's image, the default) or serve (the
#   GitHub App, `fleet serve`); the default tag is fleetflow/<target>:test.
# Environment: DOCKER_CLI=PATH picks the docker CLI copied into the image (default: the
# `docker` on PATH). The last line of stdout is `size=<bytes>`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

TAG=""
TARGET=action
FLEET_BIN=""
while (($#)); do
    case "$1" in
        --fleet) FLEET_BIN="$2"; shift 2 ;;
        --tag) TAG="$2"; shift 2 ;;
        --target) TARGET="$2"; shift 2 ;;
        *) printf 'usage: %s [--fleet PATH] [--target action|serve] [--tag TAG]\n' "$0" >&2; exit 2 ;;
    esac
done
case "$TARGET" in
    action | serve) ;;
    *) printf '%s: --target is action or serve, not %s\n' "$0" "$TARGET" >&2; exit 2 ;;
esac
TAG="${TAG:-fleetflow/$TARGET:test}"

say() { printf 'action-image: %s\n' "$*" >&2; }
die() { printf 'action-image: ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker is not installed (scripts/test-world.sh installs and starts it)"
timeout 20 docker info >/dev/null 2>&1 || die "the docker daemon does not answer (scripts/test-world.sh starts it)"

# shellcheck source=scripts/rootfs.sh
source "$ROOT/scripts/rootfs.sh"

# One run at a time (parallel tests share the base and the tag).
lockdir="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$lockdir"
exec 8>"$lockdir/.action-image.lock"
flock -w 1200 8 || die "another scripts/action-image.sh holds $lockdir/.action-image.lock"

# ---------------------------------------------------------------- 1. the fleet binary
if [[ -z "$FLEET_BIN" ]]; then
    # Run from a test, the environment holds what cargo sets for the test's crate; some build
    # scripts (ring's) track CARGO_MANIFEST_DIR, so they would rebuild — drop those.
    for v in $(compgen -e); do
        case "$v" in
            CARGO_MANIFEST_* | CARGO_PKG_* | CARGO_CRATE_NAME | CARGO_BIN_* | CARGO_PRIMARY_PACKAGE | CARGO_TARGET_TMPDIR | OUT_DIR)
                unset "$v" ;;
        esac
    done
    triple="$(rustc -vV | sed -n 's/^host: //p')"
    say "building a static fleet for $triple (profile dist, +crt-static)"
    # Only this target's flags: build scripts and proc macros stay dynamic host code.
    flags_var="CARGO_TARGET_$(printf '%s' "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
    env "$flags_var=-C target-feature=+crt-static" \
        cargo build --profile dist --locked --bin fleet --target "$triple" >&2
    FLEET_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$triple/dist/fleet"
fi
[[ -x "$FLEET_BIN" ]] || die "no fleet binary at $FLEET_BIN"
fleet_libs=""
if ! is_static "$FLEET_BIN"; then
    # A dynamic binary (the tests pass the one cargo built for them): its libraries go into the
    # base too. The published image carries a static one (the Action uploads it to servers).
    say "note: $FLEET_BIN is dynamically linked; its libraries go into the base"
    fleet_libs="$FLEET_BIN"
fi

# ---------------------------------------------------------------- 2. the local base
work="$(mktemp -d /tmp/fleetflow-action-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
rootfs_init "$rootfs"

docker_cli="${DOCKER_CLI:-$(command -v docker)}"
ssh_bin="$(command -v ssh || true)"
[[ -n "$ssh_bin" ]] || die "no ssh client (apt-get install openssh-client)"
# Debian's git first: its system config is /etc/gitconfig and its helpers live in /usr/lib/git-core.
git_bin=/usr/bin/git
[[ -x "$git_bin" ]] || git_bin="$(command -v git || true)"
[[ -n "$git_bin" ]] || die "no git (apt-get install git)"
certs=/etc/ssl/certs/ca-certificates.crt
[[ -s "$certs" ]] || die "no $certs (apt-get install ca-certificates)"

# Strip symbols (Go keeps what it needs at run time); the CLI is the biggest file here.
strip -o "$rootfs/usr/bin/docker" "$docker_cli" 2>/dev/null || install -m 0755 "$docker_cli" "$rootfs/usr/bin/docker"
chmod 0755 "$rootfs/usr/bin/docker"
install -m 0755 "$ssh_bin" "$rootfs/usr/bin/ssh"
install -m 0755 "$git_bin" "$rootfs/usr/bin/git"
install -m 0644 "$certs" "$rootfs/etc/ssl/certs/ca-certificates.crt"
# shellcheck disable=SC2086 # $fleet_libs is empty or one path
rootfs_libs "$rootfs" "$docker_cli" "$ssh_bin" "$git_bin" $fleet_libs

base="$(rootfs_import "$rootfs" fleetflow/action-base 'docker --version && ssh -V 2>&1 && git --version')"

# ---------------------------------------------------------------- 3. the image
ctx="$work/context"
mkdir -p "$ctx/prebuilt"
cp "$ROOT/Dockerfile" "$ctx/Dockerfile"
# Without symbols (the release profile keeps them): 3 MB less, as the Dockerfile strips when it can.
strip -o "$ctx/prebuilt/fleet" "$FLEET_BIN"
chmod 0755 "$ctx/prebuilt/fleet"
old="$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)"
say "building $TAG (stage $TARGET) on $base (classic builder, no network)"
if ! out="$(DOCKER_BUILDKIT=0 docker build --network none --target "$TARGET" \
        --build-arg "RUST_IMAGE=$base" --build-arg "BASE_IMAGE=$base" -t "$TAG" "$ctx" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "docker build failed"
fi
new="$(docker image inspect -f '{{.Id}}' "$TAG")"
if [[ -n "$old" && "$old" != "$new" ]]; then
    docker rmi "$old" >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- 4. the size
size="$(docker image inspect -f '{{.Size}}' "$TAG")"
fleet_size="$(stat -c %s "$ctx/prebuilt/fleet")"
say "$TAG: $size bytes ($((size / 1000000)) MB; fleet $((fleet_size / 1000000)) MB, docker CLI $(($(stat -c %s "$rootfs/usr/bin/docker") / 1000000)) MB from $docker_cli)"
printf 'image=%s\nbase=%s\nsize=%s\n' "$TAG" "$base" "$size"
