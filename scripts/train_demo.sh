#!/usr/bin/env bash
# Train the embedded default end to end: synthesize -> prepare -> train -> evaluate (with sample photos).
# DATA=path uses your own folder-per-class data (or the Kaggle root) instead of synthetic frames.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=${1:-runs/demo}
ARCH=${2:-efficientnet_lite0}
IMAGES=${IMAGES:-2800}
PY=${PY:-.venv/bin/python}
started=$(date +%s)

data=${DATA:-}
if [ -z "$data" ]; then
  data="$RUN_DIR/data"
  [ -d "$data/FromSoftwareImages" ] || $PY -m training synthesize "$data" --images "$IMAGES"
fi
$PY -m training prepare "$data" --out "$RUN_DIR"
$PY -m training train "$RUN_DIR" --config training/configs/demo.yaml --arch "$ARCH"
# Photos of no game at all: the report says how many the model calls "Not recognised".
ood=()
if $PY -m training photos "$RUN_DIR/photos"; then ood=(--ood-dir "$RUN_DIR/photos"); fi
$PY -m training evaluate "$RUN_DIR" "${ood[@]}"
echo "train-demo: done in $(( $(date +%s) - started )) s; report: $RUN_DIR/report.md"
