"""What the handler logged (TorchServe's model log, one JSON line per request it answered), read by the
tests that check which requests reached the model: a batch's one hop, a canary's shadow calls."""

from __future__ import annotations

import json
from typing import Any

from launchers.torchserve import TorchServe


def handler_lines(torchserve: TorchServe, request_id: str) -> list[dict[str, Any]]:
    """The handler's log lines for one gateway request (its X-Request-ID)."""
    lines = torchserve.model_log.read_text(errors="replace").splitlines()
    found = [line[line.index("{") :] for line in lines if request_id in line and "{" in line]
    return [json.loads(line) for line in found]
