"""The gateway's connections to Redis: redis-py's, with one trap of uvloop closed.

The gateway runs on uvloop. When Redis dies while redis-py is writing (mid-connect, in its health
check), uvloop refuses the write on its closed transport with a ``RuntimeError`` ("the handler is
closed"), where asyncio's own loop raises an ``OSError`` that redis-py turns into a ``ConnectionError``.
Every caller fails open on ``RedisError``; the bare ``RuntimeError`` escaped them and answered 500
(tests/e2e/test_soak.py caught it when Redis was killed under load). This connection reports it as
what it is, a lost connection, so that one definition of "Redis failed" holds at every call site.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError


class UvloopSafeConnection(Connection):
    """A TCP connection whose writes and reads on a transport uvloop has closed raise a
    ``redis.exceptions.ConnectionError``. redis-py has already dropped the connection by then (it
    disconnects on any exception while writing or reading), so the pool opens a new one next time."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as exc:
            raise RedisConnectionError(f"Redis connection lost while writing: {exc}") from exc

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except RuntimeError as exc:
            raise RedisConnectionError(f"Redis connection lost while reading: {exc}") from exc


def connection_options(timeout: float) -> dict[str, Any]:
    """Options for ``from_url`` (redis-py's, or ``limits``' storage, which passes them on). A
    ``rediss://`` or ``unix://`` address keeps redis-py's own class for its scheme: URL options win in
    ``from_url``, so TLS is never silently dropped for this plain-TCP class."""
    return {
        "connection_class": UvloopSafeConnection,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }


def redis_client(address: str, timeout: float) -> Redis:
    """The worker's one client (cache, admission, shares, canary, key budgets). ``timeout`` bounds
    connect and each answer; no retry on timeout, since every caller has a fallback and a breaker."""
    return Redis.from_url(address, retry_on_timeout=False, **connection_options(timeout))
