"""The model card an archive carries: what the model is for, what it learned from, how it does on its
test split class by class, how far its confidence can be trusted, where "Not recognised" starts and how
much it then answers, how it did on screenshots from outside its data when that was measured (borders
cut and kept), and what it cannot do. Built from the run's own reports (``prepare``, ``evaluate``) and
nothing else, so a card never claims what was not measured.

``training export`` writes it into the archive as ``model_card.json`` (the handler's description
carries it to ``GET /api/v1/models`` and the page's About panel) and ``MODEL_CARD.md``;

    python -m training card runs/demo --out docs/model-card.md

renders the same card from a run directory alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from inference.labels import DISPLAY_NAMES, LABELS, UNKNOWN_NAME
from inference.reviewed import STRICT_CONFIDENCE, Answers, DefaultModel, ReviewedFigures
from training.class_table import class_table
from training.external import EFFECT_FIGURES, border_table

INTENDED_USE = (
    f"Say which of the {len(LABELS)} FromSoftware games of the labels table a screenshot comes from, or "
    f'answer "{UNKNOWN_NAME}" when its calibrated confidence is under the threshold: for players, archivists '
    "and moderators sorting captures. Not for anything a wrong answer would harm."
)
FEW_TEST_IMAGES = 20  # a class with fewer has figures that one image moves by five points or more


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _data(prepare: dict[str, Any]) -> dict[str, Any]:
    counts = prepare.get("counts", {})
    return {
        "kind": prepare.get("data_kind"),
        "source": Path(prepare["data_root"]).name if prepare.get("data_root") else None,
        "images": prepare.get("images"),
        "synthetic_images": prepare.get("synthetic_images"),
        "reviewed_images": prepare.get("reviewed_images"),
        "split": {split: sum(per_class.values()) for split, per_class in counts.items()},
    }


def _test(report: dict[str, Any]) -> dict[str, Any]:
    per_class = {
        label: {
            "name": DISPLAY_NAMES[label],
            "precision": report["per_class"][label]["precision"],
            "recall": report["per_class"][label]["recall"],
            "f1": report["per_class"][label]["f1-score"],
            "support": int(report["per_class"][label]["support"]),
        }
        for label in LABELS
    }
    figures = ("accuracy", "macro_f1", "weighted_f1", "top2_accuracy")
    return {"images": report["test_images"], **{k: report[k] for k in figures}, "per_class": per_class}


def _external(report: dict[str, Any]) -> dict[str, Any] | None:
    section = report.get("external")
    if section is None:
        return None
    return {
        "set": Path(section["root"]).name  # never a server's path
        + (f" ({only['use']} files of {only['list']})" if (only := section.get("only")) else ""),
        "images": section["images"],
        "classes": section["classes"],
        **{k: section[k] for k in EFFECT_FIGURES},
        "borders": section.get("borders"),
    }


def _reviewed(run_dir: Path, served: dict[str, Any]) -> dict[str, Any] | None:
    """A refreshed run's figures on the reviewed images it held out, beside the default's
    (inference.reviewed): as its shipped form answers them once exported, else as refresh measured its
    checkpoint."""
    record = _json(run_dir / "refresh.json")
    if not record:
        return None
    shipped = served.get("shipped")
    test_f1 = served["forms"][shipped]["test_macro_f1"] if shipped else record["candidate"]["test_macro_f1"]
    figures = ReviewedFigures(
        held_out=len(record["reviewed"]["held_out"]),
        trained_on=len(record["reviewed"]["trained_on"]),
        method=record["method"],
        candidate=Answers(**(served.get("reviewed_held_out") or record["candidate"]["answers"])),
        default=Answers(**record["default"]["answers"]),
        default_model=DefaultModel(**record["default_model"]),
        candidate_test_macro_f1=float(test_f1),
        default_test_macro_f1=float(record["default"]["test_macro_f1"]),
    )
    return figures.to_dict()


def reviewed_lines(card: dict[str, Any]) -> list[str]:
    """The card's section on the reviewed held-out screenshots, this version beside the default."""
    reviewed = card.get("reviewed")
    if reviewed is None:
        return []
    figures = ReviewedFigures.from_dict(reviewed)
    default = figures.default_model
    default_name = f"default {default.version} ({default.digest})" if default.version else "its parent run"

    def row(name: str, answers: Answers) -> str:
        return (
            f"| {name} | {answers.named_right} | {answers.not_recognised} | {answers.named_wrong} "
            f"| {answers.named_wrong_strict} |"
        )

    return [
        "## Reviewed screenshots held out",
        "",
        f"Retrained ({figures.method}) on {figures.trained_on} real screenshots that moderators reviewed; "
        f"{figures.held_out} more were held out of its training and calibration, and answered by it and "
        f"by the {default_name}:",
        "",
        f'| model | named right | "{UNKNOWN_NAME}" | named a wrong game '
        f"| of those, at {STRICT_CONFIDENCE:g}+ |",
        "| --- | --- | --- | --- | --- |",
        row(f"{card['name']} {card['version']}", figures.candidate),
        row(default_name, figures.default),
        "",
        f"Base test split macro F1: {figures.candidate_test_macro_f1:.4f} (the default: "
        f"{figures.default_test_macro_f1:.4f}).",
        "",
    ]


