#!/usr/bin/env bash
# The native stack on loopback: Redis, SERVING_REPLICAS serving units (each a TorchServe, the reconciler
# beside it and its own gateway: the Kubernetes serving pod's shape) and nginx in front of the gateways.
#   scripts/stack.sh run     start, wait until ready, stay in the foreground; Ctrl-C stops everything
#   scripts/stack.sh up      start in the background (make up)
#   scripts/stack.sh down    stop everything it started (make down)
#   scripts/stack.sh status  what is running
#   scripts/stack.sh restart NAME   one component again: nginx, redis, logrotate, or torchserve-N,
#                                   reconciler-N, gateway-N of replica N (1, 2, ...)
# Every process runs in its own session and is stopped by process group, so nothing is left behind.
# State (configs, PIDs, logs, each replica's keys and report, and stack.env: the settings the operator's
# tools share with this stack) lives under $VAR_DIR (default var/, git-ignored). Replica 1 listens on the
# ports below; further replicas on free ones, kept in their folder.
# Every replica converges to the declared state, $MODEL_STORE/models.yaml (python -m ops.models).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# Logs hold client addresses and share hashes: every file the stack and its processes create (their
# outputs, nginx's and TorchServe's own logs; logrotate's copies keep the original's mode) is the
# owner's to write and its group's to read at most, never every local user's (0640, 0750 for folders).
umask 027

