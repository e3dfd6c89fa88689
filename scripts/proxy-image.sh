#!/usr/bin/env bash
# An haproxy image assembled from this machine's files (Debian's haproxy, its shared libraries
# and a static busybox), for examples/replicas/compose.yaml where Docker Hub's haproxy image
# cannot be pulled (tests/serve_replicas.rs). Tagged fleetflow/haproxy:<hash of its files>.
#
# Usage: scripts/proxy-image.sh        The last line of stdout is `image=<tag>`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

say() { printf 'proxy-image: %s\n' "$*" >&2; }
die() { printf 'proxy-image: ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/rootfs.sh
source "$ROOT/scripts/rootfs.sh"

(($# == 0)) || { printf 'usage: %s\n' "$0" >&2; exit 2; }
haproxy=/usr/sbin/haproxy
[[ -x "$haproxy" ]] || die "no $haproxy (apt-get install haproxy; scripts/test-world.sh installs it)"
timeout 20 docker info >/dev/null 2>&1 || die "the docker daemon does not answer (scripts/test-world.sh starts it)"

work="$(mktemp -d /tmp/fleetflow-proxy-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs_init "$work/rootfs"
install -m 0755 "$haproxy" "$work/rootfs/usr/sbin/haproxy"
mkdir -p "$work/rootfs/usr/local/etc/haproxy" "$work/rootfs/run/haproxy"
rootfs_libs "$work/rootfs" "$haproxy"
# As Docker Hub's haproxy image: the configuration at /usr/local/etc/haproxy/haproxy.cfg.
image="$(rootfs_import "$work/rootfs" fleetflow/haproxy 'haproxy -v' \
    'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]')"
printf 'image=%s\n' "$image"
