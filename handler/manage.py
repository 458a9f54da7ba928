"""Manage served models through TorchServe's management API, with the token TorchServe wrote.

    python -m handler.manage list
    python -m handler.manage describe fromsoft
    python -m handler.manage register fromsoft-2.0.mar [--workers 1]
    python -m handler.manage set-default fromsoft 2.0
    python -m handler.manage scale fromsoft --min 2 --max 2
    python -m handler.manage unregister fromsoft 1.0

Registration takes file names in the model store only (config.properties pins ``allowed_urls``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from handler.ts_config import read_keys


@dataclass(frozen=True)
class ManageSettings:
    """Where TorchServe's management API and its key file are, under the gateway's names for them."""

    url: str = "http://127.0.0.1:8081"  # TORCHSERVE_MANAGEMENT_URL
    key_file: Path = Path("var/torchserve/key_file.json")  # TORCHSERVE_KEY_FILE (the native stack's)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ManageSettings:
        return cls(
            env.get("TORCHSERVE_MANAGEMENT_URL", cls.url),
            Path(env.get("TORCHSERVE_KEY_FILE", str(cls.key_file))),
        )


class ManagementClient:
    def __init__(self, url: str, key_file: Path | None, timeout: float = 120.0) -> None:
        self.key_file = key_file
        self.http = httpx.Client(base_url=url, timeout=timeout)

    def _headers(self) -> dict[str, str]:
        """The management key as of now: handler.token_keeper renews it while the stack runs."""
        if self.key_file is None or not self.key_file.is_file():
            return {}
        return {"Authorization": f"Bearer {read_keys(self.key_file)['management']}"}

    def _call(self, method: str, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        response = self.http.request(method, path, params=query, headers=self._headers())
        if response.is_error:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text.strip()}")
        return response.json()

    def list(self) -> Any:
        return self._call("GET", "/models")

    def default(self, name: str) -> Any:
        """The default version: the one answering requests, with its workers."""
        return self._call("GET", f"/models/{name}")

    def describe(self, name: str, version: str | None = None) -> Any:
        return self._call("GET", f"/models/{name}" + (f"/{version}" if version else "/all"))

    def register(
        self,
        archive: str,
        workers: int = 1,
        name: str | None = None,
        batch_size: int | None = None,
        max_batch_delay: int | None = None,
    ) -> Any:
        """``batch_size`` and ``max_batch_delay`` (ms) override the archive's own model config."""
        return self._call(
            "POST",
            "/models",
            url=archive,
            initial_workers=workers,
            synchronous="true",
            model_name=name,
            batch_size=batch_size,
            max_batch_delay=max_batch_delay,
        )

    def set_default(self, name: str, version: str) -> Any:
        return self._call("PUT", f"/models/{name}/{version}/set-default")

    def scale(self, name: str, min_workers: int, max_workers: int, version: str | None = None) -> Any:
        path = f"/models/{name}" + (f"/{version}" if version else "")
        return self._call("PUT", path, min_worker=min_workers, max_worker=max_workers, synchronous="true")

    def unregister(self, name: str, version: str) -> Any:
        return self._call("DELETE", f"/models/{name}/{version}")


def main(argv: list[str] | None = None) -> int:
    settings = ManageSettings.from_env()
    parser = argparse.ArgumentParser(prog="python -m handler.manage", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url",
        default=settings.url,
        help=f"management API (default: TORCHSERVE_MANAGEMENT_URL, {settings.url})",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        default=settings.key_file,
        help=f"TorchServe's key_file.json (default: TORCHSERVE_KEY_FILE, {settings.key_file})",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="served models")
    p = sub.add_parser("describe", help="versions, workers and their status")
    p.add_argument("name")
    p.add_argument("version", nargs="?")
    p = sub.add_parser("register", help="register an archive from the model store")
    p.add_argument("archive", help="file name in the model store, e.g. fromsoft-2.0.mar")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--name", help="model name (default: the archive's)")
    p.add_argument("--batch-size", type=int, help="requests per batch (default: the archive's)")
    p.add_argument(
        "--max-batch-delay", type=int, help="ms to wait for a batch to fill (default: the archive's)"
    )
    p = sub.add_parser("set-default", help="make a version the one answering requests")
    p.add_argument("name")
    p.add_argument("version")
    p = sub.add_parser("scale", help="set the number of workers")
    p.add_argument("name")
    p.add_argument("--min", type=int, required=True, dest="min_workers")
    p.add_argument("--max", type=int, dest="max_workers")
    p.add_argument("--version")
    p = sub.add_parser("unregister", help="remove a version")
    p.add_argument("name")
    p.add_argument("version")
    args = parser.parse_args(argv)

    client = ManagementClient(args.url, args.key_file)
    try:
        if args.command == "list":
            result = client.list()
        elif args.command == "describe":
            result = client.describe(args.name, args.version)
        elif args.command == "register":
            result = client.register(
                args.archive, args.workers, args.name, args.batch_size, args.max_batch_delay
            )
        elif args.command == "set-default":
            result = client.set_default(args.name, args.version)
        elif args.command == "scale":
            result = client.scale(
                args.name, args.min_workers, args.max_workers or args.min_workers, args.version
            )
        else:
            result = client.unregister(args.name, args.version)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"manage: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
