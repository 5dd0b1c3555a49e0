"""The shared Redis client: short timeouts so a dead Redis degrades, never hangs."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

__all__ = ["MAX_REDIS_CONNECTIONS", "connect_redis", "ping_redis"]

MAX_REDIS_CONNECTIONS = 100


def connect_redis(
    url: str, *, timeout: float = 1.0, max_connections: int = MAX_REDIS_CONNECTIONS
) -> Redis:
    """A pooled client; connections are made lazily and re-made after a restart.

    The pool *blocks* (up to ``timeout``) when every connection is busy: the
    default pool fails at once instead, so a burst of concurrent cache misses
    or limiter checks beyond the pool size would turn into errors.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry_on_timeout=False,
    )
    return Redis(connection_pool=pool)


async def ping_redis(client: Redis) -> None:
    """Raise if Redis does not answer; the client's socket timeout bounds the wait."""
    await client.ping()
