"""``CircuitBreaker``: stop calling a dependency that keeps failing, then probe it once.

A dependency that times out makes every caller wait for the timeout, and
retries multiply its load just when it is struggling. Once the breaker has
seen enough failures (see :class:`~tiered.resilience.BreakerPolicy`) it
answers at once with :class:`~tiered.errors.CircuitBreakerOpenError` (a 503
problem whose ``Retry-After`` is the time until the next probe), and after the
recovery time it lets exactly one call through to find out whether the
dependency is back: with a Redis backend, one call across every process.

Use it as ``async with breaker:`` around the call, or ``await
breaker.call(function, *args)``. Which exceptions count against the
dependency is ``counts_as_failure`` (by default: anything but a client
error, see :func:`~tiered.resilience.counts_against_dependency`); the others,
and returns, count as successes. A cancelled call counts as nothing, and a
cancelled probe hands its lease back.

When the state store itself fails (Redis unreachable), calls go through
unguarded rather than fail: the breaker protects the dependency, and an
outage of the store must not become an outage of every call. The store is
then left alone for ``store_cooldown`` seconds, so a store that hangs until
its timeout slows one call, not every one; failures are logged at most once
per ``log_every`` seconds and counted in ``/metrics``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from types import TracebackType
from typing import ParamSpec, Self, TypeVar

from redis.exceptions import RedisError

from tiered.clock import Clock, SystemClock
from tiered.errors.hierarchy import CacheError, CircuitBreakerOpenError
from tiered.observability.logging import get_logger
from tiered.resilience.breaker_memory import MemoryBreakerBackend
from tiered.resilience.breaker_metrics import BreakerMetrics
from tiered.resilience.breaker_state import (
    Admission,
    BreakerBackend,
    BreakerPolicy,
    BreakerSnapshot,
    BreakerState,
    Transition,
    Verdict,
)
from tiered.resilience.classify import counts_against_dependency

__all__ = ["CircuitBreaker"]

P = ParamSpec("P")
T = TypeVar("T")

_log = get_logger("tiered.resilience")
_STORE_ERRORS = (CacheError, RedisError, OSError)


class CircuitBreaker:
    """One circuit around one dependency, named ``name`` on its backend."""

    def __init__(
        self,
        name: str,
        backend: BreakerBackend | None = None,
        *,
        policy: BreakerPolicy | None = None,
        counts_as_failure: Callable[[BaseException], bool] = counts_against_dependency,
        metrics: BreakerMetrics | None = None,
        clock: Clock | None = None,
        store_cooldown: float = 1.0,
        log_every: float = 60.0,
    ) -> None:
        self.name = name
        self._clock = clock or SystemClock()
        self.backend: BreakerBackend = backend or MemoryBreakerBackend(clock=self._clock)
        self.policy = policy or BreakerPolicy()
        self.counts_as_failure = counts_as_failure
        self.metrics = metrics
        self.store_cooldown = store_cooldown
        self.log_every = log_every
        self._store_retry_at = 0.0
        self._admissions: ContextVar[tuple[Admission | None, ...]] = ContextVar(
            f"circuit_breaker_{name}", default=()
        )
        self._next_log = 0.0
        self._unlogged_store_errors = 0

    async def call(
        self, function: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``await function(*args, **kwargs)`` through the breaker."""
        async with self:
            return await function(*args, **kwargs)

    async def __aenter__(self) -> Self:
        admission = await self._admit()
        self._admissions.set((*self._admissions.get(), admission))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack = self._admissions.get()
        self._admissions.set(stack[:-1])
        admission = stack[-1]
        if admission is None:
            return
        if exc is not None and not isinstance(exc, Exception):
            if admission.verdict is Verdict.PROBE:
                await self._store_step(self.backend.release(self.name, admission))
            return
        failed = exc is not None and self.counts_as_failure(exc)
        outcome = await self._store_step(
            self.backend.record(self.name, self.policy, admission, failed=failed)
        )
        if outcome is not None:
            state, transition = outcome
            self._observe(state, transition)

    async def state(self) -> BreakerSnapshot:
        """The breaker's stored state (raises if the store is unreachable)."""
        return await self.backend.snapshot(self.name, self.policy)

    async def reset(self) -> None:
        """Close the circuit and forget its window (an operator's override)."""
        await self.backend.reset(self.name)
        self._observe(BreakerState.CLOSED, None)

    async def _admit(self) -> Admission | None:
        if self._store_retry_at and self._clock.monotonic() < self._store_retry_at:
            return None
        admission = await self._store_step(
            self.backend.acquire(self.name, self.policy, secrets.token_hex(16))
        )
        if admission is None:
            return None
        self._observe(admission.state, admission.transition)
        if admission.verdict is Verdict.REJECT:
            if self.metrics is not None:
                self.metrics.rejected_call(self.name)
            retry_after = max(1, math.ceil(admission.retry_after))
            raise CircuitBreakerOpenError(
                f"Calls to {self.name} are paused after repeated failures; "
                f"retry after {retry_after} s.",
                retry_after=retry_after,
            )
        return admission

    def _observe(self, state: BreakerState, transition: Transition | None) -> None:
        if transition is not None:
            level = _log.warning if transition.target is BreakerState.OPEN else _log.info
            level(
                "circuit_breaker_transition",
                breaker=self.name,
                from_state=transition.source.value,
                to_state=transition.target.value,
            )
            if self.metrics is not None:
                self.metrics.moved(self.name, transition)
        if self.metrics is not None:
            self.metrics.saw(self.name, state)

    async def _store_step(self, step: Awaitable[T]) -> T | None:
        """``await step``, or ``None`` when the store failed (logged, counted)."""
        try:
            return await step
        except _STORE_ERRORS as error:
            self._store_failed(type(error).__name__)
            return None

    def _store_failed(self, error_type: str) -> None:
        if self.metrics is not None:
            self.metrics.store_failed(self.name)
        self._unlogged_store_errors += 1
        now = self._clock.monotonic()
        self._store_retry_at = now + self.store_cooldown
        if now >= self._next_log:
            self._next_log = now + self.log_every
            _log.warning(
                "circuit_breaker_store_unavailable",
                breaker=self.name,
                error_type=error_type,
                failures=self._unlogged_store_errors,
            )
            self._unlogged_store_errors = 0
