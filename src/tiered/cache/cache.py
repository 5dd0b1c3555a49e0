"""``Cache``: cache-aside reads that never stampede and never fail a request.

``get_or_set(key, loader, ttl=…)`` returns the cached value or runs the loader
once for everyone who asks at the same moment:

- in this process, concurrent misses on one key share one loader run
  (:class:`~tiered.cache.single_flight.SingleFlight`);
- across processes, the first to miss takes a short lease (``SET NX PX``) and
  the others wait to be *woken* by its fill (pub/sub, no polling); a waiter
  that hears nothing within ``lease_wait`` seconds loads for itself, so a
  crashed lease holder costs a delay, not an outage.

Values go through a :class:`~tiered.cache.codec.Codec`, on a miss as on a hit,
so a caller gets the same thing either way. TTLs are shortened by up to
``ttl_jitter`` (a fraction) so entries filled together do not expire together.

When the backend fails, the cache answers from the loader, counts the failure
and leaves the backend alone for ``retry_after`` seconds; it never raises a
backend error to its caller.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, overload

from tiered.cache.backend import AnswersNow, CacheBackend
from tiered.cache.codec import Codec, codec_for, refuse_orm_entity
from tiered.cache.keys import entry_key, normalise_tags, source_flight_key
from tiered.cache.metrics import CacheMetrics
from tiered.cache.outage import BackendOutage
from tiered.cache.single_flight import SingleFlight
from tiered.clock import Clock, SystemClock
from tiered.errors import CacheError
from tiered.unit_of_work import AfterCommitHook

__all__ = ["Cache"]

T = TypeVar("T")


def _seconds(name: str, value: float) -> float:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number of seconds above zero, not {value!r}")
    return value


class Cache:
    def __init__(
        self,
        backend: CacheBackend,
        *,
        name: str = "default",
        ttl: float = 300.0,
        ttl_jitter: float = 0.1,
        lease_ttl: float = 5.0,
        lease_wait: float = 2.0,
        retry_after: float = 1.0,
        log_interval: float = 60.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        metrics: CacheMetrics | None = None,
    ) -> None:
        if not 0 <= ttl_jitter < 1:
            raise ValueError("ttl_jitter is a fraction of the TTL, from 0 up to (not including) 1")
        self.backend = backend
        self.name = name
        self.default_ttl = _seconds("ttl", ttl)
        self.ttl_jitter = ttl_jitter
        self.lease_ttl = _seconds("lease_ttl", lease_ttl)
        self.lease_wait = _seconds("lease_wait", lease_wait)
        self.metrics = metrics or CacheMetrics()
        # Resolved once: looking a label up costs more than counting, on every read.
        self._hits = self.metrics.hits.labels(name)
        self._misses = self.metrics.misses.labels(name)
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._outage = BackendOutage(
            name, self._clock, retry_after=retry_after, log_interval=log_interval
        )
        self._flights: SingleFlight[bytes] = SingleFlight()
        self._answers_now = backend if isinstance(backend, AnswersNow) else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.backend.aclose()

    @overload
    async def get_or_set(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        *,
        codec: Codec[T] | type[T],
        ttl: float | None = None,
        tags: Sequence[str] = (),
    ) -> T: ...

    @overload
    async def get_or_set(
        self,
        key: str,
        loader: Callable[[], Awaitable[Any]],
        *,
        ttl: float | None = None,
        tags: Sequence[str] = (),
    ) -> Any: ...

    async def get_or_set(
        self,
        key: str,
        loader: Callable[[], Awaitable[Any]],
        *,
        codec: Codec[Any] | type[Any] | None = None,
        ttl: float | None = None,
        tags: Sequence[str] = (),
    ) -> Any:
        """The cached value of ``key``, or the loader's (stored for ``ttl`` seconds).

        ``codec`` (a codec, or a type for pydantic to validate) defaults to
        plain JSON. ``tags`` make the entry unreachable when any of them is
        passed to :meth:`invalidate_tags`.
        """
        value_codec = codec_for(codec)
        lifetime = self._ttl(ttl)
        tag_list = normalise_tags(tags)
        hit = self._hit_now(key, tag_list)
        if hit is not None:
            return value_codec.load(hit)
        stored = await self._stored_key(key, tag_list)
        if stored is not None:
            data = await self._read(stored)
            if data is not None:
                return value_codec.load(data)
        flight = stored if stored is not None else source_flight_key(key, tag_list)
        data = await self._flights.run(
            flight, lambda: self._fill(stored, loader, value_codec, lifetime)
        )
        return value_codec.load(data)

    @overload
    async def get(
        self, key: str, *, codec: Codec[T] | type[T], tags: Sequence[str] = ()
    ) -> T | None: ...

    @overload
    async def get(self, key: str, *, tags: Sequence[str] = ()) -> Any: ...

    async def get(
        self, key: str, *, codec: Codec[Any] | type[Any] | None = None, tags: Sequence[str] = ()
    ) -> Any:
        """The cached value, or ``None`` on a miss (or when the backend is unavailable)."""
        tag_list = normalise_tags(tags)
        hit = self._hit_now(key, tag_list)
        if hit is not None:
            return codec_for(codec).load(hit)
        stored = await self._stored_key(key, tag_list)
        data = None if stored is None else await self._read(stored)
        return None if data is None else codec_for(codec).load(data)

    async def set(
        self,
        key: str,
        value: Any,
        *,
        codec: Codec[Any] | type[Any] | None = None,
        ttl: float | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        """Store ``value`` (write-through after a change, when the new value is at hand)."""
        data = self._dump(value, codec_for(codec))
        if self._outage.down:
            return
        stored = await self._stored_key(key, normalise_tags(tags))
        if stored is not None:
            await self._write(stored, data, self._ttl(ttl), None)

    async def delete(self, *keys: str, tags: Sequence[str] = ()) -> None:
        """Drop entries, everywhere; ``tags`` are the tags they were stored with."""
        tag_list = normalise_tags(tags)
        try:
            versions = await self.backend.tag_versions(tag_list) if tag_list else []
            await self.backend.delete([entry_key(key, tag_list, versions) for key in keys])
        except CacheError as error:
            self._failed("delete", error)

    async def invalidate_tags(self, *tags: str) -> None:
        """Make every entry stored with any of ``tags`` unreachable: one ``INCR`` per tag."""
        try:
            await self.backend.bump_tags(normalise_tags(tags))
        except CacheError as error:
            self._failed("invalidate_tags", error)

    def invalidation(
        self, *, keys: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> AfterCommitHook:
        """A hook for ``uow.after_commit(...)``: drop ``keys`` and bump ``tags`` once the
        change is durable, never before (a rolled-back change invalidates nothing)."""
        key_list, tag_list = tuple(keys), tuple(tags)

        async def invalidate() -> None:
            if key_list:
                await self.delete(*key_list)
            if tag_list:
                await self.invalidate_tags(*tag_list)

        return invalidate

    async def sync(self) -> None:
        """Return once changes made by other processes before the call are seen here."""
        try:
            await self.backend.sync()
        except CacheError as error:
            self._failed("sync", error)

    def _ttl(self, ttl: float | None) -> float:
        return self.default_ttl if ttl is None else _seconds("ttl", ttl)

    def _jittered(self, ttl: float) -> float:
        return ttl * (1 - self.ttl_jitter * self._rng.random())

    def _failed(self, operation: str, error: CacheError) -> None:
        self.metrics.errors.labels(self.name, operation).inc()
        self._outage.failed(operation, error)

    @staticmethod
    def _dump(value: Any, codec: Codec[Any]) -> bytes:
        refuse_orm_entity(value)
        return codec.dump(value)

    def _hit_now(self, key: str, tags: Sequence[str]) -> bytes | None:
        """The entry read at once from a backend in memory, counted; ``None`` otherwise.

        A miss is left to the general path, which counts it and fills the entry.
        """
        backend = self._answers_now
        if backend is None:
            return None
        data = backend.get_now(entry_key(key, tags, backend.tag_versions_now(tags)))
        if data is not None:
            self._hits.inc()
        return data

    async def _stored_key(self, key: str, tags: Sequence[str]) -> str | None:
        """The entry's stored key, or ``None`` when the backend is down or just failed."""
        if self._outage.down:
            self.metrics.bypassed.labels(self.name).inc()
            return None
        if not tags:
            return entry_key(key)
        try:
            versions = await self.backend.tag_versions(tags)
        except CacheError as error:
            self._failed("tag_versions", error)
            return None
        return entry_key(key, tags, versions)

    async def _read(self, stored: str) -> bytes | None:
        """The entry, counted as a hit or a miss; ``None`` also when the read failed."""
        try:
            data = await self.backend.get(stored)
        except CacheError as error:
            self._failed("get", error)
            return None
        self._outage.succeeded()
        (self._misses if data is None else self._hits).inc()
        return data

    async def _write(self, stored: str, data: bytes, ttl: float, lease: str | None) -> bool:
        try:
            await self.backend.set(stored, data, self._jittered(ttl), lease_token=lease)
        except CacheError as error:
            self._failed("set", error)
            return False
        return True

    async def _fill(
        self,
        stored: str | None,
        loader: Callable[[], Awaitable[Any]],
        codec: Codec[Any],
        ttl: float,
    ) -> bytes:
        if stored is None or self._outage.down:
            return self._dump(await loader(), codec)
        try:
            lease = await self.backend.acquire_lease(stored, self.lease_ttl)
            if lease is None:
                filled = await self.backend.wait_for_fill(stored, self.lease_wait)
                if filled is not None:
                    return filled
        except CacheError as error:
            self._failed("lease", error)
            return self._dump(await loader(), codec)
        try:
            data = self._dump(await loader(), codec)
        except BaseException:
            if lease is not None:
                await self._release(stored, lease)
            raise
        if not await self._write(stored, data, ttl, lease) and lease is not None:
            await self._release(stored, lease)
        return data

    async def _release(self, stored: str, lease: str) -> None:
        try:
            await self.backend.release_lease(stored, lease)
        except CacheError as error:
            self._failed("release_lease", error)
