#!/usr/bin/env bash
# Build the four images (gateway, web, TorchServe, PostgreSQL) with podman: what `docker compose build`
# does elsewhere, on a machine that cannot pull from Docker Hub (make test-containers runs it; podman's
# layer cache makes a rebuild quick).
#   scripts/container_images.sh            local base images when missing, then the four images
#   scripts/container_images.sh bases      only the local base images
# Every Dockerfile takes its base image as a build ARG defaulting to the public image. Here the bases
# are local stand-ins with the same package manager and layout: a Debian bookworm root made with
# debootstrap from the mirror in this host's apt sources, plus Python, Node (this host's own 20.x),
# Redis from Debian, or Prometheus (this host's own, for compose's monitoring profile). They also carry this host's CA bundle, which the registries' TLS needs here.
# TORCH_WHEELS: a folder of wheels the TorchServe build installs torch from (read-only); default: this
# machine's folder that holds torch 2.14.1 when there is one, else PyTorch's CPU index, as elsewhere.
# HOST_CA: the CA bundle the bases trust (default: this host's). BUILD_LOG_DIR: where each image's build
# log goes (default /tmp). Prints each image's build time and size; BUILD_REPORT=FILE also writes them
# as JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."

export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/podman/containers.conf}
BASE=localhost/fromsoft-lens-base
DEBIAN_IMAGE=$BASE/debian:bookworm
PYTHON_IMAGE=$BASE/python:3.11-bookworm
NODE_IMAGE=$BASE/node:20-bookworm
REDIS_IMAGE=$BASE/redis:7-bookworm
PROMETHEUS_IMAGE=$BASE/prometheus:bookworm
VERSION=0.1.0
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
LOCAL_WHEELS=/opt/pypi-more/files
if [ -z "${TORCH_WHEELS+set}" ] && compgen -G "$LOCAL_WHEELS/torch-2.14.1-*.whl" >/dev/null; then
  TORCH_WHEELS=$LOCAL_WHEELS
fi
TORCH_WHEELS=${TORCH_WHEELS:-}

say() { echo "container-images: $*"; }
die() { echo "container-images: error: $*" >&2; exit 1; }
have_image() { podman image exists "$1"; }

debian_mirror() { # the first Debian mirror in this host's apt sources
  local uri
  uri=$(grep -h -o -E '^(URIs: *|deb +)http[^ ]*debian/?( |$)' /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list 2>/dev/null | head -1 | sed -E 's/^(URIs: *|deb +)//; s/ *$//')
  echo "${uri:-http://deb.debian.org/debian}"
}

# --- Local base images -----------------------------------------------------------------------------
base_debian() {
  have_image "$DEBIAN_IMAGE" && return
  local root started=$SECONDS
  root=$(mktemp -d /var/tmp/fromsoft-debian.XXXXXX)
  say "debootstrap: Debian bookworm (minbase) from $(debian_mirror)"
  debootstrap --variant=minbase bookworm "$root" "$(debian_mirror)" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
  rm -f "$root.log"
  # The host's suites (bookworm, -updates, -security): with bookworm alone, packages installed later can
  # need a newer version of one already in the root (python3.11-venv against python3.11 was one).
  rm -f "$root/etc/apt/sources.list"
  local list
  for list in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    if [ -f "$list" ] && grep -q -E '^[^#]*/debian(-security)?/?( |$)' "$list"; then cp "$list" "$root$list"; fi
  done
  # Install no docs, like Debian's slim images; trust this host's CAs once ca-certificates is installed.
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
    >"$root/etc/dpkg/dpkg.cfg.d/docker-slim"
  install -D -m 0644 "$HOST_CA" "$root/usr/local/share/ca-certificates/host-bundle.crt"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null 2>&1
  rm -rf "$root"
  say "base image $DEBIAN_IMAGE: $((SECONDS - started)) s"
}

base_build() { # image, context folder; the Containerfile on stdin
  local image=$1 context=$2 file started=$SECONDS
  have_image "$image" && { cat >/dev/null; return; }
  file=$(mktemp /var/tmp/fromsoft-base.XXXXXX)
  cat >"$file"
  podman build --network host --pull=never --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" -t "$image" \
    -f "$file" "$context" >"$file.log" 2>&1 || { tail -20 "$file.log" >&2; die "building $image failed"; }
  rm -f "$file" "$file.log"
  say "base image $image: $((SECONDS - started)) s"
}

apt_install='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends'

