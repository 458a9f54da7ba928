#!/usr/bin/env bash
# `make demo`: the whole stack on the embedded default. Trains and archives a model first when
# model_store/ has none (DATA=path trains on your own folder-per-class data instead of synthetic frames).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL_STORE=${MODEL_STORE:-model_store}
RUN_DIR=${RUN_DIR:-runs/demo}
ARCH=${ARCH:-efficientnet_lite0}

if ! compgen -G "$MODEL_STORE/*.mar" >/dev/null; then
  echo "demo: no model archive in $MODEL_STORE/: training one ($ARCH) into $RUN_DIR"
  bash scripts/train_demo.sh "$RUN_DIR" "$ARCH"
  .venv/bin/python -m training export "$RUN_DIR" --model-store "$MODEL_STORE"
  echo "demo: training report: $RUN_DIR/report.md"
fi
exec bash scripts/stack.sh run
