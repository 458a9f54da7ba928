#!/usr/bin/env bash
# The page's types for the gateway's answers, generated from the gateway's own OpenAPI document with
# openapi-typescript, so that a field added or renamed in gateway/schemas.py reaches the TypeScript
# compiler instead of a copy by hand. `make api-types` writes frontend/src/api/schema.ts; a unit test
# (tests/unit/frontend/test_api_types.py) fails when the committed file drifts from the gateway.
#   scripts/api_types.sh [OUT]   (default frontend/src/api/schema.ts)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-frontend/src/api/schema.ts}
doc=$(mktemp --suffix=.json)
trap 'rm -f "$doc"' EXIT
# The default settings' document: an empty environment, so nothing local (a limit, a key) leaks in, but
# for an operator's games table (FSL_GAMES_FILE), whose labels are the feedback form's label enum.
env -i PATH="$PATH" HOME="${HOME:-/tmp}" ${FSL_GAMES_FILE:+FSL_GAMES_FILE="$FSL_GAMES_FILE"} .venv/bin/python -c '
import json, sys
from gateway.main import create_app
json.dump(create_app().openapi(), sys.stdout, indent=1, sort_keys=True)' >"$doc"
frontend/node_modules/.bin/openapi-typescript "$doc" --output "$out" --alphabetize >/dev/null
