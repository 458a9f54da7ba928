"""A cached classification and the key it is stored under, as the gateway writes them: the cache serves
only entries that answer their key (gateway.cache.answers_its_key)."""

from __future__ import annotations

from typing import Any

from gateway.cache import cache_key, image_digest


def cached_classification(
    image: bytes, label: str = "sekiro", name: str = "Sekiro"
) -> tuple[str, dict[str, Any]]:
    sha256 = image_digest(image)
    answer = {
        "label": label,
        "name": name,
        "confidence": 0.9,
        "top_k": [{"label": label, "name": name, "probability": 0.9}],
        "model": {"name": "fromsoft", "version": "1.0", "digest": "0123456789ab"},
        "sha256": sha256,
    }
    return cache_key(sha256, "fromsoft", "1.0", "0123456789ab", "3", 1), answer
