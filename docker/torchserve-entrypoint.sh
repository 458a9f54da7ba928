#!/bin/sh
# The shipped config.properties with only the listeners and the store changed for a container network:
# tokens stay on and registration stays pinned to the model store. TS_METRICS_BIND (default TS_BIND)
# lets Prometheus reach the metrics API alone, as deploy/k8s/monitoring does in the serving pod.
set -eu
BIND=${TS_BIND:-0.0.0.0}
python -m handler.ts_config /app/config.properties \
  --set "inference_address=http://$BIND:8080" \
  --set "management_address=http://$BIND:8081" \
  --set "metrics_address=http://${TS_METRICS_BIND:-$BIND}:8082" \
  --set "grpc_inference_address=127.0.0.1" --set "grpc_management_address=127.0.0.1" \
  --set "model_store=/home/model-server/model-store" \
  --set "load_models=${LOAD_MODELS:-fromsoft.mar}" >/tmp/config.properties
# The working directory (the image's, a volume in compose and Kubernetes) is where key_file.json goes.
exec torchserve --start --foreground --ncs --ts-config /tmp/config.properties --log-config /app/log4j2.xml \
  --model-store /home/model-server/model-store
