#!/usr/bin/env bash
# The native stack on loopback: Redis, TorchServe, the gateway (several workers) and nginx.
#   scripts/stack.sh run     start, wait until ready, stay in the foreground; Ctrl-C stops everything
#   scripts/stack.sh up      start in the background (make up)
#   scripts/stack.sh down    stop everything it started (make down)
#   scripts/stack.sh status  what is running
#   scripts/stack.sh restart NAME   one component again (nginx, gateway, token_keeper, torchserve, redis)
# Every process runs in its own session and is stopped by process group, so nothing is left behind.
# State (configs, PIDs, logs, TorchServe's tokens) lives under $VAR_DIR (default var/, git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VAR_DIR=$(realpath -m "${VAR_DIR:-var}")
WEB_PORT=${WEB_PORT:-8000}
GATEWAY_PORT=${GATEWAY_PORT:-8001}
GATEWAY_WORKERS=${GATEWAY_WORKERS:-2}
REDIS_PORT=${REDIS_PORT:-6379}
TS_INFERENCE_PORT=${TS_INFERENCE_PORT:-8080}
TS_MANAGEMENT_PORT=${TS_MANAGEMENT_PORT:-8081}
TS_METRICS_PORT=${TS_METRICS_PORT:-8082}
TS_GRPC_PORT=${TS_GRPC_PORT:-7070}
TS_GRPC_MANAGEMENT_PORT=${TS_GRPC_MANAGEMENT_PORT:-7071}
TS_WORKER_PORT=${TS_WORKER_PORT:-9000}
MODEL_STORE=$(realpath -m "${MODEL_STORE:-model_store}")
MODEL_NAME=${MODEL_NAME:-fromsoft}
WEB_ROOT=$(realpath -m "${WEB_ROOT:-frontend/dist}")
RATE_LIMIT=${RATE_LIMIT:-10/minute;3/second}
READY_TIMEOUT=${READY_TIMEOUT:-240}
PY=${PY:-$ROOT/.venv/bin/python}
COMPONENTS=(nginx gateway token_keeper torchserve redis)
RUN=$VAR_DIR/run
LOGS=$VAR_DIR/log

say() { echo "stack: $*" 2>/dev/null || true; }  # never fatal: the reader may be gone (Ctrl-C on `| tee`)
die() { echo "stack: error: $*" >&2; exit 1; }

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

