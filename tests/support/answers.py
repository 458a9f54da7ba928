"""A cached classification and the key it is stored under, as the gateway writes them: the cache serves
only entries that answer their key (gateway.cache.answers_its_key)."""

from __future__ import annotations

from typing import Any

from gateway.cache import cache_key, image_digest
from gateway.schemas import ClassificationBody, ModelRef, Ranked


def cached_classification(
    image: bytes, label: str = "sekiro", name: str = "Sekiro"
) -> tuple[str, dict[str, Any]]:
    sha256 = image_digest(image)
    answer = ClassificationBody(
        label=label,
        name=name,
        confidence=0.9,
        top_k=[Ranked(label=label, name=name, probability=0.9)],
        model=ModelRef(name="fromsoft", version="1.0", digest="0123456789ab"),
        sha256=sha256,
    ).model_dump()
    return cache_key(sha256, "fromsoft", "1.0", "0123456789ab", "3", 1), answer
