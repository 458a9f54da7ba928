"""`ops.models promote` for a canary retrained on reviewed screenshots (ops.reviewed): judged on the reviewed
held-out images against the default served now and on the base test split, never by its agreement with the
default; an ordinary canary still by agreement."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from inference import replica_status
from inference.canary import Figures, Promotion
from inference.replica_status import ModelView, ReplicaStatus, VersionView
from inference.reviewed import Answers, DefaultModel, ReviewedFigures
from ops import models, promotion, reviewed
from ops.settings import OpsSettings

SERVED_DIGEST = "e1192af13e3b"
DISAGREEING = Figures(agree=5, disagree=45)  # 10% agreement: a model trained to disagree where 1.0 was wrong
ASKED = Promotion(min_comparisons=30, min_agreement=0.95, max_error_share=0.02)


def figures(**changes) -> ReviewedFigures:
    base = ReviewedFigures(
        held_out=14,
        trained_on=31,
        method="logreg",
        candidate=Answers(images=14, named_right=6, not_recognised=7, named_wrong=1, named_wrong_strict=0),
        default=Answers(images=14, named_right=1, not_recognised=13, named_wrong=0, named_wrong_strict=0),
        default_model=DefaultModel("fromsoft", "1.0", SERVED_DIGEST),
        candidate_test_macro_f1=0.975,
        default_test_macro_f1=0.987,
    )
    return replace(base, **changes)


def test_a_reviewed_version_is_promoted_on_its_figures_whatever_its_agreement():
    assert reviewed.judged(figures(), {SERVED_DIGEST}, DISAGREEING, ASKED) is None
    level = figures(candidate=replace(figures().candidate, named_right=1))  # "at least as often"
    assert reviewed.judged(level, {SERVED_DIGEST}, DISAGREEING, ASKED) is None


@pytest.mark.parametrize(
    ("changed", "served", "comparisons", "why"),
    [
        ({}, {SERVED_DIGEST}, Figures(agree=1, disagree=9), "10 comparisons, fewer than 30: let it shadow"),
        ({}, {SERVED_DIGEST}, Figures(agree=5, disagree=45, error=5), "9.1% of its calls failed, over 2%"),
        (
            {"default_model": DefaultModel(None, None, None)},
            {SERVED_DIGEST},
            DISAGREEING,
            "refresh with --default-archive",
        ),
        (
            {},
            {"9ae98536f156"},
            DISAGREEING,
            "the default served is 9ae98536f156: refresh against the current",
        ),
        (
            {},
            {SERVED_DIGEST, "9ae98536f156"},
            DISAGREEING,
            "the default served is 9ae98536f156, e1192af13e3b",
        ),
        (
            {"default": Answers(14, 7, 7, 0, 0)},
            {SERVED_DIGEST},
            DISAGREEING,
            "it names 6 of the 14 reviewed held-out screenshots right, fewer than the default's 7",
        ),
        (
            {"candidate_test_macro_f1": 0.96},
            {SERVED_DIGEST},
            DISAGREEING,
            "base test macro-F1 0.9600, more than 0.02 under the default's 0.9870",
        ),
    ],
)
def test_a_reviewed_version_is_refused_saying_why(changed, served, comparisons, why):
    assert why in reviewed.judged(figures(**changed), served, comparisons, ASKED)


def _report(folder: Path, replica: str, card: dict | None, default_digest: str = SERVED_DIGEST) -> None:
    description = {"model_card": card} if card is not None else {}
    view = ModelView(
        default="1.0",
        versions=[
            VersionView(version="1.0", archive="fromsoft.mar", digest=default_digest),
            VersionView(
                version="2.0", archive="fromsoft-2.0.mar", digest="9ae98536f156", description=description
            ),
        ],
    )
    status = ReplicaStatus(replica=replica, converged=True, models={"fromsoft": view})
    replica_status.write(status, folder / f"{replica}.json")


def _refusal(folder: Path, comparisons: Figures) -> str | None:
    settings = OpsSettings(replica_status_dir=folder)
    return promotion.promotion_refusal(
        models.running(settings), "fromsoft", ("1.0", "2.0"), comparisons, ASKED
    )


def test_promote_reads_the_candidates_figures_from_the_replicas_reports(tmp_path: Path, capsys):
    _report(tmp_path, "a", {"name": "fromsoft", "reviewed": figures().to_dict()})
    _report(tmp_path, "b", {"name": "fromsoft", "reviewed": figures().to_dict()})
    assert _refusal(tmp_path, DISAGREEING) is None
    assert "retrained on reviewed screenshots (logreg): on 14 held out, named right 6 against 1" in (
        capsys.readouterr().out
    )
    _report(
        tmp_path, "b", {"name": "fromsoft", "reviewed": figures().to_dict()}, default_digest="0123456789ab"
    )
    assert "refresh against the current default" in _refusal(tmp_path, DISAGREEING)


def test_an_ordinary_canary_is_still_judged_by_its_agreement(tmp_path: Path):
    _report(tmp_path, "a", {"name": "fromsoft"})  # a card, but no reviewed figures
    assert _refusal(tmp_path, DISAGREEING) == "agreement 10.0%, under 95%"
    assert _refusal(tmp_path, Figures(agree=48, disagree=2)) is None


def test_an_unreadable_reviewed_section_is_refused_not_taken_for_an_ordinary_version(tmp_path: Path):
    _report(tmp_path, "a", {"name": "fromsoft", "reviewed": {"held_out": 14}})
    with pytest.raises(ValueError, match="unreadable reviewed section"):
        _refusal(tmp_path, DISAGREEING)
