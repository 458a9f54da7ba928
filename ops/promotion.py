"""Whether a canary becomes the default (`python -m ops.models promote`): its figures as every gateway
counted them in Redis, judged by agreement with the default (inference.canary.PROMOTION), or, for a version
retrained on reviewed screenshots, by its figures on them (ops.reviewed)."""

from __future__ import annotations

from inference.canary import PROMOTION, Figures, Promotion, counters_key
from inference.replica_status import ReplicaStatus
from ops import declared, reviewed, stack_redis
from ops.declared_changes import RefusedError, declared_model
from ops.settings import OpsSettings


def canary_figures(settings: OpsSettings, name: str) -> tuple[str, str, Figures]:
    """The declared canary of ``name``, its default, and the comparisons every gateway counted in Redis."""
    state, _ = declared.load(settings.declared_file, settings.model_store)
    model = declared_model(state, name)
    if model.canary is None:
        raise RefusedError(f"{name} has no canary to promote")
    with stack_redis.connected(settings) as client:
        raw = client.hgetall(counters_key(name, model.default, model.canary.version))
    return model.default, model.canary.version, Figures.from_hash(raw)


def judged(figures: Figures, promotion: Promotion = PROMOTION) -> str | None:
    """Why a canary with these figures is not promoted (None: it may be)."""
    if figures.comparisons < promotion.min_comparisons:
        return f"{figures.comparisons} comparisons, fewer than {promotion.min_comparisons}"
    if (figures.agreement or 0.0) < promotion.min_agreement:
        return f"agreement {figures.agreement:.1%}, under {promotion.min_agreement:.0%}"
    if (figures.error_share or 0.0) > promotion.max_error_share:
        return f"{figures.error_share:.1%} of its calls failed, over {promotion.max_error_share:.0%}"
    return None


def promotion_refusal(
    replicas: list[ReplicaStatus],
    model: str,
    versions: tuple[str, str],
    figures: Figures,
    promotion: Promotion = PROMOTION,
) -> str | None:
    """Why the canary (``versions``: the default's, the canary's) is not promoted, from what the running
    ``replicas`` report: by agreement, unless its
    card says it was retrained on reviewed screenshots, which is judged on them instead (ops.reviewed)."""
    default, candidate = versions
    found = reviewed.reviewed_figures(replicas, model, candidate)
    if found is None:
        return judged(figures, promotion)
    print(f"models: {model} {candidate} {reviewed.described(found)}")
    served = reviewed.served_digests(replicas, model, default)
    return reviewed.judged(found, served, figures, promotion)


def described(default: str, candidate: str, figures: Figures) -> str:
    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    return (
        f"{candidate} against {default}: {figures.comparisons} comparisons, agreement "
        f'{share(figures.agreement)}; "Not recognised" {share(figures.unknown_share("default"))} ({default}) '
        f"and {share(figures.unknown_share('candidate'))} ({candidate}); {figures.error} error(s), "
        f"{figures.skipped} skipped (under load, or over a client's budget)"
    )
