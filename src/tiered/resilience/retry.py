"""Retries on tenacity: exponential backoff with full jitter, transient errors only.

``RetryPolicy`` says how often and how long to retry; each call builds its
own ``tenacity.AsyncRetrying``, because a retrying object keeps per-call
state (statistics, the current attempt) and one shared by concurrent calls
mixes them up. The wait before attempt *n + 1* is drawn uniformly from
``[0, min(max_delay, base_delay * 2**(n-1))]`` ("full jitter": clients that
failed together do not come back together), unless the error carries a
``Retry-After`` (HTTP 429/503), which is honoured up to ``max_delay``. The
waits of one call never add up to more than ``max_total_delay``: the call
gives up instead of sleeping past it.

Sleep, randomness and the clock are injected, so tests neither sleep nor
depend on chance.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, ParamSpec, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from tiered.clock import Clock, SystemClock
from tiered.errors.hierarchy import ConfigurationError
from tiered.observability.logging import get_logger
from tiered.resilience.classify import is_transient, retry_after_of
from tiered.resilience.database_write import is_database_write
from tiered.results import Err, Ok, Result

__all__ = ["RetryPolicy", "RetryResult", "retry"]

P = ParamSpec("P")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_log = get_logger("tiered.resilience")


@dataclass(frozen=True, slots=True)
class RetryResult(Generic[T_co]):
    """What a retried call came to, for callers (jobs) that record failure rather than raise.

    ``outcome`` is ``Ok(value)`` or ``Err(error)`` with the error of the last
    attempt; ``last_error`` is the most recent failure even when a later
    attempt succeeded (``None`` when the first one did); ``delays`` are the
    waits taken between attempts, in seconds.
    """

    attempts: int
    outcome: Result[T_co, Exception]
    last_error: Exception | None = None
    delays: tuple[float, ...] = ()

    @property
    def success(self) -> bool:
        return self.outcome.success


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a call is retried: at most ``max_attempts`` attempts, waits bounded three ways.

    ``is_transient`` decides which errors are retried (by default timeouts,
    connection errors, HTTP 5xx and 429); ``sleep``, ``rng`` (a float in
    ``[0, 1)``) and ``clock`` (for ``Retry-After`` dates) are for tests.
    """

    max_attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_total_delay: float = 15.0
    is_transient: Callable[[BaseException], bool] = is_transient
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: Callable[[], float] = random.random
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("a retry policy needs max_attempts of at least 1")
        if not 0 <= self.base_delay <= self.max_delay:
            raise ConfigurationError("a retry policy needs 0 <= base_delay <= max_delay")
        if self.max_total_delay < 0:
            raise ConfigurationError("a retry policy needs max_total_delay >= 0")

    def backoff(self, failures: int) -> float:
        """The jittered wait after ``failures`` failed attempts (no ``Retry-After``)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(failures - 1, 62))
        return self.rng() * ceiling

    def delay_after(self, error: BaseException | None, failures: int) -> float:
        """The wait before the next attempt: the server's ``Retry-After`` if any, else backoff."""
        hinted = None if error is None else retry_after_of(error, self.clock.now())
        if hinted is not None:
            return min(hinted, self.max_delay)
        return self.backoff(failures)

    async def call(
        self, function: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``await function(*args, **kwargs)``, retried; the last error is raised as it was."""
        _refuse_database_writes(function)
        retrying = self._retrying(_name(function), [])
        return await retrying(function, *args, **kwargs)

    async def run(
        self, function: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> RetryResult[T]:
        """Like :meth:`call`, but failure is returned as ``Err`` in a :class:`RetryResult`.

        Only ``Exception`` is captured: a cancellation still propagates.
        """
        _refuse_database_writes(function)
        delays: list[float] = []
        retrying = self._retrying(_name(function), delays)
        attempts = 0
        last_error: Exception | None = None

        async def attempt() -> T:
            nonlocal attempts, last_error
            attempts += 1
            try:
                return await function(*args, **kwargs)
            except Exception as error:
                last_error = error
                raise

        try:
            value: T = await retrying(attempt)
        except Exception as error:
            return RetryResult(attempts, Err(error), error, tuple(delays))
        return RetryResult(attempts, Ok(value), last_error, tuple(delays))

    def _retrying(self, name: str, delays: list[float]) -> AsyncRetrying:
        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None and outcome.failed else None
            return self.delay_after(error, state.attempt_number)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                return True
            return state.idle_for + state.upcoming_sleep > self.max_total_delay

        def before_sleep(state: RetryCallState) -> None:
            delays.append(state.upcoming_sleep)
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            _log.info(
                "retry_scheduled",
                operation=name,
                attempt=state.attempt_number,
                delay=round(state.upcoming_sleep, 3),
                error_type=type(error).__name__,
            )

        return AsyncRetrying(
            sleep=self.sleep,
            stop=stop,
            wait=wait,
            retry=retry_if_exception(self.is_transient),
            before_sleep=before_sleep,
            reraise=True,
        )


def retry(
    policy: RetryPolicy | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async function so each call is retried under ``policy``.

    A function marked :func:`~tiered.resilience.database_write` is refused
    here, when the module is imported, not at its first call.
    """
    chosen = policy or RetryPolicy()

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        _refuse_database_writes(function)

        @functools.wraps(function)
        async def retried(*args: P.args, **kwargs: P.kwargs) -> T:
            return await chosen.call(function, *args, **kwargs)

        return retried

    return decorate


def _name(function: Callable[..., object]) -> str:
    return str(getattr(function, "__qualname__", None) or repr(function))


def _refuse_database_writes(function: Callable[..., object]) -> None:
    if is_database_write(function):
        raise ConfigurationError(
            f"{_name(function)} writes to the database and must not be retried: "
            "make the write idempotent (a unique key, an upsert, an outbox job) instead"
        )