def limitations(card: dict[str, Any]) -> list[str]:
    """What the figures above say it cannot do, in words."""
    data, external = card["data"], card["external"]
    said = [
        f"It knows {len(LABELS)} games only ({', '.join(DISPLAY_NAMES[label] for label in LABELS)}). A "
        f'screenshot of any other game, or of none, should be "{UNKNOWN_NAME}", but it may name one of them.'
    ]
    if data["kind"] == "synthetic":
        said.append(
            "It learned from synthetic frames only (python -m training synthesize) and has never seen a real "
            "screenshot: its test figures say it learned the generator, not the games."
        )
    elif data["kind"] == "mixed":
        said.append(
            f"{data['synthetic_images']} of its {data['images']} training images are synthetic frames."
        )
    if external is None:
        said.append("It was not measured on screenshots from outside its data (evaluate --external).")
    else:
        said.append(
            f"On {external['images']} screenshots from outside its data ({external['set']}) it named the "
            f'right game for {external["named_correctly"]:.1%} and answered "{UNKNOWN_NAME}" for '
            f"{external['not_recognised_rate']:.1%}."
        )
    said.append(
        "Its test split comes from the same source as its training data (near-duplicate frames kept in one "
        "split): it says how well the model learned that data, not how it does on other screenshots."
    )
    where = card["calibration"].get("calibrated_on", "validation")
    said.append(
        f"Its confidence is calibrated on {'the validation split' if where == 'validation' else where} "
        f"(temperature {card['calibration']['temperature']:.2f}); on images unlike those it can be too sure."
    )
    if card.get("reviewed"):
        said.append(
            f"Its reviewed held-out figures rest on {card['reviewed']['held_out']} screenshots: one more or "
            "one fewer named right moves them by several points."
        )
    few = [c["name"] for c in card["test"]["per_class"].values() if c["support"] < FEW_TEST_IMAGES]
    if few:
        said.append(
            f"Fewer than {FEW_TEST_IMAGES} test images of {', '.join(few)}: their figures are uncertain."
        )
    said.append(
        "Uniform borders (letterbox and pillarbox bars, flat frames) are cut before it looks; other overlays "
        "(a webcam, chat, menus, a photo of a screen) are not, and count against it."
    )
    return said


def build(run_dir: Path, name: str, version: str) -> dict[str, Any]:
    """The card of ``run_dir``'s model served as ``name`` ``version``; every figure from its reports."""
    report = _json(run_dir / "report.json")
    if not report:
        raise FileNotFoundError(
            f"{run_dir / 'report.json'} is missing: run `python -m training evaluate` first"
        )
    served = _json(run_dir / "serving_forms.json")
    card: dict[str, Any] = {
        "name": name,
        "version": version,
        "arch": report["arch"],
        "form": served.get("shipped"),
        "epochs": report["epoch"] + 1,
        "intended_use": INTENDED_USE,
        "data": _data(_json(run_dir / "prepare_report.json")),
        "test": _test(report),
        "calibration": {
            **{k: report[k] for k in ("temperature", "ece_before", "ece_after")},
            "calibrated_on": report.get("calibrated_on", "validation"),
        },
        "unknown": {
            "threshold": report["unknown_threshold"],
            "coverage": report["unknown_coverage"],
            "accuracy_above": report["unknown_accuracy"],
            "ood_images": report.get("ood_images"),
            "ood_flagged": report.get("ood_flagged"),
        },
        "external": _external(report),
        "reviewed": _reviewed(run_dir, served),
    }
    card["limitations"] = limitations(card)
    return card


