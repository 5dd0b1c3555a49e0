"""A failing backend never fails a caller: the source answers, failures are counted."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from tiered.cache import Cache, CacheMetrics
from tiered.clock import FrozenClock
from tiered.errors import CacheError


class BrokenBackend:
    """Every call fails as a dead Redis would, and is counted."""

    def __init__(self, cause: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.cause = cause or RedisConnectionError("connection refused")

    def _fail(self, operation: str) -> CacheError:
        self.calls.append(operation)
        error = CacheError(f"Redis failed during {operation}")
        error.__cause__ = self.cause
        return error

    async def get(self, key: str) -> bytes | None:
        raise self._fail("get")

    async def set(
        self, key: str, value: bytes, ttl: float, *, lease_token: str | None = None
    ) -> None:
        raise self._fail("set")

    async def delete(self, keys: Sequence[str]) -> None:
        raise self._fail("delete")

    async def tag_versions(self, tags: Sequence[str]) -> list[int]:
        raise self._fail("tag_versions")

    async def bump_tags(self, tags: Sequence[str]) -> None:
        raise self._fail("bump_tags")

    async def acquire_lease(self, key: str, ttl: float) -> str | None:
        raise self._fail("acquire_lease")

    async def release_lease(self, key: str, token: str) -> None:
        raise self._fail("release_lease")

    async def wait_for_fill(self, key: str, at_most: float) -> bytes | None:
        raise self._fail("wait_for_fill")

    async def sync(self) -> None:
        raise self._fail("sync")

    async def aclose(self) -> None:
        return None


def errors(cache: Cache, operation: str) -> float:
    labels = {"cache": cache.name, "operation": operation}
    return cache.metrics.registry.get_sample_value("cache_errors_total", labels) or 0.0


def bypassed(cache: Cache) -> float:
    labels = {"cache": cache.name}
    return cache.metrics.registry.get_sample_value("cache_bypassed_total", labels) or 0.0


async def load() -> dict[str, int]:
    return {"from": 1}


async def test_the_source_answers_while_the_backend_is_down() -> None:
    clock = FrozenClock()
    backend = BrokenBackend()
    cache = Cache(backend, clock=clock, retry_after=5, name="markets")
    assert await cache.get_or_set("k", load) == {"from": 1}
    assert backend.calls == ["get"]
    assert errors(cache, "get") == 1
    for _ in range(10):
        assert await cache.get_or_set("k", load) == {"from": 1}
    assert backend.calls == ["get"], "a backend known to be down is left alone"
    assert bypassed(cache) == 10
    clock.advance(5)
    assert await cache.get_or_set("k", load) == {"from": 1}
    assert backend.calls == ["get", "get"]
    assert errors(cache, "get") == 2
    registry = cache.metrics.registry  # the series exist from the start, at zero
    assert registry.get_sample_value("cache_misses_total", {"cache": "markets"}) == 0
    assert registry.get_sample_value("cache_hits_total", {"cache": "markets"}) == 0


async def test_tagged_reads_degrade_too() -> None:
    backend = BrokenBackend()
    cache = Cache(backend, clock=FrozenClock())
    assert await cache.get_or_set("k", load, tags=["markets"]) == {"from": 1}
    assert await cache.get("k", tags=["markets"]) is None
    assert errors(cache, "tag_versions") == 1


async def test_writes_and_invalidations_fail_quietly_but_are_counted() -> None:
    backend = BrokenBackend()
    cache = Cache(backend, clock=FrozenClock())
    await cache.set("k", 1)
    await cache.delete("k")
    await cache.invalidate_tags("t")
    await cache.sync()
    await cache.invalidation(keys=["k"], tags=["t"])()
    assert backend.calls == ["set", "delete", "bump_tags", "sync", "delete", "bump_tags"]
    assert (errors(cache, "set"), errors(cache, "delete"), errors(cache, "invalidate_tags")) == (
        1,
        2,
        2,
    )


async def test_a_failed_lease_still_loads() -> None:
    class LeaseFails(BrokenBackend):
        async def get(self, key: str) -> bytes | None:
            self.calls.append("get")
            return None

    backend = LeaseFails()
    cache = Cache(backend, clock=FrozenClock())
    assert await cache.get_or_set("k", load) == {"from": 1}
    assert backend.calls == ["get", "acquire_lease"]
    assert errors(cache, "lease") == 1


async def test_an_exhausted_pool_does_not_mark_the_backend_down() -> None:
    backend = BrokenBackend(MaxConnectionsError("too many connections"))
    cache = Cache(backend, clock=FrozenClock())
    assert await cache.get_or_set("k", load) == {"from": 1}
    assert await cache.get_or_set("k", load) == {"from": 1}
    assert backend.calls.count("get") == 2
    assert bypassed(cache) == 0


async def test_failures_are_logged_at_most_once_per_interval() -> None:
    clock = FrozenClock()
    cache = Cache(BrokenBackend(), clock=clock, retry_after=1, log_interval=60)
    with structlog.testing.capture_logs() as captured:
        for _ in range(30):
            await cache.get_or_set("k", load)
            clock.advance(1)
        clock.advance(60)
        await cache.get_or_set("k", load)
    warnings = [entry for entry in captured if entry["event"] == "cache_unavailable"]
    assert [entry["unlogged_failures"] for entry in warnings] == [0, 29]
    assert "connection refused" in warnings[0]["error"]
    assert errors(cache, "get") == 31


async def test_recovery_is_logged_once() -> None:
    class Flaky(BrokenBackend):
        broken = True

        async def get(self, key: str) -> bytes | None:
            if self.broken:
                raise self._fail("get")
            return b'"cached"'

    clock = FrozenClock()
    backend = Flaky()
    cache = Cache(backend, clock=clock, retry_after=1)
    with structlog.testing.capture_logs() as captured:
        await cache.get_or_set("k", load)
        backend.broken = False
        clock.advance(1)
        assert await cache.get_or_set("k", load) == "cached"
        assert await cache.get_or_set("k", load) == "cached"
    assert [entry["event"] for entry in captured] == ["cache_unavailable", "cache_recovered"]


def test_caches_share_one_metrics_object_under_their_own_label() -> None:
    metrics = CacheMetrics()
    first = Cache(BrokenBackend(), name="first", metrics=metrics)
    second = Cache(BrokenBackend(), name="second", metrics=metrics)
    assert first.metrics is second.metrics


@pytest.mark.parametrize(
    ("option", "value"),
    [("ttl", 0), ("ttl", float("inf")), ("lease_ttl", -1), ("lease_wait", 0), ("ttl_jitter", 1)],
)
def test_unusable_options_are_refused(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        Cache(BrokenBackend(), **{option: value})  # type: ignore[arg-type]