bases() {
  base_debian
  local empty node_files
  empty=$(mktemp -d /var/tmp/fromsoft-context.XXXXXX)
  base_build "$PYTHON_IMAGE" "$empty" <<EOF
ARG DEBIAN_IMAGE
FROM \$DEBIAN_IMAGE
RUN $apt_install python3 python3-venv python-is-python3 ca-certificates >/dev/null \
    && update-ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/* \
    && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >/etc/pip.conf
EOF
  # node:20-bookworm-slim's stand-in: this host's Node 20 (Debian bookworm ships 18; Vite needs 20).
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (make setup)"
  node_files=$(mktemp -d /var/tmp/fromsoft-node.XXXXXX)
  mkdir -p "$node_files/usr/local/bin" "$node_files/usr/local/lib/node_modules"
  cp "$(realpath "$(command -v node)")" "$node_files/usr/local/bin/node"
  cp -a "$(realpath "$(dirname "$(realpath "$(command -v npm)")")/..")" \
    "$node_files/usr/local/lib/node_modules/npm"
  base_build "$NODE_IMAGE" "$node_files" <<EOF
ARG DEBIAN_IMAGE
FROM \$DEBIAN_IMAGE
RUN $apt_install ca-certificates >/dev/null && update-ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY usr/ /usr/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && npm config set --global cafile /etc/ssl/certs/ca-certificates.crt && node --version
EOF
  rm -rf "$node_files"
  base_build "$REDIS_IMAGE" "$empty" <<EOF
ARG DEBIAN_IMAGE
FROM \$DEBIAN_IMAGE
RUN $apt_install redis-server >/dev/null && rm -rf /var/lib/apt/lists/*
USER redis
CMD ["redis-server"]
EOF
  rmdir "$empty"
  # prom/prometheus's stand-in: this host's Prometheus (Debian's, one binary linked to libc alone), laid
  # out as that image is: its user, its data folder, its entrypoint and arguments.
  command -v prometheus >/dev/null || die "prometheus is needed (make setup)"
  local prometheus_files
  prometheus_files=$(mktemp -d /var/tmp/fromsoft-prometheus.XXXXXX)
  cp "$(command -v prometheus)" "$prometheus_files/prometheus"
  base_build "$PROMETHEUS_IMAGE" "$prometheus_files" <<EOF
ARG DEBIAN_IMAGE
FROM \$DEBIAN_IMAGE
COPY prometheus /bin/prometheus
RUN install -d -o nobody -g nogroup /prometheus /etc/prometheus
USER nobody
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
EOF
  rm -rf "$prometheus_files"
}

# --- The project's images --------------------------------------------------------------------------
build() { # name, then podman build arguments
  local name=$1 started=$SECONDS elapsed size
  shift
  podman build --network host --pull=never --layers -t "ghcr.io/fromsoft-lens/$name:$VERSION" \
    -f "docker/$name.Dockerfile" "$@" . >"${BUILD_LOG_DIR:-/tmp}/fromsoft-build-$name.log" 2>&1 \
    || { tail -40 "${BUILD_LOG_DIR:-/tmp}/fromsoft-build-$name.log" >&2; die "building $name failed"; }
  elapsed=$((SECONDS - started))
  size=$(podman image inspect --format '{{.Size}}' "ghcr.io/fromsoft-lens/$name:$VERSION")
  say "ghcr.io/fromsoft-lens/$name:$VERSION: ${elapsed} s, $((size / 1000000)) MB"
  if [ -n "${BUILD_REPORT:-}" ]; then
    printf '{"image": "ghcr.io/fromsoft-lens/%s:%s", "seconds": %d, "bytes": %d}\n' \
      "$name" "$VERSION" "$elapsed" "$size" >>"$BUILD_REPORT"
  fi
}

images() {
  local torch=()
  if [ -n "$TORCH_WHEELS" ]; then
    [ -d "$TORCH_WHEELS" ] || die "TORCH_WHEELS=$TORCH_WHEELS is not a folder"
    # torch and torchvision from the folder alone, in place of PyTorch's CPU index.
    torch=(--build-context "wheels=$TORCH_WHEELS" --build-arg TORCH_INDEX_URL=)
    say "torch from $TORCH_WHEELS"
  fi
  build gateway --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"
  build web --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" --build-arg "NODE_IMAGE=$NODE_IMAGE"
  build torchserve --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" "${torch[@]}"
  build postgres --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE"
}

command -v podman >/dev/null || die "podman is not installed; run make setup"
case "${1:-all}" in
  bases) bases ;;
  all) bases; images ;;
  *) die "usage: $0 [all|bases]" ;;
esac
