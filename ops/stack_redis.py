"""The stack's Redis as an operator's command reaches it (`ops.models promote` reads a canary's comparisons
there): the address with the password from REDIS_PASSWORD_FILE and, when Redis cannot be reached, one
sentence that names the setting to give and where the stack keeps it. redis-py's own words say neither
("HELLO must be called with the client already authenticated" is what a missing password reads as).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import redis

from inference.canary import redis_address
from ops.settings import OpsSettings

TIMEOUT_SECONDS = 5.0


class RedisUnreachableError(Exception):
    """The stack's Redis could not be read; the message says which setting to give."""


def shown(url: str) -> str:
    """``url`` without a password, fit for a message."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def trouble(exc: redis.RedisError, settings: OpsSettings) -> str:
    """What went wrong reaching Redis, and what to set."""
    where = f"cannot reach Redis at {shown(settings.redis_url)}"
    native = settings.native_redis_password_file
    if isinstance(exc, redis.AuthenticationError):  # a ConnectionError too: asked first
        if settings.redis_password_file is None:
            return (
                f"{where}: it asks for a password; set REDIS_PASSWORD_FILE (the native stack keeps it in "
                f"{native})"
            )
        return (
            f"{where}: it refuses the password in {settings.redis_password_file}; set REDIS_PASSWORD_FILE to "
            f"the stack's (the native stack keeps it in {native})"
        )
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return (
            f"{where}: nothing answers there (is the stack up?); set REDIS_URL to the stack's Redis (the "
            f"native stack writes it to {settings.stack_file} as it starts)"
        )
    return f"Redis at {shown(settings.redis_url)} refused the command: {exc}"


@contextmanager
def connected(settings: OpsSettings) -> Iterator[redis.Redis]:
    """A client of the stack's Redis; whatever fails inside, as a RedisUnreachableError that says why."""
    try:
        address = redis_address(settings.redis_url, settings.redis_password_file)
    except OSError as exc:
        raise RedisUnreachableError(
            f"cannot read Redis's password from {settings.redis_password_file} (REDIS_PASSWORD_FILE): "
            f"{(exc.strerror or str(exc)).lower()}; the native stack keeps it in "
            f"{settings.native_redis_password_file}"
        ) from None
    client = redis.Redis.from_url(address, socket_timeout=TIMEOUT_SECONDS)
    try:
        yield client
    except redis.RedisError as exc:
        raise RedisUnreachableError(trouble(exc, settings)) from None
    finally:
        client.close()
