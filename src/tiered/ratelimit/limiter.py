"""The rate limiter: named policies, a backend, and what to do when the backend is down.

A store that cannot be reached must not turn every request into a 500. By
default the limiter *fails open*: the request goes through unlimited, the
outage is logged (once per ``log_every`` seconds, with the number of
failures since the last line) and counted in ``/metrics``. With
``fail_open=False`` it *fails closed*: the request is refused with a 503.
After a failure the store is left alone for ``cooldown`` seconds, so a store
that hangs until its timeout delays one request, not all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

from redis.exceptions import RedisError

from tiered.clock import Clock, SystemClock
from tiered.errors.hierarchy import ConfigurationError
from tiered.observability.logging import get_logger
from tiered.ratelimit.backend import RateLimitBackend
from tiered.ratelimit.decision import Decision, Outcome, QuotaSet
from tiered.ratelimit.keys import storage_key
from tiered.ratelimit.memory import MemoryRateLimitBackend
from tiered.ratelimit.metrics import RateLimitMetrics
from tiered.ratelimit.rates import Quota, RateSpec, quotas_of

__all__ = ["DEFAULT_POLICY", "RateLimiter"]

DEFAULT_POLICY = "default"

_log = get_logger("tiered.ratelimit")


def _quotas(policies: Mapping[str, RateSpec]) -> dict[str, tuple[Quota, ...]]:
    by_policy: dict[str, tuple[Quota, ...]] = {}
    seen: set[str] = set()
    for name, spec in policies.items():
        try:
            quotas = quotas_of(name, spec)
        except ValueError as error:
            raise ConfigurationError(f"rate-limit policy {name!r}: {error}") from error
        for quota in quotas:
            if quota.name in seen:
                raise ConfigurationError(f"two rate-limit quotas are named {quota.name!r}")
            seen.add(quota.name)
        by_policy[name] = quotas
    return by_policy


class RateLimiter:
    """Checks clients against named policies (``{"default": "100/minute", "auth": ...}``).

    ``backend`` may be set later (the Redis one is attached when the app's
    Redis client exists); until then every check takes the fault path.
    """

    def __init__(
        self,
        policies: Mapping[str, RateSpec],
        backend: RateLimitBackend | None = None,
        *,
        fail_open: bool = True,
        metrics: RateLimitMetrics | None = None,
        clock: Clock | None = None,
        cooldown: float = 1.0,
        log_every: float = 60.0,
    ) -> None:
        self.policies = _quotas(policies)
        self._backend: RateLimitBackend | None = None
        self._check_now: Callable[[str, QuotaSet], Decision] | None = None
        self.backend = backend
        self.fail_open = fail_open
        self.metrics = metrics
        self.cooldown = cooldown
        self.log_every = log_every
        self._clock = clock or SystemClock()
        self._sets: dict[tuple[str, ...], QuotaSet] = {}
        self.on_routes_changed: list[Callable[[], None]] = []
        self._failing = False
        self._retry_at = 0.0
        self._next_log = 0.0
        self._unlogged_failures = 0

    def quota_set(self, policies: Iterable[str]) -> QuotaSet:
        """The quotas of ``policies``, in order, each policy once; built once per combination."""
        names = tuple(dict.fromkeys(policies))
        found = self._sets.get(names)
        if found is None:
            unknown = [name for name in names if name not in self.policies]
            if unknown:
                known = ", ".join(sorted(self.policies))
                raise ConfigurationError(
                    f"unknown rate-limit policy {unknown[0]!r} (known: {known})"
                )
            quotas = [quota for name in names for quota in self.policies[name]]
            found = self._sets[names] = QuotaSet.of(names, quotas)
        return found

    @property
    def backend(self) -> RateLimitBackend | None:
        return self._backend

    @backend.setter
    def backend(self, backend: RateLimitBackend | None) -> None:
        self._backend = backend
        self._check_now = backend.check_now if isinstance(backend, MemoryRateLimitBackend) else None

    @property
    def retry_after_fault(self) -> int:
        """``Retry-After`` of a 503 when failing closed: the store is tried again by then."""
        return max(1, math.ceil(self.cooldown))

    def routes_changed(self) -> None:
        """A route's policy was found unapplied: route tables are read again on next use."""
        for invalidate in self.on_routes_changed:
            invalidate()

    async def check(self, key: str, *policies: str) -> Decision:
        """Charge ``key`` one request against ``policies`` (default: ``default``)."""
        quotas = self.quota_set(policies or (DEFAULT_POLICY,))
        return await self.decide(storage_key(key), quotas)

    def decide_now(self, key: str, quotas: QuotaSet) -> Decision | None:
        """The decision, if the backend answers without waiting (in memory); else ``None``."""
        check_now = self._check_now
        if check_now is None:
            return None
        decision = check_now(key, quotas)
        if self.metrics is not None:
            self.metrics.counts[decision.outcome] += 1
        return decision

    async def decide(self, key: str, quotas: QuotaSet) -> Decision:
        """Charge ``key`` (a :func:`~tiered.ratelimit.keys.storage_key`) against ``quotas``."""
        decided = self.decide_now(key, quotas)
        if decided is not None:
            return decided
        backend = self._backend
        if backend is not None and not (self._failing and self._cooling_down()):
            try:
                decision = await backend.check(key, quotas)
            except (RedisError, OSError) as error:
                self._failed(type(error).__name__)
            else:
                if self._failing:
                    self._recovered()
                self._count(decision.outcome)
                return decision
        elif backend is None:
            self._failed("NoBackend")
        outcome = Outcome.FAILED_OPEN if self.fail_open else Outcome.FAILED_CLOSED
        self._count(outcome)
        return Decision(outcome, quotas)

    def _count(self, outcome: Outcome) -> None:
        if self.metrics is not None:
            self.metrics.count(outcome)

    def _cooling_down(self) -> bool:
        return self._clock.monotonic() < self._retry_at

    def _failed(self, error_type: str) -> None:
        now = self._clock.monotonic()
        self._failing = True
        self._retry_at = now + self.cooldown
        self._unlogged_failures += 1
        if now >= self._next_log:
            self._next_log = now + self.log_every
            _log.warning(
                "rate_limiter_unavailable",
                error_type=error_type,
                failures=self._unlogged_failures,
                fail_open=self.fail_open,
            )
            self._unlogged_failures = 0

    def _recovered(self) -> None:
        self._failing = False
        self._next_log = 0.0
        _log.info("rate_limiter_recovered", failures_not_logged=self._unlogged_failures)
        self._unlogged_failures = 0
