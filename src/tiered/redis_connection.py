"""The shared Redis client: short timeouts so a dead Redis degrades, never hangs."""

from __future__ import annotations

from redis.asyncio import Redis

__all__ = ["connect_redis", "ping_redis"]


def connect_redis(url: str, *, timeout: float = 1.0) -> Redis:
    """A pooled client; connections are made lazily and re-made after a restart."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry_on_timeout=False,
    )


async def ping_redis(client: Redis) -> None:
    """Raise if Redis does not answer; the client's socket timeout bounds the wait."""
    await client.ping()
