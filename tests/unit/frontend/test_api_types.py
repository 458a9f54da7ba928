"""The page's types for the gateway's answers are generated from the gateway's OpenAPI document
(scripts/api_types.sh): the committed frontend/src/api/schema.ts must be what the gateway describes now,
so that a field added, renamed or dropped in gateway/schemas.py fails here, and then the page's type
check, instead of drifting in a copy by hand."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import REPO

COMMITTED = REPO / "frontend" / "src" / "api" / "schema.ts"


def test_the_committed_api_types_are_what_the_gateway_describes(tmp_path: Path):
    generated = tmp_path / "schema.ts"
    run = subprocess.run(
        ["bash", str(REPO / "scripts" / "api_types.sh"), str(generated)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert generated.read_text() == COMMITTED.read_text(), (
        "frontend/src/api/schema.ts differs from the gateway's OpenAPI document: run `make api-types` "
        "and fix what the page's type check then finds"
    )
