"""How ``python -m ops.models promote`` judges a canary retrained on reviewed screenshots (``training
refresh``): by whether it answers real screenshots better, not by whether it agrees with the default.

Agreement is the wrong test for a version trained to disagree where the default was wrong (the demo model
answers "Not recognised" to almost every real screenshot; a retrained one that names them disagrees on
nearly all). Such a version carries its figures in its model card (inference.reviewed), which the handler
describes and every replica reports. It is promoted when, besides enough shadowed comparisons and few
failed calls (inference.canary.PROMOTION, as any canary):

- its figures were measured against the default served now (the archive digest recorded at refresh time
  is the one the replicas report for the default), else the comparison is with a model no longer served;
- it names the right game for at least as many of the reviewed held-out screenshots as that default;
- its base test split macro-F1 is at most ``REVIEWED_MAX_TEST_DROP`` below the default's.

An ordinary version (no reviewed figures in its card) is judged by agreement as before (ops.promotion.judged).
"""

from __future__ import annotations

from inference.canary import PROMOTION, REVIEWED_MAX_TEST_DROP, Figures, Promotion
from inference.replica_status import ReplicaStatus
from inference.reviewed import ReviewedFigures


def reviewed_figures(replicas: list[ReplicaStatus], model: str, version: str) -> ReviewedFigures | None:
    """The reviewed figures of ``model`` ``version`` as the replicas describe it, None for a version
    without them. Raises ValueError when its card carries a reviewed section of another shape."""
    for status in replicas:
        view = status.models.get(model)
        served = view.version(version) if view else None
        card = (served.description.get("model_card") or {}) if served else {}
        if (raw := card.get("reviewed")) is not None:
            try:
                return ReviewedFigures.from_dict(raw)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"{model} {version}'s card has an unreadable reviewed section: {exc}"
                ) from None
    return None


def served_digests(replicas: list[ReplicaStatus], model: str, version: str) -> set[str | None]:
    """The archive digests the replicas report for ``model`` ``version`` (one, once they have converged)."""
    found = set()
    for status in replicas:
        view = status.models.get(model)
        if view is not None and (served := view.version(version)) is not None:
            found.add(served.digest)
    return found


def described(figures: ReviewedFigures) -> str:
    held, default = figures.held_out, figures.default_model
    return (
        f"retrained on reviewed screenshots ({figures.method}): on {held} held out, named right "
        f"{figures.candidate.named_right} against {figures.default.named_right} for the default "
        f"{default.version} ({default.digest}), named wrong {figures.candidate.named_wrong} against "
        f"{figures.default.named_wrong}; base test macro-F1 {figures.candidate_test_macro_f1:.4f} against "
        f"{figures.default_test_macro_f1:.4f}"
    )


def judged(
    figures: ReviewedFigures,
    served_default: set[str | None],
    comparisons: Figures,
    promotion: Promotion = PROMOTION,
    max_test_drop: float = REVIEWED_MAX_TEST_DROP,
) -> str | None:
    """Why a reviewed canary is not promoted (None: it may be). Its agreement is not asked for."""
    if comparisons.comparisons < promotion.min_comparisons:
        return (
            f"{comparisons.comparisons} comparisons, fewer than {promotion.min_comparisons}: "
            "let it shadow more traffic"
        )
    if (comparisons.error_share or 0.0) > promotion.max_error_share:
        return f"{comparisons.error_share:.1%} of its calls failed, over {promotion.max_error_share:.0%}"
    recorded = figures.default_model.digest
    if recorded is None:
        return "its figures were measured against a run, not an archive: refresh with --default-archive"
    if served_default != {recorded}:
        served = ", ".join(sorted(str(d) for d in served_default)) or "none reported"
        return (
            f"its figures were measured against the default archive {recorded}, but the default served is "
            f"{served}: refresh against the current default"
        )
    candidate, default = figures.candidate, figures.default
    if candidate.named_right < default.named_right:
        return (
            f"it names {candidate.named_right} of the {figures.held_out} reviewed held-out screenshots "
            "right, "
            f"fewer than the default's {default.named_right}"
        )
    floor = figures.default_test_macro_f1 - max_test_drop
    if figures.candidate_test_macro_f1 < floor:
        return (
            f"base test macro-F1 {figures.candidate_test_macro_f1:.4f}, more than {max_test_drop:.2f} under "
            f"the default's {figures.default_test_macro_f1:.4f}"
        )
    return None
