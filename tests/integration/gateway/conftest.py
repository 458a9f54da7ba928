"""Real Redis, the real gateway (two workers) and a real nginx in front, over the session TorchServe."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from launchers.gateway import gateway_env, start_gateway
from launchers.nginx import start_nginx
from launchers.procs import LoopbackServer
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe
from tests.support.dns_server import DnsServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(torchserve: TorchServe, redis_server: RedisServer, tmp_path_factory) -> Iterator[LoopbackServer]:
    env = gateway_env(torchserve, redis_server.url, RATE_LIMIT="1000/minute", REDIS_BREAKER_SECONDS="1")
    server = start_gateway(tmp_path_factory.mktemp("gateway"), env, workers=2)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web_root() -> Iterator[Path]:
    # nginx's unprivileged worker must read it: pytest's own temp folders are private to their owner.
    root = Path(tempfile.mkdtemp(prefix="fromsoft-web-"))
    root.chmod(0o755)
    (root / "index.html").write_text("<!doctype html><title>FromSoft Lens</title>")
    (root / "index.html").chmod(0o644)
    yield root
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def edge(gateway: LoopbackServer, web_root: Path, tmp_path_factory) -> Iterator[LoopbackServer]:
    server = start_nginx(tmp_path_factory.mktemp("nginx"), gateway.port, web_root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def frames(synthetic_data: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((synthetic_data / "FromSoftwareImages").rglob("*.jpg"))[::37][:12]]


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    """A DNS server on loopback that answers what a test says (URL_FETCH_NAMESERVER points at it)."""
    server = DnsServer().start()
    yield server
    server.stop()
