"""The gateway's long-lived collaborators, built once per worker from the settings and closed with it:
the one object routes are handed (gateway.api.deps) and the use cases take (gateway.use_cases)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.admission import Admission
from gateway.breaker import CircuitBreaker
from gateway.cache import AnswerCache
from gateway.canary import Shadow
from gateway.config import Settings
from gateway.feedback_store import FeedbackStore
from gateway.metrics import redis_breaker_changed
from gateway.model_state import ModelState
from gateway.ratelimit import RateLimiter
from gateway.upstream import TorchServeClient


@dataclass
class Services:
    settings: Settings
    client: TorchServeClient
    state: ModelState
    cache: AnswerCache
    admission: Admission
    redis: Redis
    shadow: Shadow
    feedback: FeedbackStore

    @classmethod
    def build(cls, settings: Settings) -> Services:
        redis_address = settings.redis_address()
        redis = Redis.from_url(
            redis_address,
            socket_timeout=settings.redis_timeout,
            socket_connect_timeout=settings.redis_timeout,
            retry_on_timeout=False,
        )
        client = TorchServeClient(settings)
        breaker = CircuitBreaker(  # one Redis, so one breaker for the cache and the limiter
            settings.redis_breaker_failures, settings.redis_breaker_seconds, redis_breaker_changed
        )
        limiter = RateLimiter(
            settings.rate_limit,
            redis_address,
            settings.redis_timeout,
            report=settings.rate_limit_headers,
        )
        state = ModelState(settings.replica_status_file, settings.model_name, settings.model_refresh_seconds)
        return cls(
            settings=settings,
            client=client,
            state=state,
            cache=AnswerCache(redis, settings.cache_ttl_seconds, breaker),
            admission=Admission(redis, breaker, limiter),
            redis=redis,
            shadow=Shadow(client, state, redis, breaker, settings.canary_concurrency),
            feedback=FeedbackStore(settings),
        )

    async def close(self) -> None:
        await self.shadow.drain()
        await self.cache.flush()
        await self.client.close()
        await self.redis.aclose()
        self.feedback.close()
