#!/usr/bin/env bash
# make retrain: from the corrections moderators accepted to a canary running (docs/training.md,
# Retraining on reviewed screenshots). Five steps, each a command an operator could run alone:
#   1. python -m ops.feedback export   the accepted and fixed screenshots, folder per game + manifest.csv
#   2. the default served now           its archive, from the declared state (ops.models show --json)
#   3. python -m training refresh       RUN retrained on them, a held-out part kept, measured against 2.
#   4. python -m training export        the new run as MODEL VERSION in the model store
#   5. python -m ops.models add, canary the new version shadows CANARY_SHARE of the images
# Then `python -m ops.models promote MODEL` once it has shadowed enough traffic (it judges a reviewed
# version by its held-out figures, not by agreement).
#
# RUN (runs/demo): the run the default was trained from. REVIEWED: an export folder already written
# (skips step 1). VERSION (r<UTC time>), METHOD (logreg), CANARY_SHARE (0.1), MODEL (fromsoft),
# MODEL_STORE (model_store), NEW_RUN (runs/<MODEL>-<VERSION>), REFRESH_ARGS: more flags for refresh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/demo}
MODEL=${MODEL:-fromsoft}
VERSION=${VERSION:-r$(date -u +%Y%m%d%H%M)}
METHOD=${METHOD:-logreg}
CANARY_SHARE=${CANARY_SHARE:-0.1}
MODEL_STORE=${MODEL_STORE:-model_store}
NEW_RUN=${NEW_RUN:-runs/$MODEL-$VERSION}
export MODEL_STORE
started=$(date +%s)
step() { echo "retrain: [$1/5] $2 ($(( $(date +%s) - started )) s)"; }

reviewed=${REVIEWED:-}
if [ -z "$reviewed" ]; then
  reviewed="$NEW_RUN.reviewed"
  step 1 "exporting the accepted corrections to $reviewed"
  $PY -m ops.feedback export "$reviewed"
else
  step 1 "using the exported corrections in $reviewed"
fi

step 2 "finding the default served now"
default_archive=$($PY -m ops.models show --json | $PY -c '
import json, sys
model = json.load(sys.stdin)["declared"]["models"].get(sys.argv[1])
if model is None:
    sys.exit(f"retrain: no model {sys.argv[1]!r} is declared: `make up` or `ops.models add` first")
print(model["versions"][model["default"]]["archive"])' "$MODEL")
echo "retrain: the default is $MODEL_STORE/$default_archive"

step 3 "retraining $RUN on the reviewed screenshots ($METHOD) into $NEW_RUN"
# shellcheck disable=SC2086  # REFRESH_ARGS is a list of flags
$PY -m training refresh "$RUN" --reviewed "$reviewed" --out "$NEW_RUN" --method "$METHOD" \
  --default-archive "$MODEL_STORE/$default_archive" ${REFRESH_ARGS:-}

step 4 "exporting $MODEL $VERSION"
$PY -m training export "$NEW_RUN" --model-store "$MODEL_STORE" --name "$MODEL" --version "$VERSION" \
  --archive-name "$MODEL-$VERSION"

step 5 "declaring $MODEL $VERSION and shadowing $CANARY_SHARE of the images with it"
$PY -m ops.models add "$MODEL-$VERSION.mar"
$PY -m ops.models canary "$MODEL" "$VERSION" --share "$CANARY_SHARE"

echo "retrain: done in $(( $(date +%s) - started )) s: $MODEL $VERSION is the canary; its card: $NEW_RUN/MODEL_CARD.md"
$PY -m training card "$NEW_RUN" --name "$MODEL" --version "$VERSION" >/dev/null
sed -n '/^## Reviewed screenshots held out/,/^## Limitations/p' "$NEW_RUN/MODEL_CARD.md" | sed '$d'
echo "retrain: next, once it has shadowed enough traffic: python -m ops.models promote $MODEL"
