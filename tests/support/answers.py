"""Classifications in the API's shape (inference.answers), and a cached one with the key it is stored under,
as the gateway writes them: the cache serves only entries that answer their key
(gateway.cache.answers_its_key)."""

from __future__ import annotations

from typing import Any

from gateway.cache import cache_key, image_digest
from inference.answers import ClassificationBody, ModelRef, Ranked


def classification(
    sha256: str, label: str = "sekiro", name: str = "Sekiro", confidence: float = 0.9
) -> dict[str, Any]:
    """A classification of the image with this SHA-256 in the API's shape, made by its one definition."""
    return ClassificationBody(
        label=label,
        name=name,
        confidence=confidence,
        top_k=[Ranked(label=label, name=name, probability=confidence)],
        model=ModelRef(name="fromsoft", version="1.0", digest="0123456789ab"),
        sha256=sha256,
    ).model_dump()


def cached_classification(
    image: bytes, label: str = "sekiro", name: str = "Sekiro"
) -> tuple[str, dict[str, Any]]:
    sha256 = image_digest(image)
    answer = classification(sha256, label, name)
    return cache_key(sha256, "fromsoft", "1.0", "0123456789ab", "3", 1), answer
