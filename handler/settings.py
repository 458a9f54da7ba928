"""The handler's settings in TorchServe's workers, read from the environment in one place. The archive's
``model-config.yaml`` (its ``handler:`` section) gives the handler's defaults and the environment
overrides them, so that one ``MAX_UPLOAD_BYTES`` set for the stack reaches nginx, the gateway,
TorchServe and this handler alike."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inference.formats import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES
from inference.session_options import SPIN_WAIT


@dataclass(frozen=True)
class ServingSettings:
    threads: int = 1  # FROMSOFT_THREADS: intra-op threads; workers x threads should match the cores
    spin_wait: bool = SPIN_WAIT  # FROMSOFT_SPIN_WAIT (1/0): ONNX Runtime's threads spin after a run
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # MAX_UPLOAD_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS  # MAX_IMAGE_PIXELS

    @classmethod
    def load(
        cls, archived: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ
    ) -> ServingSettings:
        """``archived``: the ``handler:`` section of the archive's model config, when in a worker."""
        archived = archived or {}

        def pick(variable: str, key: str, default: float) -> str | Any:
            return env.get(variable, archived.get(key, default))

        return cls(
            threads=int(pick("FROMSOFT_THREADS", "threads", cls.threads)),
            spin_wait=str(pick("FROMSOFT_SPIN_WAIT", "spin_wait", cls.spin_wait)).lower() in ("1", "true"),
            max_upload_bytes=int(pick("MAX_UPLOAD_BYTES", "max_upload_bytes", cls.max_upload_bytes)),
            max_pixels=int(pick("MAX_IMAGE_PIXELS", "max_pixels", cls.max_pixels)),
        )
