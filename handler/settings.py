"""The handler's settings: the archive's ``model-config.yaml`` (its ``handler:`` section) gives the
defaults, and the environment TorchServe's workers inherit overrides them, so that one
``MAX_UPLOAD_BYTES`` set for the stack reaches nginx, the gateway, TorchServe and this handler alike."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000  # 4K is 8.3 MP; larger is a bomb or not a screenshot


@dataclass(frozen=True)
class HandlerSettings:
    threads: int = 1  # FROMSOFT_THREADS: intra-op threads; workers x threads should match the cores
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # MAX_UPLOAD_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS  # MAX_IMAGE_PIXELS

    @classmethod
    def load(cls, archived: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> HandlerSettings:
        """``archived``: the ``handler:`` section of the archive's model config."""

        def pick(variable: str, key: str, default: int) -> int:
            return int(env.get(variable, archived.get(key, default)))

        return cls(
            threads=pick("FROMSOFT_THREADS", "threads", cls.threads),
            max_upload_bytes=pick("MAX_UPLOAD_BYTES", "max_upload_bytes", cls.max_upload_bytes),
            max_pixels=pick("MAX_IMAGE_PIXELS", "max_pixels", cls.max_pixels),
        )
