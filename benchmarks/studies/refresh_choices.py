"""How ``training refresh``'s defaults were chosen, on the ``feedback`` screenshots alone (the ``holdout``
ones are never looked at here): the demo run's backbone embeds its base frames and the 45 feedback
screenshots once; each setting is then judged by nested cross-validation that repeats what refresh does.
The backbone runs once, as refresh's default embedding reads it (the pooled embedding, then every
stage's mean and spread: training.backbones.with_stage_statistics); the pooled embedding alone is its
first columns. The screenshots are dealt into 5 outer folds (near-duplicates together, three seeded
deals); for each, a head learns the base frames and the other folds, its temperature and "Not
recognised" threshold come from refresh's own cross-fitting over those (5 inner folds), and it answers
the outer fold as a replica would.
So every screenshot is answered once per deal by a model that neither learned nor calibrated on it: the
figures estimate what a refreshed model does on new screenshots, which the holdout then measures once.

    .venv/bin/python -m benchmarks.studies.refresh_choices [--run runs/demo]

Per setting: top-1 accuracy, named right and named a wrong game (over the 3 x 45 answers), and the base
test split macro-F1 of a head fitted on all 45. Writes artifacts/bench/refresh_choices.json and its part
of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from benchmarks.common.report import command_line, machine, write_json, write_section
from benchmarks.common.reviewed_export import feedback_files, write_export
from benchmarks.studies.retrain_offline import SCREENSHOTS
from inference.reviewed import Answers
from inference.scoring import calibrated
from launchers import REPO
from training.backbones import with_stage_statistics
from training.calibration import fit_temperature, risk_controlled_threshold
from training.checkpoint import checkpoint_preprocessing, load_for_inference
from training.data import Row, make_loader, read_manifest
from training.heads import classifier, embed, one_thread
from training.metrics import macro_f1
from training.presets import eval_preset
from training.refresh_fit import Embeddings, base_rows, cross_fitted, embedded, folds_of, head_fitter
from training.reviewed_set import ReviewedImage, read_export

BEGIN, END = "<!-- refresh-choices:begin -->", "<!-- refresh-choices:end -->"
FIELDS = ("embedding", "method", "c", "real_share", "views", "base_per_class", "rule", "max_wrong")
DEFAULT = ("stages", "logreg", 10.0, 0.5, 8, 100, "risk", 0.10)  # refresh's defaults
CHANGES: list[dict[str, Any]] = [  # one thing changed at a time
    {"embedding": "pooled"},  # refresh's default before the stages' statistics
    {"rule": "share", "max_wrong": 0.10},  # the plain share of the calibration images, not the risk bound
    {"rule": "share", "max_wrong": 0.05},  # refresh's first default
    *({"c": c} for c in (1.0, 100.0)),
    *({"real_share": share} for share in (0.2, 0.8)),
    {"views": 1},
    {"base_per_class": 0},
    {"method": "cosine"},
    {"method": "cosine", "views": 1},
]
SETTINGS: list[tuple[Any, ...]] = [
    DEFAULT,
    *(tuple({**dict(zip(FIELDS, DEFAULT, strict=True)), **c}.values()) for c in CHANGES),
]
OUTER, INNER, DEALS = 5, 5, (0, 1, 2)


def threshold(rule: str, probs: np.ndarray, labels: np.ndarray, max_wrong: float) -> float:
    """refresh's rule (``risk``), or the lowest threshold at which at most ``max_wrong`` of these very
    images are named wrong (``share``: what refresh did first)."""
    if rule == "risk":
        return risk_controlled_threshold(probs, labels, max_wrong)
    confidence, wrong = probs.max(1), probs.argmax(1) != labels
    allowed = [c for c in np.unique(confidence) if (wrong & (confidence >= c)).mean() <= max_wrong]
    return float(allowed[0]) if allowed else float(np.nextafter(confidence.max(), np.inf))


def chosen(found: Embeddings, base: list[Row], per_class: int, views: int, real: np.ndarray) -> Embeddings:
    """``found`` with refresh's choice of base frames (base_rows), the first ``views`` views and only the
    reviewed images ``real`` (indices)."""
    index = {row.path: i for i, row in enumerate(base)}
    keep = [index[row.path] for row in base_rows(base, per_class, seed=0)]
    n = len(found.real_y)
    rows = np.concatenate([real + k * n for k in range(views)])
    return Embeddings(found.base_x[keep], found.base_y[keep], found.view_x[rows], found.real_y[real])


def nested(
    found: Embeddings, base: list[Row], real: list[ReviewedImage], setting: tuple, weights: list[float]
) -> dict[str, int]:
    """The setting's answers summed over every deal's outer folds, and how many were top-1 right."""
    method, c, share, views, per_class, rule, max_wrong = setting[1:]
    totals = dict.fromkeys(("images", "named_right", "not_recognised", "named_wrong", "top1"), 0)
    for deal in DEALS:
        assignment = folds_of(real, OUTER, seed=100 + deal)
        for fold in range(OUTER):
            learned, answered = np.flatnonzero(assignment != fold), np.flatnonzero(assignment == fold)
            part = chosen(found, base, per_class, views, learned)
            fit = head_fitter(part, weights, method, c, share, seed=deal)
            oof = cross_fitted(fit, part, [real[i] for i in learned], INNER, seed=deal)
            temperature = fit_temperature(torch.from_numpy(oof), torch.from_numpy(part.real_y))
            bar = threshold(rule, calibrated(oof, temperature), part.real_y, max_wrong)
            head = fit(np.ones(len(learned), bool))
            probs = calibrated(head.logits(found.eval_view()[answered]), temperature)
            labels = found.real_y[answered]
            answers = asdict(Answers.of(probs, labels, bar))
            answers["top1"] = int((probs.argmax(1) == labels).sum())
            totals = {k: n + answers[k] for k, n in totals.items()}
    return totals


def reading(x: np.ndarray, embedding: str, pooled: int) -> np.ndarray:
    """Embeddings ``x`` as a head on ``embedding`` reads them: every column (``stages``), or the first
    ``pooled`` (the pooled embedding alone)."""
    return x if embedding == "stages" else x[:, :pooled]


def judged(
    found: Embeddings,
    base: list[Row],
    real: list[ReviewedImage],
    test: tuple[np.ndarray, np.ndarray],
    setting: tuple,
    weights: list[float],
    pooled: int,
) -> dict[str, Any]:
    method, c, share, views, per_class = setting[1:6]
    embedding = setting[0]
    found = Embeddings(
        reading(found.base_x, embedding, pooled),
        found.base_y,
        reading(found.view_x, embedding, pooled),
        found.real_y,
    )
    test_x = reading(test[0], embedding, pooled)
    with one_thread():
        answers = nested(found, base, real, setting, weights)
        everything = chosen(found, base, per_class, views, np.arange(len(real)))
        head = head_fitter(everything, weights, method, c, share, seed=0)(np.ones(len(real), bool))
    return {
        "setting": dict(zip(FIELDS, setting, strict=True)),
        "answers": answers,
        "accuracy": answers["top1"] / answers["images"],
        "base_test_macro_f1": macro_f1(test[1], head.logits(test_x).argmax(1)),
    }


def measure(run: Path, screenshots: Path, work: Path) -> dict[str, Any]:
    real = read_export(write_export(work / "reviewed", feedback_files(screenshots)))
    parent, checkpoint = load_for_inference(run / "checkpoints" / "best.pt")
    pooled = classifier(parent, checkpoint["arch"]).in_features
    model, arch = with_stage_statistics(parent, checkpoint["arch"])
    pre = checkpoint_preprocessing(checkpoint)
    rows = read_manifest(run)
    base = [row for row in rows if row.split == "train"]
    args = SimpleNamespace(batch_size=32, workers=1, seed=0, views=max(s[4] for s in SETTINGS))
    found = embedded(args, model, arch, pre, base, real)
    loader = make_loader([r for r in rows if r.split == "test"], eval_preset(pre), 32, 1, shuffle=False)
    test = embed(model, arch, loader, "embed base test split")
    weights = json.loads((run / "class_weights.json").read_text())["weights"]
    settings = [judged(found, base, real, test, s, weights, pooled) for s in SETTINGS]
    return {"images": len(real), "deals": len(DEALS), "settings": settings}


def markdown(result: dict[str, Any], command: str) -> str:
    lines = [
        f"`{command}`, {result['machine']['date']}, {result['machine']['cpu']}: nested cross-validation "
        f"over the {result['images']} `feedback` screenshots (the `holdout` ones untouched), {OUTER} outer "
        f"folds dealt {result['deals']} times, each answered by a head that neither learned nor "
        f"calibrated on it ({INNER} inner folds); the first row is refresh's default, each other row "
        "changes one thing. Embedding `stages`: the pooled embedding and every stage's mean and spread; "
        "`pooled`: the pooled embedding alone. Threshold rule `risk`: conformal risk control of the "
        "expected share named wrong; `share`: the plain share of the calibration images named wrong.",
        "",
        "| embedding | method | C | real share | views | base frames per game | threshold rule | accuracy "
        "| named right | named wrong | base test macro-F1 |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in result["settings"]:
        s, a = r["setting"], r["answers"]
        c = f"{s['c']:g}" if s["method"] == "logreg" else "-"
        lines.append(
            f"| {s['embedding']} | {s['method']} | {c} | {s['real_share']:g} | {s['views']} "
            f"| {s['base_per_class'] or 'all'} "
            f"| {s['rule']} {s['max_wrong']:g} | {r['accuracy']:.3f} "
            f"| {a['named_right'] / a['images']:.1%} | {a['named_wrong'] / a['images']:.1%} "
            f"| {r['base_test_macro_f1']:.4f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run", type=Path, default=Path("runs/demo"), help="an evaluated run (default runs/demo)"
    )
    parser.add_argument("--screenshots", type=Path, default=SCREENSHOTS)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/refresh_choices.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {**measure(args.run, args.screenshots, Path(tmp)), "machine": machine()}
    write_json(args.out, result)
    text = markdown(result, command_line("benchmarks.studies.refresh_choices"))
    write_section(REPO / "BENCHMARKS.md", BEGIN, END, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
