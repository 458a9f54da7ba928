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

python -m ops.torchserve &
python -m ops.reconciler &
TORCHSERVE_KEY_FILE=$GATEWAY_KEY_FILE python -m gateway --host 0.0.0.0 --port 8001 --workers "${GATEWAY_WORKERS:-1}" &
trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' TERM INT
set +e
wait -n
ended=$?
echo "serving-unit: a process ended ($ended); stopping the unit" >&2
kill -TERM $(jobs -p) 2>/dev/null
wait
exit "$ended"