down() {
  local any=0
  for name in "${COMPONENTS[@]}"; do
    if [ -f "$RUN/$name.pid" ]; then any=1; stop_component "$name"; fi
  done
  if [ -f "$RUN/cleanup" ]; then xargs -d '\n' rm -rf <"$RUN/cleanup"; rm -f "$RUN/cleanup"; fi
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

# One function per component: `up` starts them in order, `restart NAME` one of them again.
TS_DIR=$VAR_DIR/torchserve

start_redis() {
  say "starting redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p "$VAR_DIR/redis"
  start redis "$LOGS/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$VAR_DIR/redis"
}

start_torchserve() {
  say "starting TorchServe (inference :$TS_INFERENCE_PORT, management :$TS_MANAGEMENT_PORT, loopback only)"
  local ts=$TS_DIR models
  mkdir -p "$ts/tmp" "$ts/logs"
  rm -f "$ts/key_file.json"
  models=$(cd "$MODEL_STORE" && ls -1 ./*.mar | head -1 | xargs basename)
  [ -f "$MODEL_STORE/$MODEL_NAME.mar" ] && models="$MODEL_NAME.mar"
  "$PY" -m handler.ts_config config.properties \
    --set "inference_address=http://127.0.0.1:$TS_INFERENCE_PORT" \
    --set "management_address=http://127.0.0.1:$TS_MANAGEMENT_PORT" \
    --set "metrics_address=http://127.0.0.1:$TS_METRICS_PORT" \
    --set "grpc_inference_port=$TS_GRPC_PORT" --set "grpc_management_port=$TS_GRPC_MANAGEMENT_PORT" \
    --set "initial_worker_port=$TS_WORKER_PORT" --set "model_store=$MODEL_STORE" --set "load_models=$models" \
    >"$ts/config.properties"
  (cd "$ts" && TMPDIR="$ts/tmp" TEMP="$ts/tmp" LOG_LOCATION="$ts/logs" METRICS_LOCATION="$ts/logs" \
    PATH="$(dirname "$PY"):$PATH" start torchserve "$LOGS/torchserve.log" "$(dirname "$PY")/torchserve" --start \
    --foreground --ncs --ts-config "$ts/config.properties" --log-config "$ROOT/log4j2.xml" --model-store "$MODEL_STORE")
}

start_token_keeper() {
  say "starting the token keeper (TorchServe's keys live ${TS_TOKEN_EXPIRATION_MIN:-60} min; renewed at half)"
  start token_keeper "$LOGS/token_keeper.log" "$PY" -m handler.token_keeper --key-file "$TS_DIR/key_file.json" \
    --management-url "http://127.0.0.1:$TS_MANAGEMENT_PORT"
}

start_gateway() {
  say "starting the gateway on 127.0.0.1:$GATEWAY_PORT ($GATEWAY_WORKERS workers)"
  rm -rf "$VAR_DIR/gateway/prometheus"  # last run's counts; python -m gateway creates it afresh
  TORCHSERVE_INFERENCE_URL="http://127.0.0.1:$TS_INFERENCE_PORT" \
    TORCHSERVE_MANAGEMENT_URL="http://127.0.0.1:$TS_MANAGEMENT_PORT" \
    TORCHSERVE_KEY_FILE="$TS_DIR/key_file.json" MODEL_NAME="$MODEL_NAME" \
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" RATE_LIMIT="$RATE_LIMIT" \
    PROMETHEUS_MULTIPROC_DIR="$VAR_DIR/gateway/prometheus" \
    start gateway "$LOGS/gateway.log" "$PY" -m gateway --host 127.0.0.1 --port "$GATEWAY_PORT" \
    --workers "$GATEWAY_WORKERS"
}

start_nginx() {
  say "starting nginx on 127.0.0.1:$WEB_PORT"
  local spill  # where nginx spills large bodies; a folder of its own when www-data cannot reach var/
  spill=$("$PY" -m nginx.render --out "$VAR_DIR/nginx/nginx.conf" --prefix "$VAR_DIR/nginx" \
    --listen "127.0.0.1:$WEB_PORT" --gateway "127.0.0.1:$GATEWAY_PORT" --web-root "$(web_root_for_nginx)")
  case "$spill" in "$VAR_DIR"/*) ;; *) echo "$spill" >>"$RUN/cleanup" ;; esac
  start nginx "$LOGS/nginx.log" "$(command -v nginx || echo /usr/sbin/nginx)" -p "$VAR_DIR/nginx" \
    -c "$VAR_DIR/nginx/nginx.conf" -e "$VAR_DIR/nginx/error.log" -g "daemon off;"
}

up() {
  mkdir -p "$RUN" "$LOGS"
  for name in "${COMPONENTS[@]}"; do
    if alive "$name"; then say "already running (make down to stop it); web: http://127.0.0.1:$WEB_PORT"; exit 0; fi
  done
  compgen -G "$MODEL_STORE/*.mar" >/dev/null || die "no model archive in $MODEL_STORE (make demo trains one)"
  for var in WEB_PORT GATEWAY_PORT REDIS_PORT TS_INFERENCE_PORT TS_MANAGEMENT_PORT TS_METRICS_PORT TS_GRPC_PORT \
    TS_GRPC_MANAGEMENT_PORT; do
    port_busy "${!var}" && die "port ${!var} ($var) is already in use; free it or set $var to another port"
  done
  [ -f "$WEB_ROOT/index.html" ] || say "note: no built front end in $WEB_ROOT; the API still answers at /api/v1"

  for name in redis torchserve token_keeper gateway nginx; do "start_$name"; done

  say "waiting for the model's workers (up to ${READY_TIMEOUT}s)"
  local waited=0
  until "$PY" -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:$GATEWAY_PORT/readyz', timeout=2).status_code != 200)" 2>/dev/null; do
    for name in "${COMPONENTS[@]}"; do
      alive "$name" || { down >/dev/null; die "$name exited while starting; see $LOGS/$name.log"; }
    done
    waited=$((waited + 1))
    [ $waited -ge "$READY_TIMEOUT" ] && { down >/dev/null; die "not ready after ${READY_TIMEOUT}s; see $LOGS/"; }
    sleep 1
  done
  say "ready: http://127.0.0.1:$WEB_PORT  (API: http://127.0.0.1:$WEB_PORT/api/v1/classify)"
  say "logs: $LOGS/  TorchServe management (operators only, token in $TS_DIR/key_file.json): http://127.0.0.1:$TS_MANAGEMENT_PORT"
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
      for name in "${COMPONENTS[@]}"; do
        alive "$name" || { say "$name stopped unexpectedly; see $LOGS/$name.log"; down; exit 1; }
      done
      sleep 2
    done
    ;;
  restart)  # one component again (after a crash, or a test's fault), the others untouched
    name=${2:-}
    [[ " ${COMPONENTS[*]} " == *" $name "* ]] || die "usage: $0 restart ${COMPONENTS[*]// /|}"
    mkdir -p "$RUN" "$LOGS"
    stop_component "$name"
    "start_$name"
    ;;
  status)
    for name in "${COMPONENTS[@]}"; do
      if alive "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped"; fi
    done
    ;;
  *) echo "usage: $0 up|down|run|status|restart NAME" >&2; exit 2 ;;
esac
