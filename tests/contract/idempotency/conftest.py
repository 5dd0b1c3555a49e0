"""The ``harness`` fixture: the idempotency contract on a memory store and on real Redis.

Time is moved, never waited for: the memory store runs on a ``FrozenClock``;
on Redis, moving time shortens the remaining TTL of every key of the test's
namespace (and deletes those it brings to zero), as the server would have.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tiered.clock import FrozenClock
from tiered.store import MemoryStore, RedisStore, Store

from ..redis_scratch import BACKENDS, let_time_pass, scratch_redis


@dataclass
class Harness:
    kind: str
    store: Store
    clock: FrozenClock
    client: Redis | None = None
    prefix: str = ""

    async def advance(self, seconds: float) -> None:
        if self.client is None:
            self.clock.advance(seconds)
            return
        await let_time_pass(self.client, self.client.scan_iter(match=f"{self.prefix}:*"), seconds)


@pytest.fixture(params=BACKENDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def harness(store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    clock = FrozenClock()
    if store_kind == "memory":
        yield Harness("memory", MemoryStore(clock=clock), clock)
        return
    async with scratch_redis(request.getfixturevalue("redis_url"), "idempotency") as (
        client,
        prefix,
    ):
        yield Harness("redis", RedisStore(client).namespace(prefix), clock, client, prefix)
