#!/bin/bash
# Compose's serving unit in one container: TorchServe, the reconciler beside it and its own gateway, the
# Kubernetes serving pod's three containers as three processes. It scales as a whole (`--scale serving=N`
# or SERVING_REPLICAS): each replica keeps its keys in its own filesystem and reports under its own name
# (the container's hostname) in the shared REPLICA_STATUS_DIR. The first process to end ends the unit, and
# compose's restart policy starts it again, from the declared state.
set -euo pipefail
export REPLICA_ID=${REPLICA_ID:-$(hostname)}
export REPLICA_STATUS_FILE=$REPLICA_STATUS_DIR/$REPLICA_ID.json
export TORCHSERVE_INFERENCE_URL=http://127.0.0.1:8080 TORCHSERVE_MANAGEMENT_URL=http://127.0.0.1:8081

# Each listener on the one network whose members must reach it, never 0.0.0.0 on every network the unit
# joins: the gateway where this unit reaches EDGE_ADDRESS (web, on the edge network), TorchServe's metrics
# API where it reaches TS_METRICS_PEER (the backend network, Prometheus's, which web is not on). The
# healthcheck finds the gateway at the address written here.
gateway_host=$(python -m ops.local_address "$EDGE_ADDRESS")
TS_METRICS_BIND=$(python -m ops.local_address "$TS_METRICS_PEER")
export TS_METRICS_BIND
mkdir -p /tmp/unit
printf 'http://%s:8001' "$gateway_host" >/tmp/unit/gateway-url

python -m ops.torchserve &
python -m ops.reconciler &
TORCHSERVE_KEY_FILE=$GATEWAY_KEY_FILE python -m gateway --host "$gateway_host" --port 8001 \
  --workers "${GATEWAY_WORKERS:-1}" &
trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' TERM INT
set +e
wait -n
ended=$?
echo "serving-unit: a process ended ($ended); stopping the unit" >&2
kill -TERM $(jobs -p) 2>/dev/null
wait
exit "$ended"
