#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: system packages, the Python virtual environment,
# and the front end's node modules and build. Re-running it only does what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}

# --- System packages -------------------------------------------------------------------------------
declare -A need=(
  [java]=openjdk-17-jre-headless
  [redis-server]=redis-server
  [logrotate]=logrotate  # the native stack's logs (scripts/stack.sh)
  [nginx]=nginx
  [chromium]=chromium
  # make test's monitoring checks: promtool (the rules and their tests) and a real Prometheus scraping
  # the native stack; the tests start their own (the package's service is not used)
  [prometheus]=prometheus
  [promtool]=prometheus
  # make test-containers: podman with runc (crun fails here), its network stack with name resolution,
  # and debootstrap for the local base images (scripts/container_images.sh)
  [podman]=podman
  [runc]=runc
  [netavark]=netavark
  [iptables]=iptables  # netavark drives it: without it every container fails ("netavark: No such file")
  [aardvark-dns]=aardvark-dns
  [debootstrap]=debootstrap
  # `podman kube play` of the Kubernetes serving pod: the infra container's pause binary
  [catatonit]=catatonit
  # the smoke run below: a static busybox is the whole image, so it needs no registry
  [busybox]=busybox-static
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/lib/podman/$cmd" ] \
    || [[ " ${missing[*]} " == *" ${need[$cmd]} "* ]] || missing+=("${need[$cmd]}")
done
# The store's tests start a real PostgreSQL (launchers/postgres.py); Debian keeps its binaries off PATH.
# The package's own cluster and service are not used.
pg_bin=$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -1 || true)
{ [ -n "$pg_bin" ] && "$pg_bin" --version >/dev/null 2>&1; } || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python ----------------------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
stamp="$VENV/.requirements.sha256"
want=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements (torch 2.14.1 comes from the local wheel cache)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -c requirements/constraints.txt \
    -r requirements/training.txt -r requirements/serving.txt -r requirements/gateway.txt -r requirements/dev.txt
  echo "$want" >"$stamp"
fi

# --- Front end -------------------------------------------------------------------------------------
if [ -f frontend/package.json ]; then
  lock_stamp=frontend/node_modules/.lock.sha256
  lock_want=$(sha256sum frontend/package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_want" ]; then
    echo "setup: installing front-end packages"
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_want" >"$lock_stamp"
  fi
  if [ ! -f frontend/dist/index.html ] || [ -n "$(find frontend/src frontend/index.html frontend/package.json -newer frontend/dist/index.html 2>/dev/null | head -1)" ]; then
    echo "setup: building the front end"
    (cd frontend && npm run build --silent)
  fi
fi
# --- Containers: checked by using them -------------------------------------------------------------
bash scripts/container_smoke.sh
echo "setup: ready"
