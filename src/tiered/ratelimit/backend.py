"""The store a rate limiter keeps its state in: one per process, or shared through Redis."""

from __future__ import annotations

from typing import Protocol

from tiered.ratelimit.decision import Decision, QuotaSet

__all__ = ["RateLimitBackend"]


class RateLimitBackend(Protocol):
    """Decide one request atomically: every quota admits and is charged, or none is.

    ``key`` names the client (already bounded in length and ASCII, see
    :func:`tiered.ratelimit.keys.storage_key`). A backend that cannot reach its
    store raises (``RedisError``, ``OSError``); the limiter then applies its
    fault mode.
    """

    async def check(self, key: str, quotas: QuotaSet) -> Decision: ...
