"""``ChangeFeed``: every process hears which cache keys changed, through Redis pub/sub.

One subscription per backend carries two things: invalidations (a process
drops its local copy of a key another process wrote) and fill wake-ups (a
process waiting for another's loader learns the entry is there). Each
message is the sender's id followed by the key, so a process can tell its own
writes from others'.

Pub/sub does not replay what was published while a subscriber was away, so
whenever the subscription is lost *or* (re)established the feed reports a
reset: local copies may have missed an invalidation and must be dropped, and
they stay unused while the feed is down.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from contextlib import suppress

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tiered.observability.logging import get_logger

__all__ = ["ChangeFeed", "channel_name"]

_SENDER_LENGTH = 16
_log = get_logger("tiered.cache")


def channel_name(client: Redis, namespace: str) -> bytes:
    """Pub/sub channels are server-wide, keys are per database: the channel names both."""
    database = client.connection_pool.connection_kwargs.get("db", 0)
    return f"tiered-cache:{database}:{namespace}:changes".encode("utf-8", "surrogatepass")


class ChangeFeed:
    def __init__(
        self,
        client: Redis,
        channel: bytes,
        *,
        on_change: Callable[[str, bool], Awaitable[None]],
        on_reset: Callable[[bool], Awaitable[None]],
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 5.0,
    ) -> None:
        self.client = client
        self.channel = channel
        self.sender = secrets.token_hex(_SENDER_LENGTH // 2).encode()
        self._on_change = on_change
        self._on_reset = on_reset
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self.resets = 0
        """How many times the subscription was established or lost."""
        self._reset_seen = asyncio.Condition()

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    def start(self) -> None:
        """Subscribe in the background (idempotent): call from a running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"cache change feed {self.channel!r}"
            )

    async def wait_until(self, *, connected: bool, within: float) -> bool:
        """Whether the subscription reached that state within ``within`` seconds."""
        event = self._up if connected else self._down
        try:
            await asyncio.wait_for(event.wait(), within)
        except TimeoutError:
            return False
        return True

    async def wait_for_resets(self, count: int, *, within: float) -> bool:
        """Whether :attr:`resets` reached ``count`` within ``within`` seconds."""
        async with self._reset_seen:
            try:
                await asyncio.wait_for(
                    self._reset_seen.wait_for(lambda: self.resets >= count), within
                )
            except TimeoutError:
                return False
        return True

    def message(self, key: str) -> bytes:
        return self.sender + key.encode("utf-8", "surrogatepass")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await self._set_down()

    async def _run(self) -> None:
        delay = self._reconnect_delay
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        await self._set_up()
                        delay = self._reconnect_delay
                    elif message["type"] == "message":
                        await self._dispatch(message["data"])
            except (RedisError, OSError) as error:
                if self.connected:
                    _log.warning("cache_change_feed_lost", error=type(error).__name__)
            except Exception:
                _log.exception("cache_change_feed_failed")
            finally:
                await self._set_down()
                with suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_reconnect_delay)

    async def _dispatch(self, data: bytes) -> None:
        sender, key = data[:_SENDER_LENGTH], data[_SENDER_LENGTH:]
        await self._on_change(key.decode("utf-8", "surrogatepass"), sender == self.sender)

    async def _set_up(self) -> None:
        """A (re)subscription: whatever was published while away is lost, so reset."""
        self.resets += 1
        self._down.clear()
        self._up.set()
        await self._on_reset(True)
        await self._announce_reset()

    async def _set_down(self) -> None:
        if self._down.is_set():
            return
        self.resets += 1
        self._up.clear()
        self._down.set()
        await self._on_reset(False)
        await self._announce_reset()

    async def _announce_reset(self) -> None:
        async with self._reset_seen:
            self._reset_seen.notify_all()
