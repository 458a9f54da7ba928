#!/usr/bin/env bash
# The end of `make setup`: one container on a bridge network resolving another by name, so that a
# missing piece of the container stack (runc, netavark and the iptables it drives, aardvark-dns, the
# podman settings of docker/podman) fails here, by name, rather than in a container test 20 minutes into
# `make test`. The image is busybox (Debian's static build) imported into a one-file image: no registry.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/podman/containers.conf}
IMAGE=localhost/fromsoft-lens-smoke:busybox
NET=fromsoft-lens-smoke
PEER=fromsoft-lens-smoke-peer

fail() { echo "setup: container smoke run failed: $*" >&2; exit 1; }
cleanup() {
  podman rm -f -t 0 "$PEER" >/dev/null 2>&1 || true
  podman network rm -f "$NET" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

if ! podman image exists "$IMAGE"; then
  ldd /bin/busybox >/dev/null 2>&1 && fail "/bin/busybox is linked dynamically: install busybox-static"
  root=$(mktemp -d)
  install -D /bin/busybox "$root/bin/busybox"
  tar -C "$root" -c . | podman import -q - "$IMAGE" >/dev/null || fail "podman import: see above"
  rm -rf "$root"
fi
out=$(podman network create "$NET" 2>&1) || fail "podman network create: $out"
out=$(podman run -d --name "$PEER" --network "$NET" "$IMAGE" /bin/busybox sleep 30 2>&1) \
  || fail "podman run (is iptables installed? netavark needs it): $out"
out=$(podman run --rm --network "$NET" "$IMAGE" /bin/busybox ping -c 1 -W 3 "$PEER" 2>&1) \
  || fail "a container could not reach another by name on a bridge network (aardvark-dns): $out"
echo "setup: containers run and resolve names on a bridge network (podman, runc, netavark, iptables, aardvark-dns)"
