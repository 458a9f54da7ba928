"""The loop from visitors' corrections to a promoted version, step by step through the native stack as its
visitors and its operator use it (issue 33): each screenshot classified and voted on through nginx with its
image shared, the votes accepted with ``python -m ops.feedback``, exported, ``training refresh`` and
``training export``, the new archive declared and made the canary, shadowing fresh images, and promoted
with ``python -m ops.models promote`` (which judges a reviewed version by its card's figures). The e2e test
runs it on the tests' tiny run, benchmarks.retrain.run on the demo model; both fail when a step does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from inference.labels import UNKNOWN_LABEL
from inference.reviewed import STRICT_CONFIDENCE
from launchers import REPO
from launchers.stack import NativeStack

TIMEOUT_S = 120


class LoopError(RuntimeError):
    """A step of the loop failed; the message says which and what it answered."""


def classify(web: str, path: Path) -> dict[str, Any]:
    """``path`` classified through nginx: the answer as a visitor gets it."""
    sent = httpx.post(
        f"{web}/api/v1/classify", files={"file": (path.name, path.read_bytes())}, timeout=TIMEOUT_S
    )
    if sent.status_code != 200:
        raise LoopError(f"classify {path.name}: {sent.status_code} {sent.text[:300]}")
    return dict(sent.json())


def vote(web: str, path: Path, truth: str) -> dict[str, Any]:
    """``path`` classified, then judged as a visitor who knows its game would: "right" when the answer
    names it, else "wrong: it is ``truth``", the image shared (``share=true``)."""
    answer = classify(web, path)
    fields: dict[str, Any] = {"sha256": (None, answer["sha256"]), "share": (None, "true")}
    if answer["label"] == truth:
        fields["verdict"] = (None, "right")
    else:
        fields.update(verdict=(None, "wrong"), label=(None, truth))
    fields["file"] = (path.name, path.read_bytes())
    sent = httpx.post(f"{web}/api/v1/feedback", files=fields, timeout=TIMEOUT_S)
    if sent.status_code != 201:
        raise LoopError(f"feedback on {path.name}: {sent.status_code} {sent.text[:300]}")
    return dict(sent.json()["feedback"])


def tool(module: str, *argv: str | Path, var_dir: Path, **env: str) -> str:
    """``python -m MODULE ARGV`` as the operator runs it beside the stack (VAR_DIR); its output."""
    done = subprocess.run(
        [sys.executable, "-m", module, *map(str, argv)],
        cwd=REPO,
        env={**os.environ, "VAR_DIR": str(var_dir), **env},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        shown = f"python -m {module} {' '.join(map(str, argv))}"
        raise LoopError(f"{shown} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def review(var_dir: Path, shas: list[str], out: Path) -> int:
    """Every voted screenshot accepted by a moderator (``ops.feedback accept``) and the reviewed set
    exported to ``out``; how many images it holds."""
    queue = json.loads(tool("ops.feedback", "list", "--json", var_dir=var_dir))["queue"]
    if missing := set(shas) - {entry["sha256"] for entry in queue}:
        raise LoopError(f"{len(missing)} voted screenshots are not in the review queue")
    tool("ops.feedback", "accept", *shas, "--reviewer", "loop", var_dir=var_dir)
    tool("ops.feedback", "export", out, var_dir=var_dir)
    return len((out / "manifest.csv").read_text().splitlines()) - 1  # its header


@dataclass(frozen=True)
class Retrained:
    version: str
    archive: str
    refresh_s: float
    export_s: float
    summary: str  # refresh's end summary


def retrain(
    var_dir: Path,
    run: Path,
    reviewed: Path,
    store: Path,
    version: str,
    refresh_args: Iterable[str] = (),
    export_args: Iterable[str] = (),
) -> Retrained:
    """``training refresh`` of ``run`` on ``reviewed`` against the default archive in ``store``, then
    ``training export`` of the new run into ``store`` as ``fromsoft`` ``version``; the wall times."""
    new_run = reviewed.parent / f"run-{version}"
    started = time.perf_counter()
    out = tool(
        "training", "refresh", run, "--reviewed", reviewed, "--out", new_run,
        "--default-archive", store / "fromsoft.mar", *refresh_args, var_dir=var_dir,
    )  # fmt: skip
    refreshed = time.perf_counter()
    archive = f"fromsoft-{version}"
    tool(
        "training", "export", new_run, "--model-store", store, "--version", version,
        "--archive-name", archive, *export_args, var_dir=var_dir,
    )  # fmt: skip
    summary = "\n".join(line for line in out.splitlines() if line.startswith("refresh: "))
    return Retrained(version, f"{archive}.mar", refreshed - started, time.perf_counter() - refreshed, summary)


def canary_and_promote(
    native: NativeStack, retrained: Retrained, shadowed: list[Path], min_comparisons: int
) -> str:
    """The new archive declared and made the canary of every image, ``shadowed`` (images the stack has not
    seen) classified so that it answers them in the default's shadow, then promoted once the gateways
    counted ``min_comparisons``; promote's output."""
    native.models("add", retrained.archive)
    native.models("canary", "fromsoft", retrained.version, "--share", "1.0")
    for path in shadowed:
        classify(native.web, path)
    promote = ["promote", "fromsoft", "--min-comparisons", str(min_comparisons)]
    deadline = time.monotonic() + 60  # the shadow calls finish behind the visitors' answers
    while True:
        done = subprocess.run(
            [sys.executable, "-m", "ops.models", *promote],
            cwd=REPO,
            env={**os.environ, "VAR_DIR": str(native.var_dir)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode == 0:
            return done.stdout
        if "comparisons, fewer than" not in done.stdout + done.stderr or time.monotonic() > deadline:
            raise LoopError(f"promote exited {done.returncode}:\n{done.stdout}{done.stderr}")
        time.sleep(1)


@dataclass(frozen=True)
class Tally:
    """How the served default answered labelled screenshots through the API, as visitors saw it."""

    images: int
    top1_right: int  # the right game first in top_k, named or not
    named_right: int
    not_recognised: int
    named_wrong: int  # a wrong game named: a confident wrong answer to a visitor
    named_wrong_strict: int  # of those, at STRICT_CONFIDENCE or more
    versions: tuple[str, ...]  # the versions that answered

    @property
    def accuracy(self) -> float:
        return self.top1_right / self.images if self.images else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "versions": list(self.versions), "accuracy": self.accuracy}


def tally(web: str, files: list[tuple[Path, str]]) -> Tally:
    """Each (file, game) classified through nginx, counted."""
    answers = [(classify(web, path), truth) for path, truth in files]
    named = [(a, truth) for a, truth in answers if a["label"] != UNKNOWN_LABEL]
    wrong = [a for a, truth in named if a["label"] != truth]
    return Tally(
        images=len(answers),
        top1_right=sum(a["top_k"][0]["label"] == truth for a, truth in answers),
        named_right=len(named) - len(wrong),
        not_recognised=len(answers) - len(named),
        named_wrong=len(wrong),
        named_wrong_strict=sum(a["confidence"] >= STRICT_CONFIDENCE for a in wrong),
        versions=tuple(sorted({a["model"]["version"] for a, _ in answers})),
    )
