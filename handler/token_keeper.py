"""Keeps TorchServe's inference and management keys from expiring.

TorchServe expires both keys ``token_expiration_min`` after it wrote them (``TS_TOKEN_EXPIRATION_MIN``,
60 by default) and never renews them itself: from then on every call is refused. This process renews
each key through TorchServe's token API (authorized by the API key, which does not expire) once less
than half of its lifetime is left. TorchServe rewrites ``key_file.json``; the gateway and
``python -m handler.manage`` read the new keys from it, and the gateway asks again, once, with the new
key when TorchServe refused one it had read just before a renewal.

    python -m handler.token_keeper --key-file var/torchserve/key_file.json \
        --management-url http://127.0.0.1:8081

One keeper per TorchServe: the native stack starts it beside TorchServe, compose runs it as a service
on the same keys volume, Kubernetes as a container of the serving pod. ``--check`` (their healthcheck)
says whether both keys are fresh.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from handler.settings import ServingSettings

logger = logging.getLogger("token_keeper")
KINDS = ("inference", "management")


def seconds_left(key_file: Path, now: datetime | None = None) -> dict[str, float]:
    """Seconds until each key expires, from the expiration times TorchServe wrote beside the keys."""
    data = json.loads(key_file.read_text())
    now = now or datetime.now(UTC)
    return {
        kind: (datetime.fromisoformat(data[kind]["expiration time"]) - now).total_seconds() for kind in KINDS
    }


def due(left: dict[str, float], lifetime_seconds: float) -> list[str]:
    """The keys with less than half their lifetime left."""
    return [kind for kind, seconds in left.items() if seconds < lifetime_seconds / 2]


def renew(client: httpx.Client, key_file: Path, kind: str) -> None:
    """Have TorchServe replace the ``kind`` key (it rewrites ``key_file`` with the new one)."""
    api_key = json.loads(key_file.read_text())["API"]["key"]
    response = client.get("/token", params={"type": kind}, headers={"Authorization": f"Bearer {api_key}"})
    response.raise_for_status()


def keep(
    key_file: Path, management_url: str, lifetime_min: float, stop: threading.Event, check_seconds: float
) -> None:
    """Renew the keys as they come due until ``stop`` is set. Failures (TorchServe restarting, the key
    file being rewritten) are logged and tried again at the next check."""
    lifetime = lifetime_min * 60
    with httpx.Client(base_url=management_url, timeout=10) as client:
        while not stop.is_set():
            try:
                for kind in due(seconds_left(key_file), lifetime):
                    renew(client, key_file, kind)
                    logger.info("renewed TorchServe's %s key", kind)
            except (OSError, ValueError, KeyError, httpx.HTTPError) as exc:
                logger.warning("could not check or renew TorchServe's keys: %s", exc)
            stop.wait(check_seconds)


def fresh(key_file: Path, lifetime_seconds: float) -> bool:
    """Both keys have more than a sixth of their lifetime left: the keeper is doing its job."""
    return all(seconds > lifetime_seconds / 6 for seconds in seconds_left(key_file).values())


def main() -> None:
    lifetime = ServingSettings.load().token_expiration_min
    parser = argparse.ArgumentParser(
        prog="python -m handler.token_keeper", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--key-file", type=Path, required=True, help="TorchServe's key_file.json")
    parser.add_argument("--management-url", default="http://127.0.0.1:8081")
    parser.add_argument(
        "--lifetime-min",
        type=float,
        default=lifetime,
        help="the keys' lifetime, TorchServe's token_expiration_min (default: TS_TOKEN_EXPIRATION_MIN or 60)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 0 if both keys are fresh, 1 if not (a healthcheck)"
    )
    args = parser.parse_args()
    if args.check:
        try:
            raise SystemExit(0 if fresh(args.key_file, args.lifetime_min * 60) else 1)
        except (OSError, ValueError, KeyError):
            raise SystemExit(1) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Checked often enough to renew a key with at least a sixth of its lifetime to spare.
    check = min(30.0, args.lifetime_min * 60 / 6)
    logger.info(
        "keeping %s fresh (lifetime %.1f min, checked every %.0f s)", args.key_file, args.lifetime_min, check
    )
    while not args.key_file.is_file() and not stop.is_set():  # TorchServe writes it at start
        time.sleep(1)
    keep(args.key_file, args.management_url, args.lifetime_min, stop, check)


if __name__ == "__main__":
    main()