VAR_DIR=$(realpath -m "${VAR_DIR:-var}")
SERVING_REPLICAS=${SERVING_REPLICAS:-1}
WEB_PORT=${WEB_PORT:-8000}
GATEWAY_PORT=${GATEWAY_PORT:-8001}
GATEWAY_WORKERS=${GATEWAY_WORKERS:-1}
REDIS_PORT=${REDIS_PORT:-6379}
TS_INFERENCE_PORT=${TS_INFERENCE_PORT:-8080}
TS_MANAGEMENT_PORT=${TS_MANAGEMENT_PORT:-8081}
TS_METRICS_PORT=${TS_METRICS_PORT:-8082}
TS_GRPC_PORT=${TS_GRPC_PORT:-7070}
TS_GRPC_MANAGEMENT_PORT=${TS_GRPC_MANAGEMENT_PORT:-7071}
TS_WORKER_PORT=${TS_WORKER_PORT:-9000}
MODEL_STORE=$(realpath -m "${MODEL_STORE:-model_store}")
MODELS_FILE_GIVEN=${MODELS_FILE:-}
MODELS_FILE=$(realpath -m "${MODELS_FILE:-$MODEL_STORE/models.yaml}")
MODEL_NAME=${MODEL_NAME:-fromsoft}
WEB_ROOT=$(realpath -m "${WEB_ROOT:-frontend/dist}")
RATE_LIMIT=${RATE_LIMIT:-10/minute;6/second}
READY_TIMEOUT=${READY_TIMEOUT:-240}
LOG_MAX_SIZE=${LOG_MAX_SIZE:-50M}
LOG_ROTATE_SECONDS=${LOG_ROTATE_SECONDS:-300}
PY=${PY:-$ROOT/.venv/bin/python}
RUN=$VAR_DIR/run
LOGS=$VAR_DIR/log
STATUS=$VAR_DIR/status
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
REDIS_PASSWORD_FILE=$VAR_DIR/redis/password  # ops/settings.py's NATIVE_REDIS_PASSWORD names it too
EDGE_KEY_FILE=${EDGE_KEY_FILE:-$VAR_DIR/edge/key}
# The system of record for feedback (store/): a SQLite file under var/ unless DATABASE_URL names another
# (with DATABASE_PASSWORD_FILE for a PostgreSQL password), and the key of the visitors' keyed hashes.
DATABASE_URL=${DATABASE_URL:-sqlite:///$VAR_DIR/lens.sqlite3}
FEEDBACK_KEY_FILE=$VAR_DIR/feedback/key
# The pepper clients' API keys are hashed under (python -m ops.keys; ops/settings.py names it too).
API_KEY_PEPPER_FILE=$VAR_DIR/api-keys/pepper
export DATABASE_URL
UNIT=(torchserve reconciler gateway)  # one serving unit, in the order it starts
export MODEL_STORE MODELS_FILE REPLICA_STATUS_DIR=$STATUS

say() { echo "stack: $*" 2>/dev/null || true; }  # never fatal: the reader may be gone (Ctrl-C on `| tee`)
die() { echo "stack: error: $*" >&2; exit 1; }

[[ $SERVING_REPLICAS =~ ^[1-9][0-9]?$ ]] || die "SERVING_REPLICAS must be 1 to 99, not '$SERVING_REPLICAS'"

components() { # every component of the running (or the configured) stack, in the order they stop
  local n count=$SERVING_REPLICAS
  [ -f "$RUN/replicas" ] && count=$(cat "$RUN/replicas")
  echo nginx logrotate
  for ((n = 1; n <= count; n++)); do echo "gateway-$n reconciler-$n torchserve-$n"; done
  echo redis
}

alive() { # component -> 0 if its recorded process group still has a process
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  kill -0 -- "-$pid" 2>/dev/null
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() { # component logfile command... (a new session: the PID is its process group)
  local name=$1 log=$2
  shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

stop_component() {
  local name=$1 pid waited=0
  pid=$(cat "$RUN/$name.pid" 2>/dev/null) || return 0
  if kill -0 -- "-$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    while kill -0 -- "-$pid" 2>/dev/null && [ $waited -lt 300 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

private_logs() { # logs an earlier run left wider than the umask above makes new ones: 0640 at most
  [ -d "$VAR_DIR" ] || return 0
  find "$VAR_DIR" -type f \( -name '*.log' -o -name '*.log.*' \) -perm /g=wx,o=rwx \
    -exec chmod g-wx,o-rwx {} + 2>/dev/null || true
}

down() {
  local any=0 name
  for name in $(components); do
    if [ -f "$RUN/$name.pid" ]; then any=1; stop_component "$name"; fi
  done
  if [ -f "$RUN/cleanup" ]; then xargs -d '\n' rm -rf <"$RUN/cleanup"; rm -f "$RUN/cleanup"; fi
  rm -rf "$STATUS" "$RUN/replicas"  # a stopped replica's report would read as one still converging
  if [ $any -eq 1 ]; then say "stopped"; else say "not running"; fi
}

web_root_for_nginx() {
  # A root nginx master serves files through an unprivileged www-data worker, which cannot read a
  # checkout under a private home such as /root: serve a world-readable copy then.
  if [ "$(id -u)" -eq 0 ] && ! runuser -u www-data -- test -r "$WEB_ROOT/index.html" 2>/dev/null; then
    local copy
    copy=$(mktemp -d /tmp/fromsoft-web.XXXXXX)
    [ -d "$WEB_ROOT" ] && cp -r "$WEB_ROOT/." "$copy/"
    chmod -R a+rX "$copy"
    echo "$copy" >>"$RUN/cleanup"
    echo "$copy"
  else
    echo "$WEB_ROOT"
  fi
}

# --- Each replica's ports and settings ------------------------------------------------------------------
replica_dir() { echo "$VAR_DIR/replicas/$1"; }

choose_ports() { # replica -> its ports.env: replica 1's from the settings above, the others' free ones
  local n=$1 file
  file="$(replica_dir "$n")/ports.env"
  mkdir -p "$(dirname "$file")"
  if [ "$n" -eq 1 ]; then
    printf '%s\n' "TS_INFERENCE_PORT=$TS_INFERENCE_PORT" "TS_MANAGEMENT_PORT=$TS_MANAGEMENT_PORT" \
      "TS_METRICS_PORT=$TS_METRICS_PORT" "TS_GRPC_PORT=$TS_GRPC_PORT" \
      "TS_GRPC_MANAGEMENT_PORT=$TS_GRPC_MANAGEMENT_PORT" "TS_WORKER_PORT=$TS_WORKER_PORT" \
      "GATEWAY_PORT=$GATEWAY_PORT" >"$file"
  else
    "$PY" -c "
from launchers.procs import free_port
names = ('TS_INFERENCE_PORT', 'TS_MANAGEMENT_PORT', 'TS_METRICS_PORT', 'TS_GRPC_PORT',
         'TS_GRPC_MANAGEMENT_PORT', 'TS_WORKER_PORT', 'GATEWAY_PORT')
print('\n'.join(f'{name}={free_port()}' for name in names))" >"$file"
  fi
}

port_of() { # replica variable -> the port
  sed -n "s/^$2=//p" "$(replica_dir "$1")/ports.env"
}

in_unit() { # replica command... : the command with the replica's settings (ops.settings) exported
  local n=$1 dir
  shift
  dir=$(replica_dir "$n")
  (
    set -a
    # shellcheck disable=SC1091
    . "$dir/ports.env"
    TS_BIND=127.0.0.1 TS_WORKDIR=$dir/torchserve REPLICA_ID=$n
    TORCHSERVE_MANAGEMENT_URL=http://127.0.0.1:$TS_MANAGEMENT_PORT
    TORCHSERVE_KEY_FILE=$dir/torchserve/key_file.json GATEWAY_KEY_FILE=$dir/unit/gateway-keys.json
    set +a
    "$@"
  )
}

# --- One function per component: `up` starts them in order, `restart NAME` one of them again -----------
start_redis() {
  say "starting redis on 127.0.0.1:$REDIS_PORT (password in $REDIS_PASSWORD_FILE)"
  mkdir -p "$VAR_DIR/redis"
  # A password of its own, kept across restarts, and the configuration that holds it: neither is ever on
  # a command line, where every user's `ps` would show it.
  (
    umask 077
    [ -s "$REDIS_PASSWORD_FILE" ] || head -c 24 /dev/urandom | base64 >"$REDIS_PASSWORD_FILE"
    printf '%s\n' "port $REDIS_PORT" "bind 127.0.0.1" 'save ""' "appendonly no" "dir \"$VAR_DIR/redis\"" \
      "requirepass $(cat "$REDIS_PASSWORD_FILE")" >"$VAR_DIR/redis/redis.conf"
  )
  start redis "$LOGS/redis.log" redis-server "$VAR_DIR/redis/redis.conf"
}

edge_key() {
  # The key nginx sends the gateways (X-Edge-Key), kept across restarts. nginx and every local process
  # reach a gateway from loopback, which it trusts; only this user can read the key, so no other user's
  # process can name a client in X-Forwarded-For and so choose its rate-limit bucket (docs/security.md).
  mkdir -p "$(dirname "$EDGE_KEY_FILE")"
  (
    umask 077
    [ -s "$EDGE_KEY_FILE" ] || head -c 24 /dev/urandom | base64 >"$EDGE_KEY_FILE"
  )
}

migrate_store() { # before any gateway starts: they refuse feedback on a schema behind the code
  say "migrating the feedback store (python -m store upgrade)"
  mkdir -p "$VAR_DIR/feedback" "$VAR_DIR/api-keys"
  (umask 077; [ -s "$FEEDBACK_KEY_FILE" ] || head -c 32 /dev/urandom | base64 >"$FEEDBACK_KEY_FILE")
  (umask 077; [ -s "$API_KEY_PEPPER_FILE" ] || head -c 32 /dev/urandom | base64 >"$API_KEY_PEPPER_FILE")
  "$PY" -m store upgrade >>"$LOGS/store.log" 2>&1 || die "python -m store upgrade failed; see $LOGS/store.log"
}

start_logrotate() {
  say "rotating the stack's logs over $LOG_MAX_SIZE (checked every ${LOG_ROTATE_SECONDS}s, 5 kept)"
  # TorchServe rolls its own (log4j2.xml); these are the processes' outputs and nginx's logs.
  printf '%s\n' "\"$LOGS/*.log\" \"$VAR_DIR/nginx/*.log\" {" "  size $LOG_MAX_SIZE" "  rotate 5" "  compress" \
    "  missingok" "  notifempty" "  copytruncate" "}" >"$VAR_DIR/logrotate.conf"
  start logrotate "$LOGS/logrotate.log" bash -c "while true; do logrotate -s '$RUN/logrotate.state' \
    '$VAR_DIR/logrotate.conf'; sleep $LOG_ROTATE_SECONDS; done"
}

start_torchserve() {
  local n=$1
  say "starting TorchServe $n (inference :$(port_of "$n" TS_INFERENCE_PORT), management" \
    ":$(port_of "$n" TS_MANAGEMENT_PORT), loopback only)"
  mkdir -p "$(replica_dir "$n")/torchserve"
  in_unit "$n" start "torchserve-$n" "$LOGS/torchserve-$n.log" "$PY" -m ops.torchserve
}

start_reconciler() {
  local n=$1
  say "starting reconciler $n (converges TorchServe $n to $MODELS_FILE; renews its keys)"
  in_unit "$n" start "reconciler-$n" "$LOGS/reconciler-$n.log" "$PY" -m ops.reconciler
}

start_gateway() {
  local n=$1 dir port
  dir=$(replica_dir "$n")
  port=$(port_of "$n" GATEWAY_PORT)
  say "starting gateway $n on 127.0.0.1:$port ($GATEWAY_WORKERS workers)"
  rm -rf "$dir/prometheus"  # last run's counts; python -m gateway creates it afresh
  edge_key
  TORCHSERVE_INFERENCE_URL="http://127.0.0.1:$(port_of "$n" TS_INFERENCE_PORT)" \
    TORCHSERVE_KEY_FILE="$dir/unit/gateway-keys.json" REPLICA_STATUS_FILE="$STATUS/$n.json" \
    MODEL_NAME="$MODEL_NAME" REDIS_URL="$REDIS_URL" REDIS_PASSWORD_FILE="$REDIS_PASSWORD_FILE" \
    RATE_LIMIT="$RATE_LIMIT" EDGE_KEY_FILE="$EDGE_KEY_FILE" FEEDBACK_KEY_FILE="$FEEDBACK_KEY_FILE" \
    API_KEY_PEPPER_FILE="$API_KEY_PEPPER_FILE" \
    PROMETHEUS_MULTIPROC_DIR="$dir/prometheus" \
    start "gateway-$n" "$LOGS/gateway-$n.log" "$PY" -m gateway --host 127.0.0.1 --port "$port" \
    --workers "$GATEWAY_WORKERS"
}

start_nginx() {
  say "starting nginx on 127.0.0.1:$WEB_PORT"
  # spill: where nginx spills large bodies; a folder of its own when www-data cannot reach var/
  local spill n gateways=()
  for ((n = 1; n <= $(cat "$RUN/replicas"); n++)); do
    gateways+=(--gateway "127.0.0.1:$(port_of "$n" GATEWAY_PORT)")
  done
  edge_key
  spill=$(EDGE_KEY_FILE=$EDGE_KEY_FILE "$PY" -m nginx.render --out "$VAR_DIR/nginx/nginx.conf" \
    --prefix "$VAR_DIR/nginx" --listen "127.0.0.1:$WEB_PORT" "${gateways[@]}" --web-root "$(web_root_for_nginx)")
  case "$spill" in "$VAR_DIR"/*) ;; *) echo "$spill" >>"$RUN/cleanup" ;; esac
  start nginx "$LOGS/nginx.log" "$(command -v nginx || echo /usr/sbin/nginx)" -p "$VAR_DIR/nginx" \
    -c "$VAR_DIR/nginx/nginx.conf" -e "$VAR_DIR/nginx/error.log" -g "daemon off;"
}

start_component() { # NAME or NAME-N
  case "$1" in
    nginx | redis | logrotate) "start_$1" ;;
    torchserve-* | reconciler-* | gateway-*) "start_${1%-*}" "${1##*-}" ;;
  esac
}

write_stack_file() {
  # What the operator's tools share with this stack, as it starts it: python -m ops.models reads it
  # (ops/settings.py) for each setting its environment does not give, so an operator types none. Kept
  # after `down`, like the Redis password it names.
  local file=$VAR_DIR/stack.env
  {
    echo "# Written by scripts/stack.sh up; read by the operator's tools (ops/settings.py). Do not edit."
    printf "%s='%s'\n" MODEL_STORE "$MODEL_STORE" REPLICA_STATUS_DIR "$STATUS" REDIS_URL "$REDIS_URL" \
      REDIS_PASSWORD_FILE "$REDIS_PASSWORD_FILE" DATABASE_URL "$DATABASE_URL" \
      API_KEY_PEPPER_FILE "$API_KEY_PEPPER_FILE"
    # Only when given: otherwise it follows MODEL_STORE, in the tools as here.
    [ -z "$MODELS_FILE_GIVEN" ] || printf "%s='%s'\n" MODELS_FILE "$MODELS_FILE"
    # Only when given, for the review tool (python -m ops.feedback): a PostgreSQL store's password file,
    # and how long it keeps shared screenshots no moderator kept (its default otherwise).
    [ -z "${DATABASE_PASSWORD_FILE:-}" ] ||
      printf "%s='%s'\n" DATABASE_PASSWORD_FILE "$(realpath -m "$DATABASE_PASSWORD_FILE")"
    [ -z "${FEEDBACK_RETENTION_DAYS:-}" ] || printf "%s='%s'\n" FEEDBACK_RETENTION_DAYS "$FEEDBACK_RETENTION_DAYS"
  } >"$file.tmp"
  mv "$file.tmp" "$file"
}

declare_if_missing() {
  [ -f "$MODELS_FILE" ] && return
  local archive
  archive=$(cd "$MODEL_STORE" && ls -1 ./*.mar | head -1 | xargs basename)
  [ -f "$MODEL_STORE/$MODEL_NAME.mar" ] && archive="$MODEL_NAME.mar"
  say "no declared model state yet: declaring $archive in $MODELS_FILE"
  "$PY" -m ops.models add "$archive" --no-wait >/dev/null
}

ready() { # every gateway answers /readyz 200: its replica has converged to the declared state
  "$PY" - "$@" <<'EOF' 2>/dev/null
import sys, httpx
sys.exit(any(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code != 200 for port in sys.argv[1:]))
EOF
}

up() {
  mkdir -p "$RUN" "$LOGS"
  for name in $(components); do
    if alive "$name"; then say "already running (make down to stop it); web: http://127.0.0.1:$WEB_PORT"; exit 0; fi
  done
  compgen -G "$MODEL_STORE/*.mar" >/dev/null || die "no model archive in $MODEL_STORE (make demo trains one)"
  for var in WEB_PORT GATEWAY_PORT REDIS_PORT TS_INFERENCE_PORT TS_MANAGEMENT_PORT TS_METRICS_PORT TS_GRPC_PORT \
    TS_GRPC_MANAGEMENT_PORT; do
    port_busy "${!var}" && die "port ${!var} ($var) is already in use; free it or set $var to another port"
  done
  [ -f "$WEB_ROOT/index.html" ] || say "note: no built front end in $WEB_ROOT; the API still answers at /api/v1"
  private_logs
  declare_if_missing
  "$PY" -m ops.models apply --no-wait >/dev/null || die "the declared state is invalid (python -m ops.models show)"
  rm -rf "$STATUS"
  write_stack_file
  echo "$SERVING_REPLICAS" >"$RUN/replicas"
  local n ports=()
  for ((n = 1; n <= SERVING_REPLICAS; n++)); do choose_ports "$n"; ports+=("$(port_of "$n" GATEWAY_PORT)"); done

  start_redis
  migrate_store
  for ((n = 1; n <= SERVING_REPLICAS; n++)); do
    for part in "${UNIT[@]}"; do "start_$part" "$n"; done
  done
  start_nginx
  start_logrotate

  say "waiting for $SERVING_REPLICAS replica(s) to converge to the declared state (up to ${READY_TIMEOUT}s)"
  local waited=0
  until ready "${ports[@]}"; do
    for name in $(components); do
      alive "$name" || { down >/dev/null; die "$name exited while starting; see $LOGS/$name.log"; }
    done
    waited=$((waited + 1))
    [ $waited -ge "$READY_TIMEOUT" ] && { down >/dev/null; die "not ready after ${READY_TIMEOUT}s; see $LOGS/"; }
    sleep 1
  done
  say "ready: http://127.0.0.1:$WEB_PORT  (API: http://127.0.0.1:$WEB_PORT/api/v1/classify)"
  local models=".venv/bin/python -m ops.models show"
  [ "$VAR_DIR" = "$ROOT/var" ] || models="VAR_DIR=$VAR_DIR $models"  # where the tools find stack.env
  say "logs: $LOGS/  models: $models  (declared in $MODELS_FILE)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  run)
    up
    # Ctrl-C also ends a `| tee` the output may go through: stop everything even with no one to tell.
    trap '' PIPE
    trap 'say ""; down; exit 0' INT TERM
    say "Ctrl-C stops everything"
    while true; do
      for name in $(components); do
        alive "$name" || { say "$name stopped unexpectedly; see $LOGS/$name.log"; down; exit 1; }
      done
      sleep 2
    done
    ;;
  restart)  # one component again (after a crash, or a test's fault), the others untouched
    name=${2:-}
    [[ " $(components | tr '\n' ' ') " == *" $name "* ]] || die "usage: $0 restart $(components | tr '\n' ' ')"
    mkdir -p "$RUN" "$LOGS"
    stop_component "$name"
    start_component "$name"
    ;;
  status)
    for name in $(components); do
      if alive "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped"; fi
    done
    ;;
  *) echo "usage: $0 up|down|run|status|restart NAME" >&2; exit 2 ;;
esac
