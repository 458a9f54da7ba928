"""Runtime copies of ``config.properties``: same settings, other ports and paths.

Tests, the native stack and the benchmarks start TorchServe from the shipped file with only the keys
they must change replaced, so the security settings they run with are the ones users run with.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handler.settings import ServingSettings
from inference.formats import MULTIPART_OVERHEAD


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


def listener_overrides(
    host: str, inference: int, management: int, metrics: int, grpc: int, grpc_mgmt: int, worker_port: int
) -> dict[str, str]:
    return {
        "inference_address": f"http://{host}:{inference}",
        "management_address": f"http://{host}:{management}",
        "metrics_address": f"http://{host}:{metrics}",
        "grpc_inference_port": str(grpc),
        "grpc_management_port": str(grpc_mgmt),
        "initial_worker_port": str(worker_port),
    }


def upload_overrides(max_upload_bytes: int) -> dict[str, str]:
    """TorchServe's request limit for the stack's image limit (``MAX_UPLOAD_BYTES``): the image plus room
    for multipart headers. Above it TorchServe's front end answers 413 with an empty body."""
    return {"max_request_size": str(max_upload_bytes + MULTIPART_OVERHEAD)}


def settings_overrides(settings: ServingSettings) -> dict[str, str]:
    """What the stack's settings change in TorchServe's configuration: the upload limit
    (``MAX_UPLOAD_BYTES``) and the keys' lifetime (``TS_TOKEN_EXPIRATION_MIN``, renewed by
    handler.token_keeper before it runs out)."""
    return {
        **upload_overrides(settings.max_upload_bytes),
        "token_expiration_min": f"{settings.token_expiration_min:g}",
    }


def read_keys(key_file: Path) -> dict[str, str]:
    """TorchServe's ``key_file.json`` -> {"inference": key, "management": key}."""
    data = json.loads(key_file.read_text())
    return {kind: data[kind]["key"] for kind in ("inference", "management") if kind in data}


def main() -> None:
    parser = argparse.ArgumentParser(
        description="render a runtime copy of config.properties (max_request_size from MAX_UPLOAD_BYTES, "
        "token_expiration_min from TS_TOKEN_EXPIRATION_MIN)"
    )
    parser.add_argument("base", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    args = parser.parse_args()
    overrides = {
        **settings_overrides(ServingSettings.load()),
        **dict(item.split("=", 1) for item in args.set),
    }
    print(render(args.base.read_text(), overrides), end="")


if __name__ == "__main__":
    main()