def markdown(card: dict[str, Any]) -> str:
    data, test, unknown, external = card["data"], card["test"], card["unknown"], card["external"]
    calibration = card["calibration"]
    lines = [
        f"# Model card: {card['name']} {card['version']}",
        "",
        f"{card['arch']}, served as {card['form'] or 'its exported form'}, {card['epochs']} epochs. "
        f"{card['intended_use']}",
        "",
        "## Data",
        "",
        f"{data['images']} images ({data['kind']} data: {data['synthetic_images']} synthetic) from "
        f"{data['source']}"
        + (
            f", {data['reviewed_images']} real screenshots moderators reviewed"
            if data.get("reviewed_images")
            else ""
        )
        + "; split "
        + ", ".join(f"{split} {n}" for split, n in data["split"].items())
        + ".",
        "",
        f"## Test split ({test['images']} images)",
        "",
        f"Accuracy {test['accuracy']:.4f}, macro F1 {test['macro_f1']:.4f}, weighted F1 "
        f"{test['weighted_f1']:.4f}, top-2 accuracy {test['top2_accuracy']:.4f}.",
        "",
        *class_table(test["per_class"], heading="game", support="test images"),
        "",
        '## Calibration and "Not recognised"',
        "",
        f"Temperature {calibration['temperature']:.3f} (fitted on "
        f"{calibration.get('calibrated_on', 'validation')}): expected calibration "
        f"error {calibration['ece_before']:.4f} before, {calibration['ece_after']:.4f} after. "
        f'Under a calibrated confidence of {unknown["threshold"]:.3f} the answer is "{UNKNOWN_NAME}": '
        f"{unknown['coverage']:.1%} of test images are answered above it, {unknown['accuracy_above']:.1%} "
        "of those rightly.",
    ]
    if unknown["ood_images"]:
        lines[-1] += (
            f" Photos of no game called {UNKNOWN_NAME}: {unknown['ood_flagged']:.1%} of "
            f"{unknown['ood_images']}."
        )
    lines += ["", "## Screenshots from outside its data", ""]
    if external is None:
        lines.append("Not measured (`python -m training evaluate RUN --external DIR`).")
    else:
        lines += [
            f"{external['images']} images of {len(external['classes'])} games ({external['set']}): accuracy "
            f'{external["accuracy"]:.4f}, macro F1 {external["macro_f1"]:.4f}, "{UNKNOWN_NAME}" '
            f"{external['not_recognised_rate']:.4f}, named correctly {external['named_correctly']:.4f}.",
        ]
        if external["borders"]:
            lines += ["", *border_table(external["borders"], external["images"])]
    lines += ["", *reviewed_lines(card)] if card.get("reviewed") else []
    lines += ["", "## Limitations", "", *(f"- {item}" for item in card["limitations"]), ""]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="an evaluated run directory")
    parser.add_argument("--name", default="fromsoft", help="the model's name (default fromsoft)")
    parser.add_argument("--version", default="1.0", help="its version (default 1.0)")
    parser.add_argument("--out", type=Path, help="markdown file to write (default: RUN_DIR/MODEL_CARD.md)")


def main(args: argparse.Namespace) -> int:
    try:
        card = build(args.run_dir, args.name, args.version)
    except FileNotFoundError as exc:
        print(f"card: error: {exc}")
        return 2
    out = args.out or args.run_dir / "MODEL_CARD.md"
    out.write_text(markdown(card))
    print(f"card: {out}")
    return 0
