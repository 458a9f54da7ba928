"""Runtime copies of ``config.properties``: the same settings, other listeners and paths.

Everything that starts TorchServe (the native stack, the tests' and benchmarks' launchers, the container
image) renders its configuration here from the shipped file with only the keys it must change replaced,
so the security settings it runs with are the ones users run with.
"""

from __future__ import annotations

from inference.formats import batch_body_bytes
from ops.settings import OpsSettings


def render(base: str, overrides: dict[str, str]) -> str:
    """``base`` with the values of ``overrides`` replaced (or appended when absent)."""
    lines, seen = [], set()
    for line in base.splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.lstrip().startswith("#") and "=" in line and key in overrides:
            lines.append(f"{key}={overrides[key]}")
            seen.add(key)
        else:
            lines.append(line)
    lines += [f"{key}={value}" for key, value in overrides.items() if key not in seen]
    return "\n".join(lines) + "\n"


def overrides(settings: OpsSettings) -> dict[str, str]:
    """What the settings change: the listeners (inference and management on TS_BIND, metrics on
    TS_METRICS_BIND, gRPC on loopback), the model store, TorchServe's request limit for the stack's image
    limit (a batch's body: ``BATCH_UPLOADS`` x ``MAX_UPLOAD_BYTES`` and multipart framing, so that the
    gateway sends a batch's misses in one request; above it TorchServe answers 413 with an empty body, and
    the handler still refuses each image over ``MAX_UPLOAD_BYTES``) and the keys' lifetime (renewed by the
    reconciler before it runs out)."""
    bind, metrics_bind = settings.ts_bind, settings.ts_metrics_bind or settings.ts_bind
    return {
        "inference_address": f"http://{bind}:{settings.ts_inference_port}",
        "management_address": f"http://{bind}:{settings.ts_management_port}",
        "metrics_address": f"http://{metrics_bind}:{settings.ts_metrics_port}",
        "grpc_inference_address": "127.0.0.1",
        "grpc_management_address": "127.0.0.1",
        "grpc_inference_port": str(settings.ts_grpc_port),
        "grpc_management_port": str(settings.ts_grpc_management_port),
        "initial_worker_port": str(settings.ts_worker_port),
        "model_store": str(settings.model_store.resolve()),
        "max_request_size": str(batch_body_bytes(settings.max_upload_bytes)),
        "token_expiration_min": f"{settings.ts_token_expiration_min:g}",
    }
