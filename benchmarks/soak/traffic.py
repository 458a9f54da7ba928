"""Locust users for the fault-and-soak run (benchmarks/soak/run.py): visitors of the public page, through
nginx. Of their requests about 70% classify an image never sent before, 15% send one of their images
again (the cache answers), 10% ask where the model looked in their last image, and 5% upload something
that is not an image. Every answer is checked against the gateway's own shapes and written, one JSON
line each, to $SOAK_RECORDS for the analysis; Locust's own verdict is not used.

Run by benchmarks/soak/run.py: locust -f benchmarks/soak/traffic.py --headless --host WEB ...
Env: SOAK_RECORDS (the JSON-lines file), SOAK_FRAMES (a folder of JPEG frames).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, between, task
from pydantic import BaseModel, ValidationError

from benchmarks.common.images import distinct
from gateway.schemas import ErrorBody
from inference.answers import Classification, Explanation

FRAMES = [p.read_bytes() for p in sorted(Path(os.environ["SOAK_FRAMES"]).rglob("*.jpg"))]
# One line per answer, flushed at once; open for the whole run (Locust has no teardown hook we need).
RECORDS = Path(os.environ["SOAK_RECORDS"]).open("a", buffering=1)  # noqa: SIM115
NONCES = itertools.count()


def unique(frame: bytes) -> bytes:
    return distinct(frame, os.getpid() << 32 | next(NONCES))


def well_formed(kind: str, status: int, body: Any) -> bool:
    """Whether an answer has the shape the API promises for its kind and status."""
    shape: type[BaseModel] = ErrorBody
    if status == 200:
        if kind == "bad upload":
            return False  # something that is not an image was classified
        shape = Explanation if kind == "explain" else Classification
    try:
        shape.model_validate(body)
    except ValidationError:
        return False
    return not (shape is Classification and len(body["top_k"]) != 3)


class Visitor(HttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        self.mine: list[bytes] = []  # what this visitor uploaded, for repeats and explanations

    def _send(self, kind: str, path: str, image: bytes, content_type: str = "image/jpeg") -> None:
        started = time.time()
        files = {"file": ("shot.jpg", image, content_type)}
        with self.client.post(path, files=files, name=kind, catch_response=True) as response:
            record: dict[str, Any] = {"t": started, "kind": kind, "status": response.status_code}
            record["ms"] = round((time.time() - started) * 1000, 2)
            record["retry_after"] = "retry-after" in {k.lower() for k in response.headers}
            try:
                body = response.json()
            except (ValueError, AttributeError):
                body = None
            record["shape"] = response.status_code > 0 and well_formed(kind, response.status_code, body)
            if response.status_code == 0:
                record["error"] = repr(response.error)[:300]
            if response.status_code == 200 and isinstance(body, dict):
                record["version"] = (body.get("model") or {}).get("version")
                record["cached"] = body.get("cached")
            elif isinstance(body, dict) and isinstance(body.get("error"), dict):
                record["code"] = body["error"].get("code")
            RECORDS.write(json.dumps(record) + "\n")
            response.success()  # judged by benchmarks/soak/run.py from the records

    @task(70)
    def classify_new(self) -> None:
        image = unique(random.choice(FRAMES))
        self.mine = [*self.mine[-19:], image]
        self._send("classify", "/api/v1/classify", image)

    @task(15)
    def classify_again(self) -> None:
        if self.mine:
            self._send("repeat", "/api/v1/classify", random.choice(self.mine))

    @task(10)
    def explain(self) -> None:
        if self.mine:
            self._send("explain", "/api/v1/explain", self.mine[-1])

    @task(5)
    def bad_upload(self) -> None:
        junk = random.choice([b"these are my notes, not a screenshot", random.choice(FRAMES)[:900]])
        self._send("bad upload", "/api/v1/classify", junk, "image/png")
