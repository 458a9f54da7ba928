"""The gateway's one settings object, read from the environment (names in docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import math
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL

from inference.canary import redis_address
from inference.formats import (
    DEFAULT_BATCH_MAX_FILES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PIXELS_PER_UNIT,
    MULTIPART_OVERHEAD,
    batch_body_bytes,
)
from store.api_keys import read_pepper
from store.engine import database_url
from store.settings import DEFAULT_DATABASE_URL

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, case_sensitive=False, extra="ignore")

    torchserve_inference_url: str = "http://127.0.0.1:8080"
    # The inference key, in a file the replica's reconciler writes (re-read when it changes); the gateway
    # never holds the management key.
    torchserve_key_file: Path | None = None
    torchserve_inference_token: str | None = None
    # This replica's report (inference.replica_status): what TorchServe serves, read instead of the management
    # API; without it the gateway knows of no model and answers 503.
    replica_status_file: Path | None = None
    model_name: str = "fromsoft"
    upstream_connect_timeout: float = 1.0
    upstream_read_timeout: float = 30.0
    # Shadow calls to a canary (gateway.canary) running at once per worker; beyond, a comparison is skipped.
    canary_concurrency: int = 2
    # The comparisons one client's images may feed (limits notation, per client like RATE_LIMIT): the model
    # calls its traffic adds, and its weight in `promote`'s verdict (inference.canary.PROMOTION), stay
    # bounded.
    canary_client_limit: str = "10/hour"
    model_refresh_seconds: float = 3.0  # how often the metrics of the report are refreshed without traffic

    redis_url: str = "redis://127.0.0.1:6379/0"
    # The password Redis requires, from a file (a Kubernetes Secret, compose's secret volume, the native
    # stack's var/redis/password): never on a command line, nor in a URL an operator types.
    redis_password_file: Path | None = None
    redis_timeout: float = 0.05  # connect and read: a sick Redis costs at most this much
    redis_breaker_failures: int = 3
    redis_breaker_seconds: float = 5.0
    cache_ttl_seconds: int = 86400

    # A request pays its whole cost in units, and one costing more than the tightest window is refused
    # (gateway.api.deps): the second's limit holds the costliest single request, an explanation of an
    # image at the pixel cap (EXPLAIN_COST + 1 = 6), and still caps a burst below the minute's 10.
    rate_limit: str = "10/minute;6/second"
    explain_cost: int = 5  # an explanation (forward and backward pass) counts as this many requests
    rate_limit_headers: bool = False  # X-RateLimit-* on allowed answers too: a Redis round trip more
    trusted_proxies: Annotated[list[Network], NoDecode] = [
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    ]
    # The key only the edge (nginx) holds, which it sends as X-Edge-Key (nginx/render.py reads the same
    # file). Set, X-Forwarded-For and X-Request-ID are believed only from a trusted proxy that sends it:
    # where every process shares the proxy's address (loopback) or addresses come and go (pods).
    edge_key_file: Path | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # the stack's one upload limit (docs/configuration.md)
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # width x height, read from the header: the handler's too
    pixels_per_unit: int = DEFAULT_PIXELS_PER_UNIT  # an upload costs a rate-limit unit per this many, started
    batch_max_files: int = DEFAULT_BATCH_MAX_FILES  # images in one /api/v1/classify/batch request
    # Requests under /api/ at once per worker; beyond it a 503 at once. Each may hold an upload in memory:
    # the cap bounds the worker's memory (at most this many uploads) instead of a queue that grows with
    # load. A serving unit runs one worker by default: one does the work of two at a third of the memory
    # (BENCHMARKS.md, what one more replica costs), so it takes the places two workers of 12 had.
    max_in_flight: int = 24
    cors_origins: Annotated[list[str], NoDecode] = []
    # Where the workers' metrics files go, so that /metrics sums every worker (prometheus_client reads
    # the same variable for its own use); unset: one process, metrics in memory.
    prometheus_multiproc_dir: Path | None = None
    # The system of record for feedback (store/): a SQLite file by default, PostgreSQL where replicas
    # share it; its password from a file, as Redis's. Feedback fails closed (503) without it.
    database_url: str = DEFAULT_DATABASE_URL
    database_password_file: Path | None = None
    database_timeout: float = 5.0  # a feedback write waits at most this long, then answers 503
    # The key of the keyed hash that stands for a visitor in the votes (HMAC-SHA256 of the rate-limit
    # bucket): one per stack, shared by every replica, so that the store never holds an address.
    feedback_key_file: Path | None = None
    # Clients' API keys (gateway.api_keys, store.api_keys): the pepper their hashes are made under, one per
    # stack (python -m ops.keys reads the same file); unset, every keyed request is refused with 401.
    api_key_pepper_file: Path | None = None
    # A key's row is read again after this long: a revocation takes effect within it.
    api_key_cache_seconds: float = 10.0
    # A keyed request's place under its key's concurrency lapses this long after its gateway last renewed
    # it (every third of it): a killed gateway's places free themselves (gateway.key_limits).
    api_key_lease_seconds: float = 30.0

    # Images by URL (gateway.url_fetch). A fetch costs URL_FETCH_COST units beyond its image's: it holds
    # a place and a connection for up to 10 s where an upload's body comes buffered by nginx.
    url_fetch_cost: int = 1
    # Requests whose fetches run at once per worker; beyond, a 503 at once: a third of MAX_IN_FLIGHT, so
    # that slow sources never hold the places uploads need.
    url_fetch_concurrency: int = 8
    # The DNS server the fetch asks ("host" or "host:port"); unset, the system's (/etc/resolv.conf).
    url_fetch_nameserver: str | None = None
    url_fetch_ca_file: Path | None = None  # the CAs an https source must chain to; unset, certifi's
    # FOR TESTS ONLY: set, the fetch goes to these networks alone (on any port) and nothing else, so that
    # tests fetch from loopback servers and never reach out. Empty (the default) in every deployment.
    url_fetch_test_allow: Annotated[list[Network], NoDecode] = []

    @field_validator("trusted_proxies", "url_fetch_test_allow", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [
                ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()
            ]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def edge_key(self) -> bytes | None:
        """EDGE_KEY_FILE's key, read when the worker starts; an empty file is refused, never a key of
        nothing."""
        if self.edge_key_file is None:
            return None
        key = self.edge_key_file.read_bytes().strip()
        if not key:
            raise ValueError(f"EDGE_KEY_FILE {self.edge_key_file} is empty")
        return key

    def api_key_pepper(self) -> bytes | None:
        """API_KEY_PEPPER_FILE's secret, read when the worker starts (store.api_keys.read_pepper)."""
        return read_pepper(self.api_key_pepper_file) if self.api_key_pepper_file is not None else None

    def database_address(self) -> URL:
        """DATABASE_URL with the password from DATABASE_PASSWORD_FILE, read when the worker starts."""
        return database_url(self.database_url, self.database_password_file)

    def redis_address(self) -> str:
        """REDIS_URL with the password from REDIS_PASSWORD_FILE, read when the worker starts."""
        return redis_address(self.redis_url, self.redis_password_file)

    @property
    def units_at_pixel_cap(self) -> int:
        """What an image of MAX_IMAGE_PIXELS costs in rate-limit units (2 by default)."""
        return max(1, math.ceil(self.max_image_pixels / self.pixels_per_unit))

    @property
    def max_body_bytes(self) -> int:
        """The upload limit plus room for multipart headers and boundaries."""
        return self.max_upload_bytes + MULTIPART_OVERHEAD

    @property
    def max_batch_body_bytes(self) -> int:
        """A batch's body limit, from MAX_UPLOAD_BYTES as nginx derives its own (inference.formats)."""
        return batch_body_bytes(self.max_upload_bytes)


@lru_cache
def get_settings() -> Settings:
    return Settings()
