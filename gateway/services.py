"""The gateway's long-lived collaborators, built once per worker from the settings and closed with it:
the one object routes are handed (gateway.api.deps) and the use cases take (gateway.use_cases)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.admission import Admission
from gateway.api_keys import KeyBook
from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from gateway.canary import Shadow
from gateway.client_ip import Edge
from gateway.coalesce import Coalescer
from gateway.config import Settings
from gateway.feedback_store import FeedbackStore
from gateway.key_limits import KeyLimits
from gateway.metrics import redis_breaker_changed
from gateway.model_state import ModelState
from gateway.ratelimit import RateLimiter
from gateway.redis_connection import redis_client
from gateway.shares import Shares
from gateway.upstream import TorchServeClient
from gateway.url_fetch import UrlFetcher

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    edge: Edge  # who may name the client (gateway.client_ip)
    client: TorchServeClient
    state: ModelState
    cache: AnswerCache
    admission: Admission
    redis: Redis
    shadow: Shadow
    shares: Shares
    feedback: FeedbackStore
    fetcher: UrlFetcher  # images by URL
    keys: KeyBook  # clients' API keys, from the store through a short cache
    key_limits: KeyLimits  # each key's budget, in Redis
    coalescer: Coalescer  # model calls in flight, which repeats wait for

    @classmethod
    def build(cls, settings: Settings) -> Services:
        redis_address = settings.redis_address()
        redis = redis_client(redis_address, settings.redis_timeout)
        client = TorchServeClient(settings)
        breaker = CircuitBreaker(  # one Redis, so one breaker for the cache, the limiter and shares
            settings.redis_breaker_failures, settings.redis_breaker_seconds, redis_breaker_changed
        )
        limiter = RateLimiter(
            settings.rate_limit,
            redis_address,
            settings.redis_timeout,
            report=settings.rate_limit_headers,
        )
        _warn_of_requests_no_window_holds(settings, limiter)
        if settings.url_fetch_test_allow:
            logger.warning(
                "URL_FETCH_TEST_ALLOW is set: images by URL are fetched from %s alone. It is for tests",
                ", ".join(map(str, settings.url_fetch_test_allow)),
            )
        canary_limits = RateLimiter(
            settings.canary_client_limit, redis_address, settings.redis_timeout, namespace="canary"
        )
        canary_budget = Admission(redis, breaker, canary_limits)
        state = ModelState(settings.replica_status_file, settings.model_name, settings.model_refresh_seconds)
        feedback = FeedbackStore(settings)  # its engine reads keys too: one pool per worker
        keys = KeyBook(
            feedback.engine,
            settings.api_key_pepper(),
            settings.api_key_cache_seconds,
            settings.database_timeout,
        )
        return cls(
            settings=settings,
            edge=Edge.of(settings),
            client=client,
            state=state,
            cache=AnswerCache(redis, settings.cache_ttl_seconds, breaker),
            admission=Admission(redis, breaker, limiter),
            redis=redis,
            shadow=Shadow(client, state, redis, breaker, settings.canary_concurrency, canary_budget),
            shares=Shares(redis, breaker),
            feedback=feedback,
            fetcher=UrlFetcher(settings),
            keys=keys,
            key_limits=KeyLimits(redis, breaker, settings.api_key_lease_seconds),
            coalescer=Coalescer(),
        )

    async def connect_redis(self, within: float = 2.0) -> bool:
        """Open the first connection to Redis before the first request, trying again for ``within``
        seconds. Each request gives Redis REDIS_TIMEOUT (50 ms) to connect and answer; on a network
        that has just come up (compose's), the first lookup of Redis's name can take longer, and three
        such timeouts open the breaker: the first answers would go uncached. Outside the breaker, and
        never fatal: the gateway serves without Redis."""
        deadline = time.monotonic() + within
        while True:
            try:
                await self.redis.ping()
                return True
            except (RedisError, OSError) as exc:
                if time.monotonic() >= deadline:
                    logger.warning(
                        "Redis did not answer at start (%s): serving without it until it does", exc
                    )
                    return False
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.shadow.drain()
        await self.cache.flush()
        await self.client.close()
        await self.redis.aclose()
        self.feedback.close()


def _warn_of_requests_no_window_holds(settings: Settings, limiter: RateLimiter) -> None:
    """An operator who sets a limit tighter than an explanation costs refuses every such request (429
    ``cost_exceeds_limit``): say so once, when the worker starts."""
    costliest = settings.explain_cost + settings.units_at_pixel_cap - 1
    if (window := limiter.tightest.amount) < costliest:
        logger.warning(
            "RATE_LIMIT %r: its tightest limit holds %d units, and an explanation of an image at the pixel "
            "cap costs %d: such requests are refused (cost_exceeds_limit)",
            settings.rate_limit,
            window,
            costliest,
        )
